package search_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/fileplanetest"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// world is a file plane whose changes feed the search index, in zone z1
// with users alice and bob (members) and admin. Its db, engine, tree,
// content and files are the shared world's, by the names the tests use.
type world struct {
	*fileplanetest.World
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

// searchDomain is search's own tables; domains are the whole database's.
var (
	searchDomain = sqlite.Domain{Name: "search", Migrations: search.SQLiteMigrations()}
	domains      = fileplanetest.Domains(searchDomain)
)

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
	w := &world{t: t, store: o.store}
	if w.store == nil {
		w.store = search.SQLStore{}
	}
	fw := fileplanetest.New(t, fileplanetest.Options{
		Domains: []sqlite.Domain{searchDomain}, DB: o.db, Dir: o.dir, Quantization: o.quantization,
		// w.indexer is set before anything changes.
		OnChange: func(ctx context.Context, tx *sql.Tx, ids []paths.EntryID) error {
			return w.indexer.Enqueue(ctx, tx, ids)
		},
	})
	w.World, w.db, w.engine, w.tree, w.content, w.files = fw, fw.DB, fw.Engine, fw.Tree, fw.Content, fw.Files
	w.indexer = search.NewIndexer(w.db, w.store, paths.SQLStore{}, w.content, 0, fw.Log)
	w.search = search.NewService(w.db, w.store, w.indexer, w.tree, w.engine, nil)
	w.Relate(slices.Concat(
		fileplanetest.Members("z1", "admin", "admin"),
		fileplanetest.Members("z1", "member", "alice", "bob"),
	)...)
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
	w.Write(c, p, data)
}

// setRole grants or revokes role on the entry at p, recording the change on
// the entry as sharing does, and returns the change's token.
func (w *world) setRole(p, role, user string, op authz.Op) authz.Token {
	w.t.Helper()
	return w.SetRole("z1", p, role, authz.Subject("user", user), op)
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
