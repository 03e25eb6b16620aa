package identity

import (
	"context"
	"regexp"
	"strings"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/internal/errs"
)

var permissionRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}[a-z0-9]$`)

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
		return authz.Decision{}, errs.Invalid("permission", "%q must be a permission name of schema.zed, such as manage, access or membership", permission)
	}
	res, zone, err := s.ResolveResource(ctx, p, resourceRef)
	if err != nil {
		return authz.Decision{}, err
	}
	subject := userSubj(p.User.ID)
	if subjectRef != "" {
		m, err := s.ResolveMember(ctx, p, "subject", subjectRef)
		if err != nil {
			return authz.Decision{}, err
		}
		subject = m.Subject()
		if m.User == nil || m.User.ID != p.User.ID {
			if err := s.mayManageZone(ctx, p, zone); err != nil {
				return authz.Decision{}, errs.E(errs.PermissionDenied, "only an admin of the resource's zone may ask about other subjects")
			}
		}
	}
	return s.engine.Check(ctx, authz.CheckItem{Resource: res, Permission: permission, Subject: subject}, c)
}
