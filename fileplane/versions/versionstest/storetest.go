// Package versionstest is the conformance suite every versions.Store must
// pass, whatever its database.
package versionstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/storage"
)

// Run runs the suite. newStore returns an empty, migrated store and the
// database its methods run on.
func Run(t *testing.T, newStore func(t *testing.T) (versions.Store, storage.DBTX)) {
	ctx := context.Background()
	// Nanoseconds and a zone other than UTC: versions read back in UTC.
	now := time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.FixedZone("UTC-3", -3*3600))

	version := func(entry string, n int64, hash string) versions.Version {
		return versions.Version{
			Entry: entry, Number: n, ContentHash: hash, Size: 10 * n, MediaType: "text/plain",
			CreatedBy: "user_alice", CreatedAt: now.UTC().Add(time.Duration(n) * time.Second),
		}
	}
	add := func(t *testing.T, s versions.Store, q storage.DBTX, vs ...versions.Version) {
		t.Helper()
		for _, v := range vs {
			require.NoError(t, s.Add(ctx, q, v), "adding %s@%d", v.Entry, v.Number)
		}
	}
	list := func(t *testing.T, s versions.Store, q storage.DBTX, entry string) []versions.Version {
		t.Helper()
		vs, err := s.List(ctx, q, entry)
		require.NoError(t, err)
		return vs
	}
	hashes := func(t *testing.T, s versions.Store, q storage.DBTX) []string {
		t.Helper()
		var out []string
		require.NoError(t, s.ContentHashes(ctx, q, func(h string) error {
			out = append(out, h)
			return nil
		}))
		return out
	}

	t.Run("AddGetRoundTrip", func(t *testing.T) {
		s, q := newStore(t)
		v := versions.Version{
			Entry: "fil_1", Number: 7, ContentHash: "b3_0123456789abcdef", Size: 1<<40 + 3,
			MediaType: "application/pdf", CreatedBy: "user_bob", CreatedAt: now,
		}
		add(t, s, q, v)
		got, err := s.Get(ctx, q, "fil_1", 7)
		require.NoError(t, err)
		want := v
		want.CreatedAt = now.UTC()
		require.Equal(t, want, got)
		require.Equal(t, time.UTC, got.CreatedAt.Location())
		require.Equal(t, 123456789, got.CreatedAt.Nanosecond())
		require.True(t, now.Equal(got.CreatedAt))

		// An empty file with no media type reads back the same.
		empty := versions.Version{Entry: "fil_2", Number: 1, ContentHash: "b3_empty", CreatedBy: "user_bob", CreatedAt: now.UTC()}
		add(t, s, q, empty)
		got, err = s.Get(ctx, q, "fil_2", 1)
		require.NoError(t, err)
		require.Equal(t, empty, got)
	})

	t.Run("DuplicateIsExists", func(t *testing.T) {
		s, q := newStore(t)
		v := version("fil_1", 1, "b3_a")
		add(t, s, q, v)
		other := version("fil_1", 1, "b3_b")
		other.CreatedBy = "user_mallory"
		require.ErrorIs(t, s.Add(ctx, q, other), errs.AlreadyExists)
		got, err := s.Get(ctx, q, "fil_1", 1)
		require.NoError(t, err)
		require.Equal(t, v, got, "a refused add changes nothing")
		add(t, s, q,
			version("fil_1", 2, "b3_a"), // the next number
			version("fil_2", 1, "b3_a"), // the same number of another entry
		)
		require.Len(t, list(t, s, q, "fil_1"), 2)
	})

	t.Run("ListNewestFirst", func(t *testing.T) {
		s, q := newStore(t)
		// Added out of order; 10 and 2 order as numbers, not as text.
		add(t, s, q,
			version("fil_1", 2, "b3_2"),
			version("fil_1", 10, "b3_10"),
			version("fil_1", 1, "b3_1"),
			version("fil_other", 5, "b3_x"),
			version("fil_1", 3, "b3_3"),
			version("fil_10", 4, "b3_y"), // an entry whose id extends fil_1's
		)
		vs := list(t, s, q, "fil_1")
		var ns []int64
		for _, v := range vs {
			require.Equal(t, "fil_1", v.Entry)
			ns = append(ns, v.Number)
		}
		require.Equal(t, []int64{10, 3, 2, 1}, ns)
		require.Equal(t, version("fil_1", 10, "b3_10"), vs[0], "listed versions are whole")
		require.Equal(t, []versions.Version{version("fil_other", 5, "b3_x")}, list(t, s, q, "fil_other"))
		require.Empty(t, list(t, s, q, "fil_none"), "an entry without versions lists none")
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		s, q := newStore(t)
		add(t, s, q, version("fil_1", 1, "b3_a"))
		for _, tc := range []struct {
			entry string
			n     int64
		}{
			{"fil_1", 2},
			{"fil_1", 0},
			{"fil_1", -1},
			{"fil_2", 1},
			{"", 1},
		} {
			_, err := s.Get(ctx, q, tc.entry, tc.n)
			require.ErrorIs(t, err, errs.NotFound, "%s@%d", tc.entry, tc.n)
		}
	})

	t.Run("DeleteEntries", func(t *testing.T) {
		s, q := newStore(t)
		add(t, s, q,
			version("fil_1", 1, "b3_a"), version("fil_1", 2, "b3_b"),
			version("fil_2", 1, "b3_a"), version("fil_2", 2, "b3_c"),
			version("fil_3", 1, "b3_d"),
		)
		require.NoError(t, s.DeleteEntries(ctx, q, []string{"fil_1", "fil_3", "fil_missing"}))
		require.Empty(t, list(t, s, q, "fil_1"))
		require.Empty(t, list(t, s, q, "fil_3"))
		for _, n := range []int64{1, 2} {
			_, err := s.Get(ctx, q, "fil_1", n)
			require.ErrorIs(t, err, errs.NotFound)
		}
		require.Equal(t, []versions.Version{version("fil_2", 2, "b3_c"), version("fil_2", 1, "b3_a")},
			list(t, s, q, "fil_2"), "other entries keep every version")

		require.NoError(t, s.DeleteEntries(ctx, q, nil), "deleting nothing")
		require.NoError(t, s.DeleteEntries(ctx, q, []string{"fil_1"}), "deleting again")
		add(t, s, q, version("fil_1", 1, "b3_e")) // numbers of a deleted entry are free again
		got, err := s.Get(ctx, q, "fil_1", 1)
		require.NoError(t, err)
		require.Equal(t, "b3_e", got.ContentHash)
	})

	t.Run("ContentHashesDistinct", func(t *testing.T) {
		s, q := newStore(t)
		require.Empty(t, hashes(t, s, q))
		add(t, s, q,
			version("fil_1", 1, "b3_a"), version("fil_1", 2, "b3_b"), version("fil_1", 3, "b3_a"),
			version("fil_2", 1, "b3_a"), version("fil_2", 2, "b3_c"),
			version("fil_3", 1, "b3_d"),
		)
		require.ElementsMatch(t, []string{"b3_a", "b3_b", "b3_c", "b3_d"}, hashes(t, s, q), "each hash once")

		require.NoError(t, s.DeleteEntries(ctx, q, []string{"fil_1", "fil_3"}))
		require.ElementsMatch(t, []string{"b3_a", "b3_c"}, hashes(t, s, q),
			"a hash another entry still names stays; one only deleted versions named goes")

		stop := errors.New("stop")
		calls := 0
		err := s.ContentHashes(ctx, q, func(string) error {
			calls++
			return stop
		})
		require.ErrorIs(t, err, stop, "fn's error is returned")
		require.Equal(t, 1, calls, "and stops the walk")
	})
}
