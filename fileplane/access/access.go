// Package access is the file plane's one gate: who a call acts for
// (Caller), how fresh its decisions must be (Gate.Consistency), and which
// of a page of objects it may see (Gate.Filter) or whether it may use one
// (Gate.May). Files, sharing, search and memory all decide through it, so
// the rules of freshness and of bulk filtering are written once.
package access

import (
	"context"
	"errors"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// Caller is who an operation acts for.
type Caller struct {
	User string // user id: whose permissions are checked, and the author of writes
	Zone string // zone id: the tree paths resolve in
	// Link, if set, is a share link the operation acts through:
	// permissions are checked for share_link:<Link>, and what it writes is
	// recorded as written by paths.LinkAuthor(Link), which owns nothing. User is then
	// the link's creator, for the logs.
	Link string
}

// Author is who writes are recorded as made by: the user, or the link.
func (c Caller) Author() string {
	if c.Link != "" {
		return paths.LinkAuthor(c.Link)
	}
	return c.User
}

// Subject is whose permissions decide: the link's, or the user's.
func (c Caller) Subject() authz.SubjectRef {
	if c.Link != "" {
		return authz.Subject(nexus.TypeShareLink, c.Link)
	}
	return authz.Subject(nexus.TypeUser, c.User)
}

// Engine is what the gate needs of authz.
type Engine interface {
	Check(ctx context.Context, item authz.CheckItem, c authz.Consistency) (authz.Decision, error)
	CheckBulk(ctx context.Context, items []authz.CheckItem, c authz.Consistency) ([]authz.Decision, error)
	Newest(tokens ...authz.Token) authz.Token
}

// Resolver finds entries by path in a zone (paths.Tree is one).
type Resolver interface {
	Resolve(ctx context.Context, zone string, p paths.Path) (paths.Resolved, error)
}

// Gate decides for the file plane.
type Gate struct {
	engine Engine
	fresh  func() authz.Token
	paths  Resolver // nil: Open is not served
}

// New returns a gate over engine. fresh returns the token of the last
// change to group or zone membership (nil: none is tracked): every decision
// is at least that fresh, so a member removed from a group is not let in
// by a decision from before.
func New(engine Engine, fresh func() authz.Token) *Gate {
	if fresh == nil {
		fresh = func() authz.Token { return "" }
	}
	return &Gate{engine: engine, fresh: fresh}
}

// WithPaths returns a gate that also opens paths resolved by r.
func (g *Gate) WithPaths(r Resolver) *Gate {
	c := *g
	c.paths = r
	return &c
}

// MayEntry reports whether c has perm on r's entry, at least as fresh as
// its chain. Reading a zone's root is open to every member of the zone
// (what they see in it is filtered entry by entry).
func (g *Gate) MayEntry(ctx context.Context, c Caller, r paths.Resolved, perm string, cons authz.Consistency) (bool, error) {
	e := r.Entry()
	if e.IsRoot() && perm == nexus.PermRead {
		ok, err := g.May(ctx, c, authz.Obj(nexus.TypeZone, e.Zone), nexus.PermAccess, cons, r.Tokens()...)
		if err != nil || ok {
			return ok, err
		}
	}
	return g.May(ctx, c, e.Object(), perm, cons, r.Tokens()...)
}

// Open resolves p in c's zone and checks perm as every operation on an
// entry does: an entry c may not read is NotFound, worded as a missing one
// is, so the answer does not tell the two apart; one c may read but lacks
// perm on is PermissionDenied.
func (g *Gate) Open(ctx context.Context, c Caller, p paths.Path, perm string, cons authz.Consistency) (paths.Resolved, error) {
	notFound := func() error { return errs.E(errs.NotFound, "%s not found", p) }
	r, err := g.paths.Resolve(ctx, c.Zone, p)
	if errors.Is(err, errs.NotFound) {
		return paths.Resolved{}, notFound()
	}
	if err != nil {
		return paths.Resolved{}, err
	}
	ok, err := g.MayEntry(ctx, c, r, nexus.PermRead, cons)
	if err != nil {
		return paths.Resolved{}, err
	}
	if !ok {
		return paths.Resolved{}, notFound()
	}
	if perm != nexus.PermRead {
		ok, err := g.MayEntry(ctx, c, r, perm, cons)
		if err != nil {
			return paths.Resolved{}, err
		}
		if !ok {
			return paths.Resolved{}, errs.E(errs.PermissionDenied, "you may read %s but not %s it", p, perm)
		}
	}
	return r, nil
}

// Consistency is what a decision must be at least as fresh as: c's token,
// tokens (the newest permission changes on the objects decided, which the
// file plane records on their entries) and the last membership change.
// fully_consistent stays so.
func (g *Gate) Consistency(c authz.Consistency, tokens ...authz.Token) authz.Consistency {
	if c.IsFullyConsistent() {
		return c
	}
	all := append(tokens[:len(tokens):len(tokens)], c.Token(), g.fresh())
	return authz.AtLeastAsFresh(g.engine.Newest(all...))
}

// May reports whether c has perm on obj, at least as fresh as tokens.
func (g *Gate) May(ctx context.Context, c Caller, obj authz.ObjectRef, perm string, cons authz.Consistency, tokens ...authz.Token) (bool, error) {
	d, err := g.engine.Check(ctx, authz.CheckItem{Resource: obj, Permission: perm, Subject: c.Subject()}, g.Consistency(cons, tokens...))
	return d.Allowed, err
}

// Filter reports, with one bulk check at least as fresh as tokens, which of
// objs c has perm on: the page filter of listings, search and recall.
func (g *Gate) Filter(ctx context.Context, c Caller, objs []authz.ObjectRef, perm string, cons authz.Consistency, tokens ...authz.Token) ([]bool, error) {
	if len(objs) == 0 {
		return nil, nil
	}
	items := make([]authz.CheckItem, len(objs))
	subject := c.Subject()
	for i, o := range objs {
		items[i] = authz.CheckItem{Resource: o, Permission: perm, Subject: subject}
	}
	ds, err := g.engine.CheckBulk(ctx, items, g.Consistency(cons, tokens...))
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(ds))
	for i, d := range ds {
		out[i] = d.Allowed
	}
	return out, nil
}
