package files_test

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

// world is a file plane with one zone (z1) and its people, and a second
// zone (z2) with an outsider.
type world struct {
	t       *testing.T
	db      *sql.DB
	svc     *files.Service
	engine  *authz.Engine
	tree    *paths.Tree
	content *content.Store
	fresh   atomic.Pointer[authz.Token]

	admin, owner, editor, viewer, member, outsider access.Caller
}

type worldOpts struct {
	limits       files.Limits
	quantization time.Duration
	// wrap, if set, wraps the engine the service checks with.
	wrap func(files.Engine) files.Engine
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := sqlitetest.Open(t,
		sqlite.Domain{Name: "authz", Migrations: authz.SQLiteMigrations()},
		sqlite.Domain{Name: "content", Migrations: content.SQLiteMigrations()},
		sqlite.Domain{Name: "paths", Migrations: paths.SQLiteMigrations()},
		sqlite.Domain{Name: "versions", Migrations: versions.SQLiteMigrations()},
		sqlite.Domain{Name: "files", Migrations: files.SQLiteMigrations()},
	)
	engine, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}, RevisionQuantization: o.quantization})
	require.NoError(t, err)
	t.Cleanup(func() { engine.Close() })
	chunks, err := content.NewDiskChunks(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &world{t: t, db: db, engine: engine, content: content.NewStore(db, chunks)}
	var checker files.Engine = engine
	if o.wrap != nil {
		checker = o.wrap(engine)
	}
	w.tree = paths.NewTree(db, paths.SQLStore{}, engine, quiet)
	w.svc, err = files.New(ctx, files.Config{
		DB: db, Tree: w.tree, Versions: versions.SQLStore{}, Content: w.content, Engine: checker,
		Fresh: func() authz.Token {
			if p := w.fresh.Load(); p != nil {
				return *p
			}
			return ""
		},
		Limits: o.limits, Log: quiet,
	})
	require.NoError(t, err)

	w.admin = access.Caller{User: "admin", Zone: "z1"}
	w.owner = access.Caller{User: "owner", Zone: "z1"}
	w.editor = access.Caller{User: "editor", Zone: "z1"}
	w.viewer = access.Caller{User: "viewer", Zone: "z1"}
	w.member = access.Caller{User: "member", Zone: "z1"}
	w.outsider = access.Caller{User: "eve", Zone: "z2"}
	updates := []authz.Update{
		authz.TouchRel(authz.Rel(authz.Obj("zone", "z1"), "admin", authz.Subject("user", "admin"))),
		authz.TouchRel(authz.Rel(authz.Obj("zone", "z2"), "member", authz.Subject("user", "eve"))),
	}
	for _, u := range []string{"owner", "editor", "viewer", "member"} {
		updates = append(updates, authz.TouchRel(authz.Rel(authz.Obj("zone", "z1"), "member", authz.Subject("user", u))))
	}
	_, err = engine.Write(ctx, updates)
	require.NoError(t, err)
	return w
}

// grant gives subject role on the entry at p and records the change on the
// entry, as sharing does.
func (w *world) grant(p, role, user string) authz.Token {
	return w.setRole(p, role, user, authz.Touch)
}

func (w *world) revoke(p, role, user string) authz.Token {
	return w.setRole(p, role, user, authz.Delete)
}

func (w *world) setRole(p, role, user string, op authz.Op) authz.Token {
	w.t.Helper()
	ctx := context.Background()
	r, err := w.tree.Resolve(ctx, "z1", paths.MustParse(p))
	require.NoError(w.t, err)
	e := r.Entry()
	tok, err := w.engine.Write(ctx, []authz.Update{{Op: op, Rel: authz.Rel(e.Object(), role, authz.Subject("user", user))}})
	require.NoError(w.t, err)
	require.NoError(w.t, w.tree.Touch(ctx, e.ID, tok))
	return tok
}

func (w *world) write(c access.Caller, p, data string) files.Item {
	w.t.Helper()
	it, _, err := w.svc.Write(context.Background(), c, p, []byte(data), files.WriteOptions{CreateParents: true})
	require.NoError(w.t, err)
	return it
}

func (w *world) read(c access.Caller, p string, cons authz.Consistency) (string, error) {
	r, err := w.svc.Read(context.Background(), c, p, 0, 0, 0, cons)
	return string(r.Data), err
}

var ml = authz.MinimizeLatency()
