package memdb

// nexus: this whole file is ours (not in upstream SpiceDB). Relationships
// live here rather than in a go-memdb table.
//
// Upstream keeps relationships in a go-memdb table with five radix-tree
// indexes; each row cost about 2.9 KB of heap (measured at 100,000
// relationships: the radix nodes, their mutation channels and the keys of
// every index), so 500,000 relationships took 2 GB or more. Here a row is
// seven 32-bit numbers, its strings interned in an idTable (nexus_ids.go:
// one copy of each type, relation and id however many rows name it), held
// in two copy-on-write B-trees whose nodes' rows the collector never scans:
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
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/tidwall/btree"
)

// relRow is a relationship as the trees hold it: its strings' numbers in
// the trees' idTable, and extra, the index+1 of its relExtra (0: none).
type relRow struct {
	ns, rid, rel, sns, sid, srel uint32
	extra                        uint32
}

// relKey is a key by strings, in relRow's field order: where a seek
// begins.
type relKey [6]string

// relExtra is what few relationships have.
type relExtra struct {
	caveat     *contextualizedCaveat
	integrity  *relationshipIntegrity
	expiration *time.Time
}

// rowOf returns r's row, interning its strings.
func (t *relTrees) rowOf(r *relationship) relRow {
	t.ids.mu.Lock()
	defer t.ids.mu.Unlock()
	return t.rowLocked(r)
}

// rowLocked is rowOf for a caller holding the table's lock.
func (t *relTrees) rowLocked(r *relationship) relRow {
	ids := t.ids
	row := relRow{
		ns: ids.internLocked(r.namespace), rid: ids.internLocked(r.resourceID), rel: ids.internLocked(r.relation),
		sns: ids.internLocked(r.subjectNamespace), sid: ids.internLocked(r.subjectObjectID), srel: ids.internLocked(r.subjectRelation),
	}
	if r.caveat != nil || r.integrity != nil || r.expiration != nil {
		row.extra = t.extraLocked(r)
	}
	return row
}

// extraLocked stores r's caveat, integrity and expiration and returns
// the row's extra for them; the caller holds t.ids.mu.
func (t *relTrees) extraLocked(r *relationship) uint32 {
	return t.ids.extras.add(&relExtra{caveat: r.caveat, integrity: r.integrity, expiration: r.expiration}) + 1
}

// relationship returns the row as the readers above use it. Its strings
// alias the table's arena; nothing is copied.
func (t *relTrees) relationship(w relRow) *relationship {
	ids := t.ids
	r := &relationship{
		namespace: ids.str(w.ns), resourceID: ids.str(w.rid), relation: ids.str(w.rel),
		subjectNamespace: ids.str(w.sns), subjectObjectID: ids.str(w.sid), subjectRelation: ids.str(w.srel),
	}
	if w.extra != 0 {
		x := ids.extras.at(w.extra - 1)
		r.caveat, r.integrity, r.expiration = x.caveat, x.integrity, x.expiration
	}
	return r
}

func (t *idTable) cmpResource(a, b relRow) int {
	if c := t.cmp(a.ns, b.ns); c != 0 {
		return c
	}
	if c := t.cmp(a.rid, b.rid); c != 0 {
		return c
	}
	return t.cmp(a.rel, b.rel)
}

func (t *idTable) cmpSubject(a, b relRow) int {
	if c := t.cmp(a.sns, b.sns); c != 0 {
		return c
	}
	if c := t.cmp(a.sid, b.sid); c != 0 {
		return c
	}
	return t.cmp(a.srel, b.srel)
}

func (t *idTable) lessByResource(a, b relRow) bool {
	if c := t.cmpResource(a, b); c != 0 {
		return c < 0
	}
	return t.cmpSubject(a, b) < 0
}

func (t *idTable) lessBySubject(a, b relRow) bool {
	if c := t.cmpSubject(a, b); c != 0 {
		return c < 0
	}
	return t.cmpResource(a, b) < 0
}

// lessKey orders keys as byResource orders rows.
func lessKey(a, b relKey) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// relTreesDegree keeps nodes small (at most 31 rows of 28 bytes), so a
// write copies little of a tree that snapshots share.
const relTreesDegree = 16

// relTrees holds the relationships at one revision, or those a write
// transaction is making, and the table their strings are interned in.
type relTrees struct {
	byResource, bySubject *btree.BTreeG[relRow]
	ids                   *idTable
	// hints speed up changes near the last one (a write's rows are often
	// neighbours, a rebuild's are in order); only a write transaction's
	// trees are changed, so only it uses them.
	hintResource, hintSubject btree.PathHint
}

func newRelTrees() *relTrees { return newRelTreesIn(newIDTable()) }

// newRelTreesIn returns empty trees whose strings are interned in ids.
func newRelTreesIn(ids *idTable) *relTrees {
	opts := btree.Options{Degree: relTreesDegree, NoLocks: true}
	return &relTrees{
		byResource: btree.NewBTreeGOptions(ids.lessByResource, opts),
		bySubject:  btree.NewBTreeGOptions(ids.lessBySubject, opts),
		ids:        ids,
	}
}

// copy returns trees that share t's nodes until either side changes them.
// It writes t's header, so t must not be in use by another goroutine.
func (t *relTrees) copy() *relTrees {
	return &relTrees{byResource: t.byResource.Copy(), bySubject: t.bySubject.Copy(), ids: t.ids}
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
func (t *relTrees) scanResource(pivot relKey, match func(relRow) bool) memdb.ResultIterator {
	return &rowIter{trees: t, it: t.byResource.Iter(), pivot: pivot, match: match}
}

// scanSubject yields, in bySubject order, the rows from pivot on while
// match holds for them.
func (t *relTrees) scanSubject(pivot relKey, match func(relRow) bool) memdb.ResultIterator {
	return &rowIter{trees: t, it: t.bySubject.Iter(), pivot: pivot, match: match}
}

// pivot is the smallest key with the given leading fields (the rest
// empty); missing trailing arguments are empty.
func pivot(fields ...string) relKey {
	var k relKey
	copy(k[:], fields)
	return k
}

// subjectPivot is the smallest bySubject key with the given subject fields.
func subjectPivot(sns, sid, srel string) relKey {
	return relKey{"", "", "", sns, sid, srel}
}

// rowIter walks a tree from a pivot while its rows match.
type rowIter struct {
	trees   *relTrees
	it      btree.IterG[relRow]
	pivot   relKey
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
		row, release := i.trees.ids.keyRow(i.pivot)
		ok = i.it.Seek(row)
		if release != nil {
			release()
		}
	} else {
		ok = i.it.Next()
	}
	if !ok || !i.match(i.it.Item()) {
		i.done = true
		i.it.Release()
		return nil
	}
	return i.trees.relationship(i.it.Item())
}

var _ memdb.ResultIterator = (*rowIter)(nil)
