package memdb

// nexus: this whole file is ours (not in upstream SpiceDB). Relationships
// live here rather than in a go-memdb table.
//
// Upstream keeps relationships in a go-memdb table with five radix-tree
// indexes; each row cost about 2.9 KB of heap (measured at 100,000
// relationships: the radix nodes, their mutation channels and the keys of
// every index), so 500,000 relationships took 2 GB or more. Here a row is
// seven words, its strings interned (unique.Handle: one copy of each type,
// relation and id however many rows name it, freed when none does), held
// in two copy-on-write B-trees:
//
//   - byResource, ordered as upstream's unique `id` index: (namespace,
//     resourceID, relation, subjectNamespace, subjectObjectID,
//     subjectRelation), field by field in string order. It answers lookups
//     by key, by resource ids, by resource type, and full scans, all in
//     that order, which the cursors and limits of the readers above rely on.
//   - bySubject, ordered (subject namespace, subject id, subject relation,
//     then the resource fields): the subject-side lookups. Rows for one
//     subject come out in id order; rows of several are gathered and
//     sorted.
//
// A write transaction works on a copy of both trees (O(1); nodes are
// copied as they are changed), and its commit publishes the copy. Readers
// only ever see trees no one changes again: each snapshot holds its own
// copy, and a read inside a write transaction iterates a copy taken when
// it began, so the transaction's later writes cannot disturb it.

import (
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/hashicorp/go-memdb"
	"github.com/tidwall/btree"
)

// str is an interned string.
type str = unique.Handle[string]

// emptyStr sorts before every other string: the start of a prefix scan.
var emptyStr = unique.Make("")

// relRow is a relationship as the trees hold it.
type relRow struct {
	ns, rid, rel, sns, sid, srel str
	extra                        *relExtra // nil for a plain relationship
}

// relExtra is what few relationships have.
type relExtra struct {
	caveat     *contextualizedCaveat
	integrity  *relationshipIntegrity
	expiration *time.Time
}

func rowOf(r *relationship) relRow {
	return rowWith(r, unique.Make[string])
}

// rowWith is r's row, its ids interned by id.
func rowWith(r *relationship, id func(string) str) relRow {
	row := relRow{
		ns: names.get(r.namespace), rid: id(r.resourceID), rel: names.get(r.relation),
		sns: names.get(r.subjectNamespace), sid: id(r.subjectObjectID), srel: names.get(r.subjectRelation),
	}
	if r.caveat != nil || r.integrity != nil || r.expiration != nil {
		row.extra = &relExtra{caveat: r.caveat, integrity: r.integrity, expiration: r.expiration}
	}
	return row
}

// names holds the handles of types and relations, which the schema bounds:
// a map read is cheaper than unique.Make, which every row would otherwise
// pay four times. Ids, unbounded, go to unique.Make.
var names = nameHandles{m: map[string]str{}}

type nameHandles struct {
	mu sync.RWMutex
	m  map[string]str
}

// nameHandlesMax bounds the map; past it (a schema with thousands of
// types and relations) names go to unique.Make too.
const nameHandlesMax = 4096

func (n *nameHandles) get(s string) str {
	n.mu.RLock()
	h, ok := n.m[s]
	n.mu.RUnlock()
	if ok {
		return h
	}
	h = unique.Make(s)
	n.mu.Lock()
	if len(n.m) < nameHandlesMax {
		n.m[s] = h
	}
	n.mu.Unlock()
	return h
}

// relationship returns the row as the readers above use it. Its strings
// are the interned ones; nothing is copied.
func (w relRow) relationship() *relationship {
	r := &relationship{
		namespace: w.ns.Value(), resourceID: w.rid.Value(), relation: w.rel.Value(),
		subjectNamespace: w.sns.Value(), subjectObjectID: w.sid.Value(), subjectRelation: w.srel.Value(),
	}
	if w.extra != nil {
		r.caveat, r.integrity, r.expiration = w.extra.caveat, w.extra.integrity, w.extra.expiration
	}
	return r
}

func cmpStr(a, b str) int {
	if a == b {
		return 0
	}
	return strings.Compare(a.Value(), b.Value())
}

func cmpResource(a, b relRow) int {
	if c := cmpStr(a.ns, b.ns); c != 0 {
		return c
	}
	if c := cmpStr(a.rid, b.rid); c != 0 {
		return c
	}
	return cmpStr(a.rel, b.rel)
}

func cmpSubject(a, b relRow) int {
	if c := cmpStr(a.sns, b.sns); c != 0 {
		return c
	}
	if c := cmpStr(a.sid, b.sid); c != 0 {
		return c
	}
	return cmpStr(a.srel, b.srel)
}

