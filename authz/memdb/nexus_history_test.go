package memdb

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/tuple"
)

// TestHistoryIsBoundedByTheGCWindow: upstream memdb keeps every snapshot
// and changelog entry forever; ours keeps the GC window's worth, keeps the
// data itself, and fails a watch that fell behind what was trimmed instead
// of letting it miss changes.
func TestHistoryIsBoundedByTheGCWindow(t *testing.T) {
	const window = 200 * time.Millisecond
	ds, err := NewMemdbDatastore(0, time.Nanosecond, window)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	mdb := ds.(*memdbDatastore)

	first, err := ds.HeadRevision(t.Context())
	require.NoError(t, err)
	changes, errs := ds.Watch(t.Context(), first.Revision, datastore.WatchJustRelationships())
	_ = changes

	deadline := time.Now().Add(3 * window)
	n := 0
	for time.Now().Before(deadline) {
		writeAll(t, ds, []tuple.Relationship{tuple.MustParse(fmt.Sprintf("file:f%d#viewer@user:u%d", n, n))})
		n++
		time.Sleep(time.Millisecond)
	}
	mdb.RLock()
	snapshots := len(mdb.revisions)
	txn := mdb.db.Txn(false)
	it, err := txn.Get(tableChangelog, indexRevision)
	require.NoError(t, err)
	entries := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		entries++
	}
	mdb.RUnlock()
	t.Logf("%d writes; %d snapshots and %d changelog entries retained", n, snapshots, entries)
	require.Less(t, snapshots, n*2/3, "old snapshots are dropped")
	require.Less(t, entries, n*2/3, "old changelog entries are dropped")

	// Every relationship is still there at head.
	rels, _, err := collect(headReader(t, ds).QueryRelationships(t.Context(), datastore.RelationshipsFilter{OptionalResourceType: "file"}))
	require.NoError(t, err)
	require.Len(t, rels, n)

	// A watch from the first revision, never drained past its buffer or
	// started late, must fail rather than skip the trimmed changes.
	late, lateErrs := ds.Watch(t.Context(), first.Revision, datastore.WatchJustRelationships())
	_ = late
	select {
	case err := <-lateErrs:
		require.Error(t, err)
		require.Contains(t, err.Error(), "behind the retained history")
	case <-time.After(5 * time.Second):
		t.Fatal("a watch from a trimmed revision neither failed nor ended")
	}
	_ = errs
}

// An import keeps only a budget of changed relationships' worth of
// snapshots, whatever the GC window: reads at the revisions it dropped are
// stale (an error, never another revision's state), reads at the kept ones
// exact, and every relationship is there at head.
func TestHistoryIsBoundedByChangedRelationships(t *testing.T) {
	ds, err := NewMemdbDatastore(0, time.Nanosecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	mdb := ds.(*memdbDatastore)

	const batch, batches = 1000, 3 * historyRowsMin / 1000
	var revs []datastore.Revision
	for b := range batches {
		rels := make([]tuple.Relationship, batch)
		for i := range rels {
			rels[i] = tuple.MustParse(fmt.Sprintf("file:f%d#viewer@user:u%d", b*batch+i, i))
		}
		rev, err := ds.ReadWriteTx(t.Context(), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
			updates := make([]tuple.RelationshipUpdate, len(rels))
			for i, r := range rels {
				updates[i] = tuple.Create(r)
			}
			return rwt.WriteRelationships(ctx, updates)
		})
		require.NoError(t, err)
		revs = append(revs, rev)
	}
	mdb.RLock()
	snapshots := len(mdb.revisions)
	mdb.RUnlock()
	require.LessOrEqual(t, snapshots, historyRowsMin/batch+1, "the snapshots kept hold at most the budget's changes")

	filter := datastore.RelationshipsFilter{OptionalResourceType: "file"}
	_, err = ds.SnapshotReader(revs[0]).QueryRelationships(t.Context(), filter)
	require.Error(t, err, "a revision the budget dropped is stale")
	var invalid datastore.InvalidRevisionError
	require.ErrorAs(t, err, &invalid)
	require.Error(t, ds.CheckRevision(t.Context(), revs[0]))

	kept := len(revs) - historyRowsMin/batch
	rels, _, err := collect(ds.SnapshotReader(revs[kept]).QueryRelationships(t.Context(), filter))
	require.NoError(t, err)
	require.Len(t, rels, (kept+1)*batch, "a kept revision reads exactly its state")

	rels, _, err = collect(headReader(t, ds).QueryRelationships(t.Context(), filter))
	require.NoError(t, err)
	require.Len(t, rels, batches*batch)
}

