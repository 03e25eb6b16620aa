package memdb

// nexus: this file is ours, not upstream's; see NOTICE.

import (
	"math/bits"
	"time"
)

// A write copies the tree nodes it changes (nexus_rels.go), and the copies
// replace nodes that snapshots may still read. After many writes the head
// is made of nodes copied one path at a time, leaves half full, and the
// nodes that snapshots kept: at a million relationships and 100,000
// folders (bench embedded_scale) the Go heap held 738 MiB where a start
// on the same data holds 468. So after writes that changed as many
// relationships as a fraction of those held, the trees are built again in
// order (repacked), as a start builds them, and the old nodes go once no
// snapshot reads them: 512 MiB of heap there. (Resident memory falls
// less, 1,453 → 1,245 MiB: the new nodes fill the holes the old ones
// left in the heap's spans, and Go's collector does not move objects, so
// the spans of the old nodes stay partly used. A restart gives 691 MiB.)
//
// repackMin and repackPerLive: the trees are repacked once the
// relationships changed since the last repack reach
// max(repackMin, held/repackPerLive). Each repack costs a pass over what
// is held (about a second at a million), so repacks cost at most
// repackPerLive rows a change. (A variable for the tests.)
var repackMin = 50_000

// A repack waits for writes to pause for the GC window (at least
// repackQuietMin; memdbDatastore.repackQuiet), so that it runs after an
// import rather than during it, and so that the snapshots older than the
// head, which the new nodes cannot share with, are past the window and go
// with the old nodes.
const repackQuietMin = time.Second

const (
	repackPerLive = 8
	// repackWait bounds a repack's wait for a quiet moment, beyond the
	// quiet itself, for writes that never pause.
	repackWait = time.Minute
	// repackTries: a repack is built beside the head while writes go on,
	// and is thrown away if one committed meanwhile; after this many
	// tries it is built holding the write slot, and writes wait for it.
	repackTries = 3
)

// repacking stands in the write slot (activeWriteTxn) while the trees are
// being repacked, so no write transaction begins meanwhile.
var repacking = &txn{}

// committedLocked counts a commit's changed relationships toward the next
// repack, and starts one when they are due. The caller holds the write
// lock.
func (mdb *memdbDatastore) committedLocked(changed int) {
	mdb.lastWrite = time.Now()
	mdb.trimLaterLocked() // nexus_history.go
	mdb.commits++
	mdb.changedSinceRepack += changed
	if mdb.repackDue || mdb.changedSinceRepack < max(repackMin, mdb.rels.len()/repackPerLive) {
		return
	}
	mdb.repackDue = true
	go mdb.repack(time.Now().Add(mdb.repackQuiet + repackWait))
}

// repack builds the head's trees again in order, after a quiet moment (or
// at deadline), and publishes them as the head and as the newest
// snapshot, which hold the same relationships. Reads go on meanwhile, and
// so do writes, unless they keep committing during the build: then the
// last try holds the write slot and they wait for it.
func (mdb *memdbDatastore) repack(deadline time.Time) {
	for try := 1; ; try++ {
		if !mdb.awaitQuiet(deadline) {
			return
		}
		hold := try >= repackTries || !time.Now().Before(deadline)
		mdb.Lock()
		if hold {
			for mdb.activeWriteTxn != nil {
				mdb.writeTxReady.Wait()
			}
			mdb.activeWriteTxn = repacking
		}
		head, commits := mdb.rels.copy(), mdb.commits
		mdb.Unlock()

		fresh := head.repacked()

		mdb.Lock()
		// A write transaction under way began from the old trees and
		// will publish its own; a commit since the copy is not in fresh.
		if hold || mdb.commits == commits && mdb.activeWriteTxn == nil {
			mdb.publishRepackLocked(fresh)
			if hold {
				mdb.activeWriteTxn = nil
				mdb.writeTxReady.Signal()
			}
			mdb.Unlock()
			return
		}
		mdb.Unlock()
	}
}

// awaitQuiet waits until no write has committed for mdb.repackQuiet, or until
// deadline; it returns false if the datastore closed.
func (mdb *memdbDatastore) awaitQuiet(deadline time.Time) bool {
	for {
		mdb.RLock()
		quietAt, closed := mdb.lastWrite.Add(mdb.repackQuiet), mdb.db == nil
		mdb.RUnlock()
		if closed {
			return false
		}
		now := time.Now()
		if !now.Before(quietAt) || !now.Before(deadline) {
			return true
		}
		wait := time.NewTimer(min(quietAt.Sub(now), deadline.Sub(now)))
		select {
		case <-wait.C:
		case <-mdb.closed:
			wait.Stop()
			return false
		}
	}
}

