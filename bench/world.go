package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nexus-authz/nexus/authz"
)

// The benchmark world: one zone of a mid-sized organisation, built from a
// seed so every run (and every scenario) sees the same relationships. It
// keeps a reference model of the schema's `read` on files, so a scenario can
// ask questions whose answer it knows and count the engine's mismatches.

// worldSpec sizes the world.
type worldSpec struct {
	Seed  uint64
	Users int
	// Fanout[i] is how many sub-folders each folder at depth i has; the
	// tree is len(Fanout)+1 levels deep (the root is depth 0).
	Fanout []int
	// FilesAt[i] is how many files each folder at depth i holds.
	FilesAt []int
}

func defaultWorldSpec() worldSpec {
	return worldSpec{
		Seed:    20240601,
		Users:   240,
		Fanout:  []int{4, 4, 4, 3},    // 1 + 4 + 16 + 64 + 192 folders
		FilesAt: []int{2, 4, 4, 8, 8}, // 2 + 16 + 64 + 512 + 1536 files
	}
}

// Groups, as child -> parent: membership of a child group is membership of
// its parent (parent#member includes child#member).
var groupParents = map[string]string{
	"eng":      "staff",
	"sales":    "staff",
	"ops":      "staff",
	"backend":  "eng",
	"frontend": "eng",
	"db":       "backend",
}

// leafGroups are the groups users are put in directly.
var leafGroups = []string{"db", "backend", "frontend", "sales", "ops", "contractors"}

var allGroups = []string{"staff", "eng", "sales", "ops", "backend", "frontend", "db", "contractors"}

type treeNode struct {
	obj    authz.ObjectRef
	depth  int
	parent *treeNode
	// readers are the subjects granted owner, editor or viewer on this node
	// or on any folder above it ("user:ID" or "group:ID"): exactly who may
	// read it, besides the zone admin.
	readers []string
}

type world struct {
	spec     worldSpec
	zone     authz.ObjectRef
	admin    string   // the zone admin's user id
	users    []string // user ids, admin included
	folders  []*treeNode
	files    []*treeNode
	groupsOf map[string]map[string]bool // user -> every group it is a member of, transitively
	updates  []authz.Update
}

func buildWorld(spec worldSpec) *world {
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))
	w := &world{spec: spec, zone: authz.Obj("zone", "z_acme"), groupsOf: map[string]map[string]bool{}}
	touch := func(res authz.ObjectRef, rel string, subj authz.SubjectRef) {
		w.updates = append(w.updates, authz.TouchRel(authz.Rel(res, rel, subj)))
	}
	user := func(id string) authz.SubjectRef { return authz.Subject("user", id) }
	members := func(g string) authz.SubjectRef { return authz.SubjectSet("group", g, "member") }

	for i := 0; i < spec.Users; i++ {
		w.users = append(w.users, fmt.Sprintf("u%04d", i))
	}
	randUser := func() string { return w.users[1+rng.IntN(len(w.users)-1)] }

	// Zone: one admin; staff and contractors are members.
	w.admin = w.users[0]
	touch(w.zone, "admin", user(w.admin))
	touch(w.zone, "member", members("staff"))
	touch(w.zone, "member", members("contractors"))

	// Groups, nested, each with a manager.
	for _, g := range allGroups {
		touch(authz.Obj("group", g), "zone", authz.Subject("zone", w.zone.ID))
		touch(authz.Obj("group", g), "manager", user(randUser()))
	}
	for _, child := range allGroups {
		if parent, ok := groupParents[child]; ok {
			touch(authz.Obj("group", parent), "member", members(child))
		}
	}
	// Users 1.. go into leaf groups round-robin; two in eight are in none
	// (guests), one in ten is also in a second group.
	direct := map[string][]string{}
	for i, u := range w.users[1:] {
		if k := i % 8; k < len(leafGroups) {
			direct[u] = append(direct[u], leafGroups[k])
		}
		if i%10 == 0 {
			direct[u] = append(direct[u], leafGroups[rng.IntN(len(leafGroups))])
		}
		for _, g := range direct[u] {
			touch(authz.Obj("group", g), "member", user(u))
		}
	}
	for _, u := range w.users {
		set := map[string]bool{}
		for _, g := range direct[u] {
			for g != "" && !set[g] {
				set[g] = true
				g = groupParents[g]
			}
		}
		w.groupsOf[u] = set
	}

	// grant gives subj a role on n, in the engine and in the model.
	grant := func(n *treeNode, role, subj string) {
		s := user(subj[len("user:"):])
		if subj[:len("group:")] == "group:" {
			s = members(subj[len("group:"):])
		}
		touch(n.obj, role, s)
		n.readers = append(n.readers, subj)
	}
	randRole := func() string { return []string{"owner", "editor", "editor", "viewer", "viewer", "viewer"}[rng.IntN(6)] }
	randGroup := func() string { return "group:" + allGroups[1+rng.IntN(len(allGroups)-1)] } // not staff

	// The folder tree. Depth 1 holds the departments, granted to groups;
	// below, grants to groups and users get sparser with depth.
	var newNode func(typ string, parent *treeNode) *treeNode
	nFolders, nFiles := 0, 0
	newNode = func(typ string, parent *treeNode) *treeNode {
		var id string
		if typ == "folder" {
			id = fmt.Sprintf("fo_%04d", nFolders)
			nFolders++
		} else {
			id = fmt.Sprintf("fi_%05d", nFiles)
			nFiles++
		}
		n := &treeNode{obj: authz.Obj(typ, id), parent: parent}
		touch(n.obj, "zone", authz.Subject("zone", w.zone.ID))
		if parent != nil {
			n.depth = parent.depth + 1
			touch(n.obj, "parent", authz.Subject("folder", parent.obj.ID))
		}
		return n
	}
	root := newNode("folder", nil)
	grant(root, "owner", "user:"+w.users[1])
	departments := [][2]string{ // role, subject
		{"editor", "group:eng"},
		{"editor", "group:sales"},
		{"editor", "group:ops"},
		{"viewer", "group:staff"},
	}
	var grow func(n *treeNode)
	grow = func(n *treeNode) {
		w.folders = append(w.folders, n)
		if n.depth < len(spec.FilesAt) {
			for i := 0; i < spec.FilesAt[n.depth]; i++ {
				f := newNode("file", n)
				switch r := rng.IntN(100); {
				case r < 8:
					grant(f, randRole(), "user:"+randUser())
				case r < 12:
					grant(f, randRole(), randGroup())
				}
				w.files = append(w.files, f)
			}
		}
		if n.depth >= len(spec.Fanout) {
			return
		}
		for i := 0; i < spec.Fanout[n.depth]; i++ {
			c := newNode("folder", n)
			switch c.depth {
			case 1:
				d := departments[i%len(departments)]
				grant(c, d[0], d[1])
				if i == 0 {
					grant(c, "viewer", "group:contractors")
				}
			case 2:
				if rng.IntN(100) < 40 {
					grant(c, randRole(), randGroup())
				}
				if rng.IntN(100) < 30 {
					grant(c, randRole(), "user:"+randUser())
				}
			default:
				if rng.IntN(100) < 25 {
					grant(c, randRole(), "user:"+randUser())
				}
			}
			grow(c)
		}
	}
	grow(root)

	// Inherit readers down the tree (folders were appended parents first;
	// files after their folder's ancestors are complete).
	for _, n := range w.folders {
		if n.parent != nil {
			n.readers = append(n.readers, n.parent.readers...)
		}
	}
	for _, f := range w.files {
		f.readers = append(f.readers, f.parent.readers...)
	}
	return w
}

