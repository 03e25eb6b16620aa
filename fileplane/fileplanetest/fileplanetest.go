// Package fileplanetest is the file plane's test world: a SQLite database
// with the file plane's domains, an authz engine on it, content on disk, a
// paths tree and a files.Service, and helpers that write files and grant
// roles the way the services do. The tests of files, search and sharing
// build their worlds on it and keep only what is their own: their people,
// and the services they add (an indexer, sharing and its directory, a
// clock).
package fileplanetest

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

// World is a file plane on one SQLite database.
type World struct {
	T       testing.TB
	DB      *sql.DB
	Dir     string // chunks are in Dir/blobs
	Engine  *authz.Engine
	Tree    *paths.Tree
	Content *content.Store
	Files   *files.Service
	// Log discards what it is given: for the services a world adds.
	Log *slog.Logger

	// Membership is the token of the last membership change, as identity
	// reports it; Fresh returns it, and Files is at least that fresh.
	Membership atomic.Pointer[authz.Token]
}

// Options are what a world changes of the file plane.
type Options struct {
	// Domains are migrated after the file plane's own (a service's own
	// tables). Unused when DB is set.
	Domains []sqlite.Domain
	// DB, if set, is the database, migrated already (a world reopened on
	// the same data); its caller closes it. Nil: a new one.
	DB *sql.DB
	// Dir is where chunks go (Dir/blobs). "": a new temporary directory.
	Dir string
	// Quantization is the engine's RevisionQuantization (0: its default).
	Quantization time.Duration
	// Limits are Files' (zero: its defaults).
	Limits files.Limits
	// Wrap, if set, wraps the engine Files checks with; the tree keeps
	// the engine itself.
	Wrap func(files.Engine) files.Engine
	// OnChange is Files' change hook (search queues entries there).
	OnChange files.ChangeHook
}

// Domains returns the file plane's SQLite domains (authz, content, paths,
// versions, files) followed by extra.
func Domains(extra ...sqlite.Domain) []sqlite.Domain {
	return append([]sqlite.Domain{
		{Name: "authz", Migrations: authz.SQLiteMigrations()},
		{Name: "content", Migrations: content.SQLiteMigrations()},
		{Name: "paths", Migrations: paths.SQLiteMigrations()},
		{Name: "versions", Migrations: versions.SQLiteMigrations()},
		{Name: "files", Migrations: files.SQLiteMigrations()},
	}, extra...)
}

// Engine starts an engine with nexus.Schema whose relationships are logged
// in db (which has the authz domain); it is closed when t ends.
func Engine(t testing.TB, db *sql.DB, quantization time.Duration) *authz.Engine {
	t.Helper()
	engine, err := authz.New(context.Background(), authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}, RevisionQuantization: quantization})
	require.NoError(t, err)
	t.Cleanup(func() { engine.Close() })
	return engine
}

// Members returns the updates that give each user relation ("member",
// "admin") on zone.
func Members(zone, relation string, users ...string) []authz.Update {
	out := make([]authz.Update, len(users))
	for i, u := range users {
		out[i] = authz.TouchRel(authz.Rel(authz.Obj("zone", zone), relation, authz.Subject("user", u)))
	}
	return out
}

// New builds a world with no one in it: give it people with Relate.
func New(t testing.TB, o Options) *World {
	t.Helper()
	ctx := context.Background()
	db := o.DB
	if db == nil {
		db = sqlitetest.Open(t, Domains(o.Domains...)...)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	chunks, err := content.NewDiskChunks(filepath.Join(o.Dir, "blobs"))
	require.NoError(t, err)
	w := &World{T: t, DB: db, Dir: o.Dir, Engine: Engine(t, db, o.Quantization),
		Content: content.NewStore(db, chunks), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var checker files.Engine = w.Engine
	if o.Wrap != nil {
		checker = o.Wrap(w.Engine)
	}
	w.Tree = paths.NewTree(db, paths.SQLStore{}, w.Engine, w.Log)
	w.Files, err = files.New(ctx, files.Config{DB: db, Tree: w.Tree, Versions: versions.SQLStore{}, Content: w.Content,
		Engine: checker, Fresh: w.Fresh, Limits: o.Limits, Log: w.Log, OnChange: o.OnChange})
	require.NoError(t, err)
	return w
}

// Fresh returns the token of the last membership change ("": none).
func (w *World) Fresh() authz.Token {
	if p := w.Membership.Load(); p != nil {
		return *p
	}
	return ""
}

// SetFresh records tok as the last membership change.
func (w *World) SetFresh(tok authz.Token) { w.Membership.Store(&tok) }

// Relate writes updates in one engine write and returns its token.
func (w *World) Relate(updates ...authz.Update) authz.Token {
	w.T.Helper()
	tok, err := w.Engine.Write(context.Background(), updates)
	require.NoError(w.T, err)
	return tok
}

// SetRole grants (authz.Touch) or revokes (authz.Delete) role to subject
// on the entry at p in zone, recording the change on the entry as sharing
// does, and returns the change's token.
func (w *World) SetRole(zone, p, role string, subject authz.SubjectRef, op authz.Op) authz.Token {
	w.T.Helper()
	ctx := context.Background()
	r, err := w.Tree.Resolve(ctx, zone, paths.MustParse(p))
	require.NoError(w.T, err)
	e := r.Entry()
	tok := w.Relate(authz.Update{Op: op, Rel: authz.Rel(e.Object(), role, subject)})
	require.NoError(w.T, w.Tree.Touch(ctx, e.ID, tok))
	return tok
}

// Write writes data to p as c, making its parents.
func (w *World) Write(c access.Caller, p, data string) files.Item {
	w.T.Helper()
	it, _, err := w.Files.Write(context.Background(), c, p, []byte(data), files.WriteOptions{CreateParents: true})
	require.NoError(w.T, err)
	return it
}

// Read reads the whole of p as c.
func (w *World) Read(c access.Caller, p string, cons authz.Consistency) (string, error) {
	r, err := w.Files.Read(context.Background(), c, p, 0, 0, 0, cons)
	return string(r.Data), err
}
