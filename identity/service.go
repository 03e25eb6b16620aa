package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/internal/coalesce"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/postgres"
)

// Engine is what identity needs of authz: decisions, and writes whose
// relationships commit in the same transaction as identity's rows.
type Engine interface {
	authz.Checker
	authz.Writer
	Read(ctx context.Context, f authz.Filter, c authz.Consistency) ([]authz.Relationship, error)
	Newest(tokens ...authz.Token) authz.Token
}

// Service is the identity capability. Methods taking a Principal act on its
// behalf and check that it may.
type Service struct {
	db     storage.DB
	store  Store
	engine Engine
	log    *slog.Logger
	now    func() time.Time

	// membership is the token of the last change to who belongs to which
	// group or zone; decisions elsewhere must be at least this fresh.
	membership atomic.Pointer[authz.Token]
	names      sync.Map // UserID -> userName
	auth       authCache
	// shared: other nodes write to the same store (SharedStore).
	shared bool
	// keys reads keys' rows from the primary when shared. A busy service
	// key is presented by many calls at once; one read that began after
	// all of them asked answers them together, and is as fresh for each as
	// a read of its own.
	keys coalesce.Reads[KeyID, APIKey]
}

// SharedStore tells the service that other nodes share its store
// (PostgreSQL mode). A key revoked on any node must then be refused on
// this one at once, not after the authentication cache's TTL: every
// authentication reads the key's row from the primary (one indexed row),
// and the cache only saves the user and zone lookups; while the primary is
// unreachable the row is read where the call's reads go, so reads keep
// working. Calls presenting the same key at once share a read of its row
// that began after each of them arrived. Call before serving.
func (s *Service) SharedStore() {
	s.shared = true
	s.keys.Read = func(ctx context.Context, id KeyID) (APIKey, error) {
		return s.store.Key(postgres.WithPrimary(ctx), s.db, id)
	}
}

// MembershipToken returns the token of the last group or zone membership
// change made through this service ("" if none since start; the engine's
// start-up floor covers earlier ones).
func (s *Service) MembershipToken() authz.Token {
	if t := s.membership.Load(); t != nil {
		return *t
	}
	return ""
}

func (s *Service) membershipChanged(t authz.Token) {
	if t == "" {
		return
	}
	// Concurrent changes may report out of order: keep the newest.
	for {
		cur := s.membership.Load()
		next := t
		if cur != nil {
			if next = s.engine.Newest(*cur, t); next == "" {
				next = t
			}
			if next == *cur {
				return
			}
		}
		if s.membership.CompareAndSwap(cur, &next) {
			return
		}
	}
}

// NewService returns a Service over db (for reads), store and engine.
func NewService(db storage.DB, store Store, engine Engine, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: db, store: store, engine: engine, log: log, now: time.Now}
}

func zoneObj(id ZoneID) authz.ObjectRef   { return authz.Obj(nexus.TypeZone, string(id)) }
func groupObj(id GroupID) authz.ObjectRef { return authz.Obj(nexus.TypeGroup, string(id)) }
func userSubj(id UserID) authz.SubjectRef { return authz.Subject(nexus.TypeUser, string(id)) }
func groupSet(id GroupID) authz.SubjectRef {
	return authz.SubjectSet(nexus.TypeGroup, string(id), nexus.RelMember)
}

// UserSubject is the authz subject of a user.
func UserSubject(id UserID) authz.SubjectRef { return userSubj(id) }

// GroupSubject is the authz subject set of a group's members.
func GroupSubject(id GroupID) authz.SubjectRef { return groupSet(id) }

