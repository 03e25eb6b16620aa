package paths_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

var errInjected = errors.New("injected fault")

// faultEngine is the engine with its calls failing on demand. It has no
// Settle: a tree over it cannot apply pending writes.
type faultEngine struct {
	e         *authz.Engine
	failRead  atomic.Bool
	failWrite atomic.Bool
}

func (f *faultEngine) Write(ctx context.Context, u []authz.Update, opts ...authz.WriteOption) (authz.Token, error) {
	if f.failWrite.Load() {
		return "", errInjected
	}
	return f.e.Write(ctx, u, opts...)
}

func (f *faultEngine) DeleteMatching(ctx context.Context, fl authz.Filter, opts ...authz.WriteOption) (authz.Token, error) {
	if f.failWrite.Load() {
		return "", errInjected
	}
	return f.e.DeleteMatching(ctx, fl, opts...)
}

func (f *faultEngine) Read(ctx context.Context, fl authz.Filter, c authz.Consistency) ([]authz.Relationship, error) {
	if f.failRead.Load() {
		return nil, errInjected
	}
	return f.e.Read(ctx, fl, c)
}

func (f *faultEngine) ObjectIDs(ctx context.Context, typ string, fn func(string) error) error {
	if f.failRead.Load() {
		return errInjected
	}
	return f.e.ObjectIDs(ctx, typ, fn)
}

// settlingEngine is an engine with Settle, answering what settle returns.
type settlingEngine struct {
	*faultEngine
	token   authz.Token
	err     error
	settles atomic.Int32
}

func (s *settlingEngine) Settle(context.Context) (authz.Token, error) {
	s.settles.Add(1)
	return s.token, s.err
}

// faultStore is the SQL store with single methods overridden.
type faultStore struct {
	paths.SQLStore
	root    func(ctx context.Context, q storage.DBTX, zone string) (paths.Entry, error)
	child   func(ctx context.Context, q storage.DBTX, parent paths.EntryID, name string) (paths.Entry, error)
	get     func(ctx context.Context, q storage.DBTX, id paths.EntryID) (paths.Entry, error)
	subtree func(ctx context.Context, q storage.DBTX, id paths.EntryID) ([]paths.Entry, error)
	height  func(ctx context.Context, q storage.DBTX, id paths.EntryID) (int, error)
	ids     func(ctx context.Context, q storage.DBTX, kind paths.Kind, fn func(paths.EntryID) error) error
}

func (s *faultStore) Root(ctx context.Context, q storage.DBTX, zone string) (paths.Entry, error) {
	if s.root != nil {
		return s.root(ctx, q, zone)
	}
	return s.SQLStore.Root(ctx, q, zone)
}

func (s *faultStore) Child(ctx context.Context, q storage.DBTX, parent paths.EntryID, name string) (paths.Entry, error) {
	if s.child != nil {
		return s.child(ctx, q, parent, name)
	}
	return s.SQLStore.Child(ctx, q, parent, name)
}

func (s *faultStore) Get(ctx context.Context, q storage.DBTX, id paths.EntryID) (paths.Entry, error) {
	if s.get != nil {
		return s.get(ctx, q, id)
	}
	return s.SQLStore.Get(ctx, q, id)
}

func (s *faultStore) Subtree(ctx context.Context, q storage.DBTX, id paths.EntryID) ([]paths.Entry, error) {
	if s.subtree != nil {
		return s.subtree(ctx, q, id)
	}
	return s.SQLStore.Subtree(ctx, q, id)
}

func (s *faultStore) Height(ctx context.Context, q storage.DBTX, id paths.EntryID) (int, error) {
	if s.height != nil {
		return s.height(ctx, q, id)
	}
	return s.SQLStore.Height(ctx, q, id)
}

func (s *faultStore) IDs(ctx context.Context, q storage.DBTX, kind paths.Kind, fn func(paths.EntryID) error) error {
	if s.ids != nil {
		return s.ids(ctx, q, kind, fn)
	}
	return s.SQLStore.IDs(ctx, q, kind, fn)
}