// canRead is the reference answer to file#read@user:u.
func (w *world) canRead(u string, f *treeNode) bool {
	if u == w.admin {
		return true
	}
	gs := w.groupsOf[u]
	for _, r := range f.readers {
		if r == "user:"+u || (r[:6] == "group:" && gs[r[6:]]) {
			return true
		}
	}
	return false
}

// question is a check with its expected answer.
type question struct {
	item authz.CheckItem
	want bool
}

// questions returns n distinct file#read@user questions, half of them
// expected allowed and half denied, shuffled.
func (w *world) questions(n int, seed uint64) ([]question, error) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	type key struct{ u, f int }
	seen := map[key]bool{}
	var allowed, denied []question
	for attempts := 0; len(allowed)+len(denied) < n; attempts++ {
		if attempts > 100*n {
			return nil, fmt.Errorf("found only %d allowed and %d denied questions in %d attempts; the world is too small for %d", len(allowed), len(denied), attempts, n)
		}
		k := key{rng.IntN(len(w.users)), rng.IntN(len(w.files))}
		if seen[k] {
			continue
		}
		u, f := w.users[k.u], w.files[k.f]
		want := w.canRead(u, f)
		if (want && len(allowed) >= n/2) || (!want && len(denied) >= n-n/2) {
			continue
		}
		seen[k] = true
		q := question{item: authz.CheckItem{Resource: f.obj, Permission: "read", Subject: authz.Subject("user", u)}, want: want}
		if want {
			allowed = append(allowed, q)
		} else {
			denied = append(denied, q)
		}
	}
	out := append(allowed, denied...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

// load writes the world into e, at most maxWrite updates per Write, and
// waits until minimize_latency reads see all of it. It returns the number
// of Write calls.
func (w *world) load(ctx context.Context, e *authz.Engine) (int, error) {
	const maxWrite = 1000
	calls := 0
	for off := 0; off < len(w.updates); off += maxWrite {
		chunk := w.updates[off:min(off+maxWrite, len(w.updates))]
		if _, err := e.Write(ctx, chunk); err != nil {
			return calls, fmt.Errorf("writing relationships %d-%d: %w", off, off+len(chunk), err)
		}
		calls++
	}
	// minimize_latency may answer at a revision up to the quantization
	// window old. Writes are serialized, so once the last relationship is
	// visible every earlier one is: poll it.
	// Any relationship of the last Write will do (a Write is atomic); pick
	// one with a direct subject and check its relation.
	var probe authz.CheckItem
	lastWrite := (len(w.updates) - 1) / maxWrite * maxWrite
	for i := len(w.updates) - 1; i >= lastWrite && probe.Permission == ""; i-- {
		if r := w.updates[i].Rel; r.Subject.Relation == "" {
			probe = authz.CheckItem{Resource: r.Resource, Permission: r.Relation, Subject: r.Subject}
		}
	}
	if probe.Permission == "" {
		return calls, fmt.Errorf("the last write has no relationship with a direct subject to probe")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := e.Check(ctx, probe, authz.MinimizeLatency())
		if err != nil {
			return calls, fmt.Errorf("waiting for the world to be visible: %w", err)
		}
		if d.Allowed {
			return calls, nil
		}
		if time.Now().After(deadline) {
			return calls, fmt.Errorf("the world's last write is still invisible to minimize_latency reads after 30s")
		}
		select {
		case <-ctx.Done():
			return calls, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
