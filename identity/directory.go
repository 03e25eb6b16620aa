package identity

import (
	"context"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
)

// What other capabilities (sharing) need to name subjects: resolve
// "user:NAME" or "group:NAME" ("ZONE/NAME" for another zone's) relative to a
// zone, and name a subject back for display.

// SubjectIn resolves ref as ResolveMember does, relative to zone: the
// subject and the zone it belongs to. A subject that does not exist is
// errs.NotFound; a malformed one errs.InvalidArgument naming field.
func (s *Service) SubjectIn(ctx context.Context, zone ZoneID, field, ref string) (authz.SubjectRef, ZoneID, error) {
	z, err := s.store.Zone(ctx, s.db, zone)
	if err != nil {
		return authz.SubjectRef{}, "", err
	}
	m, err := s.ResolveMember(ctx, Principal{Zone: z}, field, ref)
	if err != nil {
		return authz.SubjectRef{}, "", err
	}
	return m.Subject(), m.zone(), nil
}

// SubjectName names subj for display relative to zone: "user:bob",
// "group:acme/design"; an unknown subject as its object reference.
func (s *Service) SubjectName(ctx context.Context, zone ZoneID, subj authz.SubjectRef) string {
	switch subj.Object.Type {
	case nexus.TypeUser:
		return "user:" + s.UserName(ctx, zone, UserID(subj.Object.ID))
	case nexus.TypeGroup:
		g, err := s.store.Group(ctx, s.db, GroupID(subj.Object.ID))
		if err != nil {
			return subj.String()
		}
		if g.Zone == zone {
			return "group:" + g.Name
		}
		return "group:" + s.ZoneName(ctx, g.Zone) + "/" + g.Name
	}
	return subj.String()
}

// ZoneName returns a zone's name, or its id if it is unknown.
func (s *Service) ZoneName(ctx context.Context, zone ZoneID) string {
	z, err := s.store.Zone(ctx, s.db, zone)
	if err != nil {
		return string(zone)
	}
	return z.Name
}
