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
	"context"
	"slices"

	"github.com/authzed/spicedb/pkg/tuple"
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

// LoadRow is one relationship of a load: its six strings, the subject's
// relation tuple.Ellipsis when it has none. It has no caveat and no
// expiration.
type LoadRow struct {
	ResourceType, ResourceID, Relation, SubjectType, SubjectID, SubjectRelation string
}

// RowLoader is implemented by this datastore's write transactions.
type RowLoader interface {
	// LoadRows touches each of rows, as WriteRelationships of TOUCH
	// updates would. In a load of the whole datastore (a transaction
	// under WithoutRelationshipChanges) rows that come in order go into
	// the trees without a relationship made for each (at a million
	// relationships, making them and their updates was a sixth of a
	// restart's CPU, and most of its garbage).
	LoadRows(ctx context.Context, rows []LoadRow) error
}

var _ RowLoader = (*memdbReadWriteTx)(nil)

func (rwt *memdbReadWriteTx) LoadRows(_ context.Context, rows []LoadRow) error {
	rwt.mustLock()
	defer rwt.Unlock()
	tx, err := rwt.txSource()
	if err != nil {
		return err
	}
	if tx.bulk != nil {
		done := 0
		for _, row := range tx.rels.ids.internRows(rows) {
			if !tx.appendInOrder(row) {
				break
			}
			done++
		}
		rows = rows[done:]
	}
	if len(rows) == 0 {
		return nil
	}
	muts := make([]tuple.RelationshipUpdate, len(rows))
	for i, r := range rows {
		muts[i] = tuple.Touch(tuple.Relationship{RelationshipReference: tuple.RelationshipReference{
			Resource: tuple.ObjectAndRelation{ObjectType: r.ResourceType, ObjectID: r.ResourceID, Relation: r.Relation},
			Subject:  tuple.ObjectAndRelation{ObjectType: r.SubjectType, ObjectID: r.SubjectID, Relation: r.SubjectRelation},
		}})
	}
	return rwt.write(tx, muts...)
}

// internRows returns the rows of rows, their strings interned under one
// hold of the lock. A load's rows come in order, so a field is most often
// the one of the row before: its number is taken from there without a
// lookup (at a million, lookups were a quarter of a restart).
func (t *idTable) internRows(rows []LoadRow) []relRow {
	out := make([]relRow, len(rows))
	t.mu.Lock()
	defer t.mu.Unlock()
	var prev LoadRow // the row before's strings ("" at first: number 0)
	var last relRow  // and their numbers
	id := func(s, before string, n uint32) uint32 {
		if s == before {
			return n
		}
		return t.internLocked(s)
	}
	for i, r := range rows {
		row := relRow{
			ns: id(r.ResourceType, prev.ResourceType, last.ns), rid: id(r.ResourceID, prev.ResourceID, last.rid),
			rel: id(r.Relation, prev.Relation, last.rel), sns: id(r.SubjectType, prev.SubjectType, last.sns),
			sid: id(r.SubjectID, prev.SubjectID, last.sid), srel: id(r.SubjectRelation, prev.SubjectRelation, last.srel),
		}
		out[i], prev, last = row, r, row
	}
	return out
}

// rowsOf returns the rows of rels, as internRows does (one with a caveat,
// integrity or an expiration has its extras too).
func (tx *txn) rowsOf(rels []*relationship) []relRow {
	plain := make([]LoadRow, len(rels))
	for i, r := range rels {
		plain[i] = LoadRow{r.namespace, r.resourceID, r.relation, r.subjectNamespace, r.subjectObjectID, r.subjectRelation}
	}
	rows := tx.rels.ids.internRows(plain)
	for i, r := range rels {
		if r.caveat != nil || r.integrity != nil || r.expiration != nil {
			tx.rels.ids.mu.Lock()
			rows[i].extra = tx.rels.extraLocked(r)
			tx.rels.ids.mu.Unlock()
		}
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
