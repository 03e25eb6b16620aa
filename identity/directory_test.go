package identity

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
)

// TestDirectory: subjects are resolved relative to a zone (ZONE/NAME for
// another zone's) and named back relative to a zone.
func TestDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	_, err := f.svc.CreateZone(ctx, f.admin, "acme")
	require.NoError(t, err)
	f.user(t, "bob", "", false)
	carol := f.user(t, "carol", "acme", true)
	g, _, err := f.svc.CreateGroup(ctx, carol, "ext", "")
	require.NoError(t, err)
	def, acme := f.admin.Zone.ID, carol.Zone.ID

	s, z, err := f.svc.SubjectIn(ctx, def, "subject", "user:bob")
	require.NoError(t, err)
	require.Equal(t, def, z)
	require.Equal(t, "user:bob", f.svc.SubjectName(ctx, def, s))
	require.Equal(t, "user:default/bob", f.svc.SubjectName(ctx, acme, s))

	s, z, err = f.svc.SubjectIn(ctx, def, "subject", "group:acme/ext")
	require.NoError(t, err)
	require.Equal(t, acme, z)
	require.Equal(t, authz.SubjectSet("group", string(g.ID), "member"), s)
	require.Equal(t, "group:acme/ext", f.svc.SubjectName(ctx, def, s))
	require.Equal(t, "group:ext", f.svc.SubjectName(ctx, acme, s))
	require.Equal(t, "acme", f.svc.ZoneName(ctx, acme))

	for ref, kind := range map[string]error{
		"user:ghost":      errs.NotFound,
		"group:ghosts":    errs.NotFound,
		"user:nozone/bob": errs.NotFound,
		"user:acme/bob":   errs.NotFound,
		"zone:default":    errs.InvalidArgument,
		"user:bad name":   errs.InvalidArgument,
	} {
		_, _, err := f.svc.SubjectIn(ctx, def, "subject", ref)
		require.ErrorIs(t, err, kind, ref)
	}
}
