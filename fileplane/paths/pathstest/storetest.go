// Package pathstest is the conformance suite every paths.Store must pass,
// whatever its database. It tests rows only: the Tree and its
// relationships are tested elsewhere.
package pathstest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/storage"
)

// Run runs the suite. newStore returns an empty, migrated store and the
// database its methods run on.
func Run(t *testing.T, newStore func(t *testing.T) (paths.Store, storage.DBTX)) {
	x := &suite{
		ctx: context.Background(),
		// Nanoseconds and a zone other than UTC: entries read back in UTC.
		now:      time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.FixedZone("UTC+5:30", 5*3600+1800)),
		newStore: newStore,
	}
	x.entries(t)
	x.children(t)
	x.subtrees(t)
}

// suite holds what every subtest shares.
type suite struct {
	ctx      context.Context
	now      time.Time
	newStore func(t *testing.T) (paths.Store, storage.DBTX)
}

func (x *suite) folder(id, zone string, parent paths.EntryID, name string) paths.Entry {
	return paths.Entry{
		ID: paths.EntryID(id), Zone: zone, Parent: parent, Name: name, Kind: paths.Folder,
		CreatedBy: "user_alice", CreatedAt: x.now.UTC(),
		ModifiedBy: "user_carol", ModifiedAt: x.now.UTC().Add(time.Minute + time.Nanosecond),
	}
}

func (x *suite) file(id, zone string, parent paths.EntryID, name string) paths.Entry {
	e := x.folder(id, zone, parent, name)
	e.Kind = paths.File
	e.Size, e.ContentHash, e.Version, e.MediaType = 11, "b3_"+id, 1, "text/plain"
	return e
}

func (x *suite) insert(t *testing.T, s paths.Store, q storage.DBTX, es ...paths.Entry) {
	t.Helper()
	for _, e := range es {
		require.NoError(t, s.Insert(x.ctx, q, e), "inserting %s", e.ID)
	}
}

func (x *suite) get(t *testing.T, s paths.Store, q storage.DBTX, id paths.EntryID) paths.Entry {
	t.Helper()
	e, err := s.Get(x.ctx, q, id)
	require.NoError(t, err, "getting %s", id)
	return e
}

func (x *suite) requireGone(t *testing.T, s paths.Store, q storage.DBTX, ids ...paths.EntryID) {
	t.Helper()
	for _, id := range ids {
		_, err := s.Get(x.ctx, q, id)
		require.ErrorIs(t, err, errs.NotFound, "%s should be gone", id)
	}
}

func (x *suite) childNames(t *testing.T, s paths.Store, q storage.DBTX, parent paths.EntryID) []string {
	t.Helper()
	es, err := s.Children(x.ctx, q, parent, "", 1000)
	require.NoError(t, err)
	return names(es)
}

