package memory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/fileplanetest"
	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

// Zone z1: admin, alice and bob (members), bot (an agent owned by alice);
// zone z2: carol.
var (
	alice = access.Caller{User: "alice", Zone: "z1"}
	bob   = access.Caller{User: "bob", Zone: "z1"}
	bot   = access.Caller{User: "bot", Zone: "z1"}
	admin = access.Caller{User: "admin", Zone: "z1"}
	carol = access.Caller{User: "carol", Zone: "z2"}
	ml    = authz.MinimizeLatency()
)

type world struct {
	t      *testing.T
	svc    *memory.Service
	engine *authz.Engine
	now    time.Time
}

func newWorld(t *testing.T, quantization time.Duration) *world {
	t.Helper()
	return newWorldWith(t, quantization, memory.SQLStore{})
}

// newWorldWith is newWorld on store.
func newWorldWith(t *testing.T, quantization time.Duration, store memory.Store) *world {
	t.Helper()
	ctx := context.Background()
	db := sqlitetest.Open(t,
		sqlite.Domain{Name: "authz", Migrations: authz.SQLiteMigrations()},
		sqlite.Domain{Name: "memory", Migrations: memory.SQLiteMigrations()})
	engine := fileplanetest.Engine(t, db, quantization)
	w := &world{t: t, engine: engine, now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	w.svc = memory.NewService(db, store, engine, nil)
	w.svc.SetClock(func() time.Time { return w.now })
	_, err := engine.Write(ctx, slices.Concat(
		fileplanetest.Members("z1", "admin", "admin"),
		fileplanetest.Members("z1", "member", "alice", "bob", "bot"),
		fileplanetest.Members("z2", "member", "carol"),
		[]authz.Update{authz.TouchRel(authz.Rel(authz.Obj("user", "bot"), "owner", authz.Subject("user", "alice")))},
	))
	require.NoError(t, err)
	return w
}

func (w *world) remember(c access.Caller, r memory.RememberRequest) memory.Memory {
	w.t.Helper()
	m, _, err := w.svc.Remember(context.Background(), c, r)
	require.NoError(w.t, err)
	return m
}

// readers returns which of the callers may Get m.
func (w *world) readers(m memory.Memory, cs ...access.Caller) []string {
	w.t.Helper()
	var out []string
	for _, c := range cs {
		_, err := w.svc.Get(context.Background(), c, m.ID, ml)
		if err == nil {
			out = append(out, c.User)
			continue
		}
		require.True(w.t, errors.Is(err, errs.NotFound), "got %v", err)
	}
	return out
}

func TestScopes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	ctx := context.Background()
	everyone := []access.Caller{admin, alice, bob, bot, carol}
	cases := []struct {
		name       string
		as         access.Caller
		scope      memory.Scope
		owner      string
		readers    []string
		forgetters []string
	}{
		{"a person's own", alice, memory.ScopeUser, "alice", []string{"admin", "alice"}, []string{"admin", "alice"}},
		{"an agent's own: its owner reads it", bot, memory.ScopeAgent, "bot", []string{"admin", "alice", "bot"}, []string{"admin", "bot"}},
		{"an agent's for its person: the person owns it", bot, memory.ScopeUser, "alice", []string{"admin", "alice", "bot"}, []string{"admin", "alice"}},
		{"zone-wide", bob, memory.ScopeZone, "bob", []string{"admin", "alice", "bob", "bot"}, []string{"admin", "bob"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := w.remember(tc.as, memory.RememberRequest{Text: "note: " + tc.name, Scope: tc.scope})
			require.Equal(t, tc.owner, m.Owner)
			require.Equal(t, tc.readers, w.readers(m, everyone...))
			var forgetters []string
			for _, c := range everyone {
				probe := w.remember(tc.as, memory.RememberRequest{Text: "probe", Scope: tc.scope})
				_, err := w.svc.Forget(ctx, c, probe.ID)
				if err == nil {
					forgetters = append(forgetters, c.User)
				}
			}
			require.Equal(t, tc.forgetters, forgetters)
		})
	}
	_, _, err := w.svc.Remember(ctx, alice, memory.RememberRequest{Text: "x", Scope: memory.ScopeAgent})
	require.True(t, errors.Is(err, errs.InvalidArgument), "a person cannot use the agent scope: %v", err)
}

