package spiceapi

import (
	"context"
	"errors"
	"io"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/proto"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/identity"
)

// validate checks a request as SpiceDB's validation does, with its words,
// and the WAL position a Nexus token may carry after its ZedToken.
// request is a request message with its generated checks.
type request interface {
	proto.Message
	Validate() error
}

func validate(m request) error {
	// The generated checks are fast; a request they refuse is refused in
	// SpiceDB's words, which are protovalidate's.
	if err := m.Validate(); err != nil {
		if verr := protovalidate.Validate(m); verr != nil {
			err = errors.New(verr.Error())
		}
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	if c, ok := m.(interface{ GetConsistency() *v1.Consistency }); ok {
		var tok string
		switch r := c.GetConsistency().GetRequirement().(type) {
		case *v1.Consistency_AtLeastAsFresh:
			tok = r.AtLeastAsFresh.GetToken()
		case *v1.Consistency_AtExactSnapshot:
			tok = r.AtExactSnapshot.GetToken()
		}
		if _, err := authz.ParseToken(tok); err != nil {
			return connect.NewError(connect.CodeInvalidArgument, err)
		}
	}
	return nil
}

// consistency maps the API's consistency to authz's; ok is false for
// at_exact_snapshot, which only the engine itself serves.
func consistency(c *v1.Consistency) (authz.Consistency, bool) {
	switch r := c.GetRequirement().(type) {
	case *v1.Consistency_AtLeastAsFresh:
		return authz.AtLeastAsFresh(authz.Token(r.AtLeastAsFresh.GetToken())), true
	case *v1.Consistency_FullyConsistent:
		return authz.FullyConsistent(), true
	case *v1.Consistency_AtExactSnapshot:
		return authz.Consistency{}, false
	}
	return authz.MinimizeLatency(), true
}

// engineConsistency is c for a call made straight to the engine:
// minimize_latency (or none) is raised to the engine's start-up floor.
// A Nexus token's WAL position is ours, not SpiceDB's: only the ZedToken
// part reaches the engine (a token that carries nothing else asks for
// minimize_latency).
func (h *Handler) engineConsistency(c *v1.Consistency) *v1.Consistency {
	switch r := c.GetRequirement().(type) {
	case *v1.Consistency_AtLeastAsFresh:
		return h.engine.ProtoConsistency(authz.AtLeastAsFresh(authz.Token(r.AtLeastAsFresh.GetToken())))
	case *v1.Consistency_AtExactSnapshot:
		zed := authz.Token(r.AtExactSnapshot.GetToken()).Zed()
		return &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: string(zed)}}}
	case *v1.Consistency_FullyConsistent:
		return c
	}
	return h.engine.ProtoConsistency(authz.MinimizeLatency())
}

func item(res *v1.ObjectReference, perm string, sub *v1.SubjectReference) authz.CheckItem {
	return authz.CheckItem{
		Resource:   authz.Obj(res.GetObjectType(), res.GetObjectId()),
		Permission: perm,
		Subject: authz.SubjectSet(sub.GetObject().GetObjectType(), sub.GetObject().GetObjectId(),
			sub.GetOptionalRelation()),
	}
}

func permissionship(allowed bool) v1.CheckPermissionResponse_Permissionship {
	if allowed {
		return v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
	}
	return v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION
}

// CheckPermission answers through the decision cache. A request with
// caveat context, tracing or an exact snapshot goes to the engine itself.
func (h *Handler) CheckPermission(ctx context.Context, req *connect.Request[v1.CheckPermissionRequest]) (*connect.Response[v1.CheckPermissionResponse], error) {
	m := req.Msg
	if err := validate(m); err != nil {
		return nil, err
	}
	p, err := h.caller(ctx, identity.ScopeCheck)
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	if err := h.mayRead(ctx, p, m.GetResource().GetObjectType()); err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	cons, ok := consistency(m.GetConsistency())
	if !ok || m.GetContext() != nil || m.GetWithTracing() {
		m.Consistency = h.engineConsistency(m.GetConsistency())
		resp, err := h.perms.CheckPermission(ctx, m)
		if err != nil {
			return nil, h.fail(ctx, req.Spec().Procedure, err)
		}
		return connect.NewResponse(resp), nil
	}
	d, err := h.engine.Check(ctx, item(m.GetResource(), m.GetPermission(), m.GetSubject()), cons)
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&v1.CheckPermissionResponse{
		CheckedAt:      &v1.ZedToken{Token: string(d.At)},
		Permissionship: permissionship(d.Allowed),
	}), nil
}

