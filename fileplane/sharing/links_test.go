package sharing_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/sharing"
)

func names(o sharing.Opened) []string {
	var out []string
	for _, c := range o.Children {
		out = append(out, string(c.Path))
	}
	return out
}

// TestLinkTokens: 256 random bits, shown once, stored only as a hash.
func TestLinkTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.home(w.alice, "/proj")
	l, tok := w.link(w.alice, "/proj", sharing.LinkOptions{Password: "hunter2"})
	require.True(t, strings.HasPrefix(tok, "nxl_"))
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "nxl_"))
	require.NoError(t, err)
	require.Len(t, raw, 32)
	_, tok2 := w.link(w.alice, "/proj", sharing.LinkOptions{})
	require.NotEqual(t, tok, tok2)

	// Nothing in the database holds the token or the password.
	rows, err := w.db.Query(`SELECT * FROM sharing_links`)
	require.NoError(t, err)
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		for i, v := range vals {
			var b []byte
			switch v := v.(type) {
			case string:
				b = []byte(v)
			case []byte:
				b = v
			}
			require.False(t, bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(tok2)) || bytes.Contains(b, raw), "column %s holds the token", cols[i])
			require.False(t, bytes.Contains(b, []byte("hunter2")), "column %s holds the password", cols[i])
		}
	}
	require.True(t, strings.HasPrefix(l.PasswordHash, "$2"), "bcrypt")
}

// TestOpenLink opens a folder link at its root and below, and a file link.
func TestOpenLink(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/pub/a.txt", "A")
	w.write(w.alice, "/proj/pub/sub/b.txt", "B")
	w.write(w.alice, "/proj/secret.txt", "S")
	_, tok := w.link(w.alice, "/proj/pub", sharing.LinkOptions{})

	o, err := w.open(tok, "", "")
	require.NoError(t, err)
	require.Equal(t, "/", string(o.Item.Path))
	require.Equal(t, []string{"/a.txt", "/sub"}, names(o), "paths relative to the link")
	o, err = w.open(tok, "", "sub/b.txt")
	require.NoError(t, err)
	require.Equal(t, "B", string(o.Data))
	require.Equal(t, "/sub/b.txt", string(o.Item.Path))
	o, err = w.open(tok, "", "/a.txt")
	require.NoError(t, err)
	require.Equal(t, "A", string(o.Data))

	_, ftok := w.link(w.alice, "/proj/secret.txt", sharing.LinkOptions{})
	o, err = w.open(ftok, "", "")
	require.NoError(t, err)
	require.Equal(t, "S", string(o.Data))
	require.Equal(t, "secret.txt", o.Item.Entry.Name)

	t.Run("a move keeps the link", func(t *testing.T) {
		_, _, err := w.files.Move(context.Background(), w.alice, "/proj/pub", "/proj/public")
		require.NoError(t, err)
		o, err := w.open(tok, "", "a.txt")
		require.NoError(t, err)
		require.Equal(t, "A", string(o.Data))
	})

	t.Run("sub-paths outside the subtree are not found", func(t *testing.T) {
		for _, sub := range []string{
			"..", "../secret.txt", "sub/../../secret.txt", "./a.txt", "sub//b.txt",
			"..%2Fsecret.txt", "%2E%2E/secret.txt", "sub%2F..%2F..%2Fsecret.txt", `..\secret.txt`,
			"/proj/secret.txt", "/proj/public/a.txt", "secret.txt", "missing.txt", "a.txt/x", "\x00",
		} {
			_, err := w.open(tok, "", sub)
			require.ErrorIs(t, err, errs.NotFound, "%q", sub)
			require.NotContains(t, err.Error(), "/proj/public", "%q: the path above the link is not told", sub)
		}
		_, err := w.open(ftok, "", "x")
		require.ErrorIs(t, err, errs.NotFound, "below a file link")
	})

	t.Run("a viewer link may not write", func(t *testing.T) {
		_, err := w.share.WriteLink(context.Background(), web, tok, "", "new.txt", []byte("x"), 0)
		require.ErrorIs(t, err, errs.PermissionDenied)
	})
}