type treeWorld struct {
	t      *testing.T
	db     *sql.DB
	engine *authz.Engine
	fe     *faultEngine
	store  *faultStore
	tree   *paths.Tree
	logs   *bytes.Buffer
}

func newTreeWorld(t *testing.T) *treeWorld {
	t.Helper()
	ctx := context.Background()
	db := sqlitetest.Open(t,
		sqlite.Domain{Name: "authz", Migrations: authz.SQLiteMigrations()},
		sqlite.Domain{Name: "paths", Migrations: paths.SQLiteMigrations()},
	)
	engine, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}})
	require.NoError(t, err)
	t.Cleanup(func() { engine.Close() })
	w := &treeWorld{t: t, db: db, engine: engine, fe: &faultEngine{e: engine}, store: &faultStore{}, logs: &bytes.Buffer{}}
	w.tree = paths.NewTree(db, w.store, w.fe, slog.New(slog.NewTextHandler(w.logs, nil)))
	return w
}

func (w *treeWorld) resolve(p string) paths.Resolved {
	w.t.Helper()
	r, err := w.tree.Resolve(context.Background(), "z", paths.MustParse(p))
	require.NoError(w.t, err)
	return r
}

func (w *treeWorld) create(parent, name string, kind paths.Kind) paths.Resolved {
	w.t.Helper()
	r, _, err := w.tree.Create(context.Background(), w.resolve(parent), name, paths.Entry{Kind: kind, CreatedBy: "alice"}, nil)
	require.NoError(w.t, err)
	return r
}

// rels returns the relationships of obj, as the engine has them.
func (w *treeWorld) rels(obj authz.ObjectRef) []authz.Relationship {
	w.t.Helper()
	rs, err := w.engine.Read(context.Background(), authz.Filter{Resource: obj}, authz.FullyConsistent())
	require.NoError(w.t, err)
	return rs
}

func (w *treeWorld) exists(id paths.EntryID) bool {
	w.t.Helper()
	_, err := paths.SQLStore{}.Get(context.Background(), w.db, id)
	if errors.Is(err, errs.NotFound) {
		return false
	}
	require.NoError(w.t, err)
	return true
}

func TestTreeRoot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("a root created concurrently is the one returned", func(t *testing.T) {
		w := newTreeWorld(t)
		first, err := w.tree.Root(ctx, "z")
		require.NoError(t, err)
		// Another node created the root between this one's read and its
		// insert: the read says none, the insert finds it taken.
		var reads atomic.Int32
		w.store.root = func(ctx context.Context, q storage.DBTX, zone string) (paths.Entry, error) {
			if reads.Add(1) == 1 {
				return paths.Entry{}, errs.NotFound
			}
			return paths.SQLStore{}.Root(ctx, q, zone)
		}
		got, err := w.tree.Root(ctx, "z")
		require.NoError(t, err)
		require.Equal(t, first.ID, got.ID)
		require.Equal(t, int32(2), reads.Load())
	})
	t.Run("a store error is returned", func(t *testing.T) {
		w := newTreeWorld(t)
		w.store.root = func(context.Context, storage.DBTX, string) (paths.Entry, error) { return paths.Entry{}, errInjected }
		_, err := w.tree.Root(ctx, "z")
		require.ErrorIs(t, err, errInjected)
		_, err = w.tree.Resolve(ctx, "z", paths.MustParse("/a"))
		require.ErrorIs(t, err, errInjected)
	})
	t.Run("a failed write creates no root", func(t *testing.T) {
		w := newTreeWorld(t)
		w.fe.failWrite.Store(true)
		_, err := w.tree.Root(ctx, "z")
		require.ErrorIs(t, err, errInjected)
		_, err = paths.SQLStore{}.Root(ctx, w.db, "z")
		require.ErrorIs(t, err, errs.NotFound)
		w.fe.failWrite.Store(false)
		root, err := w.tree.Root(ctx, "z")
		require.NoError(t, err)
		require.NotEmpty(t, root.PermToken)
	})
}

func TestTreeResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTreeWorld(t)
	w.create("/", "d", paths.Folder)
	f := w.create("/d", "f.txt", paths.File)

	_, err := w.tree.Resolve(ctx, "z", paths.MustParse("/d/f.txt/below"))
	var nf *paths.NotFoundError
	require.ErrorAs(t, err, &nf)
	require.ErrorIs(t, err, errs.NotFound)
	require.Equal(t, "/d/f.txt/below not found", err.Error())
	require.Equal(t, f.Entry().ID, nf.Partial.Entry().ID, "walking through a file stops at the file")

	_, err = w.tree.Resolve(ctx, "z", paths.MustParse("/d/missing/x"))
	require.ErrorAs(t, err, &nf)
	require.Equal(t, paths.MustParse("/d"), nf.Partial.Path)

	w.store.child = func(context.Context, storage.DBTX, paths.EntryID, string) (paths.Entry, error) {
		return paths.Entry{}, errInjected
	}
	_, err = w.tree.Resolve(ctx, "z", paths.MustParse("/d"))
	require.ErrorIs(t, err, errInjected)
	require.NotErrorIs(t, err, errs.NotFound)
}

// TestTreeSettle: an entry recorded without its token (its relationships
// not yet applied) gets the token of the engine's Settle when resolved;
// if Settle fails, or the engine has none, it stays without one and the
// failure is logged.
func TestTreeSettle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	insertBare := func(w *treeWorld) paths.Entry {
		now := time.Now()
		root := paths.Entry{ID: "fld_bare", Zone: "z", Kind: paths.Folder, CreatedBy: "system", CreatedAt: now, ModifiedBy: "system", ModifiedAt: now}
		require.NoError(t, paths.SQLStore{}.Insert(ctx, w.db, root))
		return root
	}
	t.Run("settled", func(t *testing.T) {
		w := newTreeWorld(t)
		insertBare(w)
		se := &settlingEngine{faultEngine: w.fe, token: "settled-token"}
		tree := paths.NewTree(w.db, paths.SQLStore{}, se, nil)
		r, err := tree.Resolve(ctx, "z", paths.Root)
		require.NoError(t, err)
		require.Equal(t, authz.Token("settled-token"), r.Entry().PermToken)
		root, err := tree.Root(ctx, "z")
		require.NoError(t, err)
		require.Equal(t, authz.Token("settled-token"), root.PermToken)
	})
	t.Run("settle fails", func(t *testing.T) {
		w := newTreeWorld(t)
		insertBare(w)
		se := &settlingEngine{faultEngine: w.fe, err: errInjected}
		tree := paths.NewTree(w.db, paths.SQLStore{}, se, slog.New(slog.NewTextHandler(w.logs, nil)))
		r, err := tree.Resolve(ctx, "z", paths.Root)
		require.NoError(t, err, "a check on the entry may deny; resolving it still works")
		require.Empty(t, r.Entry().PermToken)
		require.Contains(t, w.logs.String(), "cannot apply pending relationship writes")
		require.Contains(t, w.logs.String(), errInjected.Error())
	})
	t.Run("nothing pending", func(t *testing.T) {
		w := newTreeWorld(t)
		insertBare(w)
		se := &settlingEngine{faultEngine: w.fe}
		tree := paths.NewTree(w.db, paths.SQLStore{}, se, slog.New(slog.NewTextHandler(w.logs, nil)))
		r, err := tree.Resolve(ctx, "z", paths.Root)
		require.NoError(t, err)
		require.Empty(t, r.Entry().PermToken)
		require.Positive(t, se.settles.Load(), "Settle was asked")
		require.Empty(t, w.logs.String())
	})
	t.Run("an engine without Settle", func(t *testing.T) {
		w := newTreeWorld(t)
		insertBare(w)
		r, err := w.tree.Resolve(ctx, "z", paths.Root)
		require.NoError(t, err)
		require.Empty(t, r.Entry().PermToken)
	})
}

func TestTreeCreateFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTreeWorld(t)
	w.create("/", "d", paths.Folder)
	file := w.create("/d", "f.txt", paths.File)

	_, _, err := w.tree.Create(ctx, file, "x", paths.Entry{Kind: paths.File, CreatedBy: "alice"}, nil)
	require.ErrorIs(t, err, errs.FailedPrecondition)

	_, _, err = w.tree.Create(ctx, w.resolve("/d"), "f.txt", paths.Entry{Kind: paths.File, CreatedBy: "alice"}, nil)
	require.ErrorIs(t, err, errs.AlreadyExists)
	require.Contains(t, err.Error(), "/d/f.txt already exists")

	// The hook fails: neither the row nor its relationships are written.
	var created paths.Entry
	_, _, err = w.tree.Create(ctx, w.resolve("/d"), "g.txt", paths.Entry{Kind: paths.File, CreatedBy: "alice"},
		func(_ context.Context, _ *sql.Tx, e paths.Entry) error { created = e; return errInjected })
	require.ErrorIs(t, err, errInjected)
	require.NotEmpty(t, created.ID)
	require.False(t, w.exists(created.ID))
	require.Empty(t, w.rels(created.Object()))

	// The folder was deleted after it was resolved.
	d := w.resolve("/d")
	gone := w.create("/d", "gone", paths.Folder)
	_, err = w.tree.Delete(ctx, gone, false, nil)
	require.NoError(t, err)
	_, _, err = w.tree.Create(ctx, gone, "x", paths.Entry{Kind: paths.File, CreatedBy: "alice"}, nil)
	require.ErrorIs(t, err, errs.NotFound)
	require.Contains(t, err.Error(), "deleted meanwhile")

	// What a share link creates has no owner.
	r, _, err := w.tree.Create(ctx, d, "by-link.txt", paths.Entry{Kind: paths.File, CreatedBy: paths.LinkAuthor("l1")}, nil)
	require.NoError(t, err)
	require.True(t, paths.IsLinkAuthor(r.Entry().CreatedBy))
	for _, rel := range w.rels(r.Entry().Object()) {
		require.NotEqual(t, "owner", rel.Relation)
	}
	require.Len(t, w.rels(r.Entry().Object()), 2, "zone and parent")
}

func TestTreeMoveFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTreeWorld(t)
	w.create("/", "a", paths.Folder)
	w.create("/", "b", paths.Folder)
	w.create("/a", "x.txt", paths.File)
	w.create("/a", "y.txt", paths.File)
	w.create("/b", "x.txt", paths.File)

	_, _, err := w.tree.Move(ctx, w.resolve("/"), w.resolve("/b"), "root")
	require.ErrorIs(t, err, errs.InvalidArgument)
	_, _, err = w.tree.Move(ctx, w.resolve("/a/x.txt"), w.resolve("/a/y.txt"), "z")
	require.ErrorIs(t, err, errs.FailedPrecondition)
	_, _, err = w.tree.Move(ctx, w.resolve("/a"), w.resolve("/a"), "self")
	require.ErrorIs(t, err, errs.InvalidArgument)

	// A rename onto a taken name, and a move onto one.
	_, _, err = w.tree.Move(ctx, w.resolve("/a/x.txt"), w.resolve("/a"), "y.txt")
	require.ErrorIs(t, err, errs.AlreadyExists)
	_, _, err = w.tree.Move(ctx, w.resolve("/a/x.txt"), w.resolve("/b"), "x.txt")
	require.ErrorIs(t, err, errs.AlreadyExists)
	require.Contains(t, err.Error(), "/b/x.txt already exists")

	// The store fails inside the move's transaction: nothing moves.
	x := w.resolve("/a/x.txt")
	w.store.height = func(context.Context, storage.DBTX, paths.EntryID) (int, error) { return 0, errInjected }
	_, _, err = w.tree.Move(ctx, x, w.resolve("/b"), "moved.txt")
	require.ErrorIs(t, err, errInjected)
	w.store.height = nil
	require.Equal(t, x.Entry().ID, w.resolve("/a/x.txt").Entry().ID)
	for _, rel := range w.rels(x.Entry().Object()) {
		if rel.Relation == "parent" {
			require.Equal(t, string(w.resolve("/a").Entry().ID), rel.Subject.Object.ID, "the parent relationship is unchanged")
		}
	}
}

func TestTreeDeleteFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("the root", func(t *testing.T) {
		w := newTreeWorld(t)
		_, err := w.tree.Delete(ctx, w.resolve("/"), true, nil)
		require.ErrorIs(t, err, errs.InvalidArgument)
	})
	t.Run("deleted concurrently", func(t *testing.T) {
		w := newTreeWorld(t)
		d := w.create("/", "d", paths.Folder)
		_, err := w.tree.Delete(ctx, d, false, nil)
		require.NoError(t, err)
		_, err = w.tree.Delete(ctx, d, false, nil)
		require.ErrorIs(t, err, errs.NotFound)
	})
	t.Run("deleted between the read and the transaction", func(t *testing.T) {
		w := newTreeWorld(t)
		d := w.create("/", "d", paths.Folder)
		// The first read (outside the transaction) still sees d; the
		// second (inside) sees it gone.
		var n atomic.Int32
		w.store.subtree = func(ctx context.Context, q storage.DBTX, id paths.EntryID) ([]paths.Entry, error) {
			if n.Add(1) == 1 {
				return paths.SQLStore{}.Subtree(ctx, q, id)
			}
			return nil, errs.NotFound
		}
		_, err := w.tree.Delete(ctx, d, false, nil)
		require.ErrorIs(t, err, errs.NotFound)
		w.store.subtree = nil
		require.True(t, w.exists(d.Entry().ID))
		require.NotEmpty(t, w.rels(d.Entry().Object()), "a failed delete keeps the relationships")
	})
	t.Run("a child added between the read and the transaction", func(t *testing.T) {
		w := newTreeWorld(t)
		d := w.create("/", "d", paths.Folder)
		// The read outside the transaction was made before the child
		// was created.
		var n atomic.Int32
		w.store.subtree = func(ctx context.Context, q storage.DBTX, id paths.EntryID) ([]paths.Entry, error) {
			sub, err := paths.SQLStore{}.Subtree(ctx, q, id)
			if n.Add(1) == 1 && err == nil {
				sub = sub[:1]
			}
			return sub, err
		}
		child := w.create("/d", "late.txt", paths.File)
		_, err := w.tree.Delete(ctx, d, false, nil)
		require.ErrorIs(t, err, errs.FailedPrecondition)
		require.Contains(t, err.Error(), "is not empty")
		require.True(t, w.exists(d.Entry().ID))
		require.True(t, w.exists(child.Entry().ID))
	})
	t.Run("store and hook errors delete nothing", func(t *testing.T) {
		w := newTreeWorld(t)
		d := w.create("/", "d", paths.Folder)
		f := w.create("/d", "f.txt", paths.File)
		w.store.subtree = func(context.Context, storage.DBTX, paths.EntryID) ([]paths.Entry, error) { return nil, errInjected }
		_, err := w.tree.Delete(ctx, d, true, nil)
		require.ErrorIs(t, err, errInjected)
		var n atomic.Int32
		w.store.subtree = func(ctx context.Context, q storage.DBTX, id paths.EntryID) ([]paths.Entry, error) {
			if n.Add(1) == 2 {
				return nil, errInjected
			}
			return paths.SQLStore{}.Subtree(ctx, q, id)
		}
		_, err = w.tree.Delete(ctx, d, true, nil)
		require.ErrorIs(t, err, errInjected)
		w.store.subtree = nil
		_, err = w.tree.Delete(ctx, d, true, func(context.Context, *sql.Tx, []paths.EntryID) error { return errInjected })
		require.ErrorIs(t, err, errInjected)
		for _, r := range []paths.Resolved{d, f} {
			require.True(t, w.exists(r.Entry().ID))
			require.NotEmpty(t, w.rels(r.Entry().Object()))
		}
	})
}

