package memdb

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/tuple"
)

// BenchmarkHeapPerRelationship reports the Go heap the datastore holds per
// relationship, after a collection: loaded as a restart loads the log (one
// transaction in order, WithoutRelationshipChanges), and written in
// transactions of 500 as a service writes them, then repacked. The world
// is bench/scale.go's shape: documents in folders, viewers (users and
// nested groups). Run it on two commits side by side:
//
//	go test ./authz/memdb -run '^$' -bench HeapPerRelationship -benchtime 1x
func BenchmarkHeapPerRelationship(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		rels := scaleLikeWorld(n)
		for _, how := range []string{"loaded", "written"} {
			b.Run(fmt.Sprintf("relationships=%d/%s", n, how), func(b *testing.B) {
				for b.Loop() {
					before := heapInUse()
					ds, err := NewMemdbDatastore(0, time.Millisecond, time.Millisecond)
					if err != nil {
						b.Fatal(err)
					}
					if how == "loaded" {
						load(b, ds, rels)
					} else {
						writeAll(b, ds, rels)
						if mdb, ok := ds.(*memdbDatastore); ok {
							mdb.repack(time.Now())
						}
					}
					b.ReportMetric(float64(heapInUse()-before)/float64(n), "heap-B/rel")
					runtime.KeepAlive(ds)
					ds.Close()
				}
			})
		}
	}
}

// load writes rels in one transaction in byResource order, as a restart
// does.
func load(tb testing.TB, ds datastore.Datastore, rels []tuple.Relationship) {
	tb.Helper()
	sorted := slices.Clone(rels)
	slices.SortFunc(sorted, func(a, b tuple.Relationship) int {
		return compareByID(&relationship{a.Resource.ObjectType, a.Resource.ObjectID, a.Resource.Relation,
			a.Subject.ObjectType, a.Subject.ObjectID, a.Subject.Relation, nil, nil, nil},
			&relationship{b.Resource.ObjectType, b.Resource.ObjectID, b.Resource.Relation,
				b.Subject.ObjectType, b.Subject.ObjectID, b.Subject.Relation, nil, nil, nil})
	})
	_, err := ds.ReadWriteTx(WithoutRelationshipChanges(tb.Context()), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		for chunk := range slices.Chunk(sorted, 5000) {
			updates := make([]tuple.RelationshipUpdate, len(chunk))
			for i, r := range chunk {
				updates[i] = tuple.Touch(r)
			}
			if err := rwt.WriteRelationships(ctx, updates); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// scaleLikeWorld is n relationships shaped as bench/scale.go's world.
func scaleLikeWorld(n int) []tuple.Relationship {
	users, groups, folders, docs := max(n/50, 100), max(n/1000, 10), max(n/100, 10), n/2
	rels := make([]tuple.Relationship, 0, n)
	for d := 0; d < docs && len(rels) < n; d++ {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("scaledoc:doc-%d#parent@scalefolder:folder-%d", d, d%folders)))
	}
	for i := 0; len(rels) < n; i++ {
		switch {
		case i%100 == 0:
			rels = append(rels, tuple.MustParse(fmt.Sprintf("scalegroup:group-%d#member@scaleuser:user-%d", i%groups, i%users)))
		case i%10 == 0:
			rels = append(rels, tuple.MustParse(fmt.Sprintf("scaledoc:doc-%d#viewer@scalegroup:group-%d#member", i%docs, i%groups)))
		default:
			rels = append(rels, tuple.MustParse(fmt.Sprintf("scaledoc:doc-%d#viewer@scaleuser:user-%d", i%docs, (i*7)%users)))
		}
	}
	return rels
}
