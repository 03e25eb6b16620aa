package memdb

// nexus: this file is ours, not upstream's. It bounds the in-memory
// history (changelog entries and snapshots) to the GC window; see NOTICE.

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"
)

// The changelog, which Watch reads, holds every relationship change of the
// GC window (a few hundred bytes each); after an import, every relationship.
// It is also kept to a budget of changes: at least changelogRowsMin, more
// as the data grows (1/changelogRowsPerLive of it). A watch that has not read
// past what was trimmed fails (changelogFloor) and is restarted by its
// owner, as for the window; the decision cache's own watch reads changes as
// they come.
const (
	changelogRowsMin     = 100_000
	changelogRowsPerLive = 8
)

// noRelationshipChanges marks a write transaction whose relationship
// changes no watch needs (WithoutRelationshipChanges).
type noRelationshipChanges struct{}

// WithoutRelationshipChanges marks the write transaction ReadWriteTx runs
// with ctx as one whose relationship changes are not kept in the changelog:
// a load of the whole datastore at start, before anything watches it, where
// tracking a million changes cost a third of the load. Its revision is in
// the changelog, with its schema changes, as any other.
func WithoutRelationshipChanges(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRelationshipChanges{}, true)
}

// trimChangelog deletes the changelog entries older than cutoff (nanos),
// then the oldest ones while the entries hold more than budget relationship
// changes (rows: what they hold now), never the entry of revision keep. It
// returns the revision of the newest entry it deleted (0 if none) and the
// changes they held.
func trimChangelog(tx *memdb.Txn, cutoff, keep int64, rows, budget int) (newest int64, removed int, err error) {
	it, err := tx.LowerBound(tableChangelog, indexRevision, int64(0))
	if err != nil {
		return 0, 0, fmt.Errorf("trimming changelog: %w", err)
	}
	var stale []*changelog
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*changelog)
		if c.revisionNanos == keep || (c.revisionNanos >= cutoff && rows-removed <= budget) {
			break
		}
		stale = append(stale, c)
		removed += len(c.changes.RelationshipChanges)
	}
	for _, c := range stale {
		if err := tx.Delete(tableChangelog, c); err != nil {
			return 0, 0, fmt.Errorf("trimming changelog: %w", err)
		}
		newest = c.revisionNanos
	}
	return newest, removed, nil
}

// Snapshots share the nodes of the relationship trees (nexus_rels.go), but
// each one keeps alive the nodes its successor's writes replaced: about two
// leaves, 3.4 KB, per changed relationship. Upstream's time window alone
// let a bulk import keep a minute of that, gigabytes at a million
// relationships. So the snapshots kept also stop at a budget of changed
// relationships: at least historyRowsMin, more as the data grows
// (1/historyRowsPerLive of it). Ordinary writes of a few relationships
// stay far inside it for the whole window; during an import the revisions
// older than the budget become stale like those older than the window
// (historyFloor), and reads at them fail instead of seeing a wrong state.
const (
	historyRowsMin     = 20_000
	historyRowsPerLive = 32
)

// trimRevisionsLocked drops the snapshots no read inside the GC window can
// need, all but the newest one at or before cutoff, and then those past the
// budget of changed relationships. The caller holds the write lock.
func (mdb *memdbDatastore) trimRevisionsLocked(cutoff int64) {
	keepFrom := 0
	for i := range mdb.revisions {
		if mdb.revisions[i].revision.TimestampNanoSec() > cutoff {
			break
		}
		keepFrom = i // the newest snapshot at or before cutoff stays
	}
	// Keeping snapshot i-1 keeps what the changes of i..head replaced.
	budget, changed := max(historyRowsMin, mdb.rels.len()/historyRowsPerLive), 0
	for i := len(mdb.revisions) - 1; i > keepFrom; i-- {
		changed += mdb.revisions[i].changed
		if changed > budget {
			keepFrom = i
			mdb.historyFloor = mdb.revisions[i].revision.TimestampNanoSec()
			break
		}
	}
	if keepFrom == 0 {
		return
	}
	kept := make([]snapshot, len(mdb.revisions)-keepFrom)
	copy(kept, mdb.revisions[keepFrom:])
	mdb.revisions = kept
}

// A commit trims the history past the GC window, so once writes stop, the
// snapshots of the last ones stay, and with them the tree nodes those
// writes replaced (up to the budget above, hundreds of MiB at a million
// relationships), until the next write. trimLaterLocked arms a timer that
// trims the history once the last commit is past the window, firing again
// while commits go on. Close stops it, so that a closed datastore is not
// kept in memory by it. The caller holds the write lock.
func (mdb *memdbDatastore) trimLaterLocked() {
	if mdb.trimTimer != nil {
		return
	}
	var fire func()
	fire = func() {
		mdb.Lock()
		defer mdb.Unlock()
		if mdb.db == nil {
			return
		}
		mdb.trimRevisionsLocked(nowRevision().TimestampNanoSec() + mdb.negativeGCWindow)
		mdb.trimTimer = nil
		if len(mdb.revisions) > 1 {
			// What is left is the window's: past it once the last commit is.
			wait := time.Until(mdb.lastWrite.Add(time.Duration(-mdb.negativeGCWindow) + trimLaterSlack))
			mdb.trimTimer = time.AfterFunc(max(wait, trimLaterSlack), fire)
		}
	}
	mdb.trimTimer = time.AfterFunc(time.Duration(-mdb.negativeGCWindow)+trimLaterSlack, fire)
}

// trimLaterSlack is how long past the window the timer fires.
const trimLaterSlack = time.Second
