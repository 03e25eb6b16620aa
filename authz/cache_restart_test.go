package authz

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
)

// TestARestartBehindOwnWritesKeepsNoDecisionFromBetween: when the watch
// (re)starts at a revision older than a write this node has already
// processed (its own, evicted as it was made), a decision made between the
// two must not be kept as current. It was: the restart numbered everything
// up to the older revision after the write's eviction, so a denial from
// before the write was stored, and then served to a check at least as
// fresh as the write (found by FuzzValidateToken, one run in three).
func TestARestartBehindOwnWritesKeepsNoDecisionFromBetween(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{Schema: nexus.Schema})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	c := e.cache
	require.NotNil(t, c)

	before, err := e.Write(ctx, []Update{TouchRel(Rel(Obj("group", "other"), "member", Subject("user", "carol")))})
	require.NoError(t, err)
	item := CheckItem{Resource: Obj("group", "eng"), Permission: "membership", Subject: Subject("user", "bob")}
	_, err = e.Write(ctx, []Update{TouchRel(Rel(item.Resource, "member", item.Subject))})
	require.NoError(t, err)

	// The watch starts from the first write's revision, after the second
	// was processed.
	rev, ok := e.revision(before)
	require.True(t, ok)
	c.procMu.Lock()
	c.flush("watch_started", c.restart(rev))
	c.procMu.Unlock()

	// A denial made at the first write's revision, before bob joined.
	require.False(t, c.keep(item, Decision{Allowed: false, At: before}), "a decision from before a processed write was kept as current")
}
