package spiceapi

import (
	"context"
	"fmt"
	"io"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/proto"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/identity"
)

// ImportBulkRelationships creates the relationships the caller streams,
// atomically, as SpiceDB's does: one that exists already, or is named
// twice, fails the whole import with AlreadyExists. Every batch is judged
// as a write of its relationships (the key's scope, Nexus's own
// definitions refused) before it is taken.
func (h *Handler) ImportBulkRelationships(ctx context.Context, stream *connect.ClientStream[v1.ImportBulkRelationshipsRequest]) (*connect.Response[v1.ImportBulkRelationshipsResponse], error) {
	proc := stream.Spec().Procedure
	p, err := h.caller(ctx, identity.ScopeWrite)
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	i := 0
	next := func() ([]authz.Relationship, error) {
		if !stream.Receive() {
			if err := stream.Err(); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		m := stream.Msg()
		if err := validate(m); err != nil {
			return nil, err
		}
		rels := make([]authz.Relationship, len(m.GetRelationships()))
		types := make([]string, 0, 1)
		for j, r := range m.GetRelationships() {
			field := fmt.Sprintf("relationships[%d]", i+j)
			switch {
			case r.GetOptionalCaveat() != nil:
				return nil, errs.Invalid(field+".optional_caveat", "caveats on relationships are not supported by Nexus")
			case r.GetOptionalExpiresAt() != nil:
				return nil, errs.Invalid(field+".optional_expires_at", "expiring relationships are not supported by Nexus")
			}
			if t := r.GetResource().GetObjectType(); len(types) == 0 || types[len(types)-1] != t {
				types = append(types, t)
			}
			rels[j] = rel(r)
		}
		i += len(rels)
		if err := h.mayWrite(p, types...); err != nil {
			return nil, err
		}
		return rels, nil
	}
	n, _, err := h.engine.Import(ctx, next)
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	return connect.NewResponse(&v1.ImportBulkRelationshipsResponse{NumLoaded: uint64(n)}), nil
}

// ExportBulkRelationships streams the engine's relationships, as
// ReadRelationships does: those of Nexus's own definitions (and an export
// of every type) take an operator's key.
func (h *Handler) ExportBulkRelationships(ctx context.Context, req *connect.Request[v1.ExportBulkRelationshipsRequest], out *connect.ServerStream[v1.ExportBulkRelationshipsResponse]) error {
	m := req.Msg
	if err := h.mayStream(ctx, req.Spec().Procedure, m, m.GetOptionalRelationshipFilter().GetResourceType()); err != nil {
		return err
	}
	if f := m.GetOptionalRelationshipFilter(); f != nil && proto.Equal(f, &v1.RelationshipFilter{}) {
		// SpiceDB fails it as an internal error.
		return h.fail(ctx, req.Spec().Procedure, errs.Invalid("optional_relationship_filter",
			"sets no field; set one, or leave the filter out to export every relationship"))
	}
	m.Consistency = h.engineConsistency(m.GetConsistency())
	stream, err := h.perms.ExportBulkRelationships(ctx, m)
	return relay(h, ctx, req.Spec().Procedure, err, stream, out.Send)
}
