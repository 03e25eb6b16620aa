package authz

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// gatedPerms holds every CheckPermission until its gate opens, and counts
// the calls that reached the engine.
type gatedPerms struct {
	v1.PermissionsServiceClient
	mu    sync.Mutex
	gate  chan struct{}
	calls atomic.Int64
}

// hold makes checks wait until open.
func (g *gatedPerms) hold() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedPerms) open() {
	g.mu.Lock()
	close(g.gate)
	g.mu.Unlock()
}

func (g *gatedPerms) CheckPermission(ctx context.Context, in *v1.CheckPermissionRequest, opts ...grpc.CallOption) (*v1.CheckPermissionResponse, error) {
	g.calls.Add(1)
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.PermissionsServiceClient.CheckPermission(ctx, in, opts...)
}

func gatedEngine(t *testing.T, adm AdmissionConfig) (*Engine, *gatedPerms) {
	g := &gatedPerms{gate: make(chan struct{})}
	close(g.gate) // open until held
	e := cachedEngine(t, Config{
		Admission: adm,
		testClients: func(p v1.PermissionsServiceClient, w v1.WatchServiceClient) (v1.PermissionsServiceClient, v1.WatchServiceClient) {
			g.PermissionsServiceClient = p
			return g, w
		},
	})
	return e, g
}

// TestOverloadIsShedNotQueued: with every engine slot taken and the queue
// full, a miss is refused at once with ErrOverloaded; one that waits longer
// than MaxWait is refused too; cached decisions are still answered; and
// once the engine frees up, calls are admitted again.
func TestOverloadIsShedNotQueued(t *testing.T) {
	e, g := gatedEngine(t, AdmissionConfig{MaxInFlight: 1, MaxQueue: 1, MaxWait: 200 * time.Millisecond})
	ctx := context.Background()
	cachedAllow(t, e)
	g.hold()

	bob := func(i int) CheckItem {
		return CheckItem{Resource: Obj("file", fmt.Sprintf("b%d", i)), Permission: "read", Subject: Subject("user", "bob")}
	}
	held := make(chan error, 1)
	go func() { _, err := e.Check(ctx, bob(1), MinimizeLatency()); held <- err }()
	require.Eventually(t, func() bool { return e.AdmissionStats().InFlight == 1 }, 10*time.Second, time.Millisecond)
	queued := make(chan error, 1)
	go func() { _, err := e.Check(ctx, bob(2), MinimizeLatency()); queued <- err }()
	require.Eventually(t, func() bool { return e.AdmissionStats().Queued == 1 }, 10*time.Second, time.Millisecond)

	start := time.Now()
	d, err := e.Check(ctx, bob(3), MinimizeLatency())
	require.ErrorIs(t, err, ErrOverloaded, "a full queue must shed")
	require.False(t, d.Allowed)
	require.Less(t, time.Since(start), 200*time.Millisecond, "shed at once, not after waiting")
	_, err = e.CheckBulk(ctx, []CheckItem{bob(4), bob(5)}, MinimizeLatency())
	require.ErrorIs(t, err, ErrOverloaded)

	// The queued call gives up after MaxWait.
	require.ErrorIs(t, <-queued, ErrOverloaded)

	// A hit needs no slot.
	d, err = e.Check(ctx, aliceR, MinimizeLatency())
	require.NoError(t, err)
	require.True(t, d.Allowed, "a cached decision was not served while the engine was saturated")

	g.open()
	require.NoError(t, <-held)
	d, err = e.Check(ctx, bob(6), MinimizeLatency())
	require.NoError(t, err)
	require.False(t, d.Allowed)
}

// TestIdenticalMissesShareOneEvaluation: concurrent misses of the same
// question at the same freshness reach the engine once (the lock table);
// a question asked after a write was processed does not share an
// evaluation begun before it.
func TestIdenticalMissesShareOneEvaluation(t *testing.T) {
	e, g := gatedEngine(t, AdmissionConfig{})
	ctx := context.Background()
	grant, err := e.Write(ctx, []Update{TouchRel(Rel(docA, "viewer", Subject("user", "alice")))})
	require.NoError(t, err)
	caughtUp(t, e, grant)
	g.hold()
	g.calls.Store(0)

	const n = 50
	var wg sync.WaitGroup
	results := make(chan Decision, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := e.Check(ctx, aliceR, MinimizeLatency())
			if err != nil {
				t.Error(err)
			}
			results <- d
		}()
	}
	require.Eventually(t, func() bool { return e.CacheStats().Misses >= n }, 10*time.Second, time.Millisecond)
	// A write that affects the question, processed while they wait: a
	// question asked now must not join them.
	revoked := make(chan error, 1)
	go func() {
		_, err := e.Write(ctx, []Update{DeleteRel(Rel(docA, "viewer", Subject("user", "alice")))})
		revoked <- err
	}()
	require.NoError(t, <-revoked)
	after := make(chan Decision, 1)
	go func() {
		d, err := e.Check(ctx, aliceR, MinimizeLatency())
		if err != nil {
			t.Error(err)
		}
		after <- d
	}()
	require.Eventually(t, func() bool { return g.calls.Load() >= 2 }, 10*time.Second, time.Millisecond)
	g.open()
	wg.Wait()
	close(results)
	// The first evaluation was asked before the revoke: whatever it
	// answers, those callers asked before the revoke returned.
	require.False(t, (<-after).Allowed, "a check asked after the revoke returned shared an evaluation from before it")
	require.LessOrEqual(t, g.calls.Load(), int64(4), "identical misses were each sent to the engine")
	require.GreaterOrEqual(t, e.CacheStats().Coalesced, uint64(n-1))
}

// A call of a request admitted before goes ahead of a new request's, even
// one that waited longer: under overload, requests under way finish.
func TestARequestUnderWayIsAdmittedBeforeNewOnes(t *testing.T) {
	a := newAdmission(AdmissionConfig{MaxInFlight: 1, MaxQueue: 10, MaxWait: time.Minute}, false, nil)
	ctx := context.Background()
	underWay := WithRequest(ctx)
	release, err := a.admit(underWay) // its first call, admitted at once
	require.NoError(t, err)
	release()

	busy, err := a.admit(ctx) // the only slot, taken
	require.NoError(t, err)
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	call := func(name string, ctx context.Context) {
		wg.Go(func() {
			release, err := a.admit(ctx)
			require.NoError(t, err)
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			release()
		})
	}
	call("new", WithRequest(ctx))
	require.Eventually(t, func() bool { return a.queued.Load() == 1 }, 5*time.Second, time.Millisecond)
	call("under way", underWay)
	require.Eventually(t, func() bool { return a.queued.Load() == 2 }, 5*time.Second, time.Millisecond)
	busy()
	wg.Wait()
	require.Equal(t, []string{"under way", "new"}, order)
	require.Equal(t, 0, a.inFlight())

	// Ahead is not exempt: it still waits at most MaxWait, and a call
	// that stops waiting leaves no slot behind.
	a = newAdmission(AdmissionConfig{MaxInFlight: 1, MaxQueue: 10, MaxWait: 50 * time.Millisecond}, false, nil)
	busy, err = a.admit(underWay)
	require.NoError(t, err)
	_, err = a.admit(underWay)
	require.ErrorIs(t, err, ErrOverloaded)
	gone, cancel := context.WithCancel(underWay)
	cancel()
	_, err = a.admit(gone)
	require.ErrorIs(t, err, context.Canceled)
	busy()
	require.Equal(t, 0, a.inFlight())
	require.Zero(t, a.queued.Load())
}
