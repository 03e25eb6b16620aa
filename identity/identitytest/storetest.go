// Package identitytest is the conformance suite every identity.Store must
// pass, whatever its database.
package identitytest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/storage"
)

// Run runs the suite. newStore returns an empty, migrated store and the
// database its methods run on.
func Run(t *testing.T, newStore func(t *testing.T) (identity.Store, storage.DBTX)) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.UTC)

	t.Run("Zones", func(t *testing.T) {
		s, q := newStore(t)
		z := identity.Zone{ID: "zone_a", Name: "acme", CreatedAt: now}
		require.NoError(t, s.InsertZone(ctx, q, z))
		require.ErrorIs(t, s.InsertZone(ctx, q, identity.Zone{ID: "zone_b", Name: "acme", CreatedAt: now}), errs.AlreadyExists)
		got, err := s.Zone(ctx, q, "zone_a")
		require.NoError(t, err)
		require.Equal(t, z, got)
		got, err = s.ZoneByName(ctx, q, "acme")
		require.NoError(t, err)
		require.Equal(t, z, got)
		_, err = s.Zone(ctx, q, "zone_missing")
		require.ErrorIs(t, err, errs.NotFound)
		_, err = s.ZoneByName(ctx, q, "ACME")
		require.ErrorIs(t, err, errs.NotFound, "names are case-sensitive")
		require.NoError(t, s.InsertZone(ctx, q, identity.Zone{ID: "zone_0", Name: "aaa", CreatedAt: now}))
		all, err := s.Zones(ctx, q)
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, "aaa", all[0].Name, "zones are listed by name")
	})

	t.Run("UsersAreNamedPerZone", func(t *testing.T) {
		s, q := newStore(t)
		require.NoError(t, s.InsertZone(ctx, q, identity.Zone{ID: "zone_a", Name: "a", CreatedAt: now}))
		require.NoError(t, s.InsertZone(ctx, q, identity.Zone{ID: "zone_b", Name: "b", CreatedAt: now}))
		u := identity.User{ID: "user_1", Zone: "zone_a", Name: "bob", CreatedAt: now}
		require.NoError(t, s.InsertUser(ctx, q, u))
		require.ErrorIs(t, s.InsertUser(ctx, q, identity.User{ID: "user_2", Zone: "zone_a", Name: "bob", CreatedAt: now}), errs.AlreadyExists)
		require.NoError(t, s.InsertUser(ctx, q, identity.User{ID: "user_3", Zone: "zone_b", Name: "bob", CreatedAt: now}), "the same name in another zone is another user")
		require.ErrorIs(t, s.InsertUser(ctx, q, identity.User{ID: "user_1", Zone: "zone_b", Name: "carol", CreatedAt: now}), errs.AlreadyExists, "ids are unique")
		got, err := s.UserByName(ctx, q, "zone_a", "bob")
		require.NoError(t, err)
		require.Equal(t, u, got)
		got, err = s.User(ctx, q, "user_3")
		require.NoError(t, err)
		require.Equal(t, identity.ZoneID("zone_b"), got.Zone)
		_, err = s.UserByName(ctx, q, "zone_b", "alice")
		require.ErrorIs(t, err, errs.NotFound)
		users, err := s.Users(ctx, q, "zone_a")
		require.NoError(t, err)
		require.Equal(t, []identity.User{u}, users)
	})

	t.Run("Groups", func(t *testing.T) {
		s, q := newStore(t)
		require.NoError(t, s.InsertZone(ctx, q, identity.Zone{ID: "zone_a", Name: "a", CreatedAt: now}))
		g := identity.Group{ID: "group_1", Zone: "zone_a", Name: "eng", CreatedAt: now}
		require.NoError(t, s.InsertGroup(ctx, q, g))
		require.ErrorIs(t, s.InsertGroup(ctx, q, identity.Group{ID: "group_2", Zone: "zone_a", Name: "eng", CreatedAt: now}), errs.AlreadyExists)
		got, err := s.GroupByName(ctx, q, "zone_a", "eng")
		require.NoError(t, err)
		require.Equal(t, g, got)
		got, err = s.Group(ctx, q, "group_1")
		require.NoError(t, err)
		require.Equal(t, g, got)
		_, err = s.Group(ctx, q, "group_9")
		require.ErrorIs(t, err, errs.NotFound)
		groups, err := s.Groups(ctx, q, "zone_a")
		require.NoError(t, err)
		require.Equal(t, []identity.Group{g}, groups)
	})

	t.Run("Keys", func(t *testing.T) {
		s, q := newStore(t)
		require.NoError(t, s.InsertZone(ctx, q, identity.Zone{ID: "zone_a", Name: "a", CreatedAt: now}))
		require.NoError(t, s.InsertUser(ctx, q, identity.User{ID: "user_1", Zone: "zone_a", Name: "bob", CreatedAt: now}))
		k := identity.APIKey{ID: "key_1", User: "user_1", Description: "ci", Hash: []byte{1, 2, 3}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		require.NoError(t, s.InsertKey(ctx, q, k))
		require.ErrorIs(t, s.InsertKey(ctx, q, k), errs.AlreadyExists)
		got, err := s.Key(ctx, q, "key_1")
		require.NoError(t, err)
		require.Equal(t, k, got)
		require.True(t, got.RevokedAt.IsZero())

		require.NoError(t, s.RevokeKey(ctx, q, "key_1", now.Add(time.Minute)))
		require.NoError(t, s.RevokeKey(ctx, q, "key_1", now.Add(time.Hour)), "revoking twice is fine")
		got, err = s.Key(ctx, q, "key_1")
		require.NoError(t, err)
		require.Equal(t, now.Add(time.Minute), got.RevokedAt, "the first revocation time stays")
		require.ErrorIs(t, s.RevokeKey(ctx, q, "key_missing", now), errs.NotFound)

		k2 := identity.APIKey{ID: "key_2", User: "user_1", Hash: []byte{4}, CreatedAt: now.Add(time.Second), Scope: identity.ScopeCheck}
		require.NoError(t, s.InsertKey(ctx, q, k2))
		keys, err := s.Keys(ctx, q, "user_1")
		require.NoError(t, err)
		require.Len(t, keys, 2)
		require.Equal(t, identity.KeyID("key_1"), keys[0].ID)
		require.True(t, keys[1].ExpiresAt.IsZero(), "a key without expiry reads back without one")
		require.Equal(t, identity.ScopeNone, keys[0].Scope)
		require.Equal(t, identity.ScopeCheck, keys[1].Scope, "a service key's scope reads back")

		// A prefixed write scope, several prefixes long, reads back as stored.
		prefixed := identity.Scope("write:acme/billing/,write:billing/,write:crm_v2/")
		k3 := identity.APIKey{ID: "key_3", User: "user_1", Hash: []byte{5}, CreatedAt: now.Add(2 * time.Second), Scope: prefixed}
		require.NoError(t, s.InsertKey(ctx, q, k3))
		got, err = s.Key(ctx, q, "key_3")
		require.NoError(t, err)
		require.Equal(t, prefixed, got.Scope)
		require.Equal(t, []string{"acme/billing/", "billing/", "crm_v2/"}, got.Scope.WritePrefixes())
	})
}
