package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/storage"
)

// The folder listing of the production-mode benchmark, as files.Service.List
// does it, minus the cursor: resolve the path in our tables (one row per
// component), check read on the folder, read a page of children rows, and
// filter them with one bulk check. Both the rows and SpiceDB's reads go to
// the pool given: the primary's, or the replica's.

// insertWorldEntries writes the world's folders and files into
// paths_entries (each named by its id, so /fo_0001/fo_0005/fi_00012), under
// the zone's root, the world's root folder.
func insertWorldEntries(ctx context.Context, db *sql.DB, w *world) error {
	store := paths.SQLStore{}
	now := time.Now()
	entry := func(n *treeNode, kind paths.Kind) paths.Entry {
		e := paths.Entry{ID: paths.EntryID(n.obj.ID), Zone: w.zone.ID, Name: n.obj.ID, Kind: kind,
			CreatedBy: "system", CreatedAt: now, ModifiedBy: "system", ModifiedAt: now}
		if n.parent == nil {
			e.Name = ""
		} else {
			e.Parent = paths.EntryID(n.parent.obj.ID)
		}
		return e
	}
	return storage.InTx(ctx, db, func(tx *sql.Tx) error {
		for _, n := range w.folders { // parents first
			if err := store.Insert(ctx, tx, entry(n, paths.Folder)); err != nil {
				return fmt.Errorf("inserting folder %s: %w", n.obj.ID, err)
			}
		}
		for _, n := range w.files {
			if err := store.Insert(ctx, tx, entry(n, paths.File)); err != nil {
				return fmt.Errorf("inserting file %s: %w", n.obj.ID, err)
			}
		}
		return nil
	})
}

// listQuestion is a user listing a folder it may read, with the children it
// should see.
type listQuestion struct {
	user   string
	folder *treeNode
	path   paths.Path
	want   int // readable children
}

// listQuestions returns every (user, folder) pair where the user may read
// the folder (the root excepted: it is open to the whole zone through
// zone#access, a different check), shuffled.
func (w *world) listQuestions(seed uint64) ([]listQuestion, error) {
	children := map[*treeNode][]*treeNode{}
	for _, n := range w.folders[1:] {
		children[n.parent] = append(children[n.parent], n)
	}
	for _, n := range w.files {
		children[n.parent] = append(children[n.parent], n)
	}
	pathOf := func(n *treeNode) (paths.Path, error) {
		s := ""
		for ; n.parent != nil; n = n.parent {
			s = "/" + n.obj.ID + s
		}
		p, _, err := paths.Parse(s)
		return p, err
	}
	var out []listQuestion
	for _, f := range w.folders[1:] {
		p, err := pathOf(f)
		if err != nil {
			return nil, err
		}
		for _, u := range w.users {
			if !w.canRead(u, f) {
				continue
			}
			q := listQuestion{user: u, folder: f, path: p}
			for _, c := range children[f] {
				if w.canRead(u, c) {
					q.want++
				}
			}
			out = append(out, q)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no user may read any folder of the world")
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

// lister lists folders through one pool and one engine.
type lister struct {
	tree *paths.Tree
	db   *sql.DB
	e    *authz.Engine
	zone string
}

func newLister(db *sql.DB, e *authz.Engine, zone string) *lister {
	return &lister{tree: paths.NewTree(db, paths.SQLStore{}, e, nil), db: db, e: e, zone: zone}
}

// list returns how many children of q's folder the user may read, on the
// first page (files.DefaultPageSize).
func (l *lister) list(ctx context.Context, q listQuestion) (int, error) {
	cons := authz.MinimizeLatency()
	r, err := l.tree.Resolve(ctx, l.zone, q.path)
	if err != nil {
		return 0, err
	}
	folder := r.Entry()
	subj := authz.Subject("user", q.user)
	d, err := l.e.Check(ctx, authz.CheckItem{Resource: folder.Object(), Permission: "read", Subject: subj}, cons)
	if err != nil {
		return 0, err
	}
	if !d.Allowed {
		return 0, fmt.Errorf("%s may not read %s", q.user, q.path)
	}
	cands, err := l.tree.Store().Children(ctx, l.db, folder.ID, "", files.DefaultPageSize)
	if err != nil {
		return 0, err
	}
	items := make([]authz.CheckItem, len(cands))
	for i, c := range cands {
		items[i] = authz.CheckItem{Resource: c.Object(), Permission: "read", Subject: subj}
	}
	ds, err := l.e.CheckBulk(ctx, items, cons)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range ds {
		if d.Allowed {
			n++
		}
	}
	return n, nil
}
