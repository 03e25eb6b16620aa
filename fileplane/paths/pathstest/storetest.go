// Package pathstest is the conformance suite every paths.Store must pass,
// whatever its database. It tests rows only: the Tree and its
// relationships are tested elsewhere.
package pathstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/internal/storage"
)

// Run runs the suite. newStore returns an empty, migrated store and the
// database its methods run on.
func Run(t *testing.T, newStore func(t *testing.T) (paths.Store, storage.DBTX)) {
	ctx := context.Background()
	// Nanoseconds and a zone other than UTC: entries read back in UTC.
	now := time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.FixedZone("UTC+5:30", 5*3600+1800))

	folder := func(id, zone string, parent paths.EntryID, name string) paths.Entry {
		return paths.Entry{
			ID: paths.EntryID(id), Zone: zone, Parent: parent, Name: name, Kind: paths.Folder,
			CreatedBy: "user_alice", CreatedAt: now.UTC(),
			ModifiedBy: "user_carol", ModifiedAt: now.UTC().Add(time.Minute + time.Nanosecond),
		}
	}
	file := func(id, zone string, parent paths.EntryID, name string) paths.Entry {
		e := folder(id, zone, parent, name)
		e.Kind = paths.File
		e.Size, e.ContentHash, e.Version, e.MediaType = 11, "b3_"+id, 1, "text/plain"
		return e
	}
	insert := func(t *testing.T, s paths.Store, q storage.DBTX, es ...paths.Entry) {
		t.Helper()
		for _, e := range es {
			require.NoError(t, s.Insert(ctx, q, e), "inserting %s", e.ID)
		}
	}
	get := func(t *testing.T, s paths.Store, q storage.DBTX, id paths.EntryID) paths.Entry {
		t.Helper()
		e, err := s.Get(ctx, q, id)
		require.NoError(t, err, "getting %s", id)
		return e
	}
	requireGone := func(t *testing.T, s paths.Store, q storage.DBTX, ids ...paths.EntryID) {
		t.Helper()
		for _, id := range ids {
			_, err := s.Get(ctx, q, id)
			require.ErrorIs(t, err, storage.ErrNotFound, "%s should be gone", id)
		}
	}
	children := func(t *testing.T, s paths.Store, q storage.DBTX, parent paths.EntryID) []string {
		t.Helper()
		es, err := s.Children(ctx, q, parent, "", 1000)
		require.NoError(t, err)
		return names(es)
	}

	t.Run("InsertGetRoundTrip", func(t *testing.T) {
		s, q := newStore(t)
		root := paths.Entry{
			ID: "fld_root", Zone: "zone_a", Kind: paths.Folder,
			CreatedBy: "system", CreatedAt: now, ModifiedBy: "system", ModifiedAt: now.Add(time.Nanosecond),
			PermToken: "tok_root",
		}
		f := paths.Entry{
			ID: "fil_1", Zone: "zone_a", Parent: "fld_root", Name: "r\u00e9sum\u00e9 \U0001F600.pdf", Kind: paths.File,
			Size: 1<<40 + 7, ContentHash: "b3_0123456789abcdef", Version: 42, MediaType: "application/pdf",
			CreatedBy: "user_alice", CreatedAt: now.Add(-time.Hour),
			ModifiedBy: "user_bob", ModifiedAt: now.Add(time.Minute + 1),
			PermToken: "tok_1",
		}
		insert(t, s, q, root, f)

		wantRoot, wantFile := root, f
		wantRoot.CreatedAt, wantRoot.ModifiedAt = root.CreatedAt.UTC(), root.ModifiedAt.UTC()
		wantFile.CreatedAt, wantFile.ModifiedAt = f.CreatedAt.UTC(), f.ModifiedAt.UTC()

		got := get(t, s, q, "fld_root")
		require.Equal(t, wantRoot, got)
		require.True(t, got.IsRoot())
		require.Equal(t, time.UTC, got.CreatedAt.Location())
		require.Equal(t, 123456789, got.CreatedAt.Nanosecond())
		require.Equal(t, 123456790, got.ModifiedAt.Nanosecond())

		got = get(t, s, q, "fil_1")
		require.Equal(t, wantFile, got)
		require.False(t, got.IsRoot())
		require.Equal(t, authz.Obj("file", "fil_1"), got.Object())

		got, err := s.Root(ctx, q, "zone_a")
		require.NoError(t, err)
		require.Equal(t, wantRoot, got)
		got, err = s.Child(ctx, q, "fld_root", f.Name)
		require.NoError(t, err)
		require.Equal(t, wantFile, got)

		// A folder with none of the file fields set reads back the same.
		empty := paths.Entry{ID: "fld_empty", Zone: "zone_a", Parent: "fld_root", Name: "e", Kind: paths.Folder,
			CreatedAt: now.UTC(), ModifiedAt: now.UTC()}
		insert(t, s, q, empty)
		require.Equal(t, empty, get(t, s, q, "fld_empty"))

		dup := file("fil_1", "zone_a", "fld_root", "other name")
		require.ErrorIs(t, s.Insert(ctx, q, dup), storage.ErrExists, "ids are unique")
		require.Equal(t, wantFile, get(t, s, q, "fil_1"), "a refused insert changes nothing")
	})

	t.Run("OneRootPerZone", func(t *testing.T) {
		s, q := newStore(t)
		insert(t, s, q, folder("fld_a", "zone_a", "", ""))
		require.ErrorIs(t, s.Insert(ctx, q, folder("fld_a2", "zone_a", "", "")), storage.ErrExists)
		requireGone(t, s, q, "fld_a2")
		insert(t, s, q, folder("fld_b", "zone_b", "", ""))

		a, err := s.Root(ctx, q, "zone_a")
		require.NoError(t, err)
		require.Equal(t, paths.EntryID("fld_a"), a.ID)
		b, err := s.Root(ctx, q, "zone_b")
		require.NoError(t, err)
		require.Equal(t, paths.EntryID("fld_b"), b.ID)
		_, err = s.Root(ctx, q, "zone_missing")
		require.ErrorIs(t, err, storage.ErrNotFound)

		// An entry with a parent is no root, whatever its zone.
		insert(t, s, q, folder("fld_c", "zone_c", "fld_a", "c"))
		_, err = s.Root(ctx, q, "zone_c")
		require.ErrorIs(t, err, storage.ErrNotFound, "only an entry without a parent is a root")
	})

	t.Run("NamesAreUniquePerParent", func(t *testing.T) {
		s, q := newStore(t)
		insert(t, s, q,
			folder("fld_root", "zone_a", "", ""),
			folder("fld_a", "zone_a", "fld_root", "a"),
			folder("fld_b", "zone_a", "fld_root", "b"),
			file("fil_ax", "zone_a", "fld_a", "x"),
		)
		require.ErrorIs(t, s.Insert(ctx, q, file("fil_ax2", "zone_a", "fld_a", "x")), storage.ErrExists)
		require.ErrorIs(t, s.Insert(ctx, q, folder("fld_ax3", "zone_a", "fld_a", "x")), storage.ErrExists, "a folder and a file cannot share a name")
		requireGone(t, s, q, "fil_ax2", "fld_ax3")
		insert(t, s, q,
			file("fil_bx", "zone_a", "fld_b", "x"),       // the same name under another parent
			file("fil_rx", "zone_a", "fld_root", "x"),    // and under the grandparent
			file("fil_aX", "zone_a", "fld_a", "X"),       // names are case-sensitive
			file("fil_ax_", "zone_a", "fld_a", "x "),     // and compared whole
			file("fil_e1", "zone_a", "fld_a", "\u00e9"),  // precomposed e-acute
			file("fil_e2", "zone_a", "fld_a", "e\u0301"), // and decomposed are different bytes
		)

		for _, tc := range []struct {
			parent paths.EntryID
			name   string
			want   paths.EntryID
		}{
			{"fld_a", "x", "fil_ax"},
			{"fld_b", "x", "fil_bx"},
			{"fld_root", "x", "fil_rx"},
			{"fld_a", "X", "fil_aX"},
			{"fld_a", "x ", "fil_ax_"},
			{"fld_a", "\u00e9", "fil_e1"},
			{"fld_a", "e\u0301", "fil_e2"},
		} {
			got, err := s.Child(ctx, q, tc.parent, tc.name)
			require.NoError(t, err, "%s/%q", tc.parent, tc.name)
			require.Equal(t, tc.want, got.ID, "%s/%q", tc.parent, tc.name)
		}
		for _, tc := range []struct {
			parent paths.EntryID
			name   string
		}{
			{"fld_a", "y"},
			{"fld_a", "x\x00"},
			{"fld_a", ""},
			{"fld_missing", "x"},
			{"fil_ax", "x"},
			{"", "x"},
		} {
			_, err := s.Child(ctx, q, tc.parent, tc.name)
			require.ErrorIs(t, err, storage.ErrNotFound, "%s/%q", tc.parent, tc.name)
		}
	})

	t.Run("AParentMustExist", func(t *testing.T) {
		s, q := newStore(t)
		insert(t, s, q,
			folder("fld_root", "zone_a", "", ""),
			file("fil_1", "zone_a", "fld_root", "f"),
		)
		require.Error(t, s.Insert(ctx, q, file("fil_orphan", "zone_a", "fld_missing", "f")))
		requireGone(t, s, q, "fil_orphan")
		require.Error(t, s.Move(ctx, q, "fil_1", "fld_missing", "f", "tok"))
		require.Equal(t, file("fil_1", "zone_a", "fld_root", "f"), get(t, s, q, "fil_1"), "a refused move changes nothing")
	})

	t.Run("ChildrenOrderedByNameBytewise", func(t *testing.T) {
		s, q := newStore(t)
		insert(t, s, q,
			folder("fld_root", "zone_a", "", ""),
			folder("fld_a", "zone_a", "fld_root", "a"),
			folder("fld_other", "zone_a", "fld_root", "other"),
			file("fil_other", "zone_a", "fld_other", "0 not mine"),
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
			e := file(fmt.Sprintf("fil_%02d", i), "zone_a", "fld_a", n)
			if i == 0 {
				e = folder("fld_00", "zone_a", "fld_a", n)
			}
			insert(t, s, q, e)
		}
		insert(t, s, q, file("fil_grandchild", "zone_a", "fld_00", "0 grandchild"))
		want := slices.Clone(ns)
		slices.Sort(want) // Go compares strings bytewise

		all, err := s.Children(ctx, q, "fld_a", "", 1000)
		require.NoError(t, err)
		require.Equal(t, want, names(all))
		for _, e := range all {
			require.Equal(t, get(t, s, q, e.ID), e, "children are whole entries")
		}
		exact, err := s.Children(ctx, q, "fld_a", "", len(ns))
		require.NoError(t, err)
		require.Equal(t, want, names(exact), "a limit of exactly the count")

		first, err := s.Children(ctx, q, "fld_a", "", 3)
		require.NoError(t, err)
		require.Equal(t, want[:3], names(first))
		one, err := s.Children(ctx, q, "fld_a", "", 1)
		require.NoError(t, err)
		require.Equal(t, want[:1], names(one))

		// afterName is exclusive, and need not be a child's name.
		i := slices.Index(want, "a")
		after, err := s.Children(ctx, q, "fld_a", "a", 4)
		require.NoError(t, err)
		require.Equal(t, want[i+1:i+5], names(after))
		after, err = s.Children(ctx, q, "fld_a", "a!", 1000) // between "a b" and "a-b"
		require.NoError(t, err)
		require.Equal(t, want[slices.Index(want, "a-b"):], names(after))
		after, err = s.Children(ctx, q, "fld_a", "\ufffd", 1000)
		require.NoError(t, err)
		require.Equal(t, []string{"\U0001F600"}, names(after))
		after, err = s.Children(ctx, q, "fld_a", "\U0001F600", 1000)
		require.NoError(t, err)
		require.Empty(t, after, "nothing after the last name")

		none, err := s.Children(ctx, q, "fld_00", "0 grandchild", 10)
		require.NoError(t, err)
		require.Empty(t, none)
		none, err = s.Children(ctx, q, "fil_01", "", 10)
		require.NoError(t, err)
		require.Empty(t, none, "a file has no children")
		require.Equal(t, []string{"a", "other"}, children(t, s, q, "fld_root"), "a root's children")
	})

	t.Run("ChildrenKeysetPaging", func(t *testing.T) {
		s, q := newStore(t)
		insert(t, s, q, folder("fld_root", "zone_a", "", ""))
		var want []string
		for i := range 25 {
			n := fmt.Sprintf("n%03d", (i*7)%25) // inserted out of order
			insert(t, s, q, file("fil_"+n, "zone_a", "fld_root", n))
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
		s, q := newStore(t)
		insert(t, s, q, folder("fld_root", "zone_a", "", ""))
		for i := 10; i < 40; i += 2 {
			n := fmt.Sprintf("c%02d", i)
			insert(t, s, q, file("fil_"+n, "zone_a", "fld_root", n))
		}
		add := func(n string) {
			insert(t, s, q, file("fil_"+n, "zone_a", "fld_root", n))
		}
		del := func(n string) {
			require.NoError(t, s.Delete(ctx, q, []paths.EntryID{paths.EntryID("fil_" + n)}))
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

	t.Run("UpdateChangesMutableFieldsOnly", func(t *testing.T) {
		s, q := newStore(t)
		root := folder("fld_root", "zone_a", "", "")
		other := folder("fld_other", "zone_a", "fld_root", "other")
		f := file("fil_1", "zone_a", "fld_root", "f")
		g := file("fil_2", "zone_a", "fld_root", "g")
		insert(t, s, q, root, other, f, g)

		later := now.Add(36*time.Hour + 987654321)
		u := paths.Entry{
			ID: "fil_1",
			// Not written by Update:
			Zone: "zone_b", Parent: "fld_other", Name: "renamed", Kind: paths.Folder,
			CreatedBy: "user_mallory", CreatedAt: later,
			// Written:
			Size: 99, ContentHash: "b3_new", Version: 2, MediaType: "image/png",
			ModifiedBy: "user_bob", ModifiedAt: later, PermToken: "tok_2",
		}
		require.NoError(t, s.Update(ctx, q, u))
		want := f
		want.Size, want.ContentHash, want.Version, want.MediaType = 99, "b3_new", 2, "image/png"
		want.ModifiedBy, want.ModifiedAt, want.PermToken = "user_bob", later.UTC(), "tok_2"
		require.Equal(t, want, get(t, s, q, "fil_1"))
		require.Equal(t, g, get(t, s, q, "fil_2"), "other entries are untouched")
		require.Equal(t, []string{"f", "g", "other"}, children(t, s, q, "fld_root"))

		// Fields can be cleared, too.
		u = want
		u.Size, u.ContentHash, u.Version, u.MediaType, u.PermToken = 0, "", 0, "", ""
		require.NoError(t, s.Update(ctx, q, u))
		require.Equal(t, u, get(t, s, q, "fil_1"))

		// An update that changes nothing still finds its entry.
		require.NoError(t, s.Update(ctx, q, u))

		require.ErrorIs(t, s.Update(ctx, q, file("fil_missing", "zone_a", "fld_root", "m")), storage.ErrNotFound)
		requireGone(t, s, q, "fil_missing")
	})

	t.Run("Move", func(t *testing.T) {
		s, q := newStore(t)
		insert(t, s, q,
			folder("fld_root", "zone_a", "", ""),
			folder("fld_a", "zone_a", "fld_root", "a"),
			folder("fld_b", "zone_a", "fld_root", "b"),
			file("fil_f", "zone_a", "fld_a", "f"),
			folder("fld_sub", "zone_a", "fld_a", "sub"),
			file("fil_deep", "zone_a", "fld_sub", "deep"),
			file("fil_taken", "zone_a", "fld_b", "taken"),
		)

		// Rename in place.
		require.NoError(t, s.Move(ctx, q, "fil_f", "fld_a", "g", "tok_1"))
		want := file("fil_f", "zone_a", "fld_a", "g")
		want.PermToken = "tok_1"
		require.Equal(t, want, get(t, s, q, "fil_f"), "only parent, name and token change")
		_, err := s.Child(ctx, q, "fld_a", "f")
		require.ErrorIs(t, err, storage.ErrNotFound, "the old name is free")
		got, err := s.Child(ctx, q, "fld_a", "g")
		require.NoError(t, err)
		require.Equal(t, want, got)

		// Reparent and rename in one move.
		require.NoError(t, s.Move(ctx, q, "fil_f", "fld_b", "h", "tok_2"))
		want = file("fil_f", "zone_a", "fld_b", "h")
		want.PermToken = "tok_2"
		require.Equal(t, want, get(t, s, q, "fil_f"))
		require.Equal(t, []string{"sub"}, children(t, s, q, "fld_a"))
		require.Equal(t, []string{"h", "taken"}, children(t, s, q, "fld_b"))

		// A freed name can be taken again.
		insert(t, s, q, file("fil_f2", "zone_a", "fld_a", "f"))

		// A folder moves with everything below it.
		require.NoError(t, s.Move(ctx, q, "fld_sub", "fld_b", "sub", "tok_3"))
		sub, err := s.Subtree(ctx, q, "fld_sub")
		require.NoError(t, err)
		require.Equal(t, []paths.EntryID{"fld_sub", "fil_deep"}, ids(sub))
		got, err = s.Child(ctx, q, "fld_b", "sub")
		require.NoError(t, err)
		require.Equal(t, paths.EntryID("fld_sub"), got.ID)
		require.Equal(t, paths.EntryID("fld_sub"), get(t, s, q, "fil_deep").Parent, "children keep their parent")

		// A taken name, under the same or another parent, is refused.
		require.ErrorIs(t, s.Move(ctx, q, "fil_f", "fld_b", "taken", "tok_x"), storage.ErrExists)
		require.ErrorIs(t, s.Move(ctx, q, "fil_f2", "fld_b", "taken", "tok_x"), storage.ErrExists)
		require.Equal(t, want, get(t, s, q, "fil_f"), "a refused move changes nothing")
		require.Equal(t, file("fil_f2", "zone_a", "fld_a", "f"), get(t, s, q, "fil_f2"))
		require.Equal(t, []string{"h", "sub", "taken"}, children(t, s, q, "fld_b"))

		// Moving onto its own place is not a conflict with itself.
		require.NoError(t, s.Move(ctx, q, "fil_f", "fld_b", "h", "tok_4"))
		require.Equal(t, authz.Token("tok_4"), get(t, s, q, "fil_f").PermToken)

		require.ErrorIs(t, s.Move(ctx, q, "fil_missing", "fld_b", "new", "tok"), storage.ErrNotFound)
		_, err = s.Child(ctx, q, "fld_b", "new")
		require.ErrorIs(t, err, storage.ErrNotFound)
	})

	t.Run("SubtreeParentsBeforeChildren", func(t *testing.T) {
		s, q := newStore(t)
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
			folder("fld_root", "zone_a", "", ""),
			folder("fld_z", "zone_a", "fld_root", "z"),
			folder("fld_a", "zone_a", "fld_root", "a"),
			file("fil_m", "zone_a", "fld_root", "m.txt"),
			folder("fld_y", "zone_a", "fld_z", "y"),
			file("fil_x", "zone_a", "fld_z", "x.txt"),
			file("fil_b", "zone_a", "fld_y", "b.txt"),
			file("fil_a", "zone_a", "fld_y", "a.txt"),
			file("fil_q", "zone_a", "fld_a", "q.txt"),
			// another zone, not below anything of zone_a
			folder("fld_root_b", "zone_b", "", ""),
			file("fil_other", "zone_b", "fld_root_b", "a.txt"),
		}
		insert(t, s, q, tree...)

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
			sub, err := s.Subtree(ctx, q, tc.top)
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
				require.Equal(t, get(t, s, q, e.ID), e, "subtree entries are whole entries")
			}
		}
	})

	t.Run("DeleteChildrenFirst", func(t *testing.T) {
		s, q := newStore(t)
		insert(t, s, q,
			folder("fld_root", "zone_a", "", ""),
			folder("fld_a", "zone_a", "fld_root", "a"),
			folder("fld_a1", "zone_a", "fld_a", "a1"),
			file("fil_a1x", "zone_a", "fld_a1", "x"),
			file("fil_a1y", "zone_a", "fld_a1", "y"),
			file("fil_a2", "zone_a", "fld_a", "a2"),
			folder("fld_b", "zone_a", "fld_root", "b"),
			file("fil_bx", "zone_a", "fld_b", "x"),
		)
		sub, err := s.Subtree(ctx, q, "fld_a")
		require.NoError(t, err)
		del := ids(sub)
		slices.Reverse(del) // children first, as the contract asks
		require.NoError(t, s.Delete(ctx, q, del))
		requireGone(t, s, q, del...)
		require.Equal(t, []string{"b"}, children(t, s, q, "fld_root"))
		require.Equal(t, []string{"x"}, children(t, s, q, "fld_b"), "the rest of the tree stays")
		rest, err := s.Subtree(ctx, q, "fld_root")
		require.NoError(t, err)
		require.ElementsMatch(t, []paths.EntryID{"fld_root", "fld_b", "fil_bx"}, ids(rest))

		// The freed name and ids can be used again.
		insert(t, s, q, folder("fld_a", "zone_a", "fld_root", "a"))
		require.NoError(t, s.Delete(ctx, q, nil), "deleting nothing")
		require.NoError(t, s.Delete(ctx, q, []paths.EntryID{"fil_bx", "fld_b"}))
		requireGone(t, s, q, "fil_bx", "fld_b")
		require.Equal(t, []string{"a"}, children(t, s, q, "fld_root"))
	})

	t.Run("DeleteLeavesNoOrphans", func(t *testing.T) {
		s, q := newStore(t)
		insert(t, s, q,
			folder("fld_root", "zone_a", "", ""),
			folder("fld_a", "zone_a", "fld_root", "a"),
			file("fil_x", "zone_a", "fld_a", "x"),
		)
		require.Error(t, s.Delete(ctx, q, []paths.EntryID{"fld_a"}), "a folder with children is not deleted before them")
		get(t, s, q, "fld_a")
		require.Equal(t, paths.EntryID("fld_a"), get(t, s, q, "fil_x").Parent)
	})

	t.Run("IDsByKind", func(t *testing.T) {
		s, q := newStore(t)
		collect := func(kind paths.Kind) []paths.EntryID {
			var out []paths.EntryID
			require.NoError(t, s.IDs(ctx, q, kind, func(id paths.EntryID) error {
				out = append(out, id)
				return nil
			}))
			return out
		}
		require.Empty(t, collect(paths.Folder))
		require.Empty(t, collect(paths.File))
		insert(t, s, q,
			folder("fld_root", "zone_a", "", ""),
			folder("fld_a", "zone_a", "fld_root", "a"),
			file("fil_1", "zone_a", "fld_a", "1"),
			file("fil_2", "zone_a", "fld_root", "2"),
			folder("fld_root_b", "zone_b", "", ""),
			file("fil_3", "zone_b", "fld_root_b", "3"),
		)
		require.ElementsMatch(t, []paths.EntryID{"fld_root", "fld_a", "fld_root_b"}, collect(paths.Folder))
		require.ElementsMatch(t, []paths.EntryID{"fil_1", "fil_2", "fil_3"}, collect(paths.File))

		stop := errors.New("stop")
		calls := 0
		err := s.IDs(ctx, q, paths.File, func(paths.EntryID) error {
			calls++
			return stop
		})
		require.ErrorIs(t, err, stop, "fn's error is returned")
		require.Equal(t, 1, calls, "and stops the walk")
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		s, q := newStore(t)
		insert(t, s, q, folder("fld_root", "zone_a", "", ""))
		_, err := s.Get(ctx, q, "fld_missing")
		require.ErrorIs(t, err, storage.ErrNotFound, "Get")
		_, err = s.Root(ctx, q, "zone_missing")
		require.ErrorIs(t, err, storage.ErrNotFound, "Root")
		_, err = s.Child(ctx, q, "fld_root", "missing")
		require.ErrorIs(t, err, storage.ErrNotFound, "Child")
		require.ErrorIs(t, s.Update(ctx, q, file("fil_missing", "zone_a", "fld_root", "m")), storage.ErrNotFound, "Update")
		require.ErrorIs(t, s.Move(ctx, q, "fil_missing", "fld_root", "m", ""), storage.ErrNotFound, "Move")
		_, err = s.Subtree(ctx, q, "fld_missing")
		require.ErrorIs(t, err, storage.ErrNotFound, "Subtree of a missing entry")
	})
}

// page lists parent's children limit at a time, following the last name
// of each page, until a short page. change[i], if set, runs after page i
// (from 1) with the cursor. It returns every name seen and the pages read.
func page(t *testing.T, s paths.Store, q storage.DBTX, parent paths.EntryID, limit int, change map[int]func(cursor string)) ([]string, int) {
	t.Helper()
	var got []string
	cursor := ""
	for pages := 1; ; pages++ {
		require.Less(t, pages, 1000, "paging does not end")
		es, err := s.Children(context.Background(), q, parent, cursor, limit)
		require.NoError(t, err)
		require.LessOrEqual(t, len(es), limit)
		got = append(got, names(es)...)
		if len(es) < limit {
			return got, pages
		}
		cursor = es[len(es)-1].Name
		if f := change[pages]; f != nil {
			f(cursor)
		}
	}
}

func names(es []paths.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}

func ids(es []paths.Entry) []paths.EntryID {
	out := make([]paths.EntryID, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}
