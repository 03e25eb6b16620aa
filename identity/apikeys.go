package identity

import (
	"context"
	"errors"
	"time"

	"github.com/nexus-authz/nexus/errs"
)

// MaxKeyLifetime is the longest expiry a key may be given.
const MaxKeyLifetime = 10 * 365 * 24 * time.Hour

// MaxDescriptionLen bounds a key's description, in bytes.
const MaxDescriptionLen = 256

// visibleUser finds a user by "name" or "zone/name" among the users p may
// see (visibleName).
func (s *Service) visibleUser(ctx context.Context, p Principal, field, ref string) (User, error) {
	notFound := errs.E(errs.NotFound, "user %q not found", ref)
	z, name, err := s.visibleName(ctx, p, field, ref, notFound)
	if err != nil {
		return User{}, err
	}
	u, err := s.store.UserByName(ctx, s.db, z.ID, name)
	if errors.Is(err, errs.NotFound) {
		return User{}, notFound
	}
	return u, err
}

// keyOwner resolves the user a key call is about: empty is the caller. The
// caller may act on itself; zone admins and operators on others. A user of
// a zone the caller may not see is NotFound, as a missing one is; another
// user of the caller's own zone (whom ListUsers shows) is PermissionDenied
// for a non-admin.
func (s *Service) keyOwner(ctx context.Context, p Principal, userRef string) (User, error) {
	if userRef == "" {
		return p.User, nil
	}
	u, err := s.visibleUser(ctx, p, "user", userRef)
	if err != nil {
		return User{}, err
	}
	if u.ID == p.User.ID {
		return u, nil
	}
	if err := s.mayManageZone(ctx, p, u.Zone); err != nil {
		return User{}, err
	}
	return u, nil
}

// CreateAPIKey creates a key for userRef (empty: the caller). expiresIn 0
// means the key does not expire. The secret is returned once.
func (s *Service) CreateAPIKey(ctx context.Context, p Principal, userRef, description string, expiresIn time.Duration) (APIKey, string, error) {
	return s.CreateScopedAPIKey(ctx, p, userRef, description, expiresIn, ScopeNone)
}

// CreateScopedAPIKey is CreateAPIKey for a key of a scope (stored in
// ParseScope's form). A service key (ScopeCheck, ScopeWrite, a prefixed
// write scope) reaches the SpiceDB API, whose service
// definitions belong to no zone, so only an operator may create one (for
// any user; a service user of its own is the usual owner), and only with a
// user's key.
func (s *Service) CreateScopedAPIKey(ctx context.Context, p Principal, userRef, description string, expiresIn time.Duration, scope Scope) (APIKey, string, error) {
	scope, err := ParseScope(string(scope))
	if err != nil {
		return APIKey{}, "", err
	}
	if scope != ScopeNone {
		op, err := s.IsOperator(ctx, p)
		if err != nil {
			return APIKey{}, "", err
		}
		if !op || p.Scope != ScopeNone {
			return APIKey{}, "", errs.E(errs.PermissionDenied, "only an operator (an admin of zone %q) may create a service key", DefaultZone)
		}
	}
	switch {
	case expiresIn < 0:
		return APIKey{}, "", errs.Invalid("expires_in", "must not be negative")
	case expiresIn > MaxKeyLifetime:
		return APIKey{}, "", errs.Invalid("expires_in", "%s is longer than the maximum of %s", expiresIn, MaxKeyLifetime)
	case len(description) > MaxDescriptionLen:
		return APIKey{}, "", errs.Invalid("description", "%d bytes is longer than %d", len(description), MaxDescriptionLen)
	}
	u, err := s.keyOwner(ctx, p, userRef)
	if err != nil {
		return APIKey{}, "", err
	}
	id, secret, hash := newKey()
	now := s.now()
	k := APIKey{ID: id, User: u.ID, Description: description, Hash: hash, CreatedAt: now, Scope: scope}
	if expiresIn > 0 {
		k.ExpiresAt = now.Add(expiresIn)
	}
	if err := s.store.InsertKey(ctx, s.db, k); err != nil {
		return APIKey{}, "", err
	}
	s.log.Info("api key created", "key_id", k.ID, "user", u.Name, "scope", string(scope), "by", p.Name())
	return k, secret, nil
}

// RevokeAPIKey revokes a key. Its owner, and admins of the owner's zone, may.
// A key the caller may not revoke is NotFound.
func (s *Service) RevokeAPIKey(ctx context.Context, p Principal, id KeyID) error {
	notFound := errs.E(errs.NotFound, "API key %q not found", id)
	if id == "" {
		return errs.Invalid("id", "must not be empty")
	}
	k, err := s.store.Key(ctx, s.db, id)
	if errors.Is(err, errs.NotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	if k.User != p.User.ID {
		u, err := s.store.User(ctx, s.db, k.User)
		if err != nil {
			return err
		}
		if err := s.mayManageZone(ctx, p, u.Zone); errors.Is(err, errs.PermissionDenied) {
			return notFound
		} else if err != nil {
			return err // not known: not a refusal either
		}
	}
	if err := s.store.RevokeKey(ctx, s.db, id, s.now()); err != nil {
		return err
	}
	s.auth.forget(id)
	s.log.Info("api key revoked", "key_id", id, "by", p.Name())
	return nil
}

// ListAPIKeys lists userRef's keys (empty: the caller's).
func (s *Service) ListAPIKeys(ctx context.Context, p Principal, userRef string) ([]APIKey, User, error) {
	u, err := s.keyOwner(ctx, p, userRef)
	if err != nil {
		return nil, User{}, err
	}
	keys, err := s.store.Keys(ctx, s.db, u.ID)
	return keys, u, err
}
