package identity

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

var errInjected = errors.New("injected fault")

// faultStore is the SQL store with single methods failing or answering
// stale on demand.
type faultStore struct {
	SQLStore
	zones      func() ([]Zone, error)
	insertUser error
	key        error
	revokeKey  error
}

func (s *faultStore) Zones(ctx context.Context, q storage.DBTX) ([]Zone, error) {
	if s.zones != nil {
		return s.zones()
	}
	return s.SQLStore.Zones(ctx, q)
}

func (s *faultStore) InsertUser(ctx context.Context, q storage.DBTX, u User) error {
	if s.insertUser != nil {
		return s.insertUser
	}
	return s.SQLStore.InsertUser(ctx, q, u)
}

func (s *faultStore) Key(ctx context.Context, q storage.DBTX, id KeyID) (APIKey, error) {
	if s.key != nil {
		return APIKey{}, s.key
	}
	return s.SQLStore.Key(ctx, q, id)
}

func (s *faultStore) RevokeKey(ctx context.Context, q storage.DBTX, id KeyID, t time.Time) error {
	if s.revokeKey != nil {
		return s.revokeKey
	}
	return s.SQLStore.RevokeKey(ctx, q, id, t)
}

// faultEngine fails checks on demand.
type faultEngine struct {
	Engine
	fail atomic.Bool
}

func (f *faultEngine) Check(ctx context.Context, it authz.CheckItem, c authz.Consistency) (authz.Decision, error) {
	if f.fail.Load() {
		return authz.Decision{}, errInjected
	}
	return f.Engine.Check(ctx, it, c)
}

func faultService(t *testing.T) (*Service, *faultStore, *faultEngine) {
	t.Helper()
	db := sqlitetest.Open(t, domains...)
	engine, err := authz.New(context.Background(), authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}})
	require.NoError(t, err)
	t.Cleanup(func() { engine.Close() })
	st, fe := &faultStore{}, &faultEngine{Engine: engine}
	return NewService(db, st, fe, nil), st, fe
}

// TestBootstrapRacingAnotherNode: a node that found the database empty but
// lost the race to create the default zone reports that it created
// nothing, and the key it saved opens nothing.
func TestBootstrapRacingAnotherNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st, _ := faultService(t)
	created, err := svc.Bootstrap(ctx, func(string) error { return nil })
	require.NoError(t, err)
	require.True(t, created)

	st.zones = func() ([]Zone, error) { return nil, nil } // read before the other node committed
	var lost string
	created, err = svc.Bootstrap(ctx, func(s string) error { lost = s; return nil })
	require.NoError(t, err)
	require.False(t, created)
	_, err = svc.Authenticate(ctx, lost)
	require.ErrorIs(t, err, errs.Unauthenticated)
}

// TestBootstrapFailures: a bootstrap that fails creates nothing, and may
// be run again.
func TestBootstrapFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st, _ := faultService(t)
	st.zones = func() ([]Zone, error) { return nil, errInjected }
	_, err := svc.Bootstrap(ctx, func(string) error { return nil })
	require.ErrorIs(t, err, errInjected)
	st.zones = nil

	_, err = svc.Bootstrap(ctx, func(string) error { return errInjected })
	require.ErrorIs(t, err, errInjected, "the key could not be saved: nothing is created")

	st.insertUser = errInjected
	_, err = svc.Bootstrap(ctx, func(string) error { return nil })
	require.ErrorIs(t, err, errInjected)
	require.Contains(t, err.Error(), "creating the default zone and its admin")
	zones, err := st.SQLStore.Zones(ctx, svc.db)
	require.NoError(t, err)
	require.Empty(t, zones, "the zone went with the failed user")
	st.insertUser = nil

	var secret string
	created, err := svc.Bootstrap(ctx, func(s string) error { secret = s; return nil })
	require.NoError(t, err)
	require.True(t, created)
	p, err := svc.Authenticate(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, AdminUser, p.User.Name)
}

