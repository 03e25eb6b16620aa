package identity

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
)

// TestIsSelf: which subject references name the caller without resolving
// them; a look-alike in another zone or of another type is not the caller.
func TestIsSelf(t *testing.T) {
	t.Parallel()
	p := Principal{User: User{Name: "bob"}, Zone: Zone{Name: "acme"}}
	for ref, want := range map[string]bool{
		"bob":              true,
		"user:bob":         true,
		"acme/bob":         true,
		"user:acme/bob":    true,
		"alice":            false,
		"user:alice":       false,
		"default/bob":      false,
		"user:default/bob": false,
		"group:bob":        false,
		"zone:bob":         false,
		"":                 false,
	} {
		require.Equal(t, want, isSelf(p, ref), "isSelf(%q)", ref)
	}
}

// TestAdminRightsUnknownAreNotRefusals: when the engine cannot say whether
// the caller administers the zone, asking about another subject, or
// revoking another user's key, fails with the engine's error, not as a
// refusal (permission_denied, or the not_found that hides a key): an admin
// must not be told it lacks a right, or that a key it revokes does not
// exist, because a database was down.
func TestAdminRightsUnknownAreNotRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.user(t, "bob", "", false)
	bobKey, _, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 0)
	require.NoError(t, err)
	_, err = f.svc.Check(ctx, f.admin, nil, "zone:default", "access", "user:bob", authz.FullyConsistent())
	require.NoError(t, err, "the admin may ask about bob")

	require.NoError(t, f.engine.Close())
	_, err = f.svc.Check(ctx, f.admin, nil, "zone:default", "access", "user:bob", authz.FullyConsistent())
	require.Error(t, err)
	require.NotErrorIs(t, err, errs.PermissionDenied, "an engine failure is not a refusal: %v", err)

	err = f.svc.RevokeAPIKey(ctx, f.admin, bobKey.ID)
	require.Error(t, err)
	require.NotErrorIs(t, err, errs.NotFound, "nor is it a missing key, to an admin revoking one: %v", err)
}
