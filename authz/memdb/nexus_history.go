package memdb

// nexus: this file is ours, not upstream's. It bounds the in-memory
// history (changelog entries and snapshots) to the GC window; see NOTICE.

import (
	"fmt"

	"github.com/hashicorp/go-memdb"
)

// trimChangelog deletes the changelog entries older than cutoff (nanos) and
// returns the revision of the newest one it deleted (0 if none).
func trimChangelog(tx *memdb.Txn, cutoff int64) (int64, error) {
	it, err := tx.LowerBound(tableChangelog, indexRevision, int64(0))
	if err != nil {
		return 0, fmt.Errorf("trimming changelog: %w", err)
	}
	var stale []*changelog
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*changelog)
		if c.revisionNanos >= cutoff {
			break
		}
		stale = append(stale, c)
	}
	var newest int64
	for _, c := range stale {
		if err := tx.Delete(tableChangelog, c); err != nil {
			return 0, fmt.Errorf("trimming changelog: %w", err)
		}
		newest = c.revisionNanos
	}
	return newest, nil
}

// trimRevisionsLocked drops the snapshots no read inside the GC window can
// need: all but the newest one at or before cutoff. The caller holds the
// write lock.
func (mdb *memdbDatastore) trimRevisionsLocked(cutoff int64) {
	keepFrom := 0
	for i := range mdb.revisions {
		if mdb.revisions[i].revision.TimestampNanoSec() > cutoff {
			break
		}
		keepFrom = i // the newest snapshot at or before cutoff stays
	}
	if keepFrom == 0 {
		return
	}
	kept := make([]snapshot, len(mdb.revisions)-keepFrom)
	copy(kept, mdb.revisions[keepFrom:])
	mdb.revisions = kept
}
