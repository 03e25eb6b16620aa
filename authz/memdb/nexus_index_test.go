package memdb

// nexus: tests and benchmarks of the index-aware lookups (nexus_index.go),
// against SpiceDB's own memdb as the reference. The conformance suite in
// memdb_test.go checks the datastore contract; this file checks that the fork
// answers exactly as upstream does, in the same order, including limits,
// cursors and delete limits, which the suite does not pin down for every
// filter shape.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"

	dscfg "github.com/authzed/spicedb/pkg/cmd/datastore"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/datastore/options"
	"github.com/authzed/spicedb/pkg/tuple"
)

const upstreamMemdbPkg = "github.com/authzed/spicedb/internal/datastore/memdb"

// newUpstream returns SpiceDB's own in-memory datastore, checking that linking
// this fork did not replace it.
func newUpstream(tb testing.TB) datastore.Datastore {
	tb.Helper()
	ds, err := dscfg.NewDatastore(tb.Context(),
		dscfg.WithEngine(dscfg.MemoryEngine),
		dscfg.WithRevisionQuantization(0),
		dscfg.WithGCWindow(time.Hour),
	)
	require.NoError(tb, err)
	require.Equal(tb, upstreamMemdbPkg, reflect.TypeOf(ds).Elem().PkgPath(), "the memory engine is not upstream's")
	tb.Cleanup(func() { _ = ds.Close() })
	return ds
}

func newFork(tb testing.TB) datastore.Datastore {
	tb.Helper()
	ds, err := NewMemdbDatastore(0, 0, time.Hour)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = ds.Close() })
	return ds
}

func TestNexusEngineRegistration(t *testing.T) {
	ds, err := dscfg.NewDatastore(t.Context(), dscfg.WithEngine(NexusEngine), dscfg.WithGCWindow(time.Hour))
	require.NoError(t, err)
	defer ds.Close()
	require.Equal(t, reflect.TypeOf(&memdbDatastore{}), reflect.TypeOf(ds))
	newUpstream(t)
}

func writeAll(tb testing.TB, ds datastore.Datastore, rels []tuple.Relationship) {
	tb.Helper()
	for chunk := range slices.Chunk(rels, 500) {
		_, err := ds.ReadWriteTx(tb.Context(), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
			updates := make([]tuple.RelationshipUpdate, len(chunk))
			for i, r := range chunk {
				updates[i] = tuple.Touch(r)
			}
			return rwt.WriteRelationships(ctx, updates)
		})
		require.NoError(tb, err)
	}
}

func headReader(tb testing.TB, ds datastore.Datastore) datastore.Reader {
	tb.Helper()
	head, err := ds.HeadRevision(tb.Context())
	require.NoError(tb, err)
	return ds.SnapshotReader(head.Revision)
}

func collect(it datastore.RelationshipIterator, err error) ([]string, *tuple.Relationship, error) {
	if err != nil {
		return nil, nil, err
	}
	var out []string
	var last *tuple.Relationship
	for rel, err := range it {
		if err != nil {
			return nil, nil, err
		}
		out = append(out, tuple.MustString(rel))
		last = &rel
	}
	return out, last, nil
}

// diffWorld is a small world whose ids are chosen so that string order and
// insertion order disagree and some ids are prefixes of others.
type diffWorld struct {
	resTypes, resIDs, relations, subjectIDs []string
	rels                                    []tuple.Relationship
}