func lessByResource(a, b relRow) bool {
	if c := cmpResource(a, b); c != 0 {
		return c < 0
	}
	return cmpSubject(a, b) < 0
}

func lessBySubject(a, b relRow) bool {
	if c := cmpSubject(a, b); c != 0 {
		return c < 0
	}
	return cmpResource(a, b) < 0
}

// relTreesDegree keeps nodes small (at most 31 rows of 56 bytes), so a
// write copies little of a tree that snapshots share.
const relTreesDegree = 16

// relTrees holds the relationships at one revision, or those a write
// transaction is making.
type relTrees struct {
	byResource, bySubject *btree.BTreeG[relRow]
	// hints speed up changes near the last one (a write's rows are often
	// neighbours, a rebuild's are in order); only a write transaction's
	// trees are changed, so only it uses them.
	hintResource, hintSubject btree.PathHint
}

func newRelTrees() *relTrees {
	opts := btree.Options{Degree: relTreesDegree, NoLocks: true}
	return &relTrees{
		byResource: btree.NewBTreeGOptions(lessByResource, opts),
		bySubject:  btree.NewBTreeGOptions(lessBySubject, opts),
	}
}

// copy returns trees that share t's nodes until either side changes them.
// It writes t's header, so t must not be in use by another goroutine.
func (t *relTrees) copy() *relTrees {
	return &relTrees{byResource: t.byResource.Copy(), bySubject: t.bySubject.Copy()}
}

// get returns the row with key's key.
func (t *relTrees) get(key relRow) (relRow, bool) { return t.byResource.GetHint(key, &t.hintResource) }

// put inserts row, or replaces the row with its key.
func (t *relTrees) put(row relRow) {
	t.byResource.SetHint(row, &t.hintResource)
	t.bySubject.SetHint(row, &t.hintSubject)
}

// remove deletes the row with key's key.
func (t *relTrees) remove(key relRow) {
	t.byResource.DeleteHint(key, &t.hintResource)
	t.bySubject.DeleteHint(key, &t.hintSubject)
}

// putRel inserts or replaces r (whose row is row) in a write transaction,
// recording the change.
func (tx *txn) putRel(r *relationship, row relRow) {
	tx.rels.put(row)
	tx.relChanges = append(tx.relChanges, relChange{rel: r})
}

// removeRel deletes r (whose row is row) in a write transaction, recording
// the change.
func (tx *txn) removeRel(r *relationship, row relRow) {
	tx.rels.remove(row)
	tx.relChanges = append(tx.relChanges, relChange{rel: r, deleted: true})
}

func (t *relTrees) len() int { return t.byResource.Len() }

// scanResource yields, in id order, the rows from pivot on while match
// holds for them.
func (t *relTrees) scanResource(pivot relRow, match func(relRow) bool) memdb.ResultIterator {
	return &rowIter{it: t.byResource.Iter(), pivot: pivot, match: match}
}

// scanSubject yields, in bySubject order, the rows from pivot on while
// match holds for them.
func (t *relTrees) scanSubject(pivot relRow, match func(relRow) bool) memdb.ResultIterator {
	return &rowIter{it: t.bySubject.Iter(), pivot: pivot, match: match}
}

// pivot is the smallest key with the given leading fields (the rest
// empty); missing trailing arguments are empty.
func pivot(fields ...string) relRow {
	h := [6]str{emptyStr, emptyStr, emptyStr, emptyStr, emptyStr, emptyStr}
	for i, f := range fields {
		h[i] = unique.Make(f)
	}
	return relRow{ns: h[0], rid: h[1], rel: h[2], sns: h[3], sid: h[4], srel: h[5]}
}

// subjectPivot is the smallest bySubject key with the given subject fields.
func subjectPivot(sns, sid, srel string) relRow {
	return relRow{
		ns: emptyStr, rid: emptyStr, rel: emptyStr,
		sns: unique.Make(sns), sid: unique.Make(sid), srel: unique.Make(srel),
	}
}

// rowIter walks a tree from a pivot while its rows match.
type rowIter struct {
	it      btree.IterG[relRow]
	pivot   relRow
	match   func(relRow) bool
	started bool
	done    bool
}

// WatchCh is never closed; see concatIterator.WatchCh.
func (i *rowIter) WatchCh() <-chan struct{} { return nil }

func (i *rowIter) Next() any {
	if i.done {
		return nil
	}
	var ok bool
	if !i.started {
		i.started = true
		ok = i.it.Seek(i.pivot)
	} else {
		ok = i.it.Next()
	}
	if !ok || !i.match(i.it.Item()) {
		i.done = true
		i.it.Release()
		return nil
	}
	return i.it.Item().relationship()
}

var _ memdb.ResultIterator = (*rowIter)(nil)
