package authz

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nexus "github.com/nexus-authz/nexus"
)

// countingPerms fails the nth bulk check (counted from the last reset),
// answers bulk checks short, or fails lookups, on demand.
type countingPerms struct {
	v1.PermissionsServiceClient
	bulks      atomic.Int32
	failBulkAt atomic.Int32 // 0: never
	short      atomic.Bool
	failLookup atomic.Int32 // 1: the call fails; 2: the stream fails after one answer
}

var errDownStatus = status.Error(codes.Unavailable, "injected: engine unreachable")

func (f *countingPerms) CheckBulkPermissions(ctx context.Context, in *v1.CheckBulkPermissionsRequest, opts ...grpc.CallOption) (*v1.CheckBulkPermissionsResponse, error) {
	n := f.bulks.Add(1)
	if at := f.failBulkAt.Load(); at != 0 && n == at {
		return nil, errDownStatus
	}
	resp, err := f.PermissionsServiceClient.CheckBulkPermissions(ctx, in, opts...)
	if err == nil && f.short.Load() && len(resp.Pairs) > 0 {
		resp.Pairs = resp.Pairs[:len(resp.Pairs)-1]
	}
	return resp, err
}

type failingStream[T any] struct {
	grpc.ServerStreamingClient[T]
	n int
}

func (s *failingStream[T]) Recv() (*T, error) {
	if s.n++; s.n > 1 {
		return nil, errDownStatus
	}
	return s.ServerStreamingClient.Recv()
}

func (f *countingPerms) LookupResources(ctx context.Context, in *v1.LookupResourcesRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[v1.LookupResourcesResponse], error) {
	switch f.failLookup.Load() {
	case 1:
		return nil, errDownStatus
	case 2:
		s, err := f.PermissionsServiceClient.LookupResources(ctx, in, opts...)
		return &failingStream[v1.LookupResourcesResponse]{ServerStreamingClient: s}, err
	}
	return f.PermissionsServiceClient.LookupResources(ctx, in, opts...)
}

func (f *countingPerms) LookupSubjects(ctx context.Context, in *v1.LookupSubjectsRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[v1.LookupSubjectsResponse], error) {
	switch f.failLookup.Load() {
	case 1:
		return nil, errDownStatus
	case 2:
		s, err := f.PermissionsServiceClient.LookupSubjects(ctx, in, opts...)
		return &failingStream[v1.LookupSubjectsResponse]{ServerStreamingClient: s}, err
	}
	return f.PermissionsServiceClient.LookupSubjects(ctx, in, opts...)
}

func countingEngine(t *testing.T) (*Engine, *countingPerms) {
	fp := &countingPerms{}
	e, err := New(context.Background(), Config{Schema: nexus.Schema, Cache: CacheConfig{Disabled: true},
		testClients: func(p v1.PermissionsServiceClient, w v1.WatchServiceClient) (v1.PermissionsServiceClient, v1.WatchServiceClient) {
			fp.PermissionsServiceClient = p
			return fp, w
		}})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e, fp
}

// TestIsolationFailsClosed: while a bulk check isolates the items the
// engine could not decide, an engine failure fails the whole call — no
// item is answered from a half-finished isolation — and once the engine
// answers every call, each item gets its own answer.
func TestIsolationFailsClosed(t *testing.T) {
	ctx := context.Background()
	e, fp := countingEngine(t)
	deep, tok := deepChain(t, e, 60)
	member := Subject("user", "deep_member")
	ok := CheckItem{Resource: Obj("folder", "shallow"), Permission: "read", Subject: member}
	tooDeep := CheckItem{Resource: deep, Permission: "read", Subject: member}
	bad := CheckItem{Resource: Obj("folder", "shallow"), Permission: "nosuchperm", Subject: member}
	owner := CheckItem{Resource: Obj("folder", "deep_0"), Permission: "read", Subject: Subject("user", "deep_owner")}

	for name, items := range map[string][]CheckItem{
		"every item failed at first": {ok, tooDeep, bad},
		"some items failed at first": {ok, tooDeep, bad, owner},
	} {
		t.Run(name, func(t *testing.T) {
			failures := 0
			for at := int32(2); ; at++ {
				require.Less(t, at, int32(50), "isolation never finished")
				fp.bulks.Store(0)
				fp.failBulkAt.Store(at)
				ds, err := e.CheckBulk(ctx, items, AtLeastAsFresh(tok))
				if err != nil {
					require.ErrorIs(t, err, ErrUnavailable, "call %d failed", at)
					require.Nil(t, ds)
					failures++
					continue
				}
				require.GreaterOrEqual(t, failures, 3, "isolation took several calls, each of which could fail")
				require.True(t, ds[0].Allowed)
				require.NoError(t, ds[0].Err)
				require.False(t, ds[1].Allowed)
				require.ErrorIs(t, ds[1].Err, ErrInvalid)
				require.False(t, ds[2].Allowed)
				require.ErrorIs(t, ds[2].Err, ErrInvalid)
				if len(ds) > 3 {
					require.True(t, ds[3].Allowed)
					require.NoError(t, ds[3].Err)
				}
				break
			}
		})
	}
	fp.failBulkAt.Store(0)

	t.Run("an answer short of the items", func(t *testing.T) {
		fp.short.Store(true)
		defer fp.short.Store(false)
		_, err := e.CheckBulk(ctx, []CheckItem{ok, owner}, AtLeastAsFresh(tok))
		require.ErrorIs(t, err, ErrEngine)
		require.Contains(t, err.Error(), "1 answers for 2 items")
	})
}

