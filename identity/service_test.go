package identity

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

type fixture struct {
	svc    *Service
	engine *authz.Engine
	admin  Principal
	clock  *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var domains = []sqlite.Domain{
	{Name: "authz", Migrations: authz.SQLiteMigrations()},
	{Name: "identity", Migrations: SQLiteMigrations()},
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db := sqlitetest.Open(t, domains...)
	engine, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}})
	require.NoError(t, err)
	t.Cleanup(func() { engine.Close() })
	clock := &fakeClock{t: time.Now()}
	svc := NewService(db, SQLStore{}, engine, nil)
	svc.now = clock.now
	var secret string
	created, err := svc.Bootstrap(ctx, func(s string) error { secret = s; return nil })
	require.NoError(t, err)
	require.True(t, created)
	admin, err := svc.Authenticate(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, DefaultZone, admin.Zone.Name)
	require.Equal(t, AdminUser, admin.User.Name)
	return &fixture{svc: svc, engine: engine, admin: admin, clock: clock}
}

// user creates a user in zone (empty: default) and returns it as a caller.
func (f *fixture) user(t *testing.T, name, zone string, zoneAdmin bool) Principal {
	t.Helper()
	ctx := context.Background()
	_, _, err := f.svc.CreateUser(ctx, f.admin, name, zone, zoneAdmin)
	require.NoError(t, err)
	owner := name
	if zone != "" {
		owner = zone + "/" + name
	}
	_, secret, err := f.svc.CreateAPIKey(ctx, f.admin, owner, "", 0)
	require.NoError(t, err)
	p, err := f.svc.Authenticate(ctx, secret)
	require.NoError(t, err)
	return p
}

func TestBootstrapOnlyOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	created, err := f.svc.Bootstrap(context.Background(), func(string) error {
		t.Fatal("an existing database must not get a new admin key")
		return nil
	})
	require.NoError(t, err)
	require.False(t, created)
}

func TestBootstrapSavesKeyBeforeCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqlitetest.Open(t, domains...)
	engine, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}})
	require.NoError(t, err)
	defer engine.Close()
	svc := NewService(db, SQLStore{}, engine, nil)
	_, err = svc.Bootstrap(ctx, func(string) error { return errors.New("disk full") })
	require.Error(t, err)
	zones, err := SQLStore{}.Zones(ctx, db)
	require.NoError(t, err)
	require.Empty(t, zones, "no admin is created whose key could not be saved")
}

func TestAuthenticationFailuresAreIndistinguishable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	_, _, err := f.svc.CreateUser(ctx, f.admin, "bob", "", false)
	require.NoError(t, err)
	_, revoked, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "to revoke", 0)
	require.NoError(t, err)
	revokedID, _, _ := parseKey(revoked)
	require.NoError(t, f.svc.RevokeAPIKey(ctx, f.admin, revokedID))
	_, expiring, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "short", time.Minute)
	require.NoError(t, err)
	_, valid, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "valid", 0)
	require.NoError(t, err)

	_, err = f.svc.Authenticate(ctx, expiring)
	require.NoError(t, err, "a key works until it expires")
	f.clock.advance(time.Minute)

	id, _, _ := parseKey(valid)
	wrongSecret := keyPrefix + strings.TrimPrefix(string(id), "key_") + "_" + strings.Repeat("a", 52)
	_, unknown, _ := newKey()

	cases := map[string]string{
		"no token":     "",
		"garbage":      "hunter2",
		"unknown key":  unknown,
		"wrong secret": wrongSecret,
		"revoked key":  revoked,
		"expired key":  expiring,
	}
	var msgs []string
	for name, key := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.Authenticate(ctx, key)
			require.ErrorIs(t, err, errs.Unauthenticated)
			msgs = append(msgs, err.Error())
		})
	}
	for _, m := range msgs {
		require.Equal(t, msgs[0], m, "every failure reads the same")
	}
	p, err := f.svc.Authenticate(ctx, valid)
	require.NoError(t, err)
	require.Equal(t, "bob", p.User.Name)
}