// TestLinkRefusals: unknown, revoked, expired and used-up tokens get one
// answer; the access log has the real reason.
func TestLinkRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/a.txt", "A")

	revoked, rtok := w.link(w.alice, "/proj", sharing.LinkOptions{})
	_, err := w.open(rtok, "", "a.txt")
	require.NoError(t, err)
	ct, err := w.share.RevokeLink(ctx, w.alice, rtok)
	require.NoError(t, err)
	require.NotEmpty(t, ct)

	expired, etok := w.link(w.alice, "/proj", sharing.LinkOptions{ExpiresIn: time.Hour})
	used, utok := w.link(w.alice, "/proj", sharing.LinkOptions{MaxUses: 1})
	_, err = w.open(utok, "", "")
	require.NoError(t, err)
	w.clock.Add(time.Hour)

	var msgs []string
	for name, tok := range map[string]string{
		"unknown": "nxl_" + base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "garbage": "x",
		"revoked": rtok, "expired": etok, "used up": utok,
	} {
		_, err := w.open(tok, "", "")
		require.ErrorIs(t, err, errs.NotFound, name)
		msgs = append(msgs, err.Error())
	}
	for _, m := range msgs {
		require.Equal(t, msgs[0], m, "one answer for every token that does not work")
	}
	require.Equal(t, []sharing.Outcome{sharing.OK, sharing.Revoked}, w.outcomes(w.alice, revoked.ID))
	require.Equal(t, []sharing.Outcome{sharing.Expired}, w.outcomes(w.alice, expired.ID))
	require.Equal(t, []sharing.Outcome{sharing.OK, sharing.UsedUp}, w.outcomes(w.alice, used.ID))

	t.Run("a revoked link's role is gone from the engine", func(t *testing.T) {
		d, err := w.engine.Check(ctx, authz.CheckItem{Resource: authz.Obj("share_link", "x"), Permission: "manage", Subject: authz.Subject("user", "x")}, authz.AtLeastAsFresh(ct))
		require.NoError(t, err)
		require.False(t, d.Allowed)
		rels, err := w.engine.Read(ctx, authz.Filter{Resource: authz.ObjectRef{Type: "folder"}, Subject: &authz.SubjectRef{Object: revoked.ID.Object()}}, authz.AtLeastAsFresh(ct))
		require.NoError(t, err)
		require.Empty(t, rels)
	})
	t.Run("revoking twice", func(t *testing.T) {
		_, err := w.share.RevokeLink(ctx, w.alice, string(revoked.ID))
		require.ErrorIs(t, err, errs.FailedPrecondition)
	})
	t.Run("managing takes the creator or share on the entry", func(t *testing.T) {
		_, err := w.share.RevokeLink(ctx, w.bob, string(used.ID))
		require.ErrorIs(t, err, errs.NotFound)
		_, err = w.share.LinkAccessLog(ctx, w.bob, utok, 0)
		require.ErrorIs(t, err, errs.NotFound)
		_, err = w.share.LinkAccessLog(ctx, w.eve, string(used.ID), 0)
		require.ErrorIs(t, err, errs.NotFound)
		_, _, err = w.share.ListLinks(ctx, w.bob, "/proj")
		require.ErrorIs(t, err, errs.NotFound)
		_, err = w.share.LinkAccessLog(ctx, w.admin, string(used.ID), 0)
		require.NoError(t, err, "a zone admin")
		ls, p, err := w.share.ListLinks(ctx, w.alice, "/proj")
		require.NoError(t, err)
		require.Equal(t, "/proj", string(p))
		require.Len(t, ls, 3)
	})
	t.Run("bad options", func(t *testing.T) {
		for name, o := range map[string]sharing.LinkOptions{
			"owner role":   {Role: "owner"},
			"unknown role": {Role: "boss"},
			"negative":     {ExpiresIn: -time.Second},
			"max uses":     {MaxUses: -1},
			"long pw":      {Password: strings.Repeat("p", 73)},
		} {
			_, _, _, err := w.share.CreateLink(ctx, w.alice, "/proj", o)
			require.ErrorIs(t, err, errs.InvalidArgument, name)
		}
		_, _, _, err := w.share.CreateLink(ctx, w.bob, "/proj", sharing.LinkOptions{})
		require.ErrorIs(t, err, errs.NotFound, "bob cannot read /proj")
	})
}