// entries: inserting, reading, updating, moving single entries.
func (x *suite) entries(t *testing.T) {
	t.Run("InsertGetRoundTrip", func(t *testing.T) {
		s, q := x.newStore(t)
		root := paths.Entry{
			ID: "fld_root", Zone: "zone_a", Kind: paths.Folder,
			CreatedBy: "system", CreatedAt: x.now, ModifiedBy: "system", ModifiedAt: x.now.Add(time.Nanosecond),
			PermToken: "tok_root",
		}
		f := paths.Entry{
			ID: "fil_1", Zone: "zone_a", Parent: "fld_root", Name: "r\u00e9sum\u00e9 \U0001F600.pdf", Kind: paths.File,
			Size: 1<<40 + 7, ContentHash: "b3_0123456789abcdef", Version: 42, MediaType: "application/pdf",
			CreatedBy: "user_alice", CreatedAt: x.now.Add(-time.Hour),
			ModifiedBy: "user_bob", ModifiedAt: x.now.Add(time.Minute + 1),
			PermToken: "tok_1",
		}
		x.insert(t, s, q, root, f)

		wantRoot, wantFile := root, f
		wantRoot.CreatedAt, wantRoot.ModifiedAt = root.CreatedAt.UTC(), root.ModifiedAt.UTC()
		wantFile.CreatedAt, wantFile.ModifiedAt = f.CreatedAt.UTC(), f.ModifiedAt.UTC()

		got := x.get(t, s, q, "fld_root")
		require.Equal(t, wantRoot, got)
		require.True(t, got.IsRoot())
		require.Equal(t, time.UTC, got.CreatedAt.Location())
		require.Equal(t, 123456789, got.CreatedAt.Nanosecond())
		require.Equal(t, 123456790, got.ModifiedAt.Nanosecond())

		got = x.get(t, s, q, "fil_1")
		require.Equal(t, wantFile, got)
		require.False(t, got.IsRoot())
		require.Equal(t, authz.Obj(nexus.TypeFile, "fil_1"), got.Object())

		got, err := s.Root(x.ctx, q, "zone_a")
		require.NoError(t, err)
		require.Equal(t, wantRoot, got)
		got, err = s.Child(x.ctx, q, "fld_root", f.Name)
		require.NoError(t, err)
		require.Equal(t, wantFile, got)

		// A folder with none of the file fields set reads back the same.
		empty := paths.Entry{ID: "fld_empty", Zone: "zone_a", Parent: "fld_root", Name: "e", Kind: paths.Folder,
			CreatedAt: x.now.UTC(), ModifiedAt: x.now.UTC()}
		x.insert(t, s, q, empty)
		require.Equal(t, empty, x.get(t, s, q, "fld_empty"))

		dup := x.file("fil_1", "zone_a", "fld_root", "other name")
		require.ErrorIs(t, s.Insert(x.ctx, q, dup), errs.AlreadyExists, "ids are unique")
		require.Equal(t, wantFile, x.get(t, s, q, "fil_1"), "a refused insert changes nothing")
	})

	t.Run("OneRootPerZone", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q, x.folder("fld_a", "zone_a", "", ""))
		require.ErrorIs(t, s.Insert(x.ctx, q, x.folder("fld_a2", "zone_a", "", "")), errs.AlreadyExists)
		x.requireGone(t, s, q, "fld_a2")
		x.insert(t, s, q, x.folder("fld_b", "zone_b", "", ""))

		a, err := s.Root(x.ctx, q, "zone_a")
		require.NoError(t, err)
		require.Equal(t, paths.EntryID("fld_a"), a.ID)
		b, err := s.Root(x.ctx, q, "zone_b")
		require.NoError(t, err)
		require.Equal(t, paths.EntryID("fld_b"), b.ID)
		_, err = s.Root(x.ctx, q, "zone_missing")
		require.ErrorIs(t, err, errs.NotFound)

		// An entry with a parent is no root, whatever its zone.
		x.insert(t, s, q, x.folder("fld_c", "zone_c", "fld_a", "c"))
		_, err = s.Root(x.ctx, q, "zone_c")
		require.ErrorIs(t, err, errs.NotFound, "only an entry without a parent is a root")
	})

	t.Run("NamesAreUniquePerParent", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q,
			x.folder("fld_root", "zone_a", "", ""),
			x.folder("fld_a", "zone_a", "fld_root", "a"),
			x.folder("fld_b", "zone_a", "fld_root", "b"),
			x.file("fil_ax", "zone_a", "fld_a", "x"),
		)
		require.ErrorIs(t, s.Insert(x.ctx, q, x.file("fil_ax2", "zone_a", "fld_a", "x")), errs.AlreadyExists)
		require.ErrorIs(t, s.Insert(x.ctx, q, x.folder("fld_ax3", "zone_a", "fld_a", "x")), errs.AlreadyExists, "a folder and a file cannot share a name")
		x.requireGone(t, s, q, "fil_ax2", "fld_ax3")
		x.insert(t, s, q,
			x.file("fil_bx", "zone_a", "fld_b", "x"),       // the same name under another parent
			x.file("fil_rx", "zone_a", "fld_root", "x"),    // and under the grandparent
			x.file("fil_aX", "zone_a", "fld_a", "X"),       // names are case-sensitive
			x.file("fil_ax_", "zone_a", "fld_a", "x "),     // and compared whole
			x.file("fil_e1", "zone_a", "fld_a", "\u00e9"),  // precomposed e-acute
			x.file("fil_e2", "zone_a", "fld_a", "e\u0301"), // and decomposed are different bytes
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
			got, err := s.Child(x.ctx, q, tc.parent, tc.name)
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
			_, err := s.Child(x.ctx, q, tc.parent, tc.name)
			require.ErrorIs(t, err, errs.NotFound, "%s/%q", tc.parent, tc.name)
		}
	})

	t.Run("AParentMustExist", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q,
			x.folder("fld_root", "zone_a", "", ""),
			x.file("fil_1", "zone_a", "fld_root", "f"),
		)
		require.Error(t, s.Insert(x.ctx, q, x.file("fil_orphan", "zone_a", "fld_missing", "f")))
		x.requireGone(t, s, q, "fil_orphan")
		require.Error(t, s.Move(x.ctx, q, "fil_1", "fld_missing", "f", "tok"))
		require.Equal(t, x.file("fil_1", "zone_a", "fld_root", "f"), x.get(t, s, q, "fil_1"), "a refused move changes nothing")
	})
	t.Run("UpdateChangesMutableFieldsOnly", func(t *testing.T) {
		s, q := x.newStore(t)
		root := x.folder("fld_root", "zone_a", "", "")
		other := x.folder("fld_other", "zone_a", "fld_root", "other")
		f := x.file("fil_1", "zone_a", "fld_root", "f")
		g := x.file("fil_2", "zone_a", "fld_root", "g")
		x.insert(t, s, q, root, other, f, g)

		later := x.now.Add(36*time.Hour + 987654321)
		u := paths.Entry{
			ID: "fil_1",
			// Not written by Update:
			Zone: "zone_b", Parent: "fld_other", Name: "renamed", Kind: paths.Folder,
			CreatedBy: "user_mallory", CreatedAt: later,
			// Written:
			Size: 99, ContentHash: "b3_new", Version: 2, MediaType: "image/png",
			ModifiedBy: "user_bob", ModifiedAt: later, PermToken: "tok_2",
		}
		require.NoError(t, s.Update(x.ctx, q, u))
		want := f
		want.Size, want.ContentHash, want.Version, want.MediaType = 99, "b3_new", 2, "image/png"
		want.ModifiedBy, want.ModifiedAt, want.PermToken = "user_bob", later.UTC(), "tok_2"
		require.Equal(t, want, x.get(t, s, q, "fil_1"))
		require.Equal(t, g, x.get(t, s, q, "fil_2"), "other entries are untouched")
		require.Equal(t, []string{"f", "g", "other"}, x.childNames(t, s, q, "fld_root"))

		// Fields can be cleared, too.
		u = want
		u.Size, u.ContentHash, u.Version, u.MediaType, u.PermToken = 0, "", 0, "", ""
		require.NoError(t, s.Update(x.ctx, q, u))
		require.Equal(t, u, x.get(t, s, q, "fil_1"))

		// An update that changes nothing still finds its entry.
		require.NoError(t, s.Update(x.ctx, q, u))

		require.ErrorIs(t, s.Update(x.ctx, q, x.file("fil_missing", "zone_a", "fld_root", "m")), errs.NotFound)
		x.requireGone(t, s, q, "fil_missing")
	})

	t.Run("SetPermTokenChangesOnlyTheToken", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q,
			x.folder("fld_root", "zone_a", "", ""),
			x.file("fil_f", "zone_a", "fld_root", "f"),
		)
		require.NoError(t, s.SetPermToken(x.ctx, q, "fil_f", "tok_9"))
		want := x.file("fil_f", "zone_a", "fld_root", "f")
		want.PermToken = "tok_9"
		require.Equal(t, want, x.get(t, s, q, "fil_f"))
		require.ErrorIs(t, s.SetPermToken(x.ctx, q, "fil_missing", "tok_9"), errs.NotFound)
	})

	t.Run("Move", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q,
			x.folder("fld_root", "zone_a", "", ""),
			x.folder("fld_a", "zone_a", "fld_root", "a"),
			x.folder("fld_b", "zone_a", "fld_root", "b"),
			x.file("fil_f", "zone_a", "fld_a", "f"),
			x.folder("fld_sub", "zone_a", "fld_a", "sub"),
			x.file("fil_deep", "zone_a", "fld_sub", "deep"),
			x.file("fil_taken", "zone_a", "fld_b", "taken"),
		)

		// Rename in place.
		require.NoError(t, s.Move(x.ctx, q, "fil_f", "fld_a", "g", "tok_1"))
		want := x.file("fil_f", "zone_a", "fld_a", "g")
		want.PermToken = "tok_1"
		require.Equal(t, want, x.get(t, s, q, "fil_f"), "only parent, name and token change")
		_, err := s.Child(x.ctx, q, "fld_a", "f")
		require.ErrorIs(t, err, errs.NotFound, "the old name is free")
		got, err := s.Child(x.ctx, q, "fld_a", "g")
		require.NoError(t, err)
		require.Equal(t, want, got)

		// Reparent and rename in one move.
		require.NoError(t, s.Move(x.ctx, q, "fil_f", "fld_b", "h", "tok_2"))
		want = x.file("fil_f", "zone_a", "fld_b", "h")
		want.PermToken = "tok_2"
		require.Equal(t, want, x.get(t, s, q, "fil_f"))
		require.Equal(t, []string{"sub"}, x.childNames(t, s, q, "fld_a"))
		require.Equal(t, []string{"h", "taken"}, x.childNames(t, s, q, "fld_b"))

		// A freed name can be taken again.
		x.insert(t, s, q, x.file("fil_f2", "zone_a", "fld_a", "f"))

		// A folder moves with everything below it.
		require.NoError(t, s.Move(x.ctx, q, "fld_sub", "fld_b", "sub", "tok_3"))
		sub, err := s.Subtree(x.ctx, q, "fld_sub")
		require.NoError(t, err)
		require.Equal(t, []paths.EntryID{"fld_sub", "fil_deep"}, ids(sub))
		got, err = s.Child(x.ctx, q, "fld_b", "sub")
		require.NoError(t, err)
		require.Equal(t, paths.EntryID("fld_sub"), got.ID)
		require.Equal(t, paths.EntryID("fld_sub"), x.get(t, s, q, "fil_deep").Parent, "children keep their parent")

		// A taken name, under the same or another parent, is refused.
		require.ErrorIs(t, s.Move(x.ctx, q, "fil_f", "fld_b", "taken", "tok_x"), errs.AlreadyExists)
		require.ErrorIs(t, s.Move(x.ctx, q, "fil_f2", "fld_b", "taken", "tok_x"), errs.AlreadyExists)
		require.Equal(t, want, x.get(t, s, q, "fil_f"), "a refused move changes nothing")
		require.Equal(t, x.file("fil_f2", "zone_a", "fld_a", "f"), x.get(t, s, q, "fil_f2"))
		require.Equal(t, []string{"h", "sub", "taken"}, x.childNames(t, s, q, "fld_b"))

		// Moving onto its own place is not a conflict with itself.
		require.NoError(t, s.Move(x.ctx, q, "fil_f", "fld_b", "h", "tok_4"))
		require.Equal(t, authz.Token("tok_4"), x.get(t, s, q, "fil_f").PermToken)

		require.ErrorIs(t, s.Move(x.ctx, q, "fil_missing", "fld_b", "new", "tok"), errs.NotFound)
		_, err = s.Child(x.ctx, q, "fld_b", "new")
		require.ErrorIs(t, err, errs.NotFound)
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		s, q := x.newStore(t)
		x.insert(t, s, q, x.folder("fld_root", "zone_a", "", ""))
		_, err := s.Get(x.ctx, q, "fld_missing")
		require.ErrorIs(t, err, errs.NotFound, "Get")
		_, err = s.Root(x.ctx, q, "zone_missing")
		require.ErrorIs(t, err, errs.NotFound, "Root")
		_, err = s.Child(x.ctx, q, "fld_root", "missing")
		require.ErrorIs(t, err, errs.NotFound, "Child")
		require.ErrorIs(t, s.Update(x.ctx, q, x.file("fil_missing", "zone_a", "fld_root", "m")), errs.NotFound, "Update")
		require.ErrorIs(t, s.Move(x.ctx, q, "fil_missing", "fld_root", "m", ""), errs.NotFound, "Move")
		_, err = s.Subtree(x.ctx, q, "fld_missing")
		require.ErrorIs(t, err, errs.NotFound, "Subtree of a missing entry")
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