// Bootstrap prepares an empty database: zone "default", user "admin" as its
// admin, and an API key for it. It returns the key's secret and true, or ""
// and false if the database was not empty. saveKey is called with the
// secret before anything is committed, so a crash never leaves an admin
// without a saved key.
func (s *Service) Bootstrap(ctx context.Context, saveKey func(secret string) error) (bool, error) {
	zones, err := s.store.Zones(ctx, s.db)
	if err != nil {
		return false, err
	}
	if len(zones) > 0 {
		return false, nil
	}
	now := s.now()
	z := Zone{ID: ZoneID(storage.NewID("zone")), Name: DefaultZone, CreatedAt: now}
	u := User{ID: UserID(storage.NewID("user")), Zone: z.ID, Name: AdminUser, CreatedAt: now}
	id, secret, hash := newKey()
	k := APIKey{ID: id, User: u.ID, Description: "created at first start", Hash: hash, CreatedAt: now}
	if err := saveKey(secret); err != nil {
		return false, err
	}
	_, err = s.engine.Write(ctx, []authz.Update{
		authz.TouchRel(authz.Rel(zoneObj(z.ID), nexus.RelAdmin, userSubj(u.ID))),
		authz.TouchRel(authz.Rel(zoneObj(z.ID), nexus.RelMember, userSubj(u.ID))),
	}, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		if err := s.store.InsertZone(ctx, tx, z); err != nil {
			return err
		}
		if err := s.store.InsertUser(ctx, tx, u); err != nil {
			return err
		}
		return s.store.InsertKey(ctx, tx, k)
	}))
	if errors.Is(err, errs.AlreadyExists) {
		return false, nil // another node on the same database bootstrapped first
	}
	if err != nil {
		return false, fmt.Errorf("creating the default zone and its admin: %w", err)
	}
	return true, nil
}

// errBadKey is the one answer to every failed authentication, so a caller
// learns nothing about which keys exist.
var errBadKey = errs.E(errs.Unauthenticated, "missing, unknown, revoked or expired API key; send Authorization: Bearer <key>")

// Authenticate turns a presented key into a Principal. A missing, malformed,
// unknown, revoked or expired key is the same Unauthenticated error.
//
// Once RevokeAPIKey returns, the key is refused: on this node the cache
// forgets it and cannot re-admit it; with other nodes on the store
// (SharedStore) every call reads the key's row from the primary, so a revoke
// on any node is seen by the next call on every node (while the primary is
// down, when no revoke can commit, from where the call's reads go). Calls
// with the same key share that read only when it began after they arrived.
func (s *Service) Authenticate(ctx context.Context, presented string) (Principal, error) {
	id, secret, ok := parseKey(presented)
	if !ok {
		return Principal{}, errBadKey
	}
	now := s.now()
	if !s.shared {
		if p, ok := s.auth.get(id, secret, now); ok {
			return p, nil
		}
	}
	gen := s.auth.generation()
	var k APIKey
	var err error
	if s.shared {
		// A replica may not have replayed a revoke (or a key made a moment
		// ago on another node): the key's row comes from the primary.
		k, err = s.keys.Get(ctx, id)
		if storage.IsUnavailable(err) {
			// The primary is down, so no revoke can commit now; read the
			// row where the call's other reads go, as fresh as the last
			// revoke the replica replayed (reads keep working).
			k, err = s.store.Key(ctx, s.db, id)
		} else {
			ctx = postgres.WithPrimary(ctx)
		}
	} else {
		k, err = s.store.Key(ctx, s.db, id)
	}
	if _, replica := postgres.MinLSN(ctx); replica && errors.Is(err, errs.NotFound) {
		// A replica may not have replayed a key made a moment ago (on
		// another node, whose token this call does not carry): ask the
		// primary before refusing. The rest of the lookup reads there too.
		ctx = postgres.WithPrimary(ctx)
		k, err = s.store.Key(ctx, s.db, id)
	}
	if errors.Is(err, errs.NotFound) {
		return Principal{}, errBadKey
	}
	if err != nil {
		return Principal{}, err
	}
	switch {
	case !secretMatches(secret, k.Hash):
		return Principal{}, errBadKey
	case !k.RevokedAt.IsZero():
		return Principal{}, errBadKey
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return Principal{}, errBadKey
	}
	if s.shared {
		// The key is valid now; the cache saves the user and zone lookups.
		if p, ok := s.auth.get(id, secret, now); ok {
			return p, nil
		}
	}
	u, err := s.store.User(ctx, s.db, k.User)
	if err != nil {
		return Principal{}, err
	}
	z, err := s.store.Zone(ctx, s.db, u.Zone)
	if err != nil {
		return Principal{}, err
	}
	p := Principal{User: u, Zone: z, KeyID: k.ID, Scope: k.Scope}
	s.auth.put(gen, k, p, now)
	return p, nil
}

// check asks the engine, fully consistent: administrative decisions are
// rare and must see the newest grants and revocations.
func (s *Service) check(ctx context.Context, resource authz.ObjectRef, permission string, subject authz.SubjectRef) (bool, error) {
	d, err := s.engine.Check(ctx, authz.CheckItem{Resource: resource, Permission: permission, Subject: subject}, authz.FullyConsistent())
	if err != nil {
		return false, err
	}
	return d.Allowed, nil
}