func TestNonAdminsAreDenied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	bob := f.user(t, "bob", "", false)
	_ = f.user(t, "carol", "", false)
	_, _, err := f.svc.CreateGroup(ctx, f.admin, "eng", "")
	require.NoError(t, err)

	denied := map[string]func() error{
		"CreateZone": func() error { _, err := f.svc.CreateZone(ctx, bob, "z2"); return err },
		"CreateUser": func() error { _, _, err := f.svc.CreateUser(ctx, bob, "eve", "", false); return err },
		"CreateUser as admin": func() error {
			_, _, err := f.svc.CreateUser(ctx, bob, "eve", "", true)
			return err
		},
		"CreateGroup":       func() error { _, _, err := f.svc.CreateGroup(ctx, bob, "ops", ""); return err },
		"AddGroupMember":    func() error { _, err := f.svc.AddGroupMember(ctx, bob, "eng", "bob"); return err },
		"RemoveGroupMember": func() error { _, err := f.svc.RemoveGroupMember(ctx, bob, "eng", "carol"); return err },
		"CreateAPIKey for another user": func() error {
			_, _, err := f.svc.CreateAPIKey(ctx, bob, "carol", "", 0)
			return err
		},
		"Check about another subject": func() error {
			_, err := f.svc.Check(ctx, bob, nil, "zone:default", "manage", "user:carol", authz.FullyConsistent())
			return err
		},
	}
	for name, call := range denied {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, call(), errs.PermissionDenied)
		})
	}

	t.Run("the same calls by the admin succeed", func(t *testing.T) {
		_, err := f.svc.CreateZone(ctx, f.admin, "z2")
		require.NoError(t, err)
		_, err = f.svc.AddGroupMember(ctx, f.admin, "eng", "bob")
		require.NoError(t, err)
		_, _, err = f.svc.CreateAPIKey(ctx, f.admin, "carol", "", 0)
		require.NoError(t, err)
		d, err := f.svc.Check(ctx, f.admin, nil, "zone:default", "manage", "user:carol", authz.FullyConsistent())
		require.NoError(t, err)
		require.False(t, d.Allowed)
	})

	t.Run("a key of another user cannot be revoked or seen", func(t *testing.T) {
		k, _, err := f.svc.CreateAPIKey(ctx, f.admin, "carol", "", 0)
		require.NoError(t, err)
		require.ErrorIs(t, f.svc.RevokeAPIKey(ctx, bob, k.ID), errs.NotFound)
		_, _, err = f.svc.ListAPIKeys(ctx, bob, "carol")
		require.ErrorIs(t, err, errs.PermissionDenied)
		require.NoError(t, f.svc.RevokeAPIKey(ctx, f.admin, k.ID))
	})

	t.Run("users manage their own keys", func(t *testing.T) {
		k, secret, err := f.svc.CreateAPIKey(ctx, bob, "", "laptop", 0)
		require.NoError(t, err)
		keys, _, err := f.svc.ListAPIKeys(ctx, bob, "")
		require.NoError(t, err)
		require.Len(t, keys, 2)
		require.NoError(t, f.svc.RevokeAPIKey(ctx, bob, k.ID))
		_, err = f.svc.Authenticate(ctx, secret)
		require.ErrorIs(t, err, errs.Unauthenticated)
	})
}

func TestBadNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	long := strings.Repeat("a", MaxNameLen+1)
	bad := []struct{ name, value, rule string }{
		{"empty", "", "must not be empty"},
		{"too long", long, "longer than 128"},
		{"space", "bad name", "must be letters"},
		{"slash", "a/b", "must be letters"},
		{"leading dash", "-bob", "starting with a letter"},
		{"colon", "user:bob", "must be letters"},
		{"control", "bo\x00b", "must be letters"},
		{"non-ascii", "bøb", "must be letters"},
	}
	for _, b := range bad {
		t.Run("zone "+b.name, func(t *testing.T) {
			_, err := f.svc.CreateZone(ctx, f.admin, b.value)
			require.ErrorIs(t, err, errs.InvalidArgument)
			require.Contains(t, err.Error(), "zone name")
			require.Contains(t, err.Error(), b.rule)
		})
		t.Run("user "+b.name, func(t *testing.T) {
			_, _, err := f.svc.CreateUser(ctx, f.admin, b.value, "", false)
			require.ErrorIs(t, err, errs.InvalidArgument)
			require.Contains(t, err.Error(), "user name")
			require.Contains(t, err.Error(), b.rule)
		})
		t.Run("group "+b.name, func(t *testing.T) {
			_, _, err := f.svc.CreateGroup(ctx, f.admin, b.value, "")
			require.ErrorIs(t, err, errs.InvalidArgument)
			require.Contains(t, err.Error(), "group name")
			require.Contains(t, err.Error(), b.rule)
		})
	}
	t.Run("128 bytes is fine", func(t *testing.T) {
		_, _, err := f.svc.CreateUser(ctx, f.admin, long[:MaxNameLen], "", false)
		require.NoError(t, err)
	})
	t.Run("duplicate", func(t *testing.T) {
		_, _, err := f.svc.CreateUser(ctx, f.admin, "dup", "", false)
		require.NoError(t, err)
		_, _, err = f.svc.CreateUser(ctx, f.admin, "dup", "", false)
		require.ErrorIs(t, err, errs.AlreadyExists)
	})
	t.Run("key lifetime", func(t *testing.T) {
		_, _, err := f.svc.CreateAPIKey(ctx, f.admin, "", "", -time.Second)
		require.ErrorIs(t, err, errs.InvalidArgument)
		_, _, err = f.svc.CreateAPIKey(ctx, f.admin, "", "", MaxKeyLifetime+time.Hour)
		require.ErrorIs(t, err, errs.InvalidArgument)
		_, _, err = f.svc.CreateAPIKey(ctx, f.admin, "", strings.Repeat("d", MaxDescriptionLen+1), 0)
		require.ErrorIs(t, err, errs.InvalidArgument)
	})
	t.Run("check permission name", func(t *testing.T) {
		_, err := f.svc.Check(ctx, f.admin, nil, "zone:default", "Manage!", "", authz.MinimizeLatency())
		require.ErrorIs(t, err, errs.InvalidArgument)
		_, err = f.svc.Check(ctx, f.admin, nil, "folder:x", "read", "", authz.MinimizeLatency())
		require.ErrorIs(t, err, errs.InvalidArgument)
		_, err = f.svc.Check(ctx, f.admin, nil, "zone", "read", "", authz.MinimizeLatency())
		require.ErrorIs(t, err, errs.InvalidArgument)
	})
}

