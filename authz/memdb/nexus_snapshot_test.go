package memdb

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/datastore/options"
	"github.com/authzed/spicedb/pkg/tuple"
)

// readAll is every relationship of ds's head, by resource and by subject.
func readAll(t *testing.T, ds datastore.Datastore) (byResource, bySubject []string) {
	t.Helper()
	r := headReader(t, ds)
	byResource, _, err := collect(r.QueryRelationships(t.Context(), datastore.RelationshipsFilter{OptionalResourceType: "document"},
		options.WithSort(options.ByResource)))
	require.NoError(t, err)
	for _, typ := range []string{"user", "group"} {
		got, _, err := collect(r.ReverseQueryRelationships(t.Context(), datastore.SubjectsFilter{SubjectType: typ}))
		require.NoError(t, err)
		bySubject = append(bySubject, got...)
	}
	return byResource, bySubject
}

func newTestDatastore(t *testing.T) datastore.Datastore {
	t.Helper()
	ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	return ds
}

// loadSnapshot loads snap into a fresh datastore, as a start does.
func loadSnapshot(t *testing.T, snap []byte) (datastore.Datastore, int, error) {
	t.Helper()
	ds := newTestDatastore(t)
	n := 0
	_, err := ds.ReadWriteTx(WithoutRelationshipChanges(t.Context()), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		var err error
		n, err = rwt.(SnapshotLoader).LoadSnapshot(ctx, snap)
		return err
	})
	return ds, n, err
}

// A snapshot loads into the same relationships, read by resource and by
// subject, including what was deleted and written again and strings of a
// repacked table; and the datastore goes on taking writes.
func TestASnapshotLoadsTheRelationshipsItWasWrittenFrom(t *testing.T) {
	ds := newTestDatastore(t)
	var rels []tuple.Relationship
	for i := range 3000 {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("document:d%04d#viewer@user:u%d", (i*7919)%3000, i%41)))
		if i%10 == 0 {
			rels = append(rels, tuple.MustParse(fmt.Sprintf("document:d%04d#editor@group:g%d#member", i, i%7)))
		}
	}
	rels = append(rels, tuple.MustParse("document:pub#viewer@user:*"), tuple.MustParse("document:z_last#viewer@user:u1"))
	writeAll(t, ds, rels)
	_, err := ds.ReadWriteTx(t.Context(), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		return rwt.WriteRelationships(ctx, []tuple.RelationshipUpdate{tuple.Delete(rels[5]), tuple.Delete(rels[6])})
	})
	require.NoError(t, err)
	wantRes, wantSub := readAll(t, ds)
	require.Len(t, wantRes, len(rels)-2)

	var buf bytes.Buffer
	n, sum, err := WriteSnapshot(ds, &buf)
	require.NoError(t, err)
	require.Equal(t, len(rels)-2, n)
	snap := buf.Bytes()
	require.Equal(t, sum, uint32(snap[len(snap)-4])|uint32(snap[len(snap)-3])<<8|uint32(snap[len(snap)-2])<<16|uint32(snap[len(snap)-1])<<24)

	loaded, got, err := loadSnapshot(t, snap)
	require.NoError(t, err)
	require.Equal(t, n, got)
	gotRes, gotSub := readAll(t, loaded)
	require.Equal(t, wantRes, gotRes)
	require.Equal(t, wantSub, gotSub)

	extra := tuple.MustParse("document:d0000#viewer@user:new")
	writeAll(t, loaded, []tuple.Relationship{extra})
	_, err = loaded.ReadWriteTx(t.Context(), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		return rwt.WriteRelationships(ctx, []tuple.RelationshipUpdate{tuple.Delete(rels[0])})
	})
	require.NoError(t, err)
	gotRes, _ = readAll(t, loaded)
	require.Len(t, gotRes, len(wantRes))
	require.Contains(t, gotRes, tuple.MustString(extra))
	require.NotContains(t, gotRes, tuple.MustString(rels[0]))

	// An empty datastore's snapshot loads too.
	buf.Reset()
	n, _, err = WriteSnapshot(newTestDatastore(t), &buf)
	require.NoError(t, err)
	require.Zero(t, n)
	_, n, err = loadSnapshot(t, buf.Bytes())
	require.NoError(t, err)
	require.Zero(t, n)
}

// A snapshot that is cut short, damaged, of another format, or loaded
// anywhere but into an empty datastore's load fails, and leaves nothing
// loaded; a head with a caveat has no snapshot.
func TestASnapshotThatIsNotWholeFailsTheLoad(t *testing.T) {
	ds := newTestDatastore(t)
	writeAll(t, ds, []tuple.Relationship{
		tuple.MustParse("document:a#viewer@user:u1"), tuple.MustParse("document:b#viewer@group:g#member"),
	})
	var buf bytes.Buffer
	_, _, err := WriteSnapshot(ds, &buf)
	require.NoError(t, err)
	snap := buf.Bytes()

	flipped := bytes.Clone(snap)
	flipped[len(snapshotMagic)+3] ^= 1
	otherFormat := append([]byte("nexus memdb snapshot 2\n"), snap[len(snapshotMagic):]...)
	for name, bad := range map[string][]byte{
		"empty":        nil,
		"cut short":    snap[:len(snap)-9],
		"a byte wrong": flipped,
		"other format": otherFormat,
		"no checksum":  snap[:len(snap)-4],
	} {
		t.Run(name, func(t *testing.T) {
			loaded, _, err := loadSnapshot(t, bad)
			require.ErrorContains(t, err, "the snapshot is not one this version wrote, or is damaged")
			got, _ := readAll(t, loaded)
			require.Empty(t, got, "nothing of it is loaded")
		})
	}

	t.Run("into a datastore that holds relationships", func(t *testing.T) {
		_, err := ds.ReadWriteTx(WithoutRelationshipChanges(t.Context()), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
			_, err := rwt.(SnapshotLoader).LoadSnapshot(ctx, snap)
			return err
		})
		require.ErrorContains(t, err, "only into an empty datastore")
	})
	t.Run("outside a load", func(t *testing.T) {
		_, err := newTestDatastore(t).ReadWriteTx(t.Context(), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
			_, err := rwt.(SnapshotLoader).LoadSnapshot(ctx, snap)
			return err
		})
		require.ErrorContains(t, err, "in a load of the whole of it")
	})
	t.Run("a head with an expiring relationship", func(t *testing.T) {
		rel := tuple.MustParse("document:c#viewer@user:u2")
		at := time.Now().Add(time.Hour)
		rel.OptionalExpiration = &at
		writeAll(t, ds, []tuple.Relationship{rel})
		_, _, err := WriteSnapshot(ds, &buf)
		require.ErrorIs(t, err, ErrNoSnapshot)
	})
}