// publishRepackLocked makes fresh, which holds the head's relationships,
// the head and the newest snapshot's trees, and drops the snapshots past
// the GC window, as a commit does; those still inside it (a repack that
// did not wait for a quiet window) are dropped once past it, commits or
// not, for they hold the old nodes. The caller holds the lock.
func (mdb *memdbDatastore) publishRepackLocked(fresh *relTrees) {
	mdb.rels = fresh
	if n := len(mdb.revisions); n > 0 && mdb.db != nil {
		mdb.revisions[n-1].rels = fresh.copy()
		// Those still inside the window go on the trim timer their
		// commits armed (nexus_history.go).
		mdb.trimRevisionsLocked(nowRevision().TimestampNanoSec() + mdb.negativeGCWindow)
	}
	mdb.changedSinceRepack, mdb.repackDue = 0, false
	mdb.repacks++
}

// repacked returns trees holding t's rows in new nodes, filled in order.
// When most of the strings t's table numbers are no longer in a row (or
// most of its extras), the rows are interned again in a new table, which
// holds only theirs. t must not be changed meanwhile.
func (t *relTrees) repacked() *relTrees {
	if t.mostlyDead() {
		return t.reinterned()
	}
	fresh := newRelTreesIn(t.ids)
	t.byResource.Scan(func(row relRow) bool { fresh.byResource.Load(row); return true })
	t.bySubject.Scan(func(row relRow) bool { fresh.bySubject.Load(row); return true })
	return fresh
}

// reinternMin is how many numbers (or extras) must be dead before a
// repack starts a new table, beside more than half of them (a variable
// for the tests; below zero, every repack starts one).
var reinternMin = 100_000

// mostlyDead reports whether t's table holds mostly strings or extras no
// row of t has.
func (t *relTrees) mostlyDead() bool {
	if reinternMin < 0 {
		return true
	}
	held := t.ids.held()
	t.ids.mu.RLock()
	extras := int(t.ids.extras.n)
	t.ids.mu.RUnlock()
	live := make([]uint64, (held+63)/64)
	mark := func(id uint32) { live[id/64] |= 1 << (id % 64) }
	liveExtras := 0
	t.byResource.Scan(func(w relRow) bool {
		mark(w.ns)
		mark(w.rid)
		mark(w.rel)
		mark(w.sns)
		mark(w.sid)
		mark(w.srel)
		if w.extra != 0 {
			liveExtras++
		}
		return true
	})
	liveIDs := 0
	for _, word := range live {
		liveIDs += bits.OnesCount64(word)
	}
	dead := func(all, live int) bool { return all-live >= reinternMin && 2*live < all }
	return dead(held, liveIDs) || dead(extras, liveExtras)
}

// reinterned returns trees holding t's rows interned in a new table.
func (t *relTrees) reinterned() *relTrees {
	fresh := newRelTreesIn(newIDTable())
	to := make([]uint32, t.ids.held())
	for i := range to {
		to[i] = absentID
	}
	id := func(old uint32) uint32 {
		if to[old] == absentID {
			to[old] = fresh.ids.internLocked(t.ids.str(old))
		}
		return to[old]
	}
	extras := map[uint32]uint32{}
	row := func(w relRow) relRow {
		n := relRow{ns: id(w.ns), rid: id(w.rid), rel: id(w.rel), sns: id(w.sns), sid: id(w.sid), srel: id(w.srel)}
		if w.extra != 0 {
			if n.extra = extras[w.extra]; n.extra == 0 {
				n.extra = fresh.ids.extras.add(t.ids.extras.at(w.extra-1)) + 1
				extras[w.extra] = n.extra
			}
		}
		return n
	}
	fresh.ids.mu.Lock()
	defer fresh.ids.mu.Unlock()
	// The same strings in the same order: the new rows keep each tree's
	// order.
	t.byResource.Scan(func(w relRow) bool { fresh.byResource.Load(row(w)); return true })
	t.bySubject.Scan(func(w relRow) bool { fresh.bySubject.Load(row(w)); return true })
	return fresh
}