func member(t *testing.T, f *fixture, group, subject string, tok authz.Token) bool {
	t.Helper()
	d, err := f.svc.Check(context.Background(), f.admin, nil, "group:"+group, "membership", subject, authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	return d.Allowed
}

func TestNestedGroupsAndRemoval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.user(t, "bob", "", false)
	f.user(t, "carol", "", false)
	for _, g := range []string{"eng", "backend", "db"} {
		_, _, err := f.svc.CreateGroup(ctx, f.admin, g, "")
		require.NoError(t, err)
	}
	_, err := f.svc.AddGroupMember(ctx, f.admin, "eng", "group:backend")
	require.NoError(t, err)
	_, err = f.svc.AddGroupMember(ctx, f.admin, "backend", "group:db")
	require.NoError(t, err)
	tok, err := f.svc.AddGroupMember(ctx, f.admin, "db", "user:bob")
	require.NoError(t, err)

	require.True(t, member(t, f, "eng", "user:bob", tok), "bob is in eng through backend and db")
	require.True(t, member(t, f, "backend", "user:bob", tok))
	require.False(t, member(t, f, "eng", "user:carol", tok), "carol is in no group")

	t.Run("cycles are refused", func(t *testing.T) {
		_, err := f.svc.AddGroupMember(ctx, f.admin, "db", "group:eng")
		require.ErrorIs(t, err, errs.InvalidArgument)
		require.Contains(t, err.Error(), "cycle")
		_, err = f.svc.AddGroupMember(ctx, f.admin, "eng", "group:eng")
		require.ErrorIs(t, err, errs.InvalidArgument)
	})

	members, err := f.svc.ListGroupMembers(ctx, f.admin, "backend")
	require.NoError(t, err)
	require.Equal(t, []string{"group:default/db"}, members)

	tok, err = f.svc.RemoveGroupMember(ctx, f.admin, "db", "bob")
	require.NoError(t, err)
	require.False(t, member(t, f, "eng", "user:bob", tok), "removal from the inner group removes bob from the outer ones at once")
	require.False(t, member(t, f, "db", "user:bob", tok))
}

func TestZonesAreSeparate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	_, err := f.svc.CreateZone(ctx, f.admin, "acme")
	require.NoError(t, err)
	acmeAdmin := f.user(t, "root", "acme", true)
	f.user(t, "bob", "", false)

	t.Run("a zone admin administers its own zone", func(t *testing.T) {
		_, _, err := f.svc.CreateUser(ctx, acmeAdmin, "dave", "", false)
		require.NoError(t, err)
		_, _, err = f.svc.CreateGroup(ctx, acmeAdmin, "ops", "")
		require.NoError(t, err)
		_, err = f.svc.AddGroupMember(ctx, acmeAdmin, "ops", "dave")
		require.NoError(t, err)
	})
	t.Run("and nothing of another", func(t *testing.T) {
		_, _, err := f.svc.CreateUser(ctx, acmeAdmin, "mallory", DefaultZone, false)
		require.ErrorIs(t, err, errs.NotFound, "other zones do not exist for a non-operator")
		_, err = f.svc.CreateZone(ctx, acmeAdmin, "acme2")
		require.ErrorIs(t, err, errs.PermissionDenied)
		_, _, err = f.svc.CreateAPIKey(ctx, acmeAdmin, "default/bob", "", 0)
		require.ErrorIs(t, err, errs.NotFound)
		d, err := f.svc.Check(ctx, acmeAdmin, nil, "zone:default", "manage", "", authz.FullyConsistent())
		require.NoError(t, err)
		require.False(t, d.Allowed)
		d, err = f.svc.Check(ctx, acmeAdmin, nil, "zone:acme", "manage", "", authz.FullyConsistent())
		require.NoError(t, err)
		require.True(t, d.Allowed)
	})
	t.Run("groups hold members of their own zone only", func(t *testing.T) {
		_, err := f.svc.AddGroupMember(ctx, acmeAdmin, "ops", "default/bob")
		require.ErrorIs(t, err, errs.InvalidArgument)
	})
	t.Run("listing another zone's users is not found", func(t *testing.T) {
		_, err := f.svc.ListUsers(ctx, acmeAdmin, DefaultZone)
		require.ErrorIs(t, err, errs.NotFound)
		users, err := f.svc.ListUsers(ctx, f.admin, "acme")
		require.NoError(t, err, "operators see every zone")
		require.Len(t, users, 2)
	})
}