func newDiffWorld(rng *rand.Rand) *diffWorld {
	w := &diffWorld{
		resTypes:   []string{"doc", "folder"},
		resIDs:     []string{"a", "ab", "a_b", "a-b", "b", "b/c", "B", "1", "z", "missing"},
		relations:  []string{"viewer", "editor", "parent", "owner"},
		subjectIDs: []string{"u0", "u1", "u10", "u2", "*", "g0", "g1", "a", "ab", "b", "missing"},
	}
	for i := range 20 {
		w.resIDs = append(w.resIDs, fmt.Sprintf("x%d", i))
	}
	var writeIDs []string
	for _, id := range w.resIDs {
		if id != "missing" {
			writeIDs = append(writeIDs, id)
		}
	}
	seen := map[string]bool{}
	now := time.Now()
	for len(w.rels) < 1500 {
		res := pick(rng, w.resTypes) + ":" + pick(rng, writeIDs) + "#" + pick(rng, w.relations)
		var sub string
		switch rng.IntN(6) {
		case 0, 1:
			sub = "user:" + pick(rng, []string{"u0", "u1", "u10", "u2", "u3", "*"})
		case 2:
			sub = "group:" + pick(rng, []string{"g0", "g1", "g2"}) + "#member"
		case 3:
			sub = "group:" + pick(rng, []string{"g0", "g1", "a"})
		case 4:
			sub = "folder:" + pick(rng, []string{"a", "ab", "b", "x1"})
		case 5:
			sub = "doc:" + pick(rng, []string{"a", "b"}) + "#" + pick(rng, []string{"viewer", "owner"})
		}
		s := res + "@" + sub
		if seen[s] || sub == "user:*" && rng.IntN(2) == 0 {
			continue
		}
		seen[s] = true
		rel := tuple.MustParse(s)
		switch rng.IntN(10) {
		case 0:
			rel = tuple.MustWithCaveat(rel, "c1", map[string]any{"a": 1})
		case 1:
			rel = tuple.MustWithCaveat(rel, "c2")
		case 2:
			rel = tuple.MustWithExpiration(rel, now.Add(time.Hour).Truncate(time.Second))
		case 3:
			rel = tuple.MustWithExpiration(rel, now.Add(-time.Hour).Truncate(time.Second))
		}
		w.rels = append(w.rels, rel)
	}
	rng.Shuffle(len(w.rels), func(i, j int) { w.rels[i], w.rels[j] = w.rels[j], w.rels[i] })
	return w
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func picks(rng *rand.Rand, xs []string, maxN int) []string {
	n := 1 + rng.IntN(maxN)
	out := make([]string, n)
	for i := range out {
		out[i] = pick(rng, xs)
	}
	return out
}

func randomRelationFilter(rng *rand.Rand) datastore.SubjectRelationFilter {
	rf := datastore.SubjectRelationFilter{}
	switch rng.IntN(6) {
	case 0:
		return rf
	case 1:
		return rf.WithEllipsisRelation()
	case 2:
		return rf.WithNonEllipsisRelation(pick(rng, []string{"member", "viewer", "owner"}))
	case 3:
		return rf.WithEllipsisRelation().WithNonEllipsisRelation("member")
	case 4:
		return rf.WithOnlyNonEllipsisRelations()
	default:
		return rf.WithRelation(pick(rng, []string{tuple.Ellipsis, "member"}))
	}
}

func (w *diffWorld) randomSelector(rng *rand.Rand) datastore.SubjectsSelector {
	sel := datastore.SubjectsSelector{RelationFilter: randomRelationFilter(rng)}
	if rng.IntN(10) > 0 {
		sel.OptionalSubjectType = pick(rng, []string{"user", "group", "folder", "doc"})
	}
	if rng.IntN(10) < 7 {
		sel.OptionalSubjectIds = picks(rng, w.subjectIDs, 3)
	}
	return sel
}

func (w *diffWorld) randomFilter(rng *rand.Rand) datastore.RelationshipsFilter {
	var f datastore.RelationshipsFilter
	if rng.IntN(10) < 8 {
		f.OptionalResourceType = pick(rng, w.resTypes)
	}
	if rng.IntN(10) < 6 {
		f.OptionalResourceIds = picks(rng, w.resIDs, 4)
	}
	if rng.IntN(2) == 0 {
		f.OptionalResourceRelation = pick(rng, w.relations)
	}
	if rng.IntN(10) == 0 {
		f.OptionalResourceIDPrefix = pick(rng, []string{"a", "x1"})
	}
	if rng.IntN(2) == 0 {
		for range 1 + rng.IntN(2) {
			f.OptionalSubjectsSelectors = append(f.OptionalSubjectsSelectors, w.randomSelector(rng))
		}
	}
	switch rng.IntN(10) {
	case 0:
		f.OptionalCaveatNameFilter = datastore.WithCaveatName("c1")
	case 1:
		f.OptionalCaveatNameFilter = datastore.WithNoCaveat()
	}
	switch rng.IntN(10) {
	case 0:
		f.OptionalExpirationOption = datastore.ExpirationFilterOptionHasExpiration
	case 1:
		f.OptionalExpirationOption = datastore.ExpirationFilterOptionNoExpiration
	}
	return f
}

var sortOrders = []options.SortOrder{options.Unsorted, options.ByResource, options.BySubject, options.ChooseEfficient}

func TestNexusIndexMatchesUpstream(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	w := newDiffWorld(rng)
	up, fork := newUpstream(t), newFork(t)
	writeAll(t, up, w.rels)
	writeAll(t, fork, w.rels)
	ctx := t.Context()

	t.Run("QueryRelationships", func(t *testing.T) {
		upR, forkR := headReader(t, up), headReader(t, fork)
		nonEmpty := 0
		for i := range 4000 {
			f := w.randomFilter(rng)
			sortOrder := pick(rng, sortOrders)
			var opts []options.QueryOptionsOption
			opts = append(opts, options.WithSort(sortOrder), options.WithSkipCaveats(rng.IntN(5) == 0), options.WithSkipExpiration(rng.IntN(5) == 0))
			if rng.IntN(3) == 0 {
				limit := uint64(1 + rng.IntN(5))
				opts = append(opts, options.WithLimit(&limit))
			}
			want, _, wantErr := collect(upR.QueryRelationships(ctx, f, opts...))
			got, _, gotErr := collect(forkR.QueryRelationships(ctx, f, opts...))
			require.Equal(t, wantErr, gotErr, "query %d: %+v", i, f)
			require.Equal(t, want, got, "query %d: %+v sort %v", i, f, sortOrder)
			if len(want) > 0 {
				nonEmpty++
			}

			// Page through with cursors, as the pagination callers do.
			if sortOrder == options.Unsorted {
				continue
			}
			full, _, err := collect(upR.QueryRelationships(ctx, f, options.WithSort(sortOrder)))
			require.NoError(t, err)
			pageSize := uint64(1+rng.IntN(3)) + uint64(len(full)/8)
			var cursor options.Cursor
			var upAll, forkAll []string
			for page := 0; ; page++ {
				require.Less(t, page, 2000)
				popts := []options.QueryOptionsOption{options.WithSort(sortOrder), options.WithLimit(&pageSize), options.WithAfter(cursor)}
				upPage, upLast, err := collect(upR.QueryRelationships(ctx, f, popts...))
				require.NoError(t, err)
				forkPage, _, err := collect(forkR.QueryRelationships(ctx, f, popts...))
				require.NoError(t, err)
				require.Equal(t, upPage, forkPage, "query %d page %d: %+v sort %v", i, page, f, sortOrder)
				upAll, forkAll = append(upAll, upPage...), append(forkAll, forkPage...)
				if upLast == nil {
					break
				}
				cursor = options.ToCursor(*upLast)
			}
			require.Equal(t, upAll, forkAll)
			require.Equal(t, full, upAll)
		}
		require.Greater(t, nonEmpty, 1000, "too few queries matched anything for the comparison to mean much")
	})

	t.Run("ReverseQueryRelationships", func(t *testing.T) {
		upR, forkR := headReader(t, up), headReader(t, fork)
		nonEmpty := 0
		for i := range 3000 {
			sf := datastore.SubjectsFilter{
				SubjectType:    pick(rng, []string{"user", "group", "folder", "doc"}),
				RelationFilter: randomRelationFilter(rng),
			}
			if rng.IntN(10) < 8 {
				sf.OptionalSubjectIds = picks(rng, w.subjectIDs, 3)
			}
			sortOrder := pick(rng, sortOrders)
			base := []options.ReverseQueryOptionsOption{options.WithSortForReverse(sortOrder), options.WithSkipCaveatsForReverse(rng.IntN(5) == 0)}
			if rng.IntN(2) == 0 {
				base = append(base, options.WithResRelation(&options.ResourceRelation{Namespace: pick(rng, w.resTypes), Relation: pick(rng, w.relations)}))
			}
			opts := base
			if rng.IntN(3) == 0 {
				limit := uint64(1 + rng.IntN(5))
				opts = append(slices.Clone(base), options.WithLimitForReverse(&limit))
			}
			want, _, wantErr := collect(upR.ReverseQueryRelationships(ctx, sf, opts...))
			got, _, gotErr := collect(forkR.ReverseQueryRelationships(ctx, sf, opts...))
			require.Equal(t, wantErr, gotErr)
			require.Equal(t, want, got, "reverse %d: %+v sort %v", i, sf, sortOrder)
			if len(want) > 0 {
				nonEmpty++
			}

			if sortOrder == options.Unsorted {
				continue
			}
			full, _, err := collect(upR.ReverseQueryRelationships(ctx, sf, base...))
			require.NoError(t, err)
			pageSize := uint64(1+rng.IntN(3)) + uint64(len(full)/8)
			var cursor options.Cursor
			for page := 0; ; page++ {
				require.Less(t, page, 2000)
				popts := append(slices.Clone(base), options.WithLimitForReverse(&pageSize), options.WithAfterForReverse(cursor))
				upPage, upLast, err := collect(upR.ReverseQueryRelationships(ctx, sf, popts...))
				require.NoError(t, err)
				forkPage, _, err := collect(forkR.ReverseQueryRelationships(ctx, sf, popts...))
				require.NoError(t, err)
				require.Equal(t, upPage, forkPage, "reverse %d page %d: %+v sort %v", i, page, sf, sortOrder)
				if upLast == nil {
					break
				}
				cursor = options.ToCursor(*upLast)
			}
		}
		require.Greater(t, nonEmpty, 1000)
	})

	t.Run("DeleteRelationships", func(t *testing.T) {
		all := func(ds datastore.Datastore) []string {
			r := headReader(t, ds)
			var out []string
			for _, rt := range w.resTypes {
				rels, _, err := collect(r.QueryRelationships(ctx, datastore.RelationshipsFilter{OptionalResourceType: rt}, options.WithSort(options.ByResource), options.WithSkipExpiration(true)))
				require.NoError(t, err)
				out = append(out, rels...)
			}
			return out
		}
		for i := range 200 {
			pf := &v1.RelationshipFilter{ResourceType: pick(rng, w.resTypes)}
			if rng.IntN(10) < 7 {
				pf.OptionalResourceId = pick(rng, w.resIDs)
			}
			if rng.IntN(2) == 0 {
				pf.OptionalRelation = pick(rng, w.relations)
			}
			if rng.IntN(2) == 0 {
				sf := &v1.SubjectFilter{SubjectType: pick(rng, []string{"user", "group", "folder"})}
				if rng.IntN(10) < 8 {
					sf.OptionalSubjectId = pick(rng, w.subjectIDs)
				}
				if rng.IntN(2) == 0 {
					sf.OptionalRelation = &v1.SubjectFilter_RelationFilter{Relation: pick(rng, []string{"", "member"})}
				}
				pf.OptionalSubjectFilter = sf
			}
			limit := uint64(1 + rng.IntN(3))
			del := func(ds datastore.Datastore) (uint64, bool) {
				var n uint64
				var limited bool
				_, err := ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) (err error) {
					n, limited, err = rwt.DeleteRelationships(ctx, pf, options.WithDeleteLimit(&limit))
					return err
				})
				require.NoError(t, err)
				return n, limited
			}
			wantN, wantLimited := del(up)
			gotN, gotLimited := del(fork)
			require.Equal(t, wantN, gotN, "delete %d: %v", i, pf)
			require.Equal(t, wantLimited, gotLimited, "delete %d: %v", i, pf)
			require.Equal(t, all(up), all(fork), "after delete %d: %v", i, pf)
		}
	})
}