// CheckBulkPermissions answers through the decision cache. If the engine
// refuses or cannot decide an item (authz denies it, with Decision.Err),
// the request goes to the engine itself, which answers each item with its
// own decision or error, as SpiceDB does.
func (h *Handler) CheckBulkPermissions(ctx context.Context, req *connect.Request[v1.CheckBulkPermissionsRequest]) (*connect.Response[v1.CheckBulkPermissionsResponse], error) {
	m := req.Msg
	if err := validate(m); err != nil {
		return nil, err
	}
	p, err := h.caller(ctx, identity.ScopeCheck)
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	types := make([]string, 0, len(m.GetItems()))
	direct := m.GetWithTracing()
	items := make([]authz.CheckItem, len(m.GetItems()))
	for i, it := range m.GetItems() {
		types = append(types, it.GetResource().GetObjectType())
		items[i] = item(it.GetResource(), it.GetPermission(), it.GetSubject())
		direct = direct || it.GetContext() != nil
	}
	if err := h.mayRead(ctx, p, types...); err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	cons, ok := consistency(m.GetConsistency())
	if ok && !direct {
		ds, err := h.engine.CheckBulk(ctx, items, cons)
		if err == nil && !authz.Failed(ds) {
			resp := &v1.CheckBulkPermissionsResponse{Pairs: make([]*v1.CheckBulkPermissionsPair, len(ds))}
			tokens := make([]authz.Token, len(ds))
			for i, d := range ds {
				tokens[i] = d.At
				resp.Pairs[i] = &v1.CheckBulkPermissionsPair{
					Request: m.GetItems()[i],
					Response: &v1.CheckBulkPermissionsPair_Item{Item: &v1.CheckBulkPermissionsResponseItem{
						Permissionship: permissionship(d.Allowed),
					}},
				}
			}
			resp.CheckedAt = &v1.ZedToken{Token: string(h.engine.Newest(tokens...))}
			return connect.NewResponse(resp), nil
		}
		if err != nil && !errors.Is(err, authz.ErrInvalid) {
			return nil, h.fail(ctx, req.Spec().Procedure, err)
		}
	}
	m.Consistency = h.engineConsistency(m.GetConsistency())
	resp, err := h.perms.CheckBulkPermissions(ctx, m)
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(resp), nil
}

// mayStream is what every streaming read checks first: the request is
// valid, and the caller's key may read objects of typ.
func (h *Handler) mayStream(ctx context.Context, procedure string, m request, typ string) error {
	if err := validate(m); err != nil {
		return err
	}
	p, err := h.caller(ctx, identity.ScopeCheck)
	if err == nil {
		err = h.mayRead(ctx, p, typ)
	}
	if err != nil {
		return h.fail(ctx, procedure, err)
	}
	return nil
}

// LookupResources streams the engine's answer.
func (h *Handler) LookupResources(ctx context.Context, req *connect.Request[v1.LookupResourcesRequest], out *connect.ServerStream[v1.LookupResourcesResponse]) error {
	m := req.Msg
	if err := h.mayStream(ctx, req.Spec().Procedure, m, m.GetResourceObjectType()); err != nil {
		return err
	}
	m.Consistency = h.engineConsistency(m.GetConsistency())
	stream, err := h.perms.LookupResources(ctx, m)
	return relay(h, ctx, req.Spec().Procedure, err, stream, out.Send)
}

// LookupSubjects streams the engine's answer.
func (h *Handler) LookupSubjects(ctx context.Context, req *connect.Request[v1.LookupSubjectsRequest], out *connect.ServerStream[v1.LookupSubjectsResponse]) error {
	m := req.Msg
	if err := h.mayStream(ctx, req.Spec().Procedure, m, m.GetResource().GetObjectType()); err != nil {
		return err
	}
	m.Consistency = h.engineConsistency(m.GetConsistency())
	stream, err := h.perms.LookupSubjects(ctx, m)
	return relay(h, ctx, req.Spec().Procedure, err, stream, out.Send)
}

// ExpandPermissionTree returns the engine's tree of who holds permission
// on the resource: a key reads it as it reads the type's relationships
// (Nexus's own types take an operator's).
func (h *Handler) ExpandPermissionTree(ctx context.Context, req *connect.Request[v1.ExpandPermissionTreeRequest]) (*connect.Response[v1.ExpandPermissionTreeResponse], error) {
	m := req.Msg
	if err := h.mayStream(ctx, req.Spec().Procedure, m, m.GetResource().GetObjectType()); err != nil {
		return nil, err
	}
	m.Consistency = h.engineConsistency(m.GetConsistency())
	resp, err := h.perms.ExpandPermissionTree(ctx, m)
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(resp), nil
}

// ReadRelationships streams the engine's answer.
func (h *Handler) ReadRelationships(ctx context.Context, req *connect.Request[v1.ReadRelationshipsRequest], out *connect.ServerStream[v1.ReadRelationshipsResponse]) error {
	m := req.Msg
	if err := h.mayStream(ctx, req.Spec().Procedure, m, m.GetRelationshipFilter().GetResourceType()); err != nil {
		return err
	}
	m.Consistency = h.engineConsistency(m.GetConsistency())
	stream, err := h.perms.ReadRelationships(ctx, m)
	return relay(h, ctx, req.Spec().Procedure, err, stream, out.Send)
}

// relay sends every message of an engine stream on, and the engine's error
// as SpiceDB's.
func relay[T any](h *Handler, ctx context.Context, procedure string, err error, stream interface{ Recv() (T, error) }, send func(T) error) error {
	if err != nil {
		return h.fail(ctx, procedure, err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return h.fail(ctx, procedure, err)
		}
		if err := send(msg); err != nil {
			return err
		}
	}
}
