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
// the transaction's relationships or it commits. Ids are interned through
// maps of the load's own first, the two halves of a batch at once. At a
// million relationships (the embedded_scale benchmark) the restart went
// from 11 s to 4.7 s.
//
// Anything else in such a transaction (a row out of order, a delete, a
// read) first finishes what was gathered, then takes the ordinary path.

import (
	"slices"
	"unique"
)

// bulkLoad is what a load has appended to byResource and not yet put in
// bySubject, and the ids it has interned.
type bulkLoad struct {
	// chunk gathers rows for bySubject; each full chunk is sorted in a
	// goroutine of its own while the load goes on (sorted), and finishBulk
	// merges them.
	chunk  []relRow
	sorted []chan []relRow
	// ids save unique.Make for ids the load has seen (most subjects, and
	// every resource with more than one relationship): at a million
	// relationships unique.Make took a quarter of the load. One map for
	// each half of a batch, which are interned at once (rowsOf).
	ids [2]map[string]str
}

// bulkHalf is the smallest batch whose halves are interned at once.
const bulkHalf = 512

// bulkChunk is how many rows are sorted together (a variable for tests).
var bulkChunk = 1 << 16

func cmpBySubject(a, b relRow) int {
	if c := cmpSubject(a, b); c != 0 {
		return c
	}
	return cmpResource(a, b)
}

// gather adds row to what bySubject is to take, and sends a full chunk to
// be sorted.
func (b *bulkLoad) gather(row relRow) {
	if b.chunk == nil {
		b.chunk = make([]relRow, 0, bulkChunk)
	}
	b.chunk = append(b.chunk, row)
	if len(b.chunk) == bulkChunk {
		b.sortChunk()
	}
}

func (b *bulkLoad) sortChunk() {
	chunk, done := b.chunk, make(chan []relRow, 1)
	b.chunk = nil
	b.sorted = append(b.sorted, done)
	go func() {
		slices.SortFunc(chunk, cmpBySubject)
		done <- chunk
	}()
}

// rowsOf returns the rows of rels, their ids interned through the load's
// own maps first, the two halves of a large batch at once on both cores
// (unique.Make gives one handle for a string whichever half asks): the
// load's one goroutine spent most of its time here.
func (b *bulkLoad) rowsOf(rels []*relationship) []relRow {
	rows := make([]relRow, len(rels))
	fill := func(half int, rels []*relationship, rows []relRow) {
		if b.ids[half] == nil {
			b.ids[half] = map[string]str{}
		}
		ids := b.ids[half]
		id := func(s string) str {
			h, ok := ids[s]
			if !ok {
				h = unique.Make(s)
				ids[s] = h
			}
			return h
		}
		for i, r := range rels {
			rows[i] = rowWith(r, id)
		}
	}
	if len(rels) < 2*bulkHalf {
		fill(0, rels, rows)
		return rows
	}
	mid := len(rels) / 2
	done := make(chan struct{})
	go func() { fill(1, rels[mid:], rows[mid:]); close(done) }()
	fill(0, rels[:mid], rows[:mid])
	<-done
	return rows
}

// appendInOrder adds row if it sorts after every row of byResource, and
// reports whether it did.
func (tx *txn) appendInOrder(row relRow) bool {
	if last, ok := tx.rels.byResource.Max(); ok && !lessByResource(last, row) {
		return false
	}
	tx.rels.byResource.Load(row)
	tx.bulk.gather(row)
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
		b.sortChunk()
	}
	chunks := make([][]relRow, 0, len(b.sorted))
	for _, done := range b.sorted {
		chunks = append(chunks, <-done)
	}
	b.sorted = nil
	// A k-way merge: h holds the chunks by their first row.
	h := chunks
	less := func(i, j int) bool { return cmpBySubject(h[i][0], h[j][0]) < 0 }
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
