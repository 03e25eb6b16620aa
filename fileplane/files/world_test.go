package files_test

import (
	"database/sql"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/fileplanetest"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// world is a file plane with one zone (z1) and its people, and a second
// zone (z2) with an outsider. Its lower-case fields are the shared
// world's, by the names the tests use.
type world struct {
	*fileplanetest.World
	t       *testing.T
	db      *sql.DB
	svc     *files.Service
	engine  *authz.Engine
	tree    *paths.Tree
	content *content.Store
	fresh   *atomic.Pointer[authz.Token]

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
	fw := fileplanetest.New(t, fileplanetest.Options{Limits: o.limits, Quantization: o.quantization, Wrap: o.wrap})
	w := &world{World: fw, t: t, db: fw.DB, svc: fw.Files, engine: fw.Engine, tree: fw.Tree, content: fw.Content, fresh: &fw.Membership}
	w.admin = access.Caller{User: "admin", Zone: "z1"}
	w.owner = access.Caller{User: "owner", Zone: "z1"}
	w.editor = access.Caller{User: "editor", Zone: "z1"}
	w.viewer = access.Caller{User: "viewer", Zone: "z1"}
	w.member = access.Caller{User: "member", Zone: "z1"}
	w.outsider = access.Caller{User: "eve", Zone: "z2"}
	w.Relate(slices.Concat(
		fileplanetest.Members("z1", "admin", "admin"),
		fileplanetest.Members("z2", "member", "eve"),
		fileplanetest.Members("z1", "member", "owner", "editor", "viewer", "member"),
	)...)
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
	return w.SetRole("z1", p, role, authz.Subject("user", user), op)
}

func (w *world) write(c access.Caller, p, data string) files.Item {
	w.t.Helper()
	return w.Write(c, p, data)
}

func (w *world) read(c access.Caller, p string, cons authz.Consistency) (string, error) {
	return w.Read(c, p, cons)
}

var ml = authz.MinimizeLatency()
