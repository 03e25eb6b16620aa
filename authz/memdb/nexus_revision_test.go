package memdb

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/tuple"
	"github.com/nexus-authz/nexus/authz/memdb/internal/revisions"
)

// TestAReadAtARevisionSeesEveryWriteUpToIt: a revision names one state.
// A read at the optimized revision taken while a write is in flight must
// not include the write if the write's revision turns out to be at or
// before it, and a second read at the same revision, after the write
// committed, must see what the first saw. SpiceDB caches definitions and
// dispatched checks by revision, so a revision whose state changes under
// it serves the old state to every later read at it, tokens included.
func TestAReadAtARevisionSeesEveryWriteUpToIt(t *testing.T) {
	ctx := t.Context()
	ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	rel := tuple.MustParse("document:d1#viewer@user:alice")

	inFlight, release := make(chan struct{}), make(chan struct{})
	type result struct {
		rev datastore.Revision
		err error
	}
	written := make(chan result, 1)
	go func() {
		rev, err := ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
			if err := rwt.WriteRelationships(ctx, []tuple.RelationshipUpdate{tuple.Touch(rel)}); err != nil {
				return err
			}
			close(inFlight)
			<-release
			return nil
		})
		written <- result{rev, err}
	}()
	<-inFlight
	// The write has its transaction; wait for a minimize_latency revision
	// taken after that.
	begun := revisions.NewForTime(time.Now().UTC())
	var at datastore.Revision
	require.Eventually(t, func() bool {
		o, err := ds.OptimizedRevision(ctx)
		require.NoError(t, err)
		at = o.Revision
		return at.GreaterThan(begun)
	}, 10*time.Second, time.Millisecond, "the optimized revision never passed the write's start")

	read := func() []string {
		rels, _, err := collect(ds.SnapshotReader(at).QueryRelationships(ctx, datastore.RelationshipsFilter{OptionalResourceType: "document"}))
		require.NoError(t, err)
		return rels
	}
	during := read()
	close(release)
	w := <-written
	require.NoError(t, w.err)
	after := read()

	require.Equal(t, during, after, "two reads at revision %v disagree (write committed at %v)", at, w.rev)
	if w.rev.GreaterThan(at) {
		require.Empty(t, after, "a write after the revision is not part of it")
	} else {
		require.Equal(t, []string{tuple.MustString(rel)}, after, "a write at or before the revision is part of it")
	}
}
