package identity

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/internal/errs"
)

func TestServiceKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.user(t, "svc", "", false)
	alice := f.user(t, "alice", "", false)
	_, err := f.svc.CreateZone(ctx, f.admin, "acme")
	require.NoError(t, err)
	acmeRoot := f.user(t, "root", "acme", true)

	t.Run("an operator creates one, and its scope comes with the principal", func(t *testing.T) {
		for _, sc := range []Scope{ScopeCheck, ScopeWrite} {
			k, secret, err := f.svc.CreateScopedAPIKey(ctx, f.admin, "svc", "checks", 0, sc)
			require.NoError(t, err)
			require.Equal(t, sc, k.Scope)
			p, err := f.svc.Authenticate(ctx, secret)
			require.NoError(t, err)
			require.Equal(t, sc, p.Scope)
			require.Equal(t, "svc", p.User.Name)
		}
	})
	t.Run("a user's key has no scope", func(t *testing.T) {
		require.Equal(t, ScopeNone, alice.Scope)
		require.Equal(t, ScopeNone, f.admin.Scope)
	})
	t.Run("denials", func(t *testing.T) {
		_, _, err := f.svc.CreateScopedAPIKey(ctx, alice, "", "", 0, ScopeCheck)
		require.ErrorIs(t, err, errs.PermissionDenied, "a user may not give itself a service key")
		_, _, err = f.svc.CreateScopedAPIKey(ctx, acmeRoot, "acme/root", "", 0, ScopeWrite)
		require.ErrorIs(t, err, errs.PermissionDenied, "another zone's admin is no operator")
		_, secret, err := f.svc.CreateScopedAPIKey(ctx, f.admin, "admin", "", 0, ScopeWrite)
		require.NoError(t, err)
		opService, err := f.svc.Authenticate(ctx, secret)
		require.NoError(t, err)
		_, _, err = f.svc.CreateScopedAPIKey(ctx, opService, "svc", "", 0, ScopeCheck)
		require.ErrorIs(t, err, errs.PermissionDenied, "a service key does not mint service keys, even an operator's")
		_, _, err = f.svc.CreateScopedAPIKey(ctx, f.admin, "svc", "", 0, Scope("admin"))
		require.ErrorIs(t, err, errs.InvalidArgument)
	})
	t.Run("Allows", func(t *testing.T) {
		require.True(t, ScopeCheck.Allows(ScopeCheck))
		require.False(t, ScopeCheck.Allows(ScopeWrite))
		require.True(t, ScopeWrite.Allows(ScopeCheck))
		require.True(t, ScopeWrite.Allows(ScopeWrite))
		require.False(t, ScopeNone.Allows(ScopeCheck))
		require.False(t, ScopeNone.Allows(ScopeWrite))
	})
}