// TestLinkExpiryBoundary: a link works until the instant before its expiry.
func TestLinkExpiryBoundary(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/a.txt", "A")
	l, tok := w.link(w.alice, "/proj", sharing.LinkOptions{ExpiresIn: time.Hour})
	require.Equal(t, start.Add(time.Hour), l.ExpiresAt)

	w.clock.Set(l.ExpiresAt.Add(-time.Nanosecond))
	_, err := w.open(tok, "", "a.txt")
	require.NoError(t, err, "a nanosecond before")
	w.clock.Set(l.ExpiresAt)
	_, err = w.open(tok, "", "a.txt")
	require.ErrorIs(t, err, errs.NotFound, "at the instant")
	w.clock.Set(l.ExpiresAt.Add(time.Hour))
	_, err = w.open(tok, "", "a.txt")
	require.ErrorIs(t, err, errs.NotFound, "after")
}

// TestLinkMaxUses: exactly N opens, then none, even when racing.
func TestLinkMaxUses(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/a.txt", "A")

	_, tok := w.link(w.alice, "/proj", sharing.LinkOptions{MaxUses: 3})
	for i := range 3 {
		_, err := w.open(tok, "", "a.txt")
		require.NoError(t, err, "use %d", i+1)
	}
	_, err := w.open(tok, "", "a.txt")
	require.ErrorIs(t, err, errs.NotFound, "use 4 of 3")

	t.Run("a failed open uses nothing", func(t *testing.T) {
		_, tok := w.link(w.alice, "/proj", sharing.LinkOptions{MaxUses: 1})
		_, err := w.open(tok, "", "missing.txt")
		require.ErrorIs(t, err, errs.NotFound)
		_, err = w.open(tok, "", "a.txt")
		require.NoError(t, err)
	})

	t.Run("a refused page uses nothing", func(t *testing.T) {
		_, tok := w.link(w.alice, "/proj", sharing.LinkOptions{MaxUses: 1})
		cl := sharing.Client{Addr: "198.51.100.9", UserAgent: "pager"}
		for name, page := range map[string]struct {
			size  int
			token string
		}{
			"a page size out of range": {size: files.MaxPageSize + 1},
			"a negative page size":     {size: -1},
			"a forged page token":      {token: "forged"},
		} {
			_, err := w.share.OpenLink(context.Background(), cl, tok, "", "", page.size, page.token)
			require.ErrorIs(t, err, errs.InvalidArgument, name)
		}
		o, err := w.share.OpenLink(context.Background(), cl, tok, "", "", 0, "")
		require.NoError(t, err, "the one use is still there")
		require.NotEmpty(t, o.Children)
		_, err = w.share.OpenLink(context.Background(), cl, tok, "", "", 0, "")
		require.ErrorIs(t, err, errs.NotFound, "and now it is spent")
	})

	t.Run("racing for the last uses", func(t *testing.T) {
		const max, racers = 4, 24
		_, tok := w.link(w.alice, "/proj", sharing.LinkOptions{MaxUses: max})
		var ok, notFound atomic.Int64
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Distinct addresses: the per-address limit is not what stops them.
				cl := sharing.Client{Addr: "198.51.100." + string(rune('a'+i)), UserAgent: "racer"}
				_, err := w.share.OpenLink(context.Background(), cl, tok, "", "a.txt", 0, "")
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, errs.NotFound):
					notFound.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		require.EqualValues(t, max, ok.Load(), "never N+1")
		require.EqualValues(t, racers-max, notFound.Load())
	})
}