// TestEngineAndStoreErrorsAreErrors: when the engine or the store fails,
// authorization questions fail with that error — never an allow, never a
// NotFound that would hide it.
func TestEngineAndStoreErrorsAreErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st, fe := faultService(t)
	var secret string
	_, err := svc.Bootstrap(ctx, func(s string) error { secret = s; return nil })
	require.NoError(t, err)
	admin, err := svc.Authenticate(ctx, secret)
	require.NoError(t, err)
	k, fresh, err := svc.CreateAPIKey(ctx, admin, "admin", "", 0)
	require.NoError(t, err)

	fe.fail.Store(true)
	_, err = svc.IsOperator(ctx, admin)
	require.ErrorIs(t, err, errInjected)
	_, err = svc.IsZoneAdmin(ctx, admin.Zone.ID, admin.User.ID)
	require.ErrorIs(t, err, errInjected)
	_, _, err = svc.CreateUser(ctx, admin, "bob", "", false)
	require.ErrorIs(t, err, errInjected)
	_, err = svc.Check(ctx, admin, nil, "zone:default", "access", "", authz.FullyConsistent())
	require.ErrorIs(t, err, errInjected)
	fe.fail.Store(false)
	_, err = svc.ResolveUser(ctx, admin, "user", "bob")
	require.ErrorIs(t, err, errs.NotFound, "the refused user was not created")

	st.key = errInjected
	require.ErrorIs(t, svc.RevokeAPIKey(ctx, admin, k.ID), errInjected)
	_, err = svc.Authenticate(ctx, fresh) // not cached yet
	require.ErrorIs(t, err, errInjected)
	require.NotErrorIs(t, err, errs.Unauthenticated, "a store failure is not a bad key")
	st.key = nil
	st.revokeKey = errInjected
	require.ErrorIs(t, svc.RevokeAPIKey(ctx, admin, k.ID), errInjected)
	st.revokeKey = nil
	keys, _, err := svc.ListAPIKeys(ctx, admin, "")
	require.NoError(t, err)
	for _, got := range keys {
		require.True(t, got.RevokedAt.IsZero(), "no key was revoked")
	}
}

// TestMembershipTokenKeepsTheNewest: changes reported out of order leave
// the newest token; an empty one changes nothing.
func TestMembershipTokenKeepsTheNewest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	require.Empty(t, f.svc.MembershipToken())
	t1, err := f.engine.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(authz.Obj("group", "g1"), "member", authz.Subject("user", "u1")))})
	require.NoError(t, err)
	t2, err := f.engine.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(authz.Obj("group", "g2"), "member", authz.Subject("user", "u2")))})
	require.NoError(t, err)
	f.svc.membershipChanged(t2)
	f.svc.membershipChanged(t1)
	f.svc.membershipChanged("")
	require.Equal(t, t2, f.svc.MembershipToken())
}

// TestDirectoryNamesWhatItCannotFind: a subject or zone that is not (or
// no longer) there is named by its reference, not an error.
func TestDirectoryNamesWhatItCannotFind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	zone := f.admin.Zone.ID
	require.Equal(t, "group:grp_gone#member", f.svc.SubjectName(ctx, zone, authz.SubjectSet("group", "grp_gone", "member")))
	require.Equal(t, "share_link:l1", f.svc.SubjectName(ctx, zone, authz.Subject("share_link", "l1")))
	require.Equal(t, "zone_gone", f.svc.ZoneName(ctx, "zone_gone"))
	_, _, err := f.svc.SubjectIn(ctx, "zone_gone", "subject", "user:admin")
	require.ErrorIs(t, err, errs.NotFound)
	s, z, err := f.svc.SubjectIn(ctx, zone, "subject", "user:admin")
	require.NoError(t, err)
	require.Equal(t, zone, z)
	require.Equal(t, UserSubject(f.admin.User.ID), s)
	require.Equal(t, authz.SubjectSet("group", "g", "member"), GroupSubject("g"))
}
