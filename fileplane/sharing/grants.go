package sharing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// The rules of sharing:
//   - Granting, revoking, listing grants and managing links take `share` on
//     the entry (schema.zed: its owners, the owners of any folder above it,
//     the zone's admins). Editors and viewers may not share.
//   - Any role may be granted by whoever may share, owner included; owners
//     of the entry's own zone only: another zone's user or group may be a
//     viewer or an editor (an owner could re-share it within their zone).
//   - The last direct owner of an entry cannot be revoked: grant owner to
//     someone else first. (An entry below an owned folder still has its
//     creator as direct owner.)
//   - Grants are relationships; roles add up (granting editor to a viewer
//     keeps the viewer grant until it is revoked).

// subjectFor resolves a grant's subject, naming what is wrong.
func (s *Service) subjectFor(ctx context.Context, zone, ref string) (authz.SubjectRef, string, error) {
	subj, subjZone, err := s.dir.SubjectIn(ctx, zone, "subject", ref)
	if errors.Is(err, errs.NotFound) {
		return authz.SubjectRef{}, "", errs.Invalid("subject", "%q does not exist (name a user:NAME or group:NAME; ZONE/NAME for another zone's)", ref)
	}
	return subj, subjZone, err
}

// mayShare resolves path for c and checks share on it. An entry c may not
// read is NotFound; one it may read but not share is PermissionDenied.
func (s *Service) mayShare(ctx context.Context, c access.Caller, path string, cons authz.Consistency) (paths.Resolved, error) {
	p, _, err := paths.ParseField("path", path)
	if err != nil {
		return paths.Resolved{}, err
	}
	r, err := s.gate.Open(ctx, c, p, nexus.PermShare, cons)
	if errors.Is(err, errs.PermissionDenied) {
		return paths.Resolved{}, errs.E(errs.PermissionDenied,
			"you may not share %s: sharing takes an owner of it or of a folder above it, or a zone admin", cleanPath(path))
	}
	return r, err
}

func cleanPath(p string) string {
	if pp, _, err := paths.Parse(p); err == nil {
		return string(pp)
	}
	return p
}

// grant is what Grant and Revoke are asked about, checked: the role
// parses, the caller may share the entry, the subject exists.
type grant struct {
	r           paths.Resolved
	role        Role
	subject     authz.SubjectRef
	subjectZone string
}

func (s *Service) grantFor(ctx context.Context, c access.Caller, path, subject string, rl Role) (grant, error) {
	if err := rl.Check("role"); err != nil {
		return grant{}, err
	}
	r, err := s.mayShare(ctx, c, path, authz.MinimizeLatency())
	if err != nil {
		return grant{}, err
	}
	subj, subjZone, err := s.subjectFor(ctx, c.Zone, subject)
	if err != nil {
		return grant{}, err
	}
	return grant{r: r, role: rl, subject: subj, subjectZone: subjZone}, nil
}

// Grant gives subject role on the entry at path and returns the write's
// consistency token.
func (s *Service) Grant(ctx context.Context, c access.Caller, path, subject string, role Role) (authz.Token, error) {
	g, err := s.grantFor(ctx, c, path, subject, role)
	if err != nil {
		return "", err
	}
	r, rl, subj, e := g.r, g.role, g.subject, g.r.Entry()
	if rl == Owner && g.subjectZone != e.Zone {
		return "", errs.Invalid("role", "owner is for subjects of the entry's own zone; give %s viewer or editor", subject)
	}
	tok, err := s.engine.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(e.Object(), string(rl), subj))}, s.recordToken(e.ID))
	if err != nil {
		return "", err
	}
	s.log.Info("granted", "path", r.Path, "subject", subject, "role", rl, "by", s.who(ctx, c))
	return tok, nil
}

// Revoke takes role on the entry at path back from subject. Only a grant
// made on the entry itself can be revoked there (an inherited one is
// revoked on its folder).
func (s *Service) Revoke(ctx context.Context, c access.Caller, path, subject string, role Role) (authz.Token, error) {
	g, err := s.grantFor(ctx, c, path, subject, role)
	if err != nil {
		return "", err
	}
	r, rl, subj, e := g.r, g.role, g.subject, g.r.Entry()
	rel := authz.Rel(e.Object(), string(rl), subj)
	// The checks run in the write's transaction, under the engine's write
	// lock, so two revokes cannot both remove "the other" last owner.
	tok, err := s.engine.Write(ctx, []authz.Update{authz.DeleteRel(rel)}, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		have, err := s.engine.Read(ctx, authz.Filter{Resource: e.Object(), Relation: string(rl)}, authz.FullyConsistent())
		if err != nil {
			return err
		}
		found := false
		for _, h := range have {
			found = found || h.Subject == subj
		}
		if !found {
			return errs.E(errs.NotFound, "%s has no %s grant on %s itself (an inherited one is revoked on its folder; nexus share ls shows where)", subject, rl, r.Path)
		}
		if rl == Owner && len(have) == 1 {
			return errs.E(errs.FailedPrecondition, "%s is the last direct owner of %s; grant owner to someone else first", subject, r.Path)
		}
		return nil
	}), s.recordToken(e.ID))
	if err != nil {
		return "", err
	}
	s.log.Info("revoked", "path", r.Path, "subject", subject, "role", rl, "by", s.who(ctx, c))
	return tok, nil
}