// TestLinkPasswords and the limits on failed attempts.
func TestLinkPasswords(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/a.txt", "A")
	l, tok := w.link(w.alice, "/proj", sharing.LinkOptions{Password: "open sesame"})

	_, err := w.open(tok, "", "a.txt")
	require.ErrorIs(t, err, errs.PermissionDenied)
	require.EqualError(t, err, "password required")
	_, err = w.open(tok, "open", "a.txt")
	require.ErrorIs(t, err, errs.PermissionDenied)
	require.EqualError(t, err, "wrong password")
	o, err := w.open(tok, "open sesame", "a.txt")
	require.NoError(t, err)
	require.Equal(t, "A", string(o.Data))

	t.Run("per link", func(t *testing.T) {
		// Four more wrong passwords (five in the minute), from other addresses.
		for i := range 4 {
			cl := sharing.Client{Addr: "203.0.113." + string(rune('1'+i)), UserAgent: "guesser"}
			_, err := w.share.OpenLink(ctx, cl, tok, "guess", "", 0, "")
			require.EqualError(t, err, "wrong password")
		}
		w.clock.Add(10 * time.Second)
		_, err := w.open(tok, "open sesame", "a.txt")
		require.ErrorIs(t, err, errs.ResourceExhausted, "even the right password waits")
		require.ErrorContains(t, err, "retry in 50 s")
		w.clock.Add(50 * time.Second)
		_, err = w.open(tok, "open sesame", "a.txt")
		require.NoError(t, err, "a minute after the first failure")
		out := w.outcomes(w.alice, l.ID)
		require.Equal(t, []sharing.Outcome{sharing.PasswordRequired, sharing.WrongPassword, sharing.OK,
			sharing.WrongPassword, sharing.WrongPassword, sharing.WrongPassword, sharing.WrongPassword,
			sharing.RateLimited, sharing.OK}, out)
	})

	t.Run("per address", func(t *testing.T) {
		w.clock.Add(time.Hour)
		_, other := w.link(w.alice, "/proj", sharing.LinkOptions{})
		prober := sharing.Client{Addr: "192.0.2.99", UserAgent: "prober"}
		for i := range 5 {
			_, err := w.share.OpenLink(ctx, prober, "nxl_guess"+string(rune('a'+i)), "", "", 0, "")
			require.ErrorIs(t, err, errs.NotFound)
		}
		_, err := w.share.OpenLink(ctx, prober, other, "", "", 0, "")
		require.ErrorIs(t, err, errs.ResourceExhausted, "a working token waits too")
		require.ErrorContains(t, err, "retry in 60 s")
		_, err = w.share.OpenLink(ctx, web, other, "", "", 0, "")
		require.NoError(t, err, "another address is not limited")
		w.clock.Add(time.Minute)
		_, err = w.share.OpenLink(ctx, prober, other, "", "", 0, "")
		require.NoError(t, err)
	})
}

// TestEditorLink writes inside its subtree only, and stops at revoke.
func TestEditorLink(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/drop/a.txt", "A")
	w.write(w.alice, "/proj/secret.txt", "S")
	l, tok := w.link(w.alice, "/proj/drop", sharing.LinkOptions{Role: "editor", Password: "pw"})

	_, err := w.share.WriteLink(ctx, web, tok, "", "new/b.txt", []byte("B"), 0)
	require.EqualError(t, err, "password required")
	it, err := w.share.WriteLink(ctx, web, tok, "pw", "new/b.txt", []byte("B"), 0)
	require.NoError(t, err)
	require.Equal(t, "/new/b.txt", string(it.Path))
	require.Equal(t, "link:"+string(l.ID), it.Entry.CreatedBy, "written by the link, owned by no one")
	got, err := w.read(w.alice, "/proj/drop/new/b.txt", "")
	require.NoError(t, err)
	require.Equal(t, "B", got)
	_, err = w.share.WriteLink(ctx, web, tok, "pw", "a.txt", []byte("A2"), 1)
	require.NoError(t, err, "overwrite at the expected version")
	_, err = w.share.WriteLink(ctx, web, tok, "pw", "a.txt", []byte("A3"), 1)
	require.Error(t, err, "a stale version")

	for _, sub := range []string{"../secret.txt", "..", "../x.txt", "new/../../secret.txt", "./x.txt"} {
		_, err := w.share.WriteLink(ctx, web, tok, "pw", sub, []byte("x"), 0)
		require.ErrorIs(t, err, errs.NotFound, sub)
	}
	// An absolute path is relative to the link: it lands inside.
	it, err = w.share.WriteLink(ctx, web, tok, "pw", "/proj/secret.txt", []byte("x"), 0)
	require.NoError(t, err)
	require.Equal(t, "/proj/secret.txt", string(it.Path))
	got, err = w.read(w.alice, "/proj/drop/proj/secret.txt", "")
	require.NoError(t, err)
	require.Equal(t, "x", got)
	got, err = w.read(w.alice, "/proj/secret.txt", "")
	require.NoError(t, err)
	require.Equal(t, "S", got, "untouched")
	_, err = w.share.WriteLink(ctx, web, tok, "pw", "", []byte("x"), 0)
	require.ErrorIs(t, err, errs.InvalidArgument, "the folder itself")

	_, err = w.share.RevokeLink(ctx, w.alice, string(l.ID))
	require.NoError(t, err)
	_, err = w.share.WriteLink(ctx, web, tok, "pw", "c.txt", []byte("C"), 0)
	require.ErrorIs(t, err, errs.NotFound)
}

