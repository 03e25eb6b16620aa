package memdb

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/datastore/options"
	"github.com/authzed/spicedb/pkg/tuple"
)

// A repack builds the head's trees again while reads and writes go on: no
// write is lost, whether the repack is built beside writes (and thrown
// away when one commits meanwhile) or holding the write slot (writes wait
// for it); reads at older revisions see what they saw, and the head holds
// the same relationships in the same order (run with -race).
func TestARepackLosesNothingWhileWritesAndReadsGoOn(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait time.Duration
	}{{"beside writes", time.Hour}, {"holding the write slot", 0}} {
		t.Run(tc.name, func(t *testing.T) { repackWhileWriting(t, tc.wait) })
		// Every repack interns the rows again in a new table, while the
		// writer interns into the head's.
		t.Run(tc.name+", a new table each time", func(t *testing.T) {
			defer func(m int) { reinternMin = m }(reinternMin)
			reinternMin = -1
			repackWhileWriting(t, tc.wait)
		})
	}
}

func repackWhileWriting(t *testing.T, wait time.Duration) {
	ctx := t.Context()
	ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	mdb := ds.(*memdbDatastore)
	mdb.repackQuiet = time.Millisecond

	var rels []tuple.Relationship
	for i := range 3000 {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("document:d%d#viewer@user:u%d", (i*37)%3001, i%50)))
	}
	writeAll(t, ds, rels[:1000])
	early, err := ds.HeadRevision(ctx)
	require.NoError(t, err)
	writeAll(t, ds, rels[1000:])
	filter := datastore.RelationshipsFilter{OptionalResourceType: "document"}
	read := func(rev datastore.Revision) []string {
		all, _, err := collect(ds.SnapshotReader(rev).QueryRelationships(ctx, filter, options.WithSort(options.ByResource)))
		require.NoError(t, err)
		return all
	}
	reverse := func(rev datastore.Revision) []string {
		all, _, err := collect(ds.SnapshotReader(rev).ReverseQueryRelationships(ctx, datastore.SubjectsFilter{SubjectType: "user"}))
		require.NoError(t, err)
		return all
	}
	before, err := ds.HeadRevision(ctx)
	require.NoError(t, err)
	wantBefore, wantReverse, wantEarly := read(before.Revision), reverse(before.Revision), read(early.Revision)
	require.Len(t, wantBefore, 3000)

	// Writes and reads of old revisions go on through several repacks.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rel := tuple.MustParse(fmt.Sprintf("folder:f%d#viewer@user:w%d", i, i))
			_, err := ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
				return rwt.WriteRelationships(ctx, []tuple.RelationshipUpdate{tuple.Create(rel)})
			})
			if err != nil {
				t.Error(err)
				return
			}
			written.Add(1)
			time.Sleep(time.Duration(i%3) * time.Millisecond) // quiet moments, now and then
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			require.Equal(t, wantEarly, read(early.Revision))
			require.Equal(t, wantBefore, read(before.Revision))
		}
	})
	for range 20 {
		before := written.Load()
		mdb.repack(time.Now().Add(wait))
		for written.Load() < before+5 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	close(stop)
	wg.Wait()

	mdb.RLock()
	repacks := mdb.repacks
	mdb.RUnlock()
	require.Equal(t, 20, repacks)
	require.Equal(t, wantBefore, read(before.Revision))
	require.Equal(t, wantReverse, reverse(before.Revision))
	require.Equal(t, wantEarly, read(early.Revision))
	head := headReader(t, ds)
	all, _, err := collect(head.QueryRelationships(ctx, filter))
	require.NoError(t, err)
	require.Equal(t, wantBefore, all, "the head holds what it held, in order")
	folders, _, err := collect(head.QueryRelationships(ctx, datastore.RelationshipsFilter{OptionalResourceType: "folder"}))
	require.NoError(t, err)
	require.Len(t, folders, int(written.Load()), "every write during the repacks is at head")
	t.Logf("%d writes during 20 repacks", written.Load())
}

// Writes that change as many relationships as the threshold start a
// repack once they pause; the head keeps every relationship, and the
// snapshots past the GC window, whose nodes the new trees cannot share,
// are gone with it.
func TestWritesStartARepackWhenTheyPause(t *testing.T) {
	defer func(m int) { repackMin = m }(repackMin)
	repackMin = 1000
	const window = 100 * time.Millisecond
	ds, err := NewMemdbDatastore(0, time.Millisecond, window)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	mdb := ds.(*memdbDatastore)
	mdb.repackQuiet = window + 50*time.Millisecond

	var rels []tuple.Relationship
	for i := range 1500 {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("document:d%d#viewer@user:u%d", i, i%9)))
	}
	writeAll(t, ds, rels[:900])
	mdb.RLock()
	due := mdb.repackDue
	mdb.RUnlock()
	require.False(t, due, "900 changed relationships are below the threshold")
	writeAll(t, ds, rels[900:])
	require.Eventually(t, func() bool {
		mdb.RLock()
		defer mdb.RUnlock()
		return mdb.repacks == 1 && !mdb.repackDue
	}, 10*time.Second, 10*time.Millisecond)
	mdb.RLock()
	snapshots := len(mdb.revisions)
	mdb.RUnlock()
	require.Equal(t, 1, snapshots, "only the head's snapshot is within the window")
	all, _, err := collect(headReader(t, ds).QueryRelationships(t.Context(), datastore.RelationshipsFilter{OptionalResourceType: "document"}))
	require.NoError(t, err)
	require.Len(t, all, 1500)
}

// A repack that could not wait for a quiet window leaves the snapshots
// inside it, which hold the old nodes; they are dropped once past the
// window even if nothing commits again.
func TestSnapshotsOfOldNodesGoOncePastTheWindow(t *testing.T) {
	const window = 100 * time.Millisecond
	ds, err := NewMemdbDatastore(0, time.Millisecond, window)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	mdb := ds.(*memdbDatastore)
	for i := range 3 {
		writeAll(t, ds, []tuple.Relationship{tuple.MustParse(fmt.Sprintf("document:d%d#viewer@user:u", i))})
	}
	snapshots := func() int {
		mdb.RLock()
		defer mdb.RUnlock()
		return len(mdb.revisions)
	}
	mdb.repack(time.Now())
	require.Greater(t, snapshots(), 1, "the writes' snapshots are inside the window")
	require.Eventually(t, func() bool { return snapshots() == 1 }, 5*time.Second, 10*time.Millisecond)
	all, _, err := collect(headReader(t, ds).QueryRelationships(t.Context(), datastore.RelationshipsFilter{OptionalResourceType: "document"}))
	require.NoError(t, err)
	require.Len(t, all, 3)
}

// A repack waiting for writes to pause ends when the datastore closes,
// rather than keeping it in memory until the wait is over.
func TestARepackWaitingEndsWhenTheDatastoreCloses(t *testing.T) {
	ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
	require.NoError(t, err)
	mdb := ds.(*memdbDatastore)
	writeAll(t, ds, []tuple.Relationship{tuple.MustParse("document:d#viewer@user:u")})
	done := make(chan struct{})
	go func() { mdb.repack(time.Now().Add(time.Hour)); close(done) }()
	time.Sleep(100 * time.Millisecond) // for it to be waiting, not to find the datastore closed
	require.NoError(t, ds.Close())
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the repack still waits after Close")
	}
	mdb.RLock()
	defer mdb.RUnlock()
	require.Zero(t, mdb.repacks)
}
