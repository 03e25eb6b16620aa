// Package pathstest is the conformance suite every paths.Store must pass,
// whatever its database. It tests rows only: the Tree and its
// relationships are tested elsewhere.
package pathstest

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// subtrees: whole trees, deletes and ids by kind.
func (x *suite) subtrees(t *testing.T) {
	t.Run("SubtreeParentsBeforeChildren", func(t *testing.T) {
		s, q := x.newStore(t)
		// root
		// ├── z (folder)            level 1
		// │   ├── y (folder)        level 2
		// │   │   ├── b.txt         level 3
		// │   │   └── a.txt
		// │   └── x.txt
		// ├── a (folder)
		// │   └── q.txt
		// └── m.txt
		// Names sort against depth on purpose: a deeper entry often has
		// a smaller name than a shallower one.
		tree := []paths.Entry{
			x.folder("fld_root", "zone_a", "", ""),
			x.folder("fld_z", "zone_a", "fld_root", "z"),
			x.folder("fld_a", "zone_a", "fld_root", "a"),
			x.file("fil_m", "zone_a", "fld_root", "m.txt"),
			x.folder("fld_y", "zone_a", "fld_z", "y"),
			x.file("fil_x", "zone_a", "fld_z", "x.txt"),
			x.file("fil_b", "zone_a", "fld_y", "b.txt"),
			x.file("fil_a", "zone_a", "fld_y", "a.txt"),
			x.file("fil_q", "zone_a", "fld_a", "q.txt"),
			// another zone, not below anything of zone_a
			x.folder("fld_root_b", "zone_b", "", ""),
			x.file("fil_other", "zone_b", "fld_root_b", "a.txt"),
		}
		x.insert(t, s, q, tree...)

		for _, tc := range []struct {
			top  paths.EntryID
			want []paths.EntryID
		}{
			{"fld_root", []paths.EntryID{"fld_root", "fld_z", "fld_a", "fil_m", "fld_y", "fil_x", "fil_b", "fil_a", "fil_q"}},
			{"fld_z", []paths.EntryID{"fld_z", "fld_y", "fil_x", "fil_b", "fil_a"}},
			{"fld_y", []paths.EntryID{"fld_y", "fil_b", "fil_a"}},
			{"fld_a", []paths.EntryID{"fld_a", "fil_q"}},
			{"fil_b", []paths.EntryID{"fil_b"}},
			{"fld_root_b", []paths.EntryID{"fld_root_b", "fil_other"}},
		} {
			sub, err := s.Subtree(x.ctx, q, tc.top)
			require.NoError(t, err, "%s", tc.top)
			require.ElementsMatch(t, tc.want, ids(sub), "%s: it and everything below it", tc.top)
			require.Equal(t, tc.top, sub[0].ID, "%s comes first", tc.top)
			seen := map[paths.EntryID]bool{}
			for _, e := range sub {
				if e.ID != tc.top {
					require.True(t, seen[e.Parent], "%s: %s listed before its parent %s", tc.top, e.ID, e.Parent)
				}
				require.False(t, seen[e.ID], "%s listed twice", e.ID)
				seen[e.ID] = true
				require.Equal(t, x.get(t, s, q, e.ID), e, "subtree entries are whole entries")
			}
		}
	})

	t.Run("DepthAndHeight", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q,
			x.folder("fld_root", "zone_a", "", ""),
			x.folder("fld_a", "zone_a", "fld_root", "a"),
			x.folder("fld_b", "zone_a", "fld_a", "b"),
			x.file("fil_c", "zone_a", "fld_b", "c"),
			x.file("fil_x", "zone_a", "fld_a", "x"),
			x.folder("fld_e", "zone_a", "fld_root", "e"),
		)
		for _, tc := range []struct {
			id            paths.EntryID
			depth, height int
		}{
			{"fld_root", 0, 3}, {"fld_a", 1, 2}, {"fld_b", 2, 1}, {"fil_c", 3, 0}, {"fil_x", 2, 0}, {"fld_e", 1, 0},
		} {
			d, err := s.Depth(x.ctx, q, tc.id)
			require.NoError(t, err)
			require.Equal(t, tc.depth, d, "depth of %s: parent steps up to the root", tc.id)
			h, err := s.Height(x.ctx, q, tc.id)
			require.NoError(t, err)
			require.Equal(t, tc.height, h, "height of %s: parent steps from the deepest entry below", tc.id)
		}
		_, err := s.Depth(x.ctx, q, "fld_missing")
		require.ErrorIs(t, err, errs.NotFound)
		_, err = s.Height(x.ctx, q, "fld_missing")
		require.ErrorIs(t, err, errs.NotFound)
	})

	t.Run("DeleteChildrenFirst", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q,
			x.folder("fld_root", "zone_a", "", ""),
			x.folder("fld_a", "zone_a", "fld_root", "a"),
			x.folder("fld_a1", "zone_a", "fld_a", "a1"),
			x.file("fil_a1x", "zone_a", "fld_a1", "x"),
			x.file("fil_a1y", "zone_a", "fld_a1", "y"),
			x.file("fil_a2", "zone_a", "fld_a", "a2"),
			x.folder("fld_b", "zone_a", "fld_root", "b"),
			x.file("fil_bx", "zone_a", "fld_b", "x"),
		)
		sub, err := s.Subtree(x.ctx, q, "fld_a")
		require.NoError(t, err)
		del := ids(sub)
		slices.Reverse(del) // children first, as the contract asks
		require.NoError(t, s.Delete(x.ctx, q, del))
		x.requireGone(t, s, q, del...)
		require.Equal(t, []string{"b"}, x.childNames(t, s, q, "fld_root"))
		require.Equal(t, []string{"x"}, x.childNames(t, s, q, "fld_b"), "the rest of the tree stays")
		rest, err := s.Subtree(x.ctx, q, "fld_root")
		require.NoError(t, err)
		require.ElementsMatch(t, []paths.EntryID{"fld_root", "fld_b", "fil_bx"}, ids(rest))

		// The freed name and ids can be used again.
		x.insert(t, s, q, x.folder("fld_a", "zone_a", "fld_root", "a"))
		require.NoError(t, s.Delete(x.ctx, q, nil), "deleting nothing")
		require.NoError(t, s.Delete(x.ctx, q, []paths.EntryID{"fil_bx", "fld_b"}))
		x.requireGone(t, s, q, "fil_bx", "fld_b")
		require.Equal(t, []string{"a"}, x.childNames(t, s, q, "fld_root"))
	})

	t.Run("DeleteLeavesNoOrphans", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q,
			x.folder("fld_root", "zone_a", "", ""),
			x.folder("fld_a", "zone_a", "fld_root", "a"),
			x.file("fil_x", "zone_a", "fld_a", "x"),
		)
		require.Error(t, s.Delete(x.ctx, q, []paths.EntryID{"fld_a"}), "a folder with children is not deleted before them")
		x.get(t, s, q, "fld_a")
		require.Equal(t, paths.EntryID("fld_a"), x.get(t, s, q, "fil_x").Parent)
	})

	t.Run("IDsByKind", func(t *testing.T) {
		s, q := x.newStore(t)
		collect := func(kind paths.Kind) []paths.EntryID {
			var out []paths.EntryID
			require.NoError(t, s.IDs(x.ctx, q, kind, func(id paths.EntryID) error {
				out = append(out, id)
				return nil
			}))
			return out
		}
		require.Empty(t, collect(paths.Folder))
		require.Empty(t, collect(paths.File))
		x.insert(t, s, q,
			x.folder("fld_root", "zone_a", "", ""),
			x.folder("fld_a", "zone_a", "fld_root", "a"),
			x.file("fil_1", "zone_a", "fld_a", "1"),
			x.file("fil_2", "zone_a", "fld_root", "2"),
			x.folder("fld_root_b", "zone_b", "", ""),
			x.file("fil_3", "zone_b", "fld_root_b", "3"),
		)
		require.ElementsMatch(t, []paths.EntryID{"fld_root", "fld_a", "fld_root_b"}, collect(paths.Folder))
		require.ElementsMatch(t, []paths.EntryID{"fil_1", "fil_2", "fil_3"}, collect(paths.File))

		stop := errors.New("stop")
		calls := 0
		err := s.IDs(x.ctx, q, paths.File, func(paths.EntryID) error {
			calls++
			return stop
		})
		require.ErrorIs(t, err, stop, "fn's error is returned")
		require.Equal(t, 1, calls, "and stops the walk")
	})
}
