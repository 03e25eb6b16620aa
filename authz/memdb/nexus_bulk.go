package memdb

// nexus: this whole file is ours (not in upstream SpiceDB).
//
// A load of the whole datastore at start (a write transaction marked
// WithoutRelationshipChanges) reads the relationship log in its primary
// key's order, which is byResource's (field by field, bytewise; the log's
// "" subject relation is the datastore's "...", and both sort before
// every relation name). A row after every other one cannot exist yet, so
// it is appended to byResource without a search (btree's Load), and
// gathered for bySubject, which takes them sorted (chunks sorted on the
// other core while the load goes on, then merged) before anything reads
// the transaction's relationships or it commits. A batch's strings are
// interned under one hold of the table's lock. At a million relationships
// (the embedded_scale benchmark) the restart went from 11 s to 4.7 s.
//
// Anything else in such a transaction (a row out of order, a delete, a
// read) first finishes what was gathered, then takes the ordinary path.

import (
	"slices"
)

// bulkLoad is what a load has appended to byResource and not yet put in
// bySubject.
type bulkLoad struct {
	// chunk gathers rows for bySubject; each full chunk is sorted in a
	// goroutine of its own while the load goes on (sorted), and finishBulk
	// merges them.
	chunk  []relRow
	sorted []chan []relRow
}

// bulkChunk is how many rows are sorted together (a variable for tests).
var bulkChunk = 1 << 16

func (t *idTable) cmpBySubject(a, b relRow) int {
	if c := t.cmpSubject(a, b); c != 0 {
		return c
	}
	return t.cmpResource(a, b)
}

// gather adds row to what bySubject is to take, and sends a full chunk to
// be sorted.
func (b *bulkLoad) gather(ids *idTable, row relRow) {
	if b.chunk == nil {
		b.chunk = make([]relRow, 0, bulkChunk)
	}
	b.chunk = append(b.chunk, row)
	if len(b.chunk) == bulkChunk {
		b.sortChunk(ids)
	}
}

func (b *bulkLoad) sortChunk(ids *idTable) {
	chunk, done := b.chunk, make(chan []relRow, 1)
	b.chunk = nil
	b.sorted = append(b.sorted, done)
	go func() {
		slices.SortFunc(chunk, ids.cmpBySubject)
		done <- chunk
	}()
}

// rowsOf returns the rows of rels, their strings interned under one hold
// of the table's lock. A load's rows come in order, so a field is most
// often the one of the row before: its number is taken from there
// without a lookup (at a million, lookups were a quarter of a restart).
func (tx *txn) rowsOf(rels []*relationship) []relRow {
	rows := make([]relRow, len(rels))
	ids := tx.rels.ids
	ids.mu.Lock()
	defer ids.mu.Unlock()
	var prev relationship // the row before's strings ("" at first: number 0)
	var last relRow       // and their numbers
	id := func(s, before string, n uint32) uint32 {
		if s == before {
			return n
		}
		return ids.internLocked(s)
	}
	for i, r := range rels {
		if r.caveat != nil || r.integrity != nil || r.expiration != nil {
			rows[i] = tx.rels.rowLocked(r)
			continue
		}
		row := relRow{
			ns: id(r.namespace, prev.namespace, last.ns), rid: id(r.resourceID, prev.resourceID, last.rid),
			rel: id(r.relation, prev.relation, last.rel), sns: id(r.subjectNamespace, prev.subjectNamespace, last.sns),
			sid: id(r.subjectObjectID, prev.subjectObjectID, last.sid), srel: id(r.subjectRelation, prev.subjectRelation, last.srel),
		}
		rows[i], prev, last = row, *r, row
	}
	return rows
}

// appendInOrder adds row if it sorts after every row of byResource, and
// reports whether it did.
func (tx *txn) appendInOrder(row relRow) bool {
	if last, ok := tx.rels.byResource.Max(); ok && !tx.rels.ids.lessByResource(last, row) {
		return false
	}
	tx.rels.byResource.Load(row)
	tx.bulk.gather(tx.rels.ids, row)
	return true
}

// finishBulk puts what the load gathered into bySubject, merging the
// sorted chunks.
func (tx *txn) finishBulk() {
	b := tx.bulk
	if b == nil || (len(b.chunk) == 0 && len(b.sorted) == 0) {
		return
	}
	if len(b.chunk) > 0 {
		b.sortChunk(tx.rels.ids)
	}
	chunks := make([][]relRow, 0, len(b.sorted))
	for _, done := range b.sorted {
		chunks = append(chunks, <-done)
	}
	b.sorted = nil
	// A k-way merge: h holds the chunks by their first row.
	h := chunks
	less := func(i, j int) bool { return tx.rels.ids.cmpBySubject(h[i][0], h[j][0]) < 0 }
	down := func(i int) {
		for {
			m := i
			if l := 2*i + 1; l < len(h) && less(l, m) {
				m = l
			}
			if r := 2*i + 2; r < len(h) && less(r, m) {
				m = r
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(h) > 0 {
		tx.rels.bySubject.Load(h[0][0])
		if h[0] = h[0][1:]; len(h[0]) == 0 {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
}
