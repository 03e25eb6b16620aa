package memdb

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/datastore/options"
	"github.com/authzed/spicedb/pkg/tuple"
)

// Readers of old revisions walk trees that later writes share and copy:
// every read at the revision of the n-th write sees exactly the first n
// relationships, however many writes land while it reads (run with -race).
func TestSnapshotsStayWhatTheyWereWhileWritesLand(t *testing.T) {
	ctx := t.Context()
	ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })

	const writes = 300
	revs := make(chan datastore.Revision, writes)
	var mu sync.Mutex
	var done []datastore.Revision
	go func() {
		defer close(revs)
		for i := range writes {
			// Ids spread over the tree, so writes copy nodes everywhere.
			rel := tuple.MustParse(fmt.Sprintf("document:d%03d#viewer@user:u%d", (i*37)%writes, i%7))
			rev, err := ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
				return rwt.WriteRelationships(ctx, []tuple.RelationshipUpdate{tuple.Create(rel)})
			})
			if err != nil {
				t.Error(err)
				return
			}
			revs <- rev
		}
	}()

	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				mu.Lock()
				n := len(done)
				var rev datastore.Revision
				if n > 0 {
					rev = done[n-1]
				}
				mu.Unlock()
				if n == writes {
					return
				}
				if n == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				byResource, _, err := collect(ds.SnapshotReader(rev).QueryRelationships(ctx,
					datastore.RelationshipsFilter{OptionalResourceType: "document"}, options.WithSort(options.ByResource)))
				require.NoError(t, err)
				require.Len(t, byResource, n, "a read at the revision of write %d", n)
				bySubject, _, err := collect(ds.SnapshotReader(rev).ReverseQueryRelationships(ctx,
					datastore.SubjectsFilter{SubjectType: "user"}))
				require.NoError(t, err)
				require.Len(t, bySubject, n, "a reverse read at the revision of write %d", n)
			}
		})
	}
	for rev := range revs {
		mu.Lock()
		done = append(done, rev)
		mu.Unlock()
	}
	readers.Wait()
}

// A read inside a write transaction sees the transaction's writes so far,
// and an iteration under way is not disturbed by writes it makes later.
func TestAWriteTransactionReadsItsOwnWrites(t *testing.T) {
	ctx := t.Context()
	ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })

	filter := datastore.RelationshipsFilter{OptionalResourceType: "document"}
	_, err = ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		for i := range 50 {
			rel := tuple.MustParse(fmt.Sprintf("document:d%02d#viewer@user:alice", i))
			if err := rwt.WriteRelationships(ctx, []tuple.RelationshipUpdate{tuple.Create(rel)}); err != nil {
				return err
			}
		}
		it, err := rwt.QueryRelationships(ctx, filter)
		require.NoError(t, err)
		seen := 0
		for rel, err := range it {
			require.NoError(t, err)
			seen++
			// Delete what was read and add more while iterating.
			require.NoError(t, rwt.WriteRelationships(ctx, []tuple.RelationshipUpdate{
				tuple.Delete(rel),
				tuple.Create(tuple.MustParse(fmt.Sprintf("document:e%02d#viewer@user:bob", seen))),
			}))
		}
		require.Equal(t, 50, seen, "the iteration saw the transaction as it was when the query began")
		after, _, err := collect(rwt.QueryRelationships(ctx, filter))
		require.NoError(t, err)
		require.Len(t, after, 50)
		require.Equal(t, "document:e01#viewer@user:bob", after[0])
		return nil
	})
	require.NoError(t, err)

	// A transaction that fails leaves nothing behind.
	boom := fmt.Errorf("boom")
	_, err = ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		require.NoError(t, rwt.WriteRelationships(ctx, []tuple.RelationshipUpdate{
			tuple.Create(tuple.MustParse("document:z#viewer@user:carol")),
		}))
		return boom
	})
	require.ErrorIs(t, err, boom)
	head, err := ds.HeadRevision(ctx)
	require.NoError(t, err)
	all, _, err := collect(ds.SnapshotReader(head.Revision).QueryRelationships(ctx, filter))
	require.NoError(t, err)
	require.Len(t, all, 50)
	require.NotContains(t, all, "document:z#viewer@user:carol")
}
