package sharing

import (
	"context"
	"encoding/base64"
	"errors"
	"sort"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// Shared is an entry shared with the caller.
type Shared struct {
	Zone  string // the entry's zone id
	Item  files.Item
	Role  Role   // the strongest role granted
	Via   string // the subject the grant names: the caller or one of its groups
	sortK string
}

// Page sizes of SharedWithMe.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// SharedWithMe returns a page of the entries on which a role is granted to
// the caller or to a group it belongs to (directly or through nested
// groups), except those it created, ordered by zone and path. Entries of
// the caller's zone carry their path; another zone's carry an empty path
// and their name (the folders above it are that zone's, and not shared).
// It reads the newest grants whatever consistency is asked: a share made by
// someone else a moment ago is there at once (nobody could have handed the
// caller that write's token). The reads go by subject, through an index.
func (s *Service) SharedWithMe(ctx context.Context, c access.Caller, pageSize int, pageToken string, _ authz.Consistency) ([]Shared, string, error) {
	switch {
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize < 0 || pageSize > MaxPageSize:
		return nil, "", errs.Invalid("page_size", "%d is out of range; use 1-%d (0 means %d)", pageSize, MaxPageSize, DefaultPageSize)
	}
	after := ""
	if pageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil {
			return nil, "", errs.Invalid("page_token", "not a token from a previous SharedWithMe response")
		}
		after = string(b)
	}
	cons := authz.FullyConsistent()
	me := authz.Subject(nexus.TypeUser, c.User)
	subjects := []authz.SubjectRef{me}
	groups, err := s.engine.LookupResources(ctx, nexus.TypeGroup, nexus.PermMembership, me, cons)
	if err != nil {
		return nil, "", err
	}
	for _, g := range groups {
		subjects = append(subjects, authz.SubjectSet(nexus.TypeGroup, g, nexus.RelMember))
	}
	type best struct {
		role Role
		via  authz.SubjectRef
	}
	found := map[paths.EntryID]best{}
	for _, subj := range subjects {
		for _, kind := range []paths.Kind{paths.Folder, paths.File} {
			rels, err := s.engine.Read(ctx, authz.Filter{Resource: authz.ObjectRef{Type: string(kind)}, Subject: &subj}, cons)
			if err != nil {
				return nil, "", err
			}
			for _, rel := range rels {
				rl := Role(rel.Relation)
				id := paths.EntryID(rel.Resource.ID)
				if rl.rank() > found[id].role.rank() {
					found[id] = best{role: rl, via: rel.Subject}
				}
			}
		}
	}
	var all []Shared
	for id, b := range found {
		r, err := s.pathOf(ctx, id)
		if errors.Is(err, errs.NotFound) {
			continue // deleted since
		}
		if err != nil {
			return nil, "", err
		}
		e := r.Entry()
		if e.CreatedBy == c.User {
			continue
		}
		it := files.Item{Path: r.Path, Entry: e}
		key := string(r.Path)
		if e.Zone != c.Zone {
			it.Path, key = "", e.Name
		}
		zoneName := s.dir.ZoneName(ctx, e.Zone)
		all = append(all, Shared{Zone: e.Zone, Item: it, Role: b.role, Via: s.name(ctx, c.Zone, b.via),
			sortK: zoneName + "\x00" + key + "\x00" + string(id)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].sortK < all[j].sortK })
	i := sort.Search(len(all), func(i int) bool { return all[i].sortK > after })
	all = all[i:]
	if len(all) <= pageSize {
		return all, "", nil
	}
	page := all[:pageSize]
	return page, base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].sortK)), nil
}
