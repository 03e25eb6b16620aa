package authz

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
)

// deepChain writes a chain of n folders below folder:deep_0, owned by
// user:deep_owner, in zone:deep, and returns the deepest folder. SpiceDB's
// dispatch depth (50) is exceeded by a check on a folder much more than 45
// levels down: the file plane no longer creates such chains, but data
// written before it refused them may hold some.
func deepChain(t *testing.T, e *Engine, n int) (ObjectRef, Token) {
	t.Helper()
	var ups []Update
	f := func(i int) ObjectRef { return Obj("folder", fmt.Sprintf("deep_%d", i)) }
	ups = append(ups, TouchRel(Rel(f(0), "owner", Subject("user", "deep_owner"))))
	for i := 0; i <= n; i++ {
		ups = append(ups, TouchRel(Rel(f(i), "zone", Subject("zone", "deep"))))
		if i > 0 {
			ups = append(ups, TouchRel(Rel(f(i), "parent", f(i-1).AsSubject())))
		}
	}
	ups = append(ups,
		TouchRel(Rel(Obj("zone", "deep"), "member", Subject("user", "deep_member"))),
		TouchRel(Rel(Obj("folder", "shallow"), "zone", Subject("zone", "deep"))),
		TouchRel(Rel(Obj("folder", "shallow"), "viewer", Subject("user", "deep_member"))),
	)
	tok, err := e.Write(context.Background(), ups)
	require.NoError(t, err)
	return f(n), tok
}

// TestBulkCheckDeniesAnItemTheEngineCannotDecide: one item past the
// engine's dispatch depth is denied, with its error, and the others are
// answered; the call does not fail. With the cache, the failure is never
// stored as a decision.
func TestBulkCheckDeniesAnItemTheEngineCannotDecide(t *testing.T) {
	ctx := context.Background()
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) {
			e := cachedEngine(t, Config{})
			if !cached {
				var err error
				e, err = New(ctx, Config{Schema: nexus.Schema, Cache: CacheConfig{Disabled: true}})
				require.NoError(t, err)
				t.Cleanup(func() { e.Close() })
			}
			deep, tok := deepChain(t, e, 60)
			member := Subject("user", "deep_member")
			ok := CheckItem{Resource: Obj("folder", "shallow"), Permission: "read", Subject: member}
			tooDeep := CheckItem{Resource: deep, Permission: "read", Subject: member}
			bad := CheckItem{Resource: Obj("folder", "shallow"), Permission: "nosuchperm", Subject: member}
			if cached {
				caughtUp(t, e, tok)
			}

			_, err := e.Check(ctx, tooDeep, AtLeastAsFresh(tok))
			require.ErrorIs(t, err, ErrInvalid, "the engine itself cannot decide the deep item (else this test proves nothing)")

			for round := range 2 { // the second round would hit the cache, if the failure had been kept
				ds, err := e.CheckBulk(ctx, []CheckItem{ok, tooDeep, bad}, AtLeastAsFresh(tok))
				require.NoError(t, err, "round %d: one undecidable item must not fail the call", round)
				require.Len(t, ds, 3)
				require.True(t, ds[0].Allowed, "round %d: the shallow item is answered", round)
				require.NoError(t, ds[0].Err)
				require.False(t, ds[1].Allowed, "round %d: the deep item is denied", round)
				require.ErrorIs(t, ds[1].Err, ErrInvalid, "round %d", round)
				require.False(t, ds[2].Allowed, "round %d: an item the schema does not allow is denied", round)
				require.ErrorIs(t, ds[2].Err, ErrInvalid, "round %d", round)
				require.True(t, Failed(ds))
				require.False(t, Failed(ds[:1]))
			}
			if cached {
				e.cache.decisions.Wait()
				_, kept := e.cache.decisions.Get(cacheKey(ok))
				require.True(t, kept, "the decided item is kept (so the check below can see a kept entry)")
				_, kept = e.cache.decisions.Get(cacheKey(tooDeep))
				require.False(t, kept, "a failure is never kept as a decision")
				require.False(t, e.cache.keep(tooDeep, Decision{At: tok, Err: ErrInvalid}))
			}

			// A legitimate owner past the depth is denied too (not an
			// error): that data is unreachable until moved up.
			ds, err := e.CheckBulk(ctx, []CheckItem{{Resource: deep, Permission: "read", Subject: Subject("user", "deep_owner")}}, AtLeastAsFresh(tok))
			require.NoError(t, err)
			require.False(t, ds[0].Allowed)
			require.Error(t, ds[0].Err)
		})
	}
}
