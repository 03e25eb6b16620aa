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

// A load (WithoutRelationshipChanges) appends rows in order without a
// search and sorts them into bySubject later; whatever comes in between (a
// row out of order, a touch of one loaded, a delete of one not yet in
// bySubject, a read) leaves the same relationships as ordinary writes.
func TestALoadInOrderEndsAsWritesDo(t *testing.T) {
	ctx := t.Context()
	var steps [][]tuple.RelationshipUpdate
	add := func(us ...tuple.RelationshipUpdate) { steps = append(steps, us) }
	touch := func(s string) tuple.RelationshipUpdate { return tuple.Touch(tuple.MustParse(s)) }
	for i := range 300 {
		add(touch(fmt.Sprintf("document:d%03d#viewer@user:u%d", i, (i*7)%13)))
	}
	add(touch("document:d050#viewer@user:zz"))                         // out of order
	add(touch("document:d100#viewer@user:u11"))                        // loaded already
	add(tuple.Delete(tuple.MustParse("document:d101#viewer@user:u5"))) // loaded, not yet in bySubject
	for i := 300; i < 400; i++ {
		add(touch(fmt.Sprintf("document:d%03d#viewer@group:g%d#member", i, i%5)))
	}
	var batch []tuple.RelationshipUpdate // one large batch
	for i := range 1536 {
		batch = append(batch, touch(fmt.Sprintf("document:e%04d#viewer@user:u%d", i, i%17)))
	}
	add(batch...)

	load := func(ctx context.Context) (byResource, bySubject, readMidway []string) {
		t.Helper()
		ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
		require.NoError(t, err)
		t.Cleanup(func() { ds.Close() })
		rev, err := ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
			for i, us := range steps {
				if err := rwt.WriteRelationships(ctx, us); err != nil {
					return err
				}
				if i == 350 { // after the delete, with rows gathered since
					for _, typ := range []string{"user", "group"} {
						got, _, err := collect(rwt.ReverseQueryRelationships(ctx, datastore.SubjectsFilter{SubjectType: typ}))
						require.NoError(t, err)
						readMidway = append(readMidway, got...)
					}
				}
			}
			return nil
		})
		require.NoError(t, err)
		r := ds.SnapshotReader(rev)
		byResource, _, err = collect(r.QueryRelationships(ctx, datastore.RelationshipsFilter{OptionalResourceType: "document"},
			options.WithSort(options.ByResource)))
		require.NoError(t, err)
		for _, typ := range []string{"user", "group"} {
			got, _, err := collect(r.ReverseQueryRelationships(ctx, datastore.SubjectsFilter{SubjectType: typ}))
			require.NoError(t, err)
			bySubject = append(bySubject, got...)
		}
		return byResource, bySubject, readMidway
	}
	wantRes, wantSub, wantMid := load(ctx)
	require.Len(t, wantRes, 400+1536, "400 documents' viewers (one added out of order, one deleted) and a batch")
	require.Len(t, wantMid, 348)
	for _, chunk := range []int{bulkChunk, 7} { // one chunk; many merged
		t.Run(fmt.Sprintf("sorted %d at a time", chunk), func(t *testing.T) {
			defer func(was int) { bulkChunk = was }(bulkChunk)
			bulkChunk = chunk
			gotRes, gotSub, gotMid := load(WithoutRelationshipChanges(ctx))
			require.Equal(t, wantRes, gotRes)
			require.Equal(t, wantSub, gotSub)
			require.Equal(t, wantMid, gotMid, "a read inside the load sees every row loaded so far, by subject too")
		})
	}
}