// A memory shared through a viewer relation is readable, and unreadable at
// once after the revoke, by a caller that passes the revoke's token.
func TestSharingAndRevoke(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5*time.Second)
	ctx := context.Background()
	m := w.remember(alice, memory.RememberRequest{Text: "bob prefers CSV exports", Tags: []string{"prefs"}})
	viewer := authz.Rel(authz.Obj("memory", string(m.ID)), "viewer", authz.Subject("user", "bob"))
	grant, err := w.engine.Write(ctx, []authz.Update{authz.TouchRel(viewer)})
	require.NoError(t, err)
	got, err := w.svc.Recall(ctx, bob, "export format", nil, 10, authz.AtLeastAsFresh(grant))
	require.NoError(t, err)
	require.Len(t, got, 1)
	_, err = w.svc.Get(ctx, bob, m.ID, authz.AtLeastAsFresh(grant))
	require.NoError(t, err)

	revoke, err := w.engine.Write(ctx, []authz.Update{authz.DeleteRel(viewer)})
	require.NoError(t, err)
	got, err = w.svc.Recall(ctx, bob, "export format", nil, 10, authz.AtLeastAsFresh(revoke))
	require.NoError(t, err)
	require.Empty(t, got, "no hit, no snippet after the revoke")
	_, err = w.svc.Get(ctx, bob, m.ID, authz.AtLeastAsFresh(revoke))
	require.True(t, errors.Is(err, errs.NotFound), "got %v", err)
	ms, _, err := w.svc.List(ctx, bob, nil, 0, "", authz.AtLeastAsFresh(revoke))
	require.NoError(t, err)
	require.Empty(t, ms)
}

func TestRecallRanking(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	ctx := context.Background()
	imp := func(f float64) *float64 { return &f }
	old := w.remember(alice, memory.RememberRequest{Text: "bob prefers CSV exports", Tags: []string{"prefs", "bob"}})
	w.now = w.now.Add(90 * 24 * time.Hour)
	fresh := w.remember(alice, memory.RememberRequest{Text: "carol prefers JSON exports", Tags: []string{"prefs"}})
	important := w.remember(alice, memory.RememberRequest{Text: "dave prefers XML exports", Tags: []string{"prefs"}, Importance: imp(1)})
	w.remember(alice, memory.RememberRequest{Text: "lunch is at noon", Tags: []string{"prefs"}})
	w.remember(bob, memory.RememberRequest{Text: "bob's own export notes"})

	got, err := w.svc.Recall(ctx, alice, "export format", nil, 10, ml)
	require.NoError(t, err)
	var order []memory.ID
	for _, r := range got {
		order = append(order, r.Memory.ID)
		require.NotEmpty(t, r.Snippet.Highlights)
	}
	require.Equal(t, []memory.ID{important.ID, fresh.ID, old.ID}, order, "equal relevance: importance, then recency; bob's memory is not alice's to see")

	got, err = w.svc.Recall(ctx, alice, "exports", []string{"bob"}, 10, ml)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, old.ID, got[0].Memory.ID)

	got, err = w.svc.Recall(ctx, alice, "exports", []string{"no-such-tag"}, 10, ml)
	require.NoError(t, err, "unknown tags are no error")
	require.Empty(t, got)

	got, err = w.svc.Recall(ctx, alice, "exports", nil, 2, ml)
	require.NoError(t, err)
	require.Len(t, got, 2)
}

