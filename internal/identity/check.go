package identity

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/internal/errs"
)

var permissionRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}[a-z0-9]$`)

// PathObjects resolves file-plane paths for Check (the file plane
// implements it).
type PathObjects interface {
	Object(ctx context.Context, zone, path string) (authz.ObjectRef, []authz.Token, error)
}

// SetPathObjects lets Check answer about paths.
func (s *Service) SetPathObjects(po PathObjects) { s.paths = po }

// ResolveResource parses "zone:NAME" or "group:NAME" (NAME may be
// zone/name for a group) into an authz object and the zone it belongs to.
func (s *Service) ResolveResource(ctx context.Context, p Principal, ref string) (authz.ObjectRef, ZoneID, error) {
	typ, name, ok := strings.Cut(ref, ":")
	if !ok {
		return authz.ObjectRef{}, "", errs.Invalid("resource", "%q must be zone:NAME or group:NAME", ref)
	}
	switch typ {
	case typeZone:
		if err := ValidateName("resource", name); err != nil {
			return authz.ObjectRef{}, "", err
		}
		z, err := s.zoneByName(ctx, p, name)
		if err != nil {
			return authz.ObjectRef{}, "", err
		}
		return zoneObj(z.ID), z.ID, nil
	case typeGroup:
		g, err := s.ResolveGroup(ctx, p, "resource", name)
		if err != nil {
			return authz.ObjectRef{}, "", err
		}
		return groupObj(g.ID), g.Zone, nil
	}
	return authz.ObjectRef{}, "", errs.Invalid("resource", "type %q: identity resources are zone:NAME or group:NAME", typ)
}

// Check answers whether subjectRef (empty: the caller) has permission on
// resourceRef. Anyone may ask about themselves; asking about another subject
// takes admin of the resource's zone (or an operator).
func (s *Service) Check(ctx context.Context, p Principal, resourceRef, permission, subjectRef string, c authz.Consistency) (authz.Decision, error) {
	if !permissionRE.MatchString(permission) {
		return authz.Decision{}, errs.Invalid("permission", "%q must be a permission name of schema.zed, such as read, write, manage, access or membership", permission)
	}
	subject := userSubj(p.User.ID)
	self := true
	if subjectRef != "" {
		m, err := s.ResolveMember(ctx, p, "subject", subjectRef)
		if err != nil {
			return authz.Decision{}, err
		}
		subject = m.Subject()
		self = m.User != nil && m.User.ID == p.User.ID
	}
	var (
		res    authz.ObjectRef
		zone   ZoneID
		tokens []authz.Token
		err    error
	)
	if strings.HasPrefix(resourceRef, "/") {
		if s.paths == nil {
			return authz.Decision{}, errs.Invalid("resource", "paths are not served here")
		}
		zone = p.Zone.ID
		res, tokens, err = s.paths.Object(ctx, string(p.Zone.ID), resourceRef)
		if errors.Is(err, errs.NotFound) && self {
			// Asking about oneself must not tell what exists: a path one
			// cannot see is simply denied.
			if admin, aerr := s.IsZoneAdmin(ctx, zone, p.User.ID); aerr != nil || !admin {
				return authz.Decision{}, aerr
			}
		}
	} else {
		res, zone, err = s.ResolveResource(ctx, p, resourceRef)
	}
	if err != nil {
		return authz.Decision{}, err
	}
	if !self {
		if err := s.mayManageZone(ctx, p, zone); err != nil {
			return authz.Decision{}, errs.E(errs.PermissionDenied, "only an admin of the resource's zone may ask about other subjects")
		}
	}
	if !c.IsFullyConsistent() {
		c = authz.AtLeastAsFresh(s.engine.Newest(append(tokens, c.Token(), s.MembershipToken())...))
	}
	return s.engine.Check(ctx, authz.CheckItem{Resource: res, Permission: permission, Subject: subject}, c)
}
