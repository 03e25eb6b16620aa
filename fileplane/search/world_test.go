package search_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

// world is a file plane whose changes feed the search index, in zone z1
// with users alice and bob (members) and admin.
type world struct {
	t       *testing.T
	db      *sql.DB
	engine  *authz.Engine
	tree    *paths.Tree
	content *content.Store
	files   *files.Service
	indexer *search.Indexer
	search  *search.Service
	store   search.Store
}

var domains = []sqlite.Domain{
	{Name: "authz", Migrations: authz.SQLiteMigrations()},
	{Name: "content", Migrations: content.SQLiteMigrations()},
	{Name: "paths", Migrations: paths.SQLiteMigrations()},
	{Name: "versions", Migrations: versions.SQLiteMigrations()},
	{Name: "files", Migrations: files.SQLiteMigrations()},
	{Name: "search", Migrations: search.SQLiteMigrations()},
}

var (
	alice = access.Caller{User: "alice", Zone: "z1"}
	bob   = access.Caller{User: "bob", Zone: "z1"}
	admin = access.Caller{User: "admin", Zone: "z1"}
)

func sc(c access.Caller) access.Caller { return access.Caller{User: c.User, Zone: c.Zone} }

type opts struct {
	db           *sql.DB      // nil: a new database
	dir          string       // blobs go in dir/blobs ("": a new directory)
	store        search.Store // nil: SQLStore
	quantization time.Duration
}

// newWorld builds a world.
func newWorld(t *testing.T, o opts) *world {
	t.Helper()
	ctx := context.Background()
	db, store := o.db, o.store
	if db == nil {
		db = sqlitetest.Open(t, domains...)
	}
	if store == nil {
		store = search.SQLStore{}
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	engine, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}, RevisionQuantization: o.quantization})
	require.NoError(t, err)
	t.Cleanup(func() { engine.Close() })
	chunks, err := content.NewDiskChunks(filepath.Join(o.dir, "blobs"))
	require.NoError(t, err)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &world{t: t, db: db, engine: engine, content: content.NewStore(db, chunks), store: store}
	w.tree = paths.NewTree(db, paths.SQLStore{}, engine, quiet)
	w.indexer = search.NewIndexer(db, store, paths.SQLStore{}, w.content, 0, quiet)
	w.files, err = files.New(ctx, files.Config{DB: db, Tree: w.tree, Versions: versions.SQLStore{}, Content: w.content,
		Engine: engine, Log: quiet, OnChange: w.indexer.Enqueue})
	require.NoError(t, err)
	w.search = search.NewService(db, store, w.indexer, w.tree, engine, nil)
	_, err = engine.Write(ctx, []authz.Update{
		authz.TouchRel(authz.Rel(authz.Obj("zone", "z1"), "admin", authz.Subject("user", "admin"))),
		authz.TouchRel(authz.Rel(authz.Obj("zone", "z1"), "member", authz.Subject("user", "alice"))),
		authz.TouchRel(authz.Rel(authz.Obj("zone", "z1"), "member", authz.Subject("user", "bob"))),
	})
	require.NoError(t, err)
	// Each user owns a home folder.
	for _, u := range []string{"alice", "bob"} {
		_, _, err := w.files.Mkdir(ctx, admin, "/"+u, false)
		if errors.Is(err, errs.AlreadyExists) {
			continue // a world reopened
		}
		require.NoError(t, err)
		w.setRole("/"+u, "owner", u, authz.Touch)
	}
	return w
}

func (w *world) write(c access.Caller, p, data string) {
	w.t.Helper()
	_, _, err := w.files.Write(context.Background(), c, p, []byte(data), files.WriteOptions{CreateParents: true})
	require.NoError(w.t, err)
}

// setRole grants or revokes role on the entry at p, recording the change on
// the entry as sharing does, and returns the change's token.
func (w *world) setRole(p, role, user string, op authz.Op) authz.Token {
	w.t.Helper()
	ctx := context.Background()
	r, err := w.tree.Resolve(ctx, "z1", paths.MustParse(p))
	require.NoError(w.t, err)
	tok, err := w.engine.Write(ctx, []authz.Update{{Op: op, Rel: authz.Rel(r.Entry().Object(), role, authz.Subject("user", user))}})
	require.NoError(w.t, err)
	require.NoError(w.t, w.tree.Touch(ctx, r.Entry().ID, tok))
	return tok
}

// paths returns the paths of every hit c gets for q, over all pages.
func (w *world) paths(c access.Caller, q string, cons authz.Consistency) []string {
	w.t.Helper()
	var out []string
	tok := ""
	for {
		rs, next, err := w.search.Search(context.Background(), sc(c), q, 3, tok, cons)
		require.NoError(w.t, err)
		for _, r := range rs {
			out = append(out, string(r.Path))
		}
		if next == "" {
			return out
		}
		tok = next
	}
}

var ml = authz.MinimizeLatency()