func TestTTL(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	ctx := context.Background()
	m := w.remember(alice, memory.RememberRequest{Text: "the door code is 4321", TTL: time.Hour})
	keep := w.remember(alice, memory.RememberRequest{Text: "the door is red"})
	_, err := w.svc.Get(ctx, alice, m.ID, ml)
	require.NoError(t, err)

	w.now = w.now.Add(time.Hour)
	_, err = w.svc.Get(ctx, alice, m.ID, ml)
	require.True(t, errors.Is(err, errs.NotFound), "expired is gone: %v", err)
	got, err := w.svc.Recall(ctx, alice, "door", nil, 10, ml)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, keep.ID, got[0].Memory.ID)
	ms, _, err := w.svc.List(ctx, alice, nil, 0, "", ml)
	require.NoError(t, err)
	require.Len(t, ms, 1)

	n, err := w.svc.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	rels, err := w.engine.Read(ctx, authz.Filter{Resource: authz.Obj("memory", string(m.ID))}, authz.FullyConsistent())
	require.NoError(t, err)
	require.Empty(t, rels, "its relationships are gone too")
}

func TestListPages(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	ctx := context.Background()
	var want []memory.ID
	for i := 0; i < 60; i++ {
		w.now = w.now.Add(time.Second)
		c := bob
		if i%4 == 0 {
			c = alice
		}
		m := w.remember(c, memory.RememberRequest{Text: fmt.Sprintf("note %d", i), Tags: []string{"t"}})
		if c == alice {
			want = append([]memory.ID{m.ID}, want...)
		}
	}
	var got []memory.ID
	tok := ""
	for {
		ms, next, err := w.svc.List(ctx, alice, []string{"t"}, 4, tok, ml)
		require.NoError(t, err)
		for _, m := range ms {
			got = append(got, m.ID)
		}
		if next == "" {
			break
		}
		require.Len(t, ms, 4, "pages are full although 3 in 4 memories are hidden")
		tok = next
	}
	require.Equal(t, want, got)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	ctx := context.Background()
	imp := func(f float64) *float64 { return &f }
	remember := []struct {
		name string
		r    memory.RememberRequest
	}{
		{"empty text", memory.RememberRequest{}},
		{"text over the size limit", memory.RememberRequest{Text: strings.Repeat("x", memory.MaxTextBytes+1)}},
		{"invalid UTF-8", memory.RememberRequest{Text: "\xff"}},
		{"a NUL byte", memory.RememberRequest{Text: "a\x00b"}},
		{"bad tag", memory.RememberRequest{Text: "x", Tags: []string{"has space"}}},
		{"too many tags", memory.RememberRequest{Text: "x", Tags: strings.Fields(strings.Repeat("t ", 33))}},
		{"importance above 1", memory.RememberRequest{Text: "x", Importance: imp(1.5)}},
		{"importance negative", memory.RememberRequest{Text: "x", Importance: imp(-0.1)}},
		{"negative ttl", memory.RememberRequest{Text: "x", TTL: -time.Second}},
		{"unknown scope", memory.RememberRequest{Text: "x", Scope: "world"}},
		{"metadata value too long", memory.RememberRequest{Text: "x", Metadata: map[string]string{"k": strings.Repeat("v", 1025)}}},
	}
	for _, tc := range remember {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := w.svc.Remember(ctx, alice, tc.r)
			require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
		})
	}
	w.remember(alice, memory.RememberRequest{Text: "something"})
	recall := []struct {
		name  string
		query string
		limit int
	}{
		{"empty query", "", 0},
		{"all stopwords", "the of and", 0},
		{"limit negative", "something", -1},
		{"limit too large", "something", memory.MaxRecallLimit + 1},
	}
	for _, tc := range recall {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.svc.Recall(ctx, alice, tc.query, nil, tc.limit, ml)
			require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
		})
	}
	_, _, err := w.svc.List(ctx, alice, nil, memory.MaxPageSize+1, "", ml)
	require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
	_, _, err = w.svc.List(ctx, alice, nil, 0, "!!", ml)
	require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
	_, err = w.svc.Get(ctx, alice, "", ml)
	require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
	_, err = w.svc.Get(ctx, alice, "mem with spaces", ml)
	require.True(t, errors.Is(err, errs.NotFound), "got %v", err)
}
