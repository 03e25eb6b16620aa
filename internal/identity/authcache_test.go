package identity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/internal/errs"
)

// The authentication cache never accepts what the store would refuse.
func TestAuthCacheDenials(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, _, err := f.svc.CreateUser(ctx, f.admin, "bob", "", false)
	require.NoError(t, err)
	k, secret, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 0)
	require.NoError(t, err)
	_, err = f.svc.Authenticate(ctx, secret)
	require.NoError(t, err)

	t.Run("a wrong secret for a cached key", func(t *testing.T) {
		wrong := keyPrefix + strings.TrimPrefix(string(k.ID), "key_") + "_" + strings.Repeat("a", 52)
		_, err := f.svc.Authenticate(ctx, wrong)
		require.ErrorIs(t, err, errs.Unauthenticated)
	})
	t.Run("a key that expires while cached", func(t *testing.T) {
		_, short, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 500*time.Millisecond)
		require.NoError(t, err)
		_, err = f.svc.Authenticate(ctx, short)
		require.NoError(t, err)
		f.clock.advance(600 * time.Millisecond) // inside the cache's TTL, past the key's expiry
		_, err = f.svc.Authenticate(ctx, short)
		require.ErrorIs(t, err, errs.Unauthenticated)
	})
	t.Run("a revoked key, at once", func(t *testing.T) {
		_, err := f.svc.Authenticate(ctx, secret)
		require.NoError(t, err, "cached")
		require.NoError(t, f.svc.RevokeAPIKey(ctx, f.admin, k.ID))
		_, err = f.svc.Authenticate(ctx, secret)
		require.ErrorIs(t, err, errs.Unauthenticated)
	})
	t.Run("a scope comes back from the cache", func(t *testing.T) {
		_, svc, err := f.svc.CreateScopedAPIKey(ctx, f.admin, "bob", "", 0, ScopeCheck)
		require.NoError(t, err)
		for range 2 {
			p, err := f.svc.Authenticate(ctx, svc)
			require.NoError(t, err)
			require.Equal(t, ScopeCheck, p.Scope)
		}
	})
	t.Run("an entry is used only within its TTL", func(t *testing.T) {
		var c authCache
		now := time.Now()
		key := APIKey{ID: "key_x", Hash: hashSecret("s")}
		c.put(key, Principal{KeyID: "key_x"}, now)
		_, ok := c.get("key_x", "s", now.Add(authCacheTTL/2))
		require.True(t, ok)
		_, ok = c.get("key_x", "s", now.Add(authCacheTTL))
		require.False(t, ok)
		_, ok = c.get("key_x", "s", now.Add(-time.Second))
		require.False(t, ok, "a clock gone back is no reason to trust an entry")
	})
}
