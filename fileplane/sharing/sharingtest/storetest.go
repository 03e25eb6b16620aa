// Package sharingtest is the conformance suite every sharing.Store must
// pass, whatever its database. It tests rows only: relationships, checks
// and the rules of sharing are tested in package sharing.
package sharingtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/storage"
)

// Run runs the suite. newStore returns an empty, migrated store and the
// database its methods run on.
func Run(t *testing.T, newStore func(t *testing.T) (sharing.Store, storage.DBTX)) {
	ctx := context.Background()
	// Nanoseconds and a zone other than UTC: times read back in UTC.
	now := time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.FixedZone("UTC+5:30", 5*3600+1800))
	link := func(id string, hash string) sharing.Link {
		return sharing.Link{ID: sharing.LinkID(id), Zone: "zone_a", Entry: "fld_1", EntryKind: paths.Folder, Role: sharing.Viewer,
			TokenHash: []byte(hash), PasswordHash: "$2a$04$x", CreatedBy: "user_alice", CreatedAt: now.UTC()}
	}

	t.Run("links round-trip", func(t *testing.T) {
		s, q := newStore(t)
		l := link("lnk_1", "h1")
		l.ExpiresAt, l.MaxUses = now.UTC().Add(time.Hour), 3
		require.NoError(t, s.InsertLink(ctx, q, l))
		got, err := s.Link(ctx, q, "lnk_1")
		require.NoError(t, err)
		require.Equal(t, l, got)
		got, err = s.LinkByTokenHash(ctx, q, []byte("h1"))
		require.NoError(t, err)
		require.Equal(t, l, got)

		_, err = s.Link(ctx, q, "lnk_missing")
		require.ErrorIs(t, err, errs.NotFound)
		_, err = s.LinkByTokenHash(ctx, q, []byte("h2"))
		require.ErrorIs(t, err, errs.NotFound)
		require.ErrorIs(t, s.InsertLink(ctx, q, link("lnk_1", "h3")), errs.AlreadyExists, "ids are unique")
		require.ErrorIs(t, s.InsertLink(ctx, q, link("lnk_2", "h1")), errs.AlreadyExists, "token hashes are unique")
	})

	t.Run("links of an entry, newest first", func(t *testing.T) {
		s, q := newStore(t)
		for i := range 3 {
			l := link(fmt.Sprintf("lnk_%d", i), fmt.Sprintf("h%d", i))
			l.CreatedAt = now.UTC().Add(time.Duration(i) * time.Second)
			require.NoError(t, s.InsertLink(ctx, q, l))
		}
		other := link("lnk_other", "hx")
		other.Entry = "fld_2"
		require.NoError(t, s.InsertLink(ctx, q, other))
		ls, err := s.Links(ctx, q, "fld_1")
		require.NoError(t, err)
		var ids []sharing.LinkID
		for _, l := range ls {
			ids = append(ids, l.ID)
		}
		require.Equal(t, []sharing.LinkID{"lnk_2", "lnk_1", "lnk_0"}, ids)
		ls, err = s.Links(ctx, q, "fld_none")
		require.NoError(t, err)
		require.Empty(t, ls)
	})

	t.Run("revoke once", func(t *testing.T) {
		s, q := newStore(t)
		require.NoError(t, s.InsertLink(ctx, q, link("lnk_1", "h1")))
		require.NoError(t, s.RevokeLink(ctx, q, "lnk_1", now))
		got, err := s.Link(ctx, q, "lnk_1")
		require.NoError(t, err)
		require.Equal(t, now.UTC(), got.RevokedAt)
		require.ErrorIs(t, s.RevokeLink(ctx, q, "lnk_1", now), errs.NotFound, "already revoked")
		require.ErrorIs(t, s.RevokeLink(ctx, q, "lnk_missing", now), errs.NotFound)
		ok, err := s.UseLink(ctx, q, "lnk_1", now)
		require.NoError(t, err)
		require.False(t, ok, "a revoked link has no use")
	})

	t.Run("uses: exactly max, then none", func(t *testing.T) {
		s, q := newStore(t)
		l := link("lnk_1", "h1")
		l.MaxUses = 3
		require.NoError(t, s.InsertLink(ctx, q, l))
		for i := range 3 {
			ok, err := s.UseLink(ctx, q, "lnk_1", now)
			require.NoError(t, err)
			require.True(t, ok, "use %d", i+1)
		}
		ok, err := s.UseLink(ctx, q, "lnk_1", now)
		require.NoError(t, err)
		require.False(t, ok, "use 4 of 3")
		got, err := s.Link(ctx, q, "lnk_1")
		require.NoError(t, err)
		require.EqualValues(t, 3, got.Uses)

		unlimited := link("lnk_2", "h2")
		require.NoError(t, s.InsertLink(ctx, q, unlimited))
		for range 10 {
			ok, err := s.UseLink(ctx, q, "lnk_2", now)
			require.NoError(t, err)
			require.True(t, ok)
		}
		ok, err = s.UseLink(ctx, q, "lnk_missing", now)
		require.NoError(t, err)
		require.False(t, ok)
	})

	t.Run("uses: expiry is exclusive", func(t *testing.T) {
		s, q := newStore(t)
		l := link("lnk_1", "h1")
		l.ExpiresAt = now.UTC().Add(time.Minute)
		require.NoError(t, s.InsertLink(ctx, q, l))
		ok, err := s.UseLink(ctx, q, "lnk_1", l.ExpiresAt.Add(-time.Nanosecond))
		require.NoError(t, err)
		require.True(t, ok, "a nanosecond before expiry")
		ok, err = s.UseLink(ctx, q, "lnk_1", l.ExpiresAt)
		require.NoError(t, err)
		require.False(t, ok, "at expiry")
	})

	t.Run("uses: racing for the last use", func(t *testing.T) {
		s, q := newStore(t)
		l := link("lnk_1", "h1")
		l.MaxUses = 5
		require.NoError(t, s.InsertLink(ctx, q, l))
		var wins atomic.Int64
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.UseLink(ctx, q, "lnk_1", now)
				if err == nil && ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		require.EqualValues(t, 5, wins.Load())
	})

	t.Run("access log and failures", func(t *testing.T) {
		s, q := newStore(t)
		add := func(link sharing.LinkID, addr string, at time.Time, o sharing.Outcome) {
			require.NoError(t, s.LogAccess(ctx, q, sharing.Access{Link: link, At: at, Addr: addr, UserAgent: "ua/1", Action: "open", Outcome: o}))
		}
		add("lnk_1", "10.0.0.1", now.Add(-2*time.Minute), sharing.WrongPassword)
		add("lnk_1", "10.0.0.1", now.Add(-30*time.Second), sharing.WrongPassword)
		add("lnk_1", "10.0.0.2", now.Add(-20*time.Second), sharing.OK)
		add("lnk_1", "10.0.0.2", now.Add(-10*time.Second), sharing.WrongPassword)
		add("", "10.0.0.1", now.Add(-5*time.Second), sharing.Unknown)
		add("lnk_2", "10.0.0.1", now, sharing.Expired)

		log, err := s.AccessLog(ctx, q, "lnk_1", 10)
		require.NoError(t, err)
		require.Len(t, log, 4)
		require.Equal(t, now.Add(-10*time.Second).UTC(), log[0].At, "newest first")
		require.Equal(t, sharing.Access{Link: "lnk_1", At: now.Add(-2 * time.Minute).UTC(), Addr: "10.0.0.1", UserAgent: "ua/1", Action: "open", Outcome: sharing.WrongPassword}, log[3])
		log, err = s.AccessLog(ctx, q, "lnk_1", 2)
		require.NoError(t, err)
		require.Len(t, log, 2)

		since := now.Add(-time.Minute)
		n, oldest, err := s.Failures(ctx, q, sharing.FailureQuery{Link: "lnk_1", Outcomes: []sharing.Outcome{sharing.WrongPassword}, Since: since})
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Equal(t, now.Add(-30*time.Second).UTC(), oldest)
		n, oldest, err = s.Failures(ctx, q, sharing.FailureQuery{Addr: "10.0.0.1", Outcomes: []sharing.Outcome{sharing.WrongPassword, sharing.Unknown, sharing.Expired}, Since: since})
		require.NoError(t, err)
		require.Equal(t, 3, n, "by address, across links and unknown tokens")
		require.Equal(t, now.Add(-30*time.Second).UTC(), oldest)
		n, oldest, err = s.Failures(ctx, q, sharing.FailureQuery{Addr: "10.0.0.9", Outcomes: []sharing.Outcome{sharing.WrongPassword}, Since: since})
		require.NoError(t, err)
		require.Zero(t, n)
		require.True(t, oldest.IsZero())
	})
}
