package memdb

// nexus: this whole file is ours (not in upstream SpiceDB).
//
// The strings of relationships (types, relations and ids) are interned
// to 32-bit numbers, so that a row of the trees (nexus_rels.go) holds no
// pointer: the collector never scans the trees' rows, which at a million
// relationships were 14 million pointers (unique.Handle) it marked on
// every cycle, and a row is 28 bytes instead of 56. The strings live in
// an arena of large byte chunks; a number names an entry giving the
// string's place in the arena; an open-addressing table of numbers finds
// a string's number. Nothing of it holds pointers but the directories.
//
// Numbers are never freed within a table. A repack (nexus_repack.go)
// starts a new table, holding only the strings of live rows, once most of
// the old one's numbers are dead; trees and their snapshots keep the
// table their rows were interned in.
//
// Concurrency: interning takes the table's lock; readers resolve numbers
// without one (a number reaches a reader through a tree published after
// it was interned, and the directories are published atomically), and
// find numbers under the read lock.
//
// The strings handed to SpiceDB alias the arena, as upstream's memdb hands
// out its table's strings: one kept by a cache keeps its whole arena chunk
// (up to 1 MiB) alive after a repack has replaced the table.

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

const (
	arenaChunk = 1 << 20 // bytes of strings in one arena chunk, at most
	entryBits  = 12      // entries per directory chunk: 1<<entryBits
	entryMask  = 1<<entryBits - 1
	// absentID is the number of a string no row holds: it equals no
	// row's field.
	absentID = ^uint32(0)
	// probeBase and up number the strings a seek looks for that the table
	// does not hold (probes, below).
	probeBase = absentID - probeGroups*6
)

// chunked is an append-only array readers index without a lock.
type chunked[T any] struct {
	dir atomic.Pointer[[]*[1 << entryBits]T]
	n   uint32
}

func (c *chunked[T]) at(i uint32) T { return (*c.dir.Load())[i>>entryBits][i&entryMask] }

// add appends v and returns its index. The caller is the only writer.
func (c *chunked[T]) add(v T) uint32 {
	i := c.n
	d := c.dir.Load()
	if d == nil || int(i>>entryBits) == len(*d) {
		var grown []*[1 << entryBits]T
		if d != nil {
			grown = slices.Clip(*d)
		}
		grown = append(grown, new([1 << entryBits]T))
		d = &grown
		c.dir.Store(d)
	}
	(*d)[i>>entryBits][i&entryMask] = v
	c.n++
	return i
}

// idTable interns strings to numbers; see the top of the file.
type idTable struct {
	// entries[id] is chunk<<40 | offset<<20 | length in the arena.
	entries chunked[uint64]
	arena   atomic.Pointer[[][]byte]
	fill    int // bytes used of the last arena chunk
	bytes   int // bytes of strings held

	mu    sync.RWMutex
	slots []uint32 // id+1 by hash, 0 for none; at most half full
	seed  maphash.Seed

	// extras hold what few relationships have (relExtra); a row names
	// one by index+1.
	extras chunked[*relExtra]
}

func newIDTable() *idTable {
	t := &idTable{slots: make([]uint32, 1<<10), seed: maphash.MakeSeed()}
	t.internLocked("") // 0: the least string, a prefix scan's start
	return t
}

// str returns the string numbered id. It aliases the arena.
func (t *idTable) str(id uint32) string {
	if id >= probeBase {
		return probes.strs[id-probeBase]
	}
	e := t.entries.at(id)
	n := int(e & (arenaChunk - 1))
	if n == 0 {
		return ""
	}
	chunk := (*t.arena.Load())[e>>40]
	return unsafe.String(&chunk[(e>>20)&(arenaChunk-1)], n)
}

// cmp orders two numbers as their strings.
func (t *idTable) cmp(a, b uint32) int {
	if a == b {
		return 0
	}
	return strings.Compare(t.str(a), t.str(b))
}

// lookup returns s's number, or absentID if the table does not hold s.
func (t *idTable) lookup(s string) uint32 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.lookupLocked(s)
}