// TestLookupFailures: a lookup the engine fails, at the call or part way
// through its stream, is an error, never a partial list.
func TestLookupFailures(t *testing.T) {
	ctx := context.Background()
	e, fp := countingEngine(t)
	var ups []Update
	for i := range 3 {
		ups = append(ups, TouchRel(Rel(Obj("group", fmt.Sprintf("g%d", i)), "member", Subject("user", "alice"))))
		ups = append(ups, TouchRel(Rel(Obj("group", "g0"), "member", Subject("user", fmt.Sprintf("u%d", i)))))
	}
	_, err := e.Write(ctx, ups)
	require.NoError(t, err)
	for _, mode := range []int32{1, 2} {
		fp.failLookup.Store(mode)
		ids, err := e.LookupResources(ctx, "group", "membership", Subject("user", "alice"), FullyConsistent())
		require.ErrorIs(t, err, ErrUnavailable, "mode %d", mode)
		require.Nil(t, ids)
		ids, err = e.LookupSubjects(ctx, Obj("group", "g0"), "membership", "user", "", FullyConsistent())
		require.ErrorIs(t, err, ErrUnavailable, "mode %d", mode)
		require.Nil(t, ids)
	}
	fp.failLookup.Store(0)
	ids, err := e.LookupResources(ctx, "group", "membership", Subject("user", "alice"), FullyConsistent())
	require.NoError(t, err)
	require.Len(t, ids, 3)

	// A lookup stopped past a limit says there is more.
	ids, _, more, err := e.lookupResources(ctx, "group", "membership", Subject("user", "alice"), FullyConsistent().proto(), 1)
	require.NoError(t, err)
	require.True(t, more)
	require.Len(t, ids, 3, "the page read is returned whole")
}

// TestFailedAccessibleSetsLeaveAnswersToTheEngine: an accessible set that
// cannot be built — its subject reaches more than MaxSetSize resources, or
// the lookup fails — is marked failed and not retried at once, and every
// bulk check is still answered, correctly, by the engine.
func TestFailedAccessibleSetsLeaveAnswersToTheEngine(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		maxSet     int
		failLookup int32
	}{
		"too large":         {maxSet: 2},
		"the lookup failed": {failLookup: 1},
	} {
		t.Run(name, func(t *testing.T) {
			fp := &countingPerms{}
			fp.failLookup.Store(tc.failLookup)
			e := cachedEngine(t, Config{Cache: CacheConfig{MaxSetSize: tc.maxSet},
				testClients: func(p v1.PermissionsServiceClient, w v1.WatchServiceClient) (v1.PermissionsServiceClient, v1.WatchServiceClient) {
					fp.PermissionsServiceClient = p
					return fp, w
				}})
			alice := Subject("user", "alice")
			var ups []Update
			var items []CheckItem
			for i := range 20 {
				g := Obj("group", fmt.Sprintf("g%d", i))
				if i%4 == 0 {
					ups = append(ups, TouchRel(Rel(g, "member", alice)))
				}
				items = append(items, CheckItem{Resource: g, Permission: "membership", Subject: alice})
			}
			tok, err := e.Write(ctx, ups)
			require.NoError(t, err)
			caughtUp(t, e, tok)
			check := func() {
				t.Helper()
				ds, err := e.CheckBulk(ctx, items, AtLeastAsFresh(tok))
				require.NoError(t, err)
				for i, d := range ds {
					require.Equal(t, i%4 == 0, d.Allowed, "group %d", i)
				}
			}
			check()
			require.Eventually(t, func() bool { return e.cache.sets.failed.Load() >= 1 }, 10*time.Second, time.Millisecond,
				"the set's build never failed")
			check()
			check()
			require.Equal(t, uint64(1), e.cache.sets.failed.Load(), "a failed set is not built again at once")
			require.Zero(t, e.CacheStats().SetAnswers)
		})
	}
}