// IsOperator reports whether p administers the default zone.
func (s *Service) IsOperator(ctx context.Context, p Principal) (bool, error) {
	z, err := s.store.ZoneByName(ctx, s.db, DefaultZone)
	if err != nil {
		return false, err
	}
	return s.check(ctx, zoneObj(z.ID), nexus.PermManage, userSubj(p.User.ID))
}

// IsZoneAdmin reports whether user administers zone.
func (s *Service) IsZoneAdmin(ctx context.Context, zone ZoneID, user UserID) (bool, error) {
	return s.check(ctx, zoneObj(zone), nexus.PermManage, userSubj(user))
}

// mayManageZone: the zone's admins, and operators.
func (s *Service) mayManageZone(ctx context.Context, p Principal, zone ZoneID) error {
	ok, err := s.IsZoneAdmin(ctx, zone, p.User.ID)
	if err != nil || ok {
		return err
	}
	if op, err := s.IsOperator(ctx, p); err != nil || op {
		return err
	}
	return errs.E(errs.PermissionDenied, "only an admin of the zone may do this")
}

// zoneFor resolves a zone name, empty meaning p's own zone. A zone the
// caller may not see (not its own, and the caller not an operator) is
// NotFound, so names cannot be probed.
func (s *Service) zoneFor(ctx context.Context, p Principal, name string) (Zone, error) {
	if name == "" || name == p.Zone.Name {
		return p.Zone, nil
	}
	if err := ValidateName("zone", name); err != nil {
		return Zone{}, err
	}
	notFound := errs.E(errs.NotFound, "zone %q not found", name)
	// Who may see other zones is decided before any is looked up.
	op, err := s.IsOperator(ctx, p)
	if err != nil {
		return Zone{}, err
	}
	if !op {
		return Zone{}, notFound
	}
	z, err := s.store.ZoneByName(ctx, s.db, name)
	if errors.Is(err, errs.NotFound) {
		return Zone{}, notFound
	}
	return z, err
}

// CreateZone creates a zone. Operators only.
func (s *Service) CreateZone(ctx context.Context, p Principal, name string) (Zone, error) {
	if err := ValidateName("zone name", name); err != nil {
		return Zone{}, err
	}
	op, err := s.IsOperator(ctx, p)
	if err != nil {
		return Zone{}, err
	}
	if !op {
		return Zone{}, errs.E(errs.PermissionDenied, "only an admin of zone %q may create zones", DefaultZone)
	}
	z := Zone{ID: ZoneID(storage.NewID("zone")), Name: name, CreatedAt: s.now()}
	if err := storage.InTx(ctx, s.db, func(tx *sql.Tx) error { return s.store.InsertZone(ctx, tx, z) }); err != nil {
		if errors.Is(err, errs.AlreadyExists) {
			return Zone{}, errs.E(errs.AlreadyExists, "zone %q already exists", name)
		}
		return Zone{}, err
	}
	s.log.Info("zone created", "zone", name, "by", p.Name())
	return z, nil
}

// ListZones lists every zone for operators, else the caller's own.
func (s *Service) ListZones(ctx context.Context, p Principal) ([]Zone, error) {
	op, err := s.IsOperator(ctx, p)
	if err != nil {
		return nil, err
	}
	if !op {
		return []Zone{p.Zone}, nil
	}
	return s.store.Zones(ctx, s.db)
}

// CreateUser creates a user in zoneName (empty: the caller's), optionally as
// its admin.
func (s *Service) CreateUser(ctx context.Context, p Principal, name, zoneName string, zoneAdmin bool) (User, authz.Token, error) {
	if err := ValidateName("user name", name); err != nil {
		return User{}, "", err
	}
	z, err := s.zoneFor(ctx, p, zoneName)
	if err != nil {
		return User{}, "", err
	}
	if err := s.mayManageZone(ctx, p, z.ID); err != nil {
		return User{}, "", err
	}
	u := User{ID: UserID(storage.NewID("user")), Zone: z.ID, Name: name, CreatedAt: s.now()}
	updates := []authz.Update{authz.TouchRel(authz.Rel(zoneObj(z.ID), nexus.RelMember, userSubj(u.ID)))}
	if zoneAdmin {
		updates = append(updates, authz.TouchRel(authz.Rel(zoneObj(z.ID), nexus.RelAdmin, userSubj(u.ID))))
	}
	tok, err := s.engine.Write(ctx, updates, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		return s.store.InsertUser(ctx, tx, u)
	}))
	if errors.Is(err, errs.AlreadyExists) {
		return User{}, "", errs.E(errs.AlreadyExists, "user %q already exists in zone %q", name, z.Name)
	}
	if err != nil {
		return User{}, "", err
	}
	s.membershipChanged(tok)
	s.log.Info("user created", "zone", z.Name, "user", name, "zone_admin", zoneAdmin, "by", p.Name())
	return u, tok, nil
}

