package files

import (
	"context"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// Permissions is what a caller may do with an entry, as decided now: a
// user interface offers only what will work (the operation itself is
// checked again when it is asked).
type Permissions struct {
	Write bool // write, rename, move, delete; in a folder, create entries
	Share bool // grant, revoke, make links
}

// PermissionsOf reports what c may do with the folder at path and with
// each of items (listed from it), in two bulk checks (write, share) at
// least as fresh as the folder's chain and each entry's own token. A folder
// c may not read is NotFound, as for List.
func (s *Service) PermissionsOf(ctx context.Context, c access.Caller, path string, items []Item, cons authz.Consistency) (Permissions, []Permissions, error) {
	p, _, err := paths.ParseField("path", path)
	if err != nil {
		return Permissions{}, nil, err
	}
	r, err := s.open(ctx, c, p, nexus.PermRead, cons)
	if err != nil {
		return Permissions{}, nil, err
	}
	return s.permissionsIn(ctx, c, r, items, cons)
}

// permissionsIn is PermissionsOf for the folder r, already opened for c.
func (s *Service) permissionsIn(ctx context.Context, c access.Caller, r paths.Resolved, items []Item, cons authz.Consistency) (Permissions, []Permissions, error) {
	objs := []authz.ObjectRef{r.Entry().Object()}
	tokens := r.Tokens()
	for _, it := range items {
		objs = append(objs, it.Entry.Object())
		if it.Entry.PermToken != "" {
			tokens = append(tokens, it.Entry.PermToken)
		}
	}
	write, err := s.gate.Filter(ctx, c, objs, nexus.PermWrite, cons, tokens...)
	if err != nil {
		return Permissions{}, nil, err
	}
	share, err := s.gate.Filter(ctx, c, objs, nexus.PermShare, cons, tokens...)
	if err != nil {
		return Permissions{}, nil, err
	}
	out := make([]Permissions, len(items))
	for i := range items {
		out[i] = Permissions{Write: write[i+1], Share: share[i+1]}
	}
	return Permissions{Write: write[0], Share: share[0]}, out, nil
}
