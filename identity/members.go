package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

// Member is a resolved group member or check subject.
type Member struct {
	User  *User
	Group *Group
}

// Subject is m's authz subject.
func (m Member) Subject() authz.SubjectRef {
	if m.Group != nil {
		return groupSet(m.Group.ID)
	}
	return userSubj(m.User.ID)
}

func (m Member) zone() ZoneID {
	if m.Group != nil {
		return m.Group.Zone
	}
	return m.User.Zone
}

// zoneByName finds a zone by name without the visibility rule of zoneFor:
// subjects of other zones may be named explicitly (in a grant, or by an
// admin asking about them in Check). Names of things to manage go through
// zoneFor instead (visibleGroup, visibleUser).
func (s *Service) zoneByName(ctx context.Context, p Principal, name string) (Zone, error) {
	if name == "" || name == p.Zone.Name {
		return p.Zone, nil
	}
	z, err := s.store.ZoneByName(ctx, s.db, name)
	if errors.Is(err, errs.NotFound) {
		return Zone{}, errs.E(errs.NotFound, "zone %q not found", name)
	}
	return z, err
}

// ResolveUser finds a user by "name" (the caller's zone) or "zone/name".
func (s *Service) ResolveUser(ctx context.Context, p Principal, field, ref string) (User, error) {
	return resolveNamed(ctx, s, p, field, ref, nexus.TypeUser, s.store.UserByName)
}

// ResolveGroup finds a group by "name" or "zone/name".
func (s *Service) ResolveGroup(ctx context.Context, p Principal, field, ref string) (Group, error) {
	return resolveNamed(ctx, s, p, field, ref, nexus.TypeGroup, s.store.GroupByName)
}

// resolveNamed finds the what (user, group) named by ref, "name" in the
// caller's zone or "zone/name", with byName.
func resolveNamed[T any](ctx context.Context, s *Service, p Principal, field, ref, what string,
	byName func(context.Context, storage.DBTX, ZoneID, string) (T, error)) (T, error) {
	var zero T
	q, err := ParseQualified(field, ref)
	if err != nil {
		return zero, err
	}
	z, err := s.zoneByName(ctx, p, q.Zone)
	if err != nil {
		return zero, err
	}
	v, err := byName(ctx, s.db, z.ID, q.Name)
	if errors.Is(err, errs.NotFound) {
		return zero, errs.E(errs.NotFound, "%s %q not found", what, ref)
	}
	return v, err
}

// ResolveMember parses "user:NAME", "group:NAME" (with an optional
// "#member"), either with "zone/" before NAME; a bare NAME is a user.
func (s *Service) ResolveMember(ctx context.Context, p Principal, field, ref string) (Member, error) {
	typ, name, ok := strings.Cut(ref, ":")
	if !ok {
		typ, name = nexus.TypeUser, ref
	}
	switch typ {
	case nexus.TypeUser:
		u, err := s.ResolveUser(ctx, p, field, name)
		if err != nil {
			return Member{}, err
		}
		return Member{User: &u}, nil
	case nexus.TypeGroup:
		name = strings.TrimSuffix(name, "#member")
		g, err := s.ResolveGroup(ctx, p, field, name)
		if err != nil {
			return Member{}, err
		}
		return Member{Group: &g}, nil
	}
	return Member{}, errs.Invalid(field, "%q must be user:NAME or group:NAME", ref)
}

// visibleName parses "name" or "zone/name" and finds its zone among the
// zones p may see (zoneFor): its own, and every zone for an operator. A name
// of a zone p may not see answers notFound, the answer of a missing name,
// whether or not the zone exists.
func (s *Service) visibleName(ctx context.Context, p Principal, field, ref string, notFound error) (Zone, string, error) {
	q, err := ParseQualified(field, ref)
	if err != nil {
		return Zone{}, "", err
	}
	z, err := s.zoneFor(ctx, p, q.Zone)
	if errors.Is(err, errs.NotFound) {
		return Zone{}, "", notFound
	}
	return z, q.Name, err
}

// visibleGroup finds a group by "name" or "zone/name" among the groups p may
// see (visibleName).
func (s *Service) visibleGroup(ctx context.Context, p Principal, field, ref string) (Group, Zone, error) {
	notFound := errs.E(errs.NotFound, "group %q not found", ref)
	z, name, err := s.visibleName(ctx, p, field, ref, notFound)
	if err != nil {
		return Group{}, Zone{}, err
	}
	g, err := s.store.GroupByName(ctx, s.db, z.ID, name)
	if errors.Is(err, errs.NotFound) {
		return Group{}, Zone{}, notFound
	}
	return g, z, err
}