func (t *idTable) lookupLocked(s string) uint32 {
	mask := uint64(len(t.slots) - 1)
	for i := maphash.String(t.seed, s) & mask; ; i = (i + 1) & mask {
		v := t.slots[i]
		if v == 0 {
			return absentID
		}
		if t.str(v-1) == s {
			return v - 1
		}
	}
}

// intern returns s's number, adding s if the table does not hold it.
func (t *idTable) intern(s string) uint32 {
	if id := t.lookup(s); id != absentID {
		return id
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.internLocked(s)
}

func (t *idTable) internLocked(s string) uint32 {
	if id := t.lookupLocked(s); id != absentID {
		return id
	}
	if len(s) >= arenaChunk {
		panic(fmt.Sprintf("memdb: a string of %d bytes cannot be interned (at most %d)", len(s), arenaChunk-1))
	}
	arena := t.arena.Load()
	if arena == nil || t.fill+len(s) > len((*arena)[len(*arena)-1]) {
		var grown [][]byte
		if arena != nil {
			grown = slices.Clip(*arena)
		}
		// Chunks grow from 4 KiB to arenaChunk: a datastore with few
		// relationships (tests have hundreds) takes little.
		size := max(len(s), min(arenaChunk, 4096<<len(grown)))
		grown = append(grown, make([]byte, size))
		arena, t.fill = &grown, 0
		t.arena.Store(arena)
	}
	chunk := len(*arena) - 1
	copy((*arena)[chunk][t.fill:], s)
	id := t.entries.add(uint64(chunk)<<40 | uint64(t.fill)<<20 | uint64(len(s)))
	if id >= probeBase {
		panic("memdb: more strings than relationship ids can number")
	}
	t.fill += len(s)
	t.bytes += len(s)
	if 2*int(t.entries.n) > len(t.slots) {
		t.rehashLocked(2 * len(t.slots))
	}
	t.place(id)
	return id
}

func (t *idTable) place(id uint32) {
	mask := uint64(len(t.slots) - 1)
	i := maphash.String(t.seed, t.str(id)) & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = id + 1
}

// rehashLocked places every number again in n slots; placing id, the
// newest, is left to the caller.
func (t *idTable) rehashLocked(n int) {
	t.slots = make([]uint32, n)
	for id := range t.entries.n - 1 {
		t.place(id)
	}
}

// held returns how many strings the table holds.
func (t *idTable) held() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return int(t.entries.n)
}

// probes number the strings a seek looks for that its table does not
// hold (a resource id no row has, a cursor past a deleted row): a seek
// takes a group of six numbers from probeBase up, names its strings
// there, seeks, and gives the group back. Only the seeking goroutine
// compares with them.
const probeGroups = 1024

var probes = func() *probeSlots {
	p := &probeSlots{free: make(chan uint32, probeGroups)}
	for g := range uint32(probeGroups) {
		p.free <- g
	}
	return p
}()

type probeSlots struct {
	strs [probeGroups * 6]string
	free chan uint32
}

// keyRow returns the row of key's strings in t, numbers for the strings t
// does not hold taken from a probe group; release gives the group back
// (nil when none was taken).
func (t *idTable) keyRow(key relKey) (row relRow, release func()) {
	var ids [6]uint32
	group := absentID
	t.mu.RLock()
	for i, s := range key {
		ids[i] = t.lookupLocked(s)
	}
	t.mu.RUnlock()
	for i, s := range key {
		if ids[i] != absentID {
			continue
		}
		if group == absentID {
			group = <-probes.free
		}
		probes.strs[group*6+uint32(i)] = s
		ids[i] = probeBase + group*6 + uint32(i)
	}
	row = relRow{ns: ids[0], rid: ids[1], rel: ids[2], sns: ids[3], sid: ids[4], srel: ids[5]}
	if group == absentID {
		return row, nil
	}
	return row, func() {
		for i := range 6 {
			probes.strs[group*6+uint32(i)] = ""
		}
		probes.free <- group
	}
}
