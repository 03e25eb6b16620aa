// Package pathstest is the conformance suite every paths.Store must pass,
// whatever its database. It tests rows only: the Tree and its
// relationships are tested elsewhere.
package pathstest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/paths"
)

// children: ordering and keyset paging of a folder's children.
func (x *suite) children(t *testing.T) {
	t.Run("ChildrenOrderedByNameBytewise", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q,
			x.folder("fld_root", "zone_a", "", ""),
			x.folder("fld_a", "zone_a", "fld_root", "a"),
			x.folder("fld_other", "zone_a", "fld_root", "other"),
			x.file("fil_other", "zone_a", "fld_other", "0 not mine"),
		)
		// Bytewise, not by a collation: upper case before lower case,
		// space before letters, a prefix before its extensions, digits
		// as text, U+FFFD (EF BF BD) before U+1F600 (F0 9F 98 80) though
		// UTF-16 orders them the other way.
		ns := []string{
			"b", "a", "B", "Z", "_x", "a b", "aa", "a-b", "~",
			"\u00e9", "\u00c9", "\ufffd", "\U0001F600", "0", "10", "9", "A", "ab", "e\u0301",
		}
		for i, n := range ns {
			e := x.file(fmt.Sprintf("fil_%02d", i), "zone_a", "fld_a", n)
			if i == 0 {
				e = x.folder("fld_00", "zone_a", "fld_a", n)
			}
			x.insert(t, s, q, e)
		}
		x.insert(t, s, q, x.file("fil_grandchild", "zone_a", "fld_00", "0 grandchild"))
		want := slices.Clone(ns)
		slices.Sort(want) // Go compares strings bytewise

		all, err := s.Children(x.ctx, q, "fld_a", "", 1000)
		require.NoError(t, err)
		require.Equal(t, want, names(all))
		for _, e := range all {
			require.Equal(t, x.get(t, s, q, e.ID), e, "children are whole entries")
		}
		exact, err := s.Children(x.ctx, q, "fld_a", "", len(ns))
		require.NoError(t, err)
		require.Equal(t, want, names(exact), "a limit of exactly the count")

		first, err := s.Children(x.ctx, q, "fld_a", "", 3)
		require.NoError(t, err)
		require.Equal(t, want[:3], names(first))
		one, err := s.Children(x.ctx, q, "fld_a", "", 1)
		require.NoError(t, err)
		require.Equal(t, want[:1], names(one))

		// afterName is exclusive, and need not be a child's name.
		i := slices.Index(want, "a")
		after, err := s.Children(x.ctx, q, "fld_a", "a", 4)
		require.NoError(t, err)
		require.Equal(t, want[i+1:i+5], names(after))
		after, err = s.Children(x.ctx, q, "fld_a", "a!", 1000) // between "a b" and "a-b"
		require.NoError(t, err)
		require.Equal(t, want[slices.Index(want, "a-b"):], names(after))
		after, err = s.Children(x.ctx, q, "fld_a", "\ufffd", 1000)
		require.NoError(t, err)
		require.Equal(t, []string{"\U0001F600"}, names(after))
		after, err = s.Children(x.ctx, q, "fld_a", "\U0001F600", 1000)
		require.NoError(t, err)
		require.Empty(t, after, "nothing after the last name")

		none, err := s.Children(x.ctx, q, "fld_00", "0 grandchild", 10)
		require.NoError(t, err)
		require.Empty(t, none)
		none, err = s.Children(x.ctx, q, "fil_01", "", 10)
		require.NoError(t, err)
		require.Empty(t, none, "a file has no children")
		require.Equal(t, []string{"a", "other"}, x.childNames(t, s, q, "fld_root"), "a root's children")
	})

	t.Run("ChildrenKeysetPaging", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q, x.folder("fld_root", "zone_a", "", ""))
		var want []string
		for i := range 25 {
			n := fmt.Sprintf("n%03d", (i*7)%25) // inserted out of order
			x.insert(t, s, q, x.file("fil_"+n, "zone_a", "fld_root", n))
			want = append(want, n)
		}
		slices.Sort(want)
		for _, limit := range []int{1, 2, 4, 5, 24, 25, 26} {
			got, pages := page(t, s, q, "fld_root", limit, nil)
			require.Equal(t, want, got, "limit %d", limit)
			require.Equal(t, 25/limit+1, pages, "limit %d: full pages, then a short (maybe empty) one", limit)
		}
	})

	t.Run("ChildrenPagingWhileChanging", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q, x.folder("fld_root", "zone_a", "", ""))
		for i := 10; i < 40; i += 2 {
			n := fmt.Sprintf("c%02d", i)
			x.insert(t, s, q, x.file("fil_"+n, "zone_a", "fld_root", n))
		}
		add := func(n string) {
			x.insert(t, s, q, x.file("fil_"+n, "zone_a", "fld_root", n))
		}
		del := func(n string) {
			require.NoError(t, s.Delete(x.ctx, q, []paths.EntryID{paths.EntryID("fil_" + n)}))
		}
		// Pages of 4 over c10..c38 (even). Between pages, insert and
		// delete before and after the cursor.
		changes := map[int]func(cursor string){
			1: func(cursor string) { // cursor c16
				require.Equal(t, "c16", cursor)
				add("c11")  // before the cursor: not seen
				add("c17")  // just after: seen
				add("c99")  // at the end: seen
				del("c12")  // already seen
				del("c18")  // after: not seen
				del("c16")  // the cursor itself
				add("c16x") // after the deleted cursor: seen
			},
			2: func(cursor string) { // cursor c22
				require.Equal(t, "c22", cursor)
				add("c21") // before: not seen
				add("c23") // after: seen
				del("c24") // after: not seen
				del("c26") // after: not seen
				del("c28") // after: not seen
			},
			3: func(cursor string) { // cursor c34
				require.Equal(t, "c34", cursor)
				del("c99") // inserted, then deleted before it was reached
				add("c33") // before: not seen
				add("c35") // after: seen
			},
		}
		got, _ := page(t, s, q, "fld_root", 4, changes)
		want := []string{
			"c10", "c12", "c14", "c16", // page 1
			"c16x", "c17", "c20", "c22", // page 2
			"c23", "c30", "c32", "c34", // page 3 (c24..c28 deleted)
			"c35", "c36", "c38", // page 4, short: the end

		}
		require.Equal(t, want, got, "every child once; inserted after the cursor seen, deleted after it not")
		for i := 1; i < len(got); i++ {
			require.Less(t, got[i-1], got[i], "strictly increasing: no child twice")
		}
	})
}
