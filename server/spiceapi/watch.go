package spiceapi

import (
	"context"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/identity"
)

// WatchProcedure is SpiceDB's WatchService.Watch.
const WatchProcedure = "/authzed.api.v1.WatchService/Watch"

// Watch streams relationship changes from a start cursor (a write's token,
// or a ChangesThrough of an earlier response), with checkpoints and schema
// updates as asked, as SpiceDB's Watch does, so a service can mirror its
// relationships. A key that is not an operator's must name what it watches
// (optional_object_types, or relationship filters with a resource type),
// none of Nexus's own definitions: those span every zone. Every update is
// checked again on its way out.
func (h *Handler) Watch(ctx context.Context, req *connect.Request[v1.WatchRequest], out *connect.ServerStream[v1.WatchResponse]) error {
	m := req.Msg
	proc := req.Spec().Procedure
	types := append([]string(nil), m.GetOptionalObjectTypes()...)
	for _, f := range m.GetOptionalRelationshipFilters() {
		types = append(types, f.GetResourceType())
	}
	if len(types) == 0 {
		types = []string{""} // every type
	}
	if err := validate(m); err != nil {
		return h.fail(ctx, proc, err)
	}
	p, err := h.caller(ctx, identity.ScopeCheck)
	if err == nil {
		err = h.mayRead(ctx, p, types...)
	}
	if err != nil {
		return h.fail(ctx, proc, err)
	}
	operator, err := h.ids.IsOperator(ctx, p)
	if err != nil {
		return h.fail(ctx, proc, err)
	}
	if c := m.GetOptionalStartCursor(); c != nil {
		// Nexus's tokens carry more than the engine's (a WAL position on
		// PostgreSQL); the engine takes its own part.
		m.OptionalStartCursor = &v1.ZedToken{Token: string(authz.Token(c.GetToken()).Zed())}
	}
	stream, err := h.watch.Watch(ctx, m)
	return relay(h, ctx, proc, err, stream, func(resp *v1.WatchResponse) error {
		if !operator {
			kept := resp.Updates[:0]
			for _, u := range resp.GetUpdates() {
				if !h.engine.IsOwnDefinition(u.GetRelationship().GetResource().GetObjectType()) {
					kept = append(kept, u)
				}
			}
			resp.Updates = kept
		}
		return out.Send(resp)
	})
}