// ListUsers lists a zone's users. Members of the zone and operators may.
func (s *Service) ListUsers(ctx context.Context, p Principal, zoneName string) ([]User, error) {
	z, err := s.zoneFor(ctx, p, zoneName)
	if err != nil {
		return nil, err
	}
	return s.store.Users(ctx, s.db, z.ID)
}

// UserRoles says, for a zone's users, who administers the zone (directly
// or through a group: the zone's manage permission) and whom each agent
// acts for (its owner), as fresh as the last membership change.
func (s *Service) UserRoles(ctx context.Context, zone ZoneID) (admins map[UserID]bool, owners map[UserID]UserID, err error) {
	c := authz.AtLeastAsFresh(s.MembershipToken())
	ids, err := s.engine.LookupSubjects(ctx, authz.Obj(nexus.TypeZone, string(zone)), nexus.PermManage, nexus.TypeUser, "", c)
	if err != nil {
		return nil, nil, err
	}
	admins = make(map[UserID]bool, len(ids))
	for _, id := range ids {
		admins[UserID(id)] = true
	}
	rels, err := s.engine.Read(ctx, authz.Filter{Resource: authz.ObjectRef{Type: nexus.TypeUser}, Relation: nexus.RelOwner}, c)
	if err != nil {
		return nil, nil, err
	}
	owners = make(map[UserID]UserID, len(rels))
	for _, r := range rels {
		owners[UserID(r.Resource.ID)] = UserID(r.Subject.Object.ID)
	}
	return admins, owners, nil
}

// CreateGroup creates a group in zoneName (empty: the caller's).
func (s *Service) CreateGroup(ctx context.Context, p Principal, name, zoneName string) (Group, authz.Token, error) {
	if err := ValidateName("group name", name); err != nil {
		return Group{}, "", err
	}
	z, err := s.zoneFor(ctx, p, zoneName)
	if err != nil {
		return Group{}, "", err
	}
	if err := s.mayManageZone(ctx, p, z.ID); err != nil {
		return Group{}, "", err
	}
	g := Group{ID: GroupID(storage.NewID("group")), Zone: z.ID, Name: name, CreatedAt: s.now()}
	tok, err := s.engine.Write(ctx, []authz.Update{
		authz.TouchRel(authz.Rel(groupObj(g.ID), nexus.RelZone, authz.Subject(nexus.TypeZone, string(z.ID)))),
	}, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		return s.store.InsertGroup(ctx, tx, g)
	}))
	if errors.Is(err, errs.AlreadyExists) {
		return Group{}, "", errs.E(errs.AlreadyExists, "group %q already exists in zone %q", name, z.Name)
	}
	if err != nil {
		return Group{}, "", err
	}
	s.log.Info("group created", "zone", z.Name, "group", name, "by", p.Name())
	return g, tok, nil
}

// ListGroups lists a zone's groups.
func (s *Service) ListGroups(ctx context.Context, p Principal, zoneName string) ([]Group, error) {
	z, err := s.zoneFor(ctx, p, zoneName)
	if err != nil {
		return nil, err
	}
	return s.store.Groups(ctx, s.db, z.ID)
}

// UserName returns the name of a user id ("zone/name" for another zone's
// user relative to zone), for display. Names never change, so they are
// cached. An unknown id is returned as it is.
func (s *Service) UserName(ctx context.Context, zone ZoneID, id UserID) string {
	if v, ok := s.names.Load(id); ok {
		n := v.(userName)
		if n.zone == zone {
			return n.name
		}
		return n.zoneName + "/" + n.name
	}
	u, err := s.store.User(ctx, s.db, id)
	if err != nil {
		return string(id)
	}
	z, err := s.store.Zone(ctx, s.db, u.Zone)
	if err != nil {
		return string(id)
	}
	s.names.Store(id, userName{zone: u.Zone, zoneName: z.Name, name: u.Name})
	return s.UserName(ctx, zone, id)
}

type userName struct {
	zone     ZoneID
	zoneName string
	name     string
}