// checkWorld mirrors the shape of bench's check_uncached world: files, each
// with a parent folder, a few direct viewers, groups on folders.
func checkWorld(files int) []tuple.Relationship {
	rng := rand.New(rand.NewPCG(1, 2))
	folders := max(1, files/8)
	var rels []tuple.Relationship
	for i := range folders {
		if i > 0 {
			rels = append(rels, tuple.MustParse(fmt.Sprintf("folder:f%d#parent@folder:f%d", i, rng.IntN(i))))
		}
		rels = append(rels, tuple.MustParse(fmt.Sprintf("folder:f%d#viewer@group:g%d#member", i, rng.IntN(8))))
	}
	for i := range files {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("file:file%d#parent@folder:f%d", i, rng.IntN(folders))))
		if i%3 == 0 {
			rels = append(rels, tuple.MustParse(fmt.Sprintf("file:file%d#viewer@user:u%d", i, rng.IntN(240))))
		}
		if i%5 == 0 {
			rels = append(rels, tuple.MustParse(fmt.Sprintf("file:file%d#editor@group:g%d#member", i, rng.IntN(8))))
		}
	}
	for i := range 240 {
		rels = append(rels, tuple.MustParse(fmt.Sprintf("group:g%d#member@user:u%d", i%8, i)))
	}
	return rels
}

