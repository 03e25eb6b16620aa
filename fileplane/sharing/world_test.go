package sharing_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/fileplanetest"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// world is a file plane with sharing: zone z1 (admin, alice, bob, carol,
// dave; groups design and berlin, berlin nested in design) and zone z2
// (eve; group ext). Its db, engine, tree, files and fresh are the shared
// world's, by the names the tests use.
type world struct {
	*fileplanetest.World
	t      testing.TB
	db     *sql.DB
	engine *authz.Engine
	tree   *paths.Tree
	files  *files.Service
	share  *sharing.Service
	dir    *directory
	clock  *clock
	fresh  *atomic.Pointer[authz.Token]

	admin, alice, bob, carol, dave, eve access.Caller
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// directory is an in-memory sharing.Directory: "user:NAME" and
// "group:NAME" of each zone, "ZONE/NAME" for another zone's.
type directory struct {
	subjects map[string]authz.SubjectRef // "z1/user:bob"
	names    map[authz.SubjectRef]string // -> "z1/user:bob"
}

func (d *directory) add(zone, typ, name string) {
	id := typ + "_" + name
	s := authz.Subject(typ, id)
	if typ == "group" {
		s = authz.SubjectSet("group", id, "member")
	}
	d.subjects[zone+"/"+typ+":"+name] = s
	d.names[s] = zone + "/" + typ + ":" + name
}

func (d *directory) SubjectIn(_ context.Context, zone, field, ref string) (authz.SubjectRef, string, error) {
	typ, name, ok := strings.Cut(ref, ":")
	if !ok || (typ != "user" && typ != "group") {
		return authz.SubjectRef{}, "", errs.Invalid(field, "%q must be user:NAME or group:NAME", ref)
	}
	z := zone
	if qz, qn, ok := strings.Cut(name, "/"); ok {
		z, name = qz, qn
	}
	s, ok := d.subjects[z+"/"+typ+":"+name]
	if !ok {
		return authz.SubjectRef{}, "", errs.E(errs.NotFound, "%s not found", ref)
	}
	return s, z, nil
}

func (d *directory) SubjectName(_ context.Context, zone string, s authz.SubjectRef) string {
	n, ok := d.names[s]
	if !ok {
		return s.String()
	}
	z, rest, _ := strings.Cut(n, "/")
	if z == zone {
		return rest
	}
	typ, name, _ := strings.Cut(rest, ":")
	return typ + ":" + z + "/" + name
}

func (d *directory) ZoneName(_ context.Context, zone string) string { return zone }

var start = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newWorld(t testing.TB) *world {
	t.Helper()
	fw := fileplanetest.New(t, fileplanetest.Options{Domains: []sqlite.Domain{{Name: "sharing", Migrations: sharing.SQLiteMigrations()}}})
	w := &world{World: fw, t: t, db: fw.DB, engine: fw.Engine, tree: fw.Tree, files: fw.Files, fresh: &fw.Membership, clock: &clock{t: start},
		dir: &directory{subjects: map[string]authz.SubjectRef{}, names: map[authz.SubjectRef]string{}}}
	limits := sharing.DefaultLimits
	limits.PasswordCost = bcrypt.MinCost
	w.share = sharing.New(sharing.Config{DB: w.db, Store: sharing.SQLStore{}, Tree: w.tree, Files: w.files, Engine: w.engine,
		Directory: w.dir, Fresh: w.Fresh, Limits: limits, Log: fw.Log, Now: w.clock.Now})

	caller := func(zone, name string) access.Caller {
		w.dir.add(zone, "user", name)
		return access.Caller{User: "user_" + name, Zone: zone}
	}
	w.admin, w.alice, w.bob, w.carol, w.dave = caller("z1", "admin"), caller("z1", "alice"), caller("z1", "bob"), caller("z1", "carol"), caller("z1", "dave")
	w.eve = caller("z2", "eve")
	w.dir.add("z1", "group", "design")
	w.dir.add("z1", "group", "berlin")
	w.dir.add("z2", "group", "ext")
	w.Relate(slices.Concat(
		fileplanetest.Members("z1", "admin", "user_admin"),
		fileplanetest.Members("z2", "member", "user_eve"),
		[]authz.Update{
			// berlin is nested in design.
			authz.TouchRel(authz.Rel(authz.Obj("group", "group_design"), "member", authz.SubjectSet("group", "group_berlin", "member"))),
			authz.TouchRel(authz.Rel(authz.Obj("group", "group_ext"), "member", authz.Subject("user", "user_eve"))),
		},
		fileplanetest.Members("z1", "member", "user_alice", "user_bob", "user_carol", "user_dave"),
	)...)
	return w
}

// member adds user to group (of z1) and returns the token, as identity does.
func (w *world) member(group, user string, op authz.Op) authz.Token {
	w.t.Helper()
	tok := w.Relate(authz.Update{Op: op, Rel: authz.Rel(authz.Obj("group", "group_"+group), "member", authz.Subject("user", "user_"+user))})
	w.SetFresh(tok)
	return tok
}

func (w *world) write(c access.Caller, p, data string) {
	w.t.Helper()
	w.Write(c, p, data)
}

func (w *world) grant(c access.Caller, p, subject, role string) authz.Token {
	w.t.Helper()
	tok, err := w.share.Grant(context.Background(), c, p, subject, sharing.Role(role))
	require.NoError(w.t, err)
	require.NotEmpty(w.t, tok)
	return tok
}

func (w *world) read(c access.Caller, p string, tok authz.Token) (string, error) {
	return w.Read(c, p, authz.AtLeastAsFresh(tok))
}

var web = sharing.Client{Addr: "192.0.2.1", UserAgent: "test/1"}

func (w *world) link(c access.Caller, p string, o sharing.LinkOptions) (sharing.Link, string) {
	w.t.Helper()
	l, tok, ct, err := w.share.CreateLink(context.Background(), c, p, o)
	require.NoError(w.t, err)
	require.NotEmpty(w.t, ct)
	return l, tok
}

func (w *world) open(tok, password, sub string) (sharing.Opened, error) {
	return w.share.OpenLink(context.Background(), web, tok, password, sub, 0, "")
}

// outcomes returns a link's access log outcomes, oldest first.
func (w *world) outcomes(c access.Caller, link sharing.LinkID) []sharing.Outcome {
	w.t.Helper()
	log, err := w.share.LinkAccessLog(context.Background(), c, string(link), 1000)
	require.NoError(w.t, err)
	out := make([]sharing.Outcome, len(log))
	for i, a := range log {
		out[len(log)-1-i] = a.Outcome
	}
	return out
}
