package identity

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
)

var permissionRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}[a-z0-9]$`)

// checkable are the permissions Check answers, by kind of resource (from
// schema.zed). Asking for another is refused before anything is resolved,
// so the answer cannot tell what exists.
var checkable = map[string][]string{
	nexus.TypeZone:  {nexus.PermManage, nexus.PermAccess},
	nexus.TypeGroup: {nexus.PermManage, nexus.PermMembership, nexus.PermView},
	"path":          {nexus.PermRead, nexus.PermWrite, nexus.PermShare, nexus.PermDelete, nexus.PermAdmin},
}

func checkPermission(kind, permission string) error {
	for _, p := range checkable[kind] {
		if p == permission {
			return nil
		}
	}
	return errs.Invalid("permission", "%q is not a permission of a %s; use one of %s", permission, kind, strings.Join(checkable[kind], ", "))
}

// isSelf reports whether a subject reference names the caller itself,
// without resolving it (resolving another's would tell who exists).
func isSelf(p Principal, ref string) bool {
	typ, name, ok := strings.Cut(ref, ":")
	if !ok {
		name = ref
	} else if typ != nexus.TypeUser {
		return false
	}
	zone, user, qualified := strings.Cut(name, "/")
	if !qualified {
		return name == p.User.Name
	}
	return zone == p.Zone.Name && user == p.User.Name
}

// PathObjects resolves file-plane paths for Check. The file plane
// implements it; the Check handler, which knows both capabilities, passes
// it, so identity never holds the file plane.
type PathObjects interface {
	Object(ctx context.Context, zone, path string) (authz.ObjectRef, []authz.Token, error)
}

// visibleResource parses "zone:NAME" or "group:NAME" (NAME may be zone/name
// for a group) into an authz object and the zone it belongs to, among the
// zones and groups p may see (zoneFor): another zone's name is NotFound for
// a non-operator whether or not it exists, as a missing name is.
func (s *Service) visibleResource(ctx context.Context, p Principal, ref string) (authz.ObjectRef, ZoneID, error) {
	typ, name, ok := strings.Cut(ref, ":")
	if !ok {
		return authz.ObjectRef{}, "", errs.Invalid("resource", "%q must be zone:NAME or group:NAME", ref)
	}
	switch typ {
	case nexus.TypeZone:
		if err := ValidateName("resource", name); err != nil {
			return authz.ObjectRef{}, "", err
		}
		z, err := s.zoneFor(ctx, p, name)
		if err != nil {
			return authz.ObjectRef{}, "", err
		}
		return zoneObj(z.ID), z.ID, nil
	case nexus.TypeGroup:
		g, _, err := s.visibleGroup(ctx, p, "resource", name)
		if err != nil {
			return authz.ObjectRef{}, "", err
		}
		return groupObj(g.ID), g.Zone, nil
	}
	return authz.ObjectRef{}, "", errs.Invalid("resource", "type %q: identity resources are zone:NAME or group:NAME", typ)
}

// errAskOthers refuses a question about another subject to a caller who may
// not ask it.
var errAskOthers = errs.E(errs.PermissionDenied, "only an admin of the resource's zone may ask about other subjects")

// mayAskOthers allows questions about other subjects to the admins of
// zone (and operators). Only a refusal becomes errAskOthers: an error that
// kept the answer from being known (the engine or the database down) is
// returned as it is, not as a denial.
func (s *Service) mayAskOthers(ctx context.Context, p Principal, zone ZoneID) error {
	err := s.mayManageZone(ctx, p, zone)
	if errors.Is(err, errs.PermissionDenied) {
		return errAskOthers
	}
	return err
}

// Check answers whether subjectRef (empty: the caller) has permission on
// resourceRef, resolving a path resource with paths (nil: paths are not
// served). Anyone may ask about themselves; asking about another subject
// takes admin of the resource's zone (or an operator).
//
// Nothing in the answer tells a resource the caller cannot see from one
// that does not exist. About oneself, both are a plain denial without a
// revision (a revision is the engine's answer, which a missing resource
// cannot have); only who sees everything of the kind (a zone's admin for
// its paths, an operator for zones and groups) gets NotFound for a missing
// one. About another subject, a non-admin is refused before a path is
// resolved, and another zone's names are NotFound, as missing ones are.
func (s *Service) Check(ctx context.Context, p Principal, paths PathObjects, resourceRef, permission, subjectRef string, c authz.Consistency) (authz.Decision, error) {
	if !permissionRE.MatchString(permission) {
		return authz.Decision{}, errs.Invalid("permission", "%q must be a permission name of schema.zed, such as read, write, manage, access or membership", permission)
	}
	kind, _, _ := strings.Cut(resourceRef, ":")
	if strings.HasPrefix(resourceRef, "/") {
		kind = "path"
	}
	if _, known := checkable[kind]; !known {
		return authz.Decision{}, errs.Invalid("resource", "%q must be a path, zone:NAME or group:NAME", resourceRef)
	}
	if err := checkPermission(kind, permission); err != nil {
		return authz.Decision{}, err
	}
	self := subjectRef == "" || isSelf(p, subjectRef)
	var (
		res    authz.ObjectRef
		zone   ZoneID
		tokens []authz.Token
		err    error
	)
	if kind == "path" {
		if paths == nil {
			return authz.Decision{}, errs.Invalid("resource", "paths are not served here")
		}
		zone = p.Zone.ID
		if !self {
			// A path's zone is the caller's: refuse before resolving.
			if err := s.mayAskOthers(ctx, p, zone); err != nil {
				return authz.Decision{}, err
			}
		}
		res, tokens, err = paths.Object(ctx, string(p.Zone.ID), resourceRef)
		if errors.Is(err, errs.NotFound) && self {
			if admin, aerr := s.IsZoneAdmin(ctx, zone, p.User.ID); aerr != nil || !admin {
				return authz.Decision{}, aerr
			}
		}
	} else {
		res, zone, err = s.visibleResource(ctx, p, resourceRef)
		if errors.Is(err, errs.NotFound) && self {
			if op, oerr := s.IsOperator(ctx, p); oerr != nil || !op {
				return authz.Decision{}, oerr
			}
		}
	}
	if err != nil {
		return authz.Decision{}, err
	}
	subject := userSubj(p.User.ID)
	if !self {
		// Only admins of the resource's zone may ask about others, and only
		// they learn whether the subject exists.
		if err := s.mayAskOthers(ctx, p, zone); err != nil {
			return authz.Decision{}, err
		}
		m, err := s.ResolveMember(ctx, p, "subject", subjectRef)
		if err != nil {
			return authz.Decision{}, err
		}
		subject = m.Subject()
	}
	if !c.IsFullyConsistent() {
		c = authz.AtLeastAsFresh(s.engine.Newest(append(tokens, c.Token(), s.MembershipToken())...))
	}
	d, err := s.engine.Check(ctx, authz.CheckItem{Resource: res, Permission: permission, Subject: subject}, c)
	if errors.Is(err, authz.ErrInvalid) {
		// The engine's message names internal ids; the caller gets none.
		return authz.Decision{}, errs.Wrap(errs.InvalidArgument, err, "the schema does not allow asking %s of %s", permission, resourceRef)
	}
	if err != nil || d.Allowed || !self || kind != "path" {
		return d, err
	}
	// Denied a path: if the caller cannot read it either, it is one the
	// caller cannot see, and answers as a missing one does.
	if permission != nexus.PermRead {
		r, err := s.engine.Check(ctx, authz.CheckItem{Resource: res, Permission: nexus.PermRead, Subject: subject}, c)
		if err != nil || r.Allowed {
			return d, err
		}
	}
	return authz.Decision{}, nil
}
