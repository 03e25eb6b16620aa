package paths_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// groupMargin is the group nesting MaxDepth promises room for (see its
// comment): a grant or a zone admin through this many nested groups.
const groupMargin = 14

// TestChecksAtMaxDepthFitTheEngine: on an entry paths.MaxDepth deep, every
// permission of schema.zed is decided by the engine, for every kind of
// subject, with groupMargin levels of nested groups on the way: no check
// exceeds SpiceDB's dispatch depth. Raising MaxDepth, or a schema change
// that spends more dispatch depth per level, fails here.
func TestChecksAtMaxDepthFitTheEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Cache: authz.CacheConfig{Disabled: true}})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })

	folder := func(i int) authz.ObjectRef { return authz.Obj("folder", fmt.Sprintf("f%d", i)) }
	group := func(chain string, i int) authz.ObjectRef { return authz.Obj("group", fmt.Sprintf("%s%d", chain, i)) }
	var ups []authz.Update
	touch := func(res authz.ObjectRef, rel string, sub authz.SubjectRef) {
		ups = append(ups, authz.TouchRel(authz.Rel(res, rel, sub)))
	}
	for i := 0; i < paths.MaxDepth; i++ { // f0 is the root; the file is MaxDepth deep
		touch(folder(i), "zone", authz.Subject("zone", "z"))
		if i > 0 {
			touch(folder(i), "parent", folder(i-1).AsSubject())
		}
	}
	file := authz.Obj("file", "deepest")
	touch(file, "zone", authz.Subject("zone", "z"))
	touch(file, "parent", folder(paths.MaxDepth-1).AsSubject())
	touch(folder(0), "owner", authz.Subject("user", "owner"))
	touch(authz.Obj("zone", "z"), "member", authz.Subject("user", "member"))
	// Two chains of groupMargin nested groups: v0 views the root, a0 is
	// the zone's admin; the innermost members are user:viewer and
	// user:admin.
	for _, chain := range []string{"v", "a"} {
		for i := 1; i <= groupMargin; i++ {
			touch(group(chain, i-1), "member", authz.SubjectSet("group", group(chain, i).ID, "member"))
		}
	}
	touch(group("v", groupMargin), "member", authz.Subject("user", "viewer"))
	touch(group("a", groupMargin), "member", authz.Subject("user", "admin"))
	touch(folder(0), "viewer", authz.SubjectSet("group", "v0", "member"))
	touch(authz.Obj("zone", "z"), "admin", authz.SubjectSet("group", "a0", "member"))
	tok, err := e.Write(ctx, ups)
	require.NoError(t, err)

	for _, sub := range []string{"owner", "viewer", "admin", "member", "stranger"} {
		for _, perm := range []string{"read", "write", "delete", "share", "admin"} {
			_, err := e.Check(ctx, authz.CheckItem{Resource: file, Permission: perm, Subject: authz.Subject("user", sub)}, authz.AtLeastAsFresh(tok))
			require.NoError(t, err, "%s on an entry %d deep for user:%s", perm, paths.MaxDepth, sub)
		}
	}
	d, err := e.Check(ctx, authz.CheckItem{Resource: file, Permission: "read", Subject: authz.Subject("user", "viewer")}, authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.True(t, d.Allowed, "the grant through nested groups reaches the deepest entry")
}
