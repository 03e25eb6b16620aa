package memdb

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/datastore/options"
	"github.com/authzed/spicedb/pkg/tuple"
)

// The table gives one number per string, finds it again after growing,
// answers absentID for a string it does not hold, and orders numbers as
// their strings; long strings and many of them cross arena chunks.
func TestTheTableNumbersEachStringOnce(t *testing.T) {
	ids := newIDTable()
	require.Equal(t, uint32(0), ids.lookup(""), "the empty string is number 0, the least")
	var strs []string
	for i := range 20_000 {
		strs = append(strs, fmt.Sprintf("id-%d", i*7919%20_000))
	}
	strs = append(strs, strings.Repeat("x", 4000), strings.Repeat("y", arenaChunk-1), "é漢")
	got := map[string]uint32{}
	for _, s := range strs {
		got[s] = ids.intern(s)
	}
	for _, s := range strs {
		require.Equal(t, got[s], ids.intern(s), "interned again")
		require.Equal(t, got[s], ids.lookup(s))
		require.Equal(t, s, ids.str(got[s]))
	}
	require.Equal(t, len(got)+1, ids.held())
	require.Equal(t, absentID, ids.lookup("id-20000"))
	require.Equal(t, absentID, ids.lookup("id-"))
	sorted := slices.Clone(strs)
	slices.Sort(sorted)
	byNumber := slices.Clone(strs)
	slices.SortFunc(byNumber, func(a, b string) int { return ids.cmp(got[a], got[b]) })
	require.Equal(t, sorted, byNumber)
	require.Panics(t, func() { ids.intern(strings.Repeat("z", arenaChunk)) })
}

// A seek for strings no row holds (a cursor at a deleted row, an id
// prefix) lands where those strings would sort, and gives its probe
// numbers back, however many seeks run at once.
func TestSeeksForStringsNoRowHolds(t *testing.T) {
	ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	var rels []tuple.Relationship
	for i := range 100 {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("document:d%03d#viewer@user:u%d", 2*i, i%7)))
	}
	writeAll(t, ds, rels)
	head := headReader(t, ds)
	var wg sync.WaitGroup
	for g := range 2 * probeGroups {
		wg.Go(func() {
			i := g % 100
			// d%03d with an odd number: no such row; the read starts after it.
			cursor := tuple.MustParse(fmt.Sprintf("document:d%03d#viewer@user:nobody", 2*i+1))
			all, _, err := collect(head.QueryRelationships(t.Context(), datastore.RelationshipsFilter{OptionalResourceType: "document"},
				options.WithSort(options.ByResource), options.WithAfter(options.ToCursor(cursor))))
			if !assertNoError(t, err) {
				return
			}
			if len(all) != 99-i || (len(all) > 0 && !strings.HasPrefix(all[0], fmt.Sprintf("document:d%03d#", 2*i+2))) {
				t.Errorf("after %s: %d rows from %v", tuple.MustString(cursor), len(all), all[:min(1, len(all))])
			}
		})
	}
	wg.Wait()
	require.Len(t, probes.free, probeGroups, "every probe group is given back")

	prefixed, _, err := collect(head.QueryRelationships(t.Context(), datastore.RelationshipsFilter{
		OptionalResourceType: "document", OptionalResourceIDPrefix: "d01",
	}))
	require.NoError(t, err)
	require.Len(t, prefixed, 5, "d010 … d018")
	none, _, err := collect(head.QueryRelationships(t.Context(), datastore.RelationshipsFilter{
		OptionalResourceType: "document", OptionalResourceIds: []string{"d001", "nope"},
	}))
	require.NoError(t, err)
	require.Empty(t, none)
}

func assertNoError(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// Once most strings of a table (or most extras) are in no row, a repack
// interns the live rows in a new table: it holds only theirs, reads give
// what they gave, a snapshot from before keeps reading its own table, and
// writes go on in the new one.
func TestARepackDropsStringsNoRowHolds(t *testing.T) {
	defer func(m int) { reinternMin = m }(reinternMin)
	reinternMin = 100
	ctx := t.Context()
	ds, err := NewMemdbDatastore(0, time.Millisecond, time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { ds.Close() })
	mdb := ds.(*memdbDatastore)

	var rels []tuple.Relationship
	for i := range 1000 {
		s := fmt.Sprintf("document:d%d#viewer@user:u%d", i, i)
		if i%2 == 0 {
			s += "[expiration:2100-01-01T00:00:00Z]"
		}
		rels = append(rels, tuple.MustParse(s))
	}
	writeAll(t, ds, rels)
	full, err := ds.HeadRevision(ctx)
	require.NoError(t, err)
	_, err = ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		var us []tuple.RelationshipUpdate
		for _, r := range rels[100:] {
			us = append(us, tuple.Delete(r))
		}
		return rwt.WriteRelationships(ctx, us)
	})
	require.NoError(t, err)

	read := func(r datastore.Reader) []string {
		all, _, err := collect(r.QueryRelationships(ctx, datastore.RelationshipsFilter{OptionalResourceType: "document"}, options.WithSort(options.ByResource)))
		require.NoError(t, err)
		rev, _, err := collect(r.ReverseQueryRelationships(ctx, datastore.SubjectsFilter{SubjectType: "user"}))
		require.NoError(t, err)
		slices.Sort(rev)
		require.Equal(t, slices.Sorted(slices.Values(all)), rev, "both trees hold the same rows")
		return all
	}
	want := read(headReader(t, ds))
	require.Len(t, want, 100)
	require.Contains(t, want, tuple.MustString(rels[0]), "with its expiration")
	mdb.RLock()
	old := mdb.rels.ids
	mdb.RUnlock()
	require.Greater(t, old.held(), 2000)

	mdb.repack(time.Now())
	mdb.RLock()
	fresh := mdb.rels.ids
	mdb.RUnlock()
	require.NotSame(t, old, fresh, "a new table")
	require.Equal(t, 1+4+200, fresh.held(), `"", document, viewer, user, "..." and 200 ids`)
	require.Equal(t, uint32(50), fresh.extras.n)
	require.Equal(t, want, read(headReader(t, ds)))
	require.Len(t, read(ds.SnapshotReader(full.Revision)), 1000, "a snapshot from before reads its own table")

	writeAll(t, ds, []tuple.Relationship{tuple.MustParse("document:d5#viewer@user:u999"), tuple.MustParse("document:zz#viewer@user:u0")})
	after := read(headReader(t, ds))
	require.Len(t, after, 102)
	require.Equal(t, "document:zz#viewer@user:u0", after[101])
}
