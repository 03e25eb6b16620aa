package memdb

// nexus: this whole file is ours (not in upstream SpiceDB).
//
// A snapshot is the relationships of the head revision as the two trees
// hold them: the table's strings in the order of their numbers, then the
// rows of byResource and of bySubject, each in its tree's order, as
// numbers. Loading one interns the strings and appends the rows to the
// empty trees without comparing a string or sorting (a restart at a
// million relationships spent most of its CPU reading the log through
// SQLite, interning its strings one row at a time and sorting the rows
// for bySubject). The format (little-endian):
//
//	snapshotMagic
//	uvarint   count of strings; each: uvarint length, bytes
//	uvarint   count of rows
//	rows      byResource's, then bySubject's: six uint32 each
//	uint32    CRC-32C of everything before it
//
// A snapshot holds no caveat, integrity or expiration: the datastore
// refuses to write one of a head that has any (ErrNoSnapshot).

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unsafe"

	"github.com/tidwall/btree"

	"github.com/authzed/spicedb/pkg/datastore"
)

const snapshotMagic = "nexus memdb snapshot 1\n"

// ErrNoSnapshot is WriteSnapshot's error when the head holds what a
// snapshot cannot.
var ErrNoSnapshot = errors.New("memdb: relationships with caveats, integrity or expiration have no snapshot")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// WriteSnapshot writes the relationships of ds's head revision to w and
// returns how many it wrote and the snapshot's checksum (its last four
// bytes). ds must be this package's datastore.
func WriteSnapshot(ds datastore.Datastore, w io.Writer) (n int, sum uint32, err error) {
	mdb, ok := ds.(*memdbDatastore)
	if !ok {
		return 0, 0, fmt.Errorf("memdb: a snapshot of %T", ds)
	}
	mdb.Lock()
	if err := mdb.checkNotClosed(); err != nil {
		mdb.Unlock()
		return 0, 0, err
	}
	head := mdb.rels.copy()
	mdb.Unlock()
	ids := head.ids
	ids.mu.RLock()
	strs := ids.entries.n
	ids.mu.RUnlock()

	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<20)
	var buf [binary.MaxVarintLen64]byte
	uvarint := func(v uint64) { _, _ = bw.Write(binary.AppendUvarint(buf[:0], v)) }
	_, _ = bw.WriteString(snapshotMagic)
	uvarint(uint64(strs))
	for id := range strs {
		s := ids.str(id)
		uvarint(uint64(len(s)))
		_, _ = bw.WriteString(s)
	}
	n = head.byResource.Len()
	uvarint(uint64(n))
	var extra bool
	put := func(r relRow) bool {
		if r.extra != 0 {
			extra = true
			return false
		}
		b := buf[:0]
		for _, f := range [6]uint32{r.ns, r.rid, r.rel, r.sns, r.sid, r.srel} {
			b = binary.LittleEndian.AppendUint32(b, f)
		}
		_, _ = bw.Write(b)
		return true
	}
	head.byResource.Scan(put)
	if !extra {
		head.bySubject.Scan(put)
	}
	if extra {
		return 0, 0, ErrNoSnapshot
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, fmt.Errorf("memdb: writing a snapshot: %w", err)
	}
	sum = crc.Sum32()
	if err := binary.Write(w, binary.LittleEndian, sum); err != nil {
		return 0, 0, fmt.Errorf("memdb: writing a snapshot: %w", err)
	}
	return n, sum, nil
}

// SnapshotLoader is implemented by this datastore's write transactions.
type SnapshotLoader interface {
	// LoadSnapshot loads a snapshot WriteSnapshot wrote into a load of
	// the whole datastore (a transaction under WithoutRelationshipChanges
	// that has written no relationship yet) and returns how many
	// relationships it held. A snapshot that is cut short, corrupt or of
	// another format fails it, before the trees are touched.
	LoadSnapshot(ctx context.Context, snap []byte) (int, error)
}

var _ SnapshotLoader = (*memdbReadWriteTx)(nil)

func (rwt *memdbReadWriteTx) LoadSnapshot(_ context.Context, snap []byte) (int, error) {
	bad := func(what string) (int, error) {
		return 0, fmt.Errorf("memdb: the snapshot is not one this version wrote, or is damaged: %s", what)
	}
	if len(snap) < len(snapshotMagic)+4 || string(snap[:len(snapshotMagic)]) != snapshotMagic {
		return bad("no header")
	}
	body := snap[:len(snap)-4]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(snap[len(body):]) {
		return bad("its checksum does not match")
	}
	rest := body[len(snapshotMagic):]
	uvarint := func() (uint64, bool) {
		v, k := binary.Uvarint(rest)
		if k <= 0 {
			return 0, false
		}
		rest = rest[k:]
		return v, true
	}
	strs, ok := uvarint()
	if !ok || strs > uint64(len(rest)) {
		return bad("the count of strings")
	}
	table := make([]string, strs)
	for i := range table {
		n, ok := uvarint()
		if !ok || n > uint64(len(rest)) || n >= arenaChunk {
			return bad(fmt.Sprintf("string %d", i))
		}
		if n > 0 {
			table[i] = unsafe.String(&rest[0], n) // interned below, which copies it
		}
		rest = rest[n:]
	}
	rows, ok := uvarint()
	if !ok || rows > uint64(len(rest))/48 || uint64(len(rest)) != rows*48 {
		return bad("the count of rows")
	}

	rwt.mustLock()
	defer rwt.Unlock()
	tx, err := rwt.txSource()
	if err != nil {
		return 0, err
	}
	if tx.bulk == nil || tx.rels.byResource.Len() != 0 || tx.rels.bySubject.Len() != 0 || len(tx.bulk.chunk) != 0 || len(tx.bulk.sorted) != 0 {
		return 0, errors.New("memdb: a snapshot loads only into an empty datastore, in a load of the whole of it")
	}
	ids := tx.rels.ids
	number := make([]uint32, len(table))
	ids.mu.Lock()
	for i, s := range table {
		number[i] = ids.internLocked(s)
	}
	ids.mu.Unlock()
	row := func(b []byte) (relRow, bool) {
		var f [6]uint32
		for i := range f {
			n := binary.LittleEndian.Uint32(b[4*i:])
			if uint64(n) >= strs {
				return relRow{}, false
			}
			f[i] = number[n]
		}
		return relRow{ns: f[0], rid: f[1], rel: f[2], sns: f[3], sid: f[4], srel: f[5]}, true
	}
	// An error from here on leaves rows in the trees: the caller's
	// transaction, failed by it, is aborted.
	for i, tree := range [2]*btree.BTreeG[relRow]{tx.rels.byResource, tx.rels.bySubject} {
		for j := range rows {
			r, ok := row(rest[(uint64(i)*rows+j)*24:])
			if !ok {
				return bad(fmt.Sprintf("row %d names a string it does not hold", j))
			}
			tree.Load(r)
		}
	}
	return int(rows), nil
}