// TestLinkDiesWithItsCreatorsShare: a link speaks for its creator. Once the
// creator may no longer share the entry, the link is dead, what it wrote
// was never theirs, and they manage it no longer.
func TestLinkDiesWithItsCreatorsShare(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.carol, "/proj")
	w.write(w.carol, "/proj/plan.txt", "P")
	w.grant(w.carol, "/proj", "user:alice", "owner")
	l, tok := w.link(w.alice, "/proj", sharing.LinkOptions{Role: "editor"})
	_, err := w.share.WriteLink(ctx, web, tok, "", "early.txt", []byte("E"), 0)
	require.NoError(t, err, "the link works while alice may share")

	rev, err := w.share.Revoke(ctx, w.carol, "/proj", "user:alice", "owner")
	require.NoError(t, err)
	_, err = w.read(w.alice, "/proj/plan.txt", rev)
	require.ErrorIs(t, err, errs.NotFound, "alice lost the folder")

	_, err = w.open(tok, "", "plan.txt")
	require.ErrorIs(t, err, errs.NotFound, "the link died with its creator's share")
	_, err = w.share.WriteLink(ctx, web, tok, "", "contract.txt", []byte("CONFIDENTIAL"), 0)
	require.ErrorIs(t, err, errs.NotFound)
	_, err = w.read(w.alice, "/proj/early.txt", rev)
	require.ErrorIs(t, err, errs.NotFound, "what the link wrote was never alice's")
	_, err = w.share.LinkAccessLog(ctx, w.alice, string(l.ID), 10)
	require.ErrorIs(t, err, errs.NotFound, "alice no longer manages the link")
	_, err = w.share.RevokeLink(ctx, w.alice, string(l.ID))
	require.ErrorIs(t, err, errs.NotFound)
	out := w.outcomes(w.carol, l.ID)
	require.Equal(t, sharing.CreatorLost, out[len(out)-1], "the log has the real reason")

	// Grant alice share again and the link lives again (it was never
	// revoked itself); carol may revoke it for good.
	w.grant(w.carol, "/proj", "user:alice", "owner")
	_, err = w.open(tok, "", "plan.txt")
	require.NoError(t, err)
	_, err = w.share.RevokeLink(ctx, w.carol, string(l.ID))
	require.NoError(t, err)
	_, err = w.open(tok, "", "plan.txt")
	require.ErrorIs(t, err, errs.NotFound)
}

// TestPasswordLimitHoldsUnderConcurrency: guesses sent together cannot
// outrun the per-link limit.
func TestPasswordLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.home(w.alice, "/proj")
	_, tok := w.link(w.alice, "/proj", sharing.LinkOptions{Password: "right"})
	var wrong, limited atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := sharing.Client{Addr: fmt.Sprintf("2001:db8::%x", i), UserAgent: "guesser"}
			_, err := w.share.OpenLink(context.Background(), cl, tok, "guess", "", 0, "")
			switch {
			case errors.Is(err, errs.ResourceExhausted):
				limited.Add(1)
			case err != nil && err.Error() == "wrong password":
				wrong.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int32(sharing.DefaultLimits.FailuresPerLink), wrong.Load(), "passwords checked past the limit")
	require.Equal(t, int32(50-sharing.DefaultLimits.FailuresPerLink), limited.Load())
}