// BenchmarkCheckLikeQuery times, on upstream's memdb and on this fork side by
// side, the datastore queries a check of file:F#read@user:U makes: F's parent,
// F's direct viewers restricted to U, and (for lookups) the reverse query from U.
//
//	go test ./authz/memdb -run '^$' -bench CheckLikeQuery -benchtime 20000x
func BenchmarkCheckLikeQuery(b *testing.B) {
	for _, files := range []int{2_000, 20_000} {
		rels := checkWorld(files)
		for _, engine := range []string{"upstream", "fork"} {
			var ds datastore.Datastore
			if engine == "upstream" {
				ds = newUpstream(b)
			} else {
				ds = newFork(b)
			}
			writeAll(b, ds, rels)
			reader := headReader(b, ds)
			ctx := context.Background()

			run := func(name string, query func(i int) (datastore.RelationshipIterator, error)) {
				b.Run(fmt.Sprintf("files=%d/%s/%s", files, name, engine), func(b *testing.B) {
					for i := 0; b.Loop(); i++ {
						it, err := query(i)
						if err != nil {
							b.Fatal(err)
						}
						for _, err := range it {
							if err != nil {
								b.Fatal(err)
							}
						}
					}
				})
			}
			run("parent", func(i int) (datastore.RelationshipIterator, error) {
				return reader.QueryRelationships(ctx, datastore.RelationshipsFilter{
					OptionalResourceType:     "file",
					OptionalResourceIds:      []string{fmt.Sprintf("file%d", i%files)},
					OptionalResourceRelation: "parent",
				})
			})
			run("direct", func(i int) (datastore.RelationshipIterator, error) {
				return reader.QueryRelationships(ctx, datastore.RelationshipsFilter{
					OptionalResourceType:     "file",
					OptionalResourceIds:      []string{fmt.Sprintf("file%d", i%files)},
					OptionalResourceRelation: "viewer",
					OptionalSubjectsSelectors: []datastore.SubjectsSelector{{
						OptionalSubjectType: "user",
						OptionalSubjectIds:  []string{fmt.Sprintf("u%d", i%240)},
						RelationFilter:      datastore.SubjectRelationFilter{}.WithEllipsisRelation(),
					}},
				})
			})
			run("reverse", func(i int) (datastore.RelationshipIterator, error) {
				return reader.ReverseQueryRelationships(ctx, datastore.SubjectsFilter{
					SubjectType:        "user",
					OptionalSubjectIds: []string{fmt.Sprintf("u%d", i%240)},
					RelationFilter:     datastore.SubjectRelationFilter{}.WithEllipsisRelation(),
				}, options.WithResRelation(&options.ResourceRelation{Namespace: "file", Relation: "viewer"}))
			})
		}
	}
}
