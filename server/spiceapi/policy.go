package spiceapi

import (
	"context"
	"strings"

	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/server/rpc"
)

// The policy. Service keys are API keys with a scope, created by an
// operator only (identity.CreateScopedAPIKey), because the definitions
// other services add belong to no zone:
//   - a `check` key may check, look up, read relationships and read the
//     schema; a `write` key may also write and delete relationships of
//     every service definition; a key of a prefixed write scope
//     (`write:billing/`) reads as a `check` key does and writes and
//     deletes only relationships whose resource type is in one of its
//     prefixes (billing/invoice; a delete's filter must name such a type);
//     WriteSchema takes a `write` key (not a prefixed one: a schema spans
//     every definition) whose user is an operator (now, not only when the
//     key was made);
//   - Nexus's own definitions (schema.zed: user, zone, group, folder, file,
//     share_link, memory) are Nexus's records: no key writes or deletes
//     their relationships here, an operator's included, since that would
//     bypass what Nexus keeps beside them (file tokens, share lists, group
//     rows); use Nexus's own API for those. Reading them (checks, lookups,
//     reads whose resource is of such a type) takes an operator's key,
//     since they span every zone. A service's own definitions may name
//     Nexus's types as subjects (`relation viewer: user`): writing
//     `document:1#viewer@user:u_1` is a write on document, and allowed.

// caller returns the authenticated principal if its scope allows need.
func (h *Handler) caller(ctx context.Context, need identity.Scope) (identity.Principal, error) {
	p, ok := rpc.PrincipalFrom(ctx)
	if !ok {
		return identity.Principal{}, denied("not authenticated")
	}
	if !p.Scope.Allows(need) {
		return identity.Principal{}, denied("this key's scope is %q; this call needs a key of scope %q", p.Scope, need)
	}
	return p, nil
}

// mayRead allows reads about resources of types; one of Nexus's own (or
// "", every type) takes an operator.
func (h *Handler) mayRead(ctx context.Context, p identity.Principal, types ...string) error {
	var own []string
	for _, t := range types {
		if t == "" {
			own = append(own, "every type")
		} else if h.engine.IsOwnDefinition(t) {
			own = append(own, t)
		}
	}
	if len(own) == 0 {
		return nil
	}
	op, err := h.ids.IsOperator(ctx, p)
	if err != nil {
		return err
	}
	if !op {
		return denied("reading %s takes an operator's key: %s are Nexus's own definitions, which span every zone",
			strings.Join(own, ", "), strings.Join(h.engine.OwnDefinitions(), ", "))
	}
	return nil
}

// mayWrite allows p to write or delete relationships whose resources are
// of types: none of Nexus's own, none "" (a delete that names no type
// reaches every type), and, for a key of a prefixed write scope
// (write:billing/), each in one of its prefixes. Subjects are not
// confined: a billing invoice may name a user or a crm contact.
func (h *Handler) mayWrite(p identity.Principal, types ...string) error {
	prefixes := p.Scope.WritePrefixes()
	for _, t := range types {
		if t == "" {
			if prefixes != nil {
				return denied("a delete must name a resource type; this key (scope %s) may delete only relationships of definitions under %s",
					p.Scope, strings.Join(prefixes, ", "))
			}
			return denied("a delete must name a resource type; it may not reach Nexus's own definitions (%s)", strings.Join(h.engine.OwnDefinitions(), ", "))
		}
		if h.engine.IsOwnDefinition(t) {
			return denied("relationships of %s are Nexus's own (as are those of %s): change them through Nexus's API (share, group, zone), not WriteRelationships",
				t, strings.Join(h.engine.OwnDefinitions(), ", "))
		}
		if !p.Scope.MayWriteDefinition(t) {
			return denied("this key (scope %s) may write only relationships of definitions under %s; %s is not one of them",
				p.Scope, strings.Join(prefixes, ", "), t)
		}
	}
	return nil
}

// mayWriteSchema allows WriteSchema to an operator's key of scope write:
// a schema spans every definition, so a key confined to prefixes may not
// write it, even an operator's.
func (h *Handler) mayWriteSchema(ctx context.Context, p identity.Principal) error {
	if p.Scope != identity.ScopeWrite {
		return denied("WriteSchema takes an operator's key of scope %q (every definition); this key's scope is %q", identity.ScopeWrite, p.Scope)
	}
	op, err := h.ids.IsOperator(ctx, p)
	if err != nil {
		return err
	}
	if !op {
		return denied("WriteSchema takes an operator's key (an admin of zone %q)", identity.DefaultZone)
	}
	return nil
}