// groupMember resolves a member reference of a group of zone z, relative to
// z. A reference naming another zone is refused before anything is looked
// up (a group holds members of its own zone only), so the answer cannot
// tell which names exist there.
func (s *Service) groupMember(ctx context.Context, z Zone, field, ref string) (Member, error) {
	_, name, typed := strings.Cut(ref, ":")
	if !typed {
		name = ref
	}
	if zone, _, qualified := strings.Cut(name, "/"); qualified && zone != z.Name {
		return Member{}, errs.Invalid(field, "a group holds members of its own zone only; share with the other zone's user or group instead")
	}
	return s.ResolveMember(ctx, Principal{Zone: z}, field, ref)
}

// mayManageGroup: the group's managers and its zone's admins (schema.zed's
// group#manage), and operators. g is one p may see (visibleGroup).
func (s *Service) mayManageGroup(ctx context.Context, p Principal, g Group) error {
	ok, err := s.check(ctx, groupObj(g.ID), nexus.PermManage, userSubj(p.User.ID))
	if err != nil || ok {
		return err
	}
	if op, err := s.IsOperator(ctx, p); err != nil || op {
		return err
	}
	return errs.E(errs.PermissionDenied, "only a manager of group %q or an admin of its zone may change its members", g.Name)
}

// AddGroupMember adds a user or group to a group of the same zone. A nesting
// that would make a cycle is refused.
func (s *Service) AddGroupMember(ctx context.Context, p Principal, groupRef, memberRef string) (authz.Token, error) {
	g, z, err := s.visibleGroup(ctx, p, "group", groupRef)
	if err != nil {
		return "", err
	}
	if err := s.mayManageGroup(ctx, p, g); err != nil {
		return "", err
	}
	m, err := s.groupMember(ctx, z, "member", memberRef)
	if err != nil {
		return "", err
	}
	if m.zone() != g.Zone {
		return "", errs.Invalid("member", "a group holds members of its own zone only; share with the other zone's user or group instead")
	}
	if m.Group != nil {
		if m.Group.ID == g.ID {
			return "", errs.Invalid("member", "group %q cannot contain itself", g.Name)
		}
		// The new edge makes g contain m's group. If m's group already
		// contains g (directly or through nesting), that is a cycle.
		cyc, err := s.check(ctx, groupObj(m.Group.ID), nexus.PermMembership, groupSet(g.ID))
		if err != nil {
			return "", err
		}
		if cyc {
			return "", errs.Invalid("member", "adding group %q to %q would make a cycle: %q is already inside %q", m.Group.Name, g.Name, g.Name, m.Group.Name)
		}
	}
	tok, err := s.engine.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupObj(g.ID), nexus.RelMember, m.Subject()))})
	if err != nil {
		return "", err
	}
	s.membershipChanged(tok)
	s.log.Info("group member added", "group", g.Name, "member", memberRef, "by", p.Name())
	return tok, nil
}

// RemoveGroupMember removes a direct member from a group.
func (s *Service) RemoveGroupMember(ctx context.Context, p Principal, groupRef, memberRef string) (authz.Token, error) {
	g, z, err := s.visibleGroup(ctx, p, "group", groupRef)
	if err != nil {
		return "", err
	}
	if err := s.mayManageGroup(ctx, p, g); err != nil {
		return "", err
	}
	m, err := s.groupMember(ctx, z, "member", memberRef)
	if err != nil {
		return "", err
	}
	tok, err := s.engine.Write(ctx, []authz.Update{authz.DeleteRel(authz.Rel(groupObj(g.ID), nexus.RelMember, m.Subject()))})
	if err != nil {
		return "", err
	}
	s.membershipChanged(tok)
	s.log.Info("group member removed", "group", g.Name, "member", memberRef, "by", p.Name())
	return tok, nil
}

// ListGroupMembers lists a group's direct members as "user:zone/name" or
// "group:zone/name". Members of the group's zone and operators may list;
// to others the group is NotFound, as a missing one is.
func (s *Service) ListGroupMembers(ctx context.Context, p Principal, groupRef string) ([]string, error) {
	g, z, err := s.visibleGroup(ctx, p, "group", groupRef)
	if err != nil {
		return nil, err
	}
	rels, err := s.engine.Read(ctx, authz.Filter{Resource: groupObj(g.ID), Relation: nexus.RelMember}, authz.FullyConsistent())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rels))
	for _, r := range rels {
		switch r.Subject.Object.Type {
		case nexus.TypeUser:
			u, err := s.store.User(ctx, s.db, UserID(r.Subject.Object.ID))
			if err != nil {
				return nil, fmt.Errorf("member %s: %w", r.Subject, err)
			}
			out = append(out, "user:"+z.Name+"/"+u.Name)
		case nexus.TypeGroup:
			m, err := s.store.Group(ctx, s.db, GroupID(r.Subject.Object.ID))
			if err != nil {
				return nil, fmt.Errorf("member %s: %w", r.Subject, err)
			}
			out = append(out, "group:"+z.Name+"/"+m.Name)
		}
	}
	return out, nil
}