// The changelog keeps a budget of relationship changes whatever the GC
// window: after an import larger than it, a watch from before the import
// fails instead of skipping what was trimmed, and one from the head sees
// what comes next.
func TestTheChangelogIsBoundedByChanges(t *testing.T) {
	ds, err := NewMemdbDatastore(0, time.Nanosecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	mdb := ds.(*memdbDatastore)
	first, err := ds.HeadRevision(t.Context())
	require.NoError(t, err)

	const batch = 5000
	batches := 3 * changelogRowsMin / batch / 2
	for b := range batches {
		rels := make([]tuple.Relationship, batch)
		for i := range rels {
			rels[i] = tuple.MustParse(fmt.Sprintf("file:f%d#viewer@user:u%d", b*batch+i, i))
		}
		writeAll(t, ds, rels)
	}
	mdb.RLock()
	held := mdb.changelogRows
	mdb.RUnlock()
	require.LessOrEqual(t, held, changelogRowsMin+500, "the changelog holds the budget's changes (and at most one more write's)")
	require.Greater(t, held, changelogRowsMin/2)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, errs := ds.Watch(ctx, first.Revision, datastore.WatchJustRelationships())
	select {
	case err := <-errs:
		require.ErrorContains(t, err, "behind the retained history")
	case <-ctx.Done():
		t.Fatal("a watch from before the trimmed changes neither failed nor ended")
	}

	head, err := ds.HeadRevision(t.Context())
	require.NoError(t, err)
	changes, errs := ds.Watch(ctx, head.Revision, datastore.WatchJustRelationships())
	writeAll(t, ds, []tuple.Relationship{tuple.MustParse("file:new#viewer@user:bob")})
	c := firstRelationshipChanges(t, ctx, changes, errs)
	require.Len(t, c.RelationshipChanges, 1)
	require.Equal(t, "new", c.RelationshipChanges[0].Relationship.Resource.ObjectID)
}

// A transaction marked WithoutRelationshipChanges writes its relationships
// but leaves them out of the changelog; later writes are watched as ever.
func TestALoadWithoutRelationshipChanges(t *testing.T) {
	ds, err := NewMemdbDatastore(0, time.Nanosecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	first, err := ds.HeadRevision(t.Context())
	require.NoError(t, err)

	_, err = ds.ReadWriteTx(WithoutRelationshipChanges(t.Context()), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		return rwt.WriteRelationships(ctx, []tuple.RelationshipUpdate{tuple.Create(tuple.MustParse("file:loaded#viewer@user:alice"))})
	})
	require.NoError(t, err)
	writeAll(t, ds, []tuple.Relationship{tuple.MustParse("file:later#viewer@user:bob")})

	rels, _, err := collect(headReader(t, ds).QueryRelationships(t.Context(), datastore.RelationshipsFilter{OptionalResourceType: "file"}))
	require.NoError(t, err)
	require.Equal(t, []string{"file:later#viewer@user:bob", "file:loaded#viewer@user:alice"}, rels)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	changes, errs := ds.Watch(ctx, first.Revision, datastore.WatchJustRelationships())
	c := firstRelationshipChanges(t, ctx, changes, errs)
	require.Len(t, c.RelationshipChanges, 1)
	require.Equal(t, "later", c.RelationshipChanges[0].Relationship.Resource.ObjectID, "the load's changes are not in the changelog")
}

// firstRelationshipChanges returns the first revision a watch reports with
// relationship changes, failing on its error or when ctx ends.
func firstRelationshipChanges(t *testing.T, ctx context.Context, changes <-chan datastore.RevisionChanges, errs <-chan error) datastore.RevisionChanges {
	t.Helper()
	for {
		select {
		case c := <-changes:
			if len(c.RelationshipChanges) > 0 {
				return c
			}
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("the watch reported no relationship change")
		}
	}
}

// Once writes stop, the snapshots of the last ones (and the tree nodes
// they hold) go when they are past the GC window, without another write
// to trim them; a snapshot still inside it when the timer fires is
// trimmed by the next one.
func TestSnapshotsPastTheWindowGoWithoutWrites(t *testing.T) {
	t.Parallel()
	const window = time.Second
	ds, err := NewMemdbDatastore(0, time.Millisecond, window)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	mdb := ds.(*memdbDatastore)
	snapshots := func() int {
		mdb.RLock()
		defer mdb.RUnlock()
		return len(mdb.revisions)
	}
	writeAll(t, ds, []tuple.Relationship{tuple.MustParse("document:a#viewer@user:u")})
	// Inside the window when the first write's timer fires (window+slack
	// after it).
	time.Sleep(window + trimLaterSlack/2)
	writeAll(t, ds, []tuple.Relationship{tuple.MustParse("document:b#viewer@user:u")})
	writeAll(t, ds, []tuple.Relationship{tuple.MustParse("document:c#viewer@user:u")})
	require.Greater(t, snapshots(), 1)
	require.Eventually(t, func() bool { return snapshots() == 1 }, 4*(window+trimLaterSlack), 20*time.Millisecond)
	all, _, err := collect(headReader(t, ds).QueryRelationships(t.Context(), datastore.RelationshipsFilter{OptionalResourceType: "document"}))
	require.NoError(t, err)
	require.Len(t, all, 3)
}

// Close stops the trim timer: a closed datastore is not kept in memory
// for a window by it.
func TestCloseStopsTheTrimTimer(t *testing.T) {
	t.Parallel()
	ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
	require.NoError(t, err)
	mdb := ds.(*memdbDatastore)
	writeAll(t, ds, []tuple.Relationship{tuple.MustParse("document:a#viewer@user:u")})
	require.NoError(t, ds.Close())
	mdb.RLock()
	defer mdb.RUnlock()
	require.NotNil(t, mdb.trimTimer, "a write armed it")
	require.False(t, mdb.trimTimer.Stop(), "Close stopped it")
}