// Grant is one role given on an entry or a folder above it.
type Grant struct {
	Subject   authz.SubjectRef
	Name      string // for display
	Role      Role
	Path      paths.Path // where the role is given
	Inherited bool
}

// UserAccess is one user who may read an entry, and why.
type UserAccess struct {
	Name       string
	Permission string // read, write or admin
	Reasons    []string
}

// ListGrants returns the grants on the entry at path and on the folders
// above it, and every user who may read it with the reasons. It takes
// share on the entry.
func (s *Service) ListGrants(ctx context.Context, c access.Caller, path string, cons authz.Consistency) ([]Grant, []UserAccess, error) {
	r, err := s.mayShare(ctx, c, path, cons)
	if err != nil {
		return nil, nil, err
	}
	cons = s.gate.Consistency(cons, r.Tokens()...)
	e := r.Entry()
	var grants []Grant
	for i := len(r.Chain); i >= 1; i-- {
		at := r.Prefix(i)
		rels, err := s.engine.Read(ctx, authz.Filter{Resource: at.Entry().Object()}, cons)
		if err != nil {
			return nil, nil, err
		}
		for _, rel := range rels {
			rl := Role(rel.Relation)
			if rl.rank() == 0 {
				continue
			}
			grants = append(grants, Grant{Subject: rel.Subject, Name: s.name(ctx, e.Zone, rel.Subject), Role: rl,
				Path: at.Path, Inherited: i < len(r.Chain)})
		}
	}
	access, err := s.explain(ctx, e, grants, cons)
	return grants, access, err
}

// who names the caller in the audit log as the RPC log does ("zone/user"),
// not by its ids.
func (s *Service) who(ctx context.Context, c access.Caller) string {
	user := strings.TrimPrefix(s.dir.SubjectName(ctx, c.Zone, authz.Subject(nexus.TypeUser, c.User)), nexus.TypeUser+":")
	return s.dir.ZoneName(ctx, c.Zone) + "/" + user
}

func (s *Service) name(ctx context.Context, zone string, subj authz.SubjectRef) string {
	if subj.Object.Type == nexus.TypeShareLink {
		return "link:" + subj.Object.ID
	}
	return s.dir.SubjectName(ctx, zone, subj)
}

// explain lists the users who may read e and why: the grants naming them,
// the groups through which grants reach them, zone administration.
func (s *Service) explain(ctx context.Context, e paths.Entry, grants []Grant, cons authz.Consistency) ([]UserAccess, error) {
	users, err := s.engine.LookupSubjects(ctx, e.Object(), nexus.PermRead, nexus.TypeUser, "", cons)
	if err != nil {
		return nil, err
	}
	reasons := map[string][]string{}
	for _, g := range grants {
		where := fmt.Sprintf("%s on %s", g.Role, g.Path)
		switch g.Subject.Object.Type {
		case nexus.TypeUser:
			reasons[g.Subject.Object.ID] = append(reasons[g.Subject.Object.ID], where)
		case nexus.TypeGroup:
			members, err := s.engine.LookupSubjects(ctx, g.Subject.Object, nexus.PermMembership, nexus.TypeUser, "", cons)
			if err != nil {
				return nil, err
			}
			for _, m := range members {
				reasons[m] = append(reasons[m], where+" via "+g.Name)
			}
		}
	}
	admins, err := s.engine.LookupSubjects(ctx, authz.Obj(nexus.TypeZone, e.Zone), nexus.PermManage, nexus.TypeUser, "", cons)
	if err != nil {
		return nil, err
	}
	for _, a := range admins {
		reasons[a] = append(reasons[a], "admin of the zone")
	}
	items := make([]authz.CheckItem, 0, 2*len(users))
	for _, u := range users {
		for _, perm := range []string{nexus.PermAdmin, nexus.PermWrite} {
			items = append(items, authz.CheckItem{Resource: e.Object(), Permission: perm, Subject: authz.Subject(nexus.TypeUser, u)})
		}
	}
	ds, err := s.engine.CheckBulk(ctx, items, cons)
	if err != nil {
		return nil, err
	}
	out := make([]UserAccess, 0, len(users))
	for i, u := range users {
		perm := nexus.PermRead
		switch {
		case ds[2*i].Allowed:
			perm = nexus.PermAdmin
		case ds[2*i+1].Allowed:
			perm = nexus.PermWrite
		}
		out = append(out, UserAccess{Name: s.name(ctx, e.Zone, authz.Subject(nexus.TypeUser, u)), Permission: perm, Reasons: reasons[u]})
	}
	// By name: the engine's lookup comes in no particular order.
	slices.SortFunc(out, func(a, b UserAccess) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