// TestTreeSweepOrphans: the relationships of entries whose rows are gone
// (a crash in the middle of a recursive delete) are removed; those of live
// entries stay, including an entry whose row appears after the sweep
// listed the live ids.
func TestTreeSweepOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTreeWorld(t)
	w.create("/", "d", paths.Folder)
	sub := w.create("/d", "sub", paths.Folder)
	orphan := w.create("/d/sub", "orphan.txt", paths.File)
	live := w.create("/d", "live.txt", paths.File)
	late := w.create("/d", "late.txt", paths.File)
	// The crash: the rows of sub and its file went, their relationships
	// stayed.
	require.NoError(t, paths.SQLStore{}.Delete(ctx, w.db, []paths.EntryID{orphan.Entry().ID, sub.Entry().ID}))
	// late's row is there, but the sweep's listing of live ids missed it,
	// as if it had been written just after.
	w.store.ids = func(ctx context.Context, q storage.DBTX, kind paths.Kind, fn func(paths.EntryID) error) error {
		return paths.SQLStore{}.IDs(ctx, q, kind, func(id paths.EntryID) error {
			if id == late.Entry().ID {
				return nil
			}
			return fn(id)
		})
	}
	n, err := w.tree.SweepOrphans(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Empty(t, w.rels(orphan.Entry().Object()))
	require.Empty(t, w.rels(sub.Entry().Object()))
	require.NotEmpty(t, w.rels(live.Entry().Object()))
	require.NotEmpty(t, w.rels(late.Entry().Object()), "an entry whose row exists keeps its relationships")
	w.store.ids = nil
	n, err = w.tree.SweepOrphans(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to sweep")

	t.Run("failures", func(t *testing.T) {
		w.store.ids = func(context.Context, storage.DBTX, paths.Kind, func(paths.EntryID) error) error { return errInjected }
		_, err := w.tree.SweepOrphans(ctx)
		require.ErrorIs(t, err, errInjected)
		w.store.ids = nil
		w.fe.failRead.Store(true)
		_, err = w.tree.SweepOrphans(ctx)
		require.ErrorIs(t, err, errInjected)
		w.fe.failRead.Store(false)
		// An orphan whose delete fails stays, and the sweep says so.
		require.NoError(t, paths.SQLStore{}.Delete(ctx, w.db, []paths.EntryID{live.Entry().ID}))
		w.fe.failWrite.Store(true)
		_, err = w.tree.SweepOrphans(ctx)
		require.ErrorIs(t, err, errInjected)
		w.fe.failWrite.Store(false)
		require.NotEmpty(t, w.rels(live.Entry().Object()))
		n, err := w.tree.SweepOrphans(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

func TestTreeLocate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newTreeWorld(t)
	w.create("/", "d", paths.Folder)
	a := w.create("/d", "a.txt", paths.File)
	b := w.create("/d", "b.txt", paths.File)
	gone := w.create("/d", "gone.txt", paths.File)
	_, err := w.tree.Delete(ctx, gone, false, nil)
	require.NoError(t, err)

	var gets atomic.Int32
	w.store.get = func(ctx context.Context, q storage.DBTX, id paths.EntryID) (paths.Entry, error) {
		gets.Add(1)
		return paths.SQLStore{}.Get(ctx, q, id)
	}
	got, err := w.tree.Locate(ctx, []paths.EntryID{a.Entry().ID, b.Entry().ID, gone.Entry().ID, "fil_never"})
	require.NoError(t, err)
	require.Len(t, got, 2, "ids that do not exist are left out")
	require.Equal(t, paths.MustParse("/d/a.txt"), got[a.Entry().ID].Path)
	require.Equal(t, paths.MustParse("/d/b.txt"), got[b.Entry().ID].Path)
	require.Len(t, got[b.Entry().ID].Chain, 3)
	require.Equal(t, int32(6), gets.Load(), "a, b, gone, never, /d and the root: shared ancestors are read once")

	w.store.get = func(context.Context, storage.DBTX, paths.EntryID) (paths.Entry, error) {
		return paths.Entry{}, errInjected
	}
	_, err = w.tree.Locate(ctx, []paths.EntryID{a.Entry().ID})
	require.ErrorIs(t, err, errInjected)
}

func TestMigrationsAreEmbedded(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fs.FS{"sqlite": paths.SQLiteMigrations(), "postgres": paths.PostgresMigrations()} {
		files, err := fs.Glob(fsys, "*.sql")
		require.NoError(t, err)
		require.NotEmpty(t, files, name)
	}
}
