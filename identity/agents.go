package identity

import (
	"context"
	"database/sql"
	"errors"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

// CreateAgent creates an agent: a user of owner's zone with its own keys,
// owned by owner (user:<agent>#owner@user:<owner>), who may read what the
// agent remembers. Like any user, only an admin of the zone creates one.
func (s *Service) CreateAgent(ctx context.Context, p Principal, name, ownerRef string) (User, authz.Token, error) {
	if err := ValidateName("user name", name); err != nil {
		return User{}, "", err
	}
	owner, err := s.agentOwner(ctx, p, ownerRef)
	if err != nil {
		return User{}, "", err
	}
	u := User{ID: UserID(storage.NewID("user")), Zone: owner.Zone, Name: name, CreatedAt: s.now()}
	tok, err := s.engine.Write(ctx, []authz.Update{
		authz.TouchRel(authz.Rel(zoneObj(owner.Zone), nexus.RelMember, userSubj(u.ID))),
		authz.TouchRel(authz.Rel(authz.Obj(nexus.TypeUser, string(u.ID)), nexus.RelOwner, userSubj(owner.ID))),
	}, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		return s.store.InsertUser(ctx, tx, u)
	}))
	if errors.Is(err, errs.AlreadyExists) {
		return User{}, "", errs.E(errs.AlreadyExists, "user %q already exists in the zone", name)
	}
	if err != nil {
		return User{}, "", err
	}
	s.membershipChanged(tok)
	s.log.Info("agent created", "agent", name, "owner", owner.Name, "by", p.Name())
	return u, tok, nil
}

// agentOwner resolves ownerRef for CreateAgent, checking that p may manage
// the owner's zone before looking the owner up, so that the answer tells a
// caller who may not nothing about which zones and users exist: a name in
// another zone the caller may not see is NotFound whether or not the zone
// or the user exists, and a name in the caller's own zone is
// PermissionDenied whether or not the user exists.
func (s *Service) agentOwner(ctx context.Context, p Principal, ownerRef string) (User, error) {
	q, err := ParseQualified("agent_of", ownerRef)
	if err != nil {
		return User{}, err
	}
	notFound := errs.E(errs.NotFound, "user %q not found", ownerRef)
	zone := p.Zone
	if q.Zone != "" && q.Zone != p.Zone.Name {
		// Other zones are visible to operators only.
		op, err := s.IsOperator(ctx, p)
		if err != nil {
			return User{}, err
		}
		if !op {
			return User{}, notFound
		}
		zone, err = s.store.ZoneByName(ctx, s.db, q.Zone)
		if errors.Is(err, errs.NotFound) {
			return User{}, notFound
		}
		if err != nil {
			return User{}, err
		}
	}
	if err := s.mayManageZone(ctx, p, zone.ID); err != nil {
		return User{}, err
	}
	owner, err := s.store.UserByName(ctx, s.db, zone.ID, q.Name)
	if errors.Is(err, errs.NotFound) {
		return User{}, notFound
	}
	return owner, err
}
