package spiceapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/server/rpc"
)

// TestHandlersRefuseBeforeTheEngine calls the handlers directly with bad
// input and with keys the policy refuses: each answers before reaching the
// engine (the fake engine has none: reaching it would panic).
func TestHandlersRefuseBeforeTheEngine(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	h := newTestHandler(&logged)
	checker := rpc.WithPrincipal(context.Background(), identity.Principal{User: identity.User{ID: "u_svc"}, Scope: identity.ScopeCheck})
	writer := rpc.WithPrincipal(context.Background(), identity.Principal{User: identity.User{ID: "u_svc"}, Scope: identity.ScopeWrite})
	billing := rpc.WithPrincipal(context.Background(), identity.Principal{User: identity.User{ID: "u_svc"}, Scope: "write:billing/"})
	billingOp := rpc.WithPrincipal(context.Background(), identity.Principal{User: identity.User{ID: "u_op"}, Scope: "write:billing/"})
	anon := context.Background()

	obj := func(typ, id string) *v1.ObjectReference { return &v1.ObjectReference{ObjectType: typ, ObjectId: id} }
	sub := &v1.SubjectReference{Object: obj("user", "u1")}
	relOf := func(typ string) *v1.Relationship {
		return &v1.Relationship{Resource: obj(typ, "d1"), Relation: "viewer", Subject: sub}
	}
	touch := func(r *v1.Relationship) *v1.RelationshipUpdate {
		return &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: r}
	}
	caveated := relOf("document")
	caveated.OptionalCaveat = &v1.ContextualizedCaveat{CaveatName: "ip"}
	expiring := relOf("document")
	expiring.OptionalExpiresAt = timestamppb.Now()
	ownPre := &v1.Precondition{Operation: v1.Precondition_OPERATION_MUST_MATCH, Filter: &v1.RelationshipFilter{ResourceType: "file"}}
	ctxStruct, err := structpb.NewStruct(map[string]any{"ip": "10.0.0.1"})
	require.NoError(t, err)
	many := make([]*v1.RelationshipUpdate, maxUpdates+1)
	for i := range many {
		many[i] = touch(relOf("document"))
	}

	check := func(ctx context.Context, m *v1.CheckPermissionRequest) error {
		_, err := h.CheckPermission(ctx, connect.NewRequest(m))
		return err
	}
	bulk := func(ctx context.Context, m *v1.CheckBulkPermissionsRequest) error {
		_, err := h.CheckBulkPermissions(ctx, connect.NewRequest(m))
		return err
	}
	write := func(ctx context.Context, m *v1.WriteRelationshipsRequest) error {
		_, err := h.WriteRelationships(ctx, connect.NewRequest(m))
		return err
	}
	del := func(ctx context.Context, m *v1.DeleteRelationshipsRequest) error {
		_, err := h.DeleteRelationships(ctx, connect.NewRequest(m))
		return err
	}
	schema := func(ctx context.Context, m *v1.WriteSchemaRequest) error {
		_, err := h.WriteSchema(ctx, connect.NewRequest(m))
		return err
	}
	goodCheck := &v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view", Subject: sub}
	for _, tc := range []struct {
		name string
		call func() error
		code connect.Code
		msg  string // in the message, if set
	}{
		{"check without a principal", func() error { return check(anon, goodCheck) }, connect.CodePermissionDenied, "not authenticated"},
		{"check of Nexus's own type by a service", func() error {
			return check(checker, &v1.CheckPermissionRequest{Resource: obj("file", "f1"), Permission: "view", Subject: sub})
		}, connect.CodePermissionDenied, "operator"},
		{"check with no resource", func() error { return check(checker, &v1.CheckPermissionRequest{Permission: "view", Subject: sub}) }, connect.CodeInvalidArgument, ""},
		{"bulk without a principal", func() error {
			return bulk(anon, &v1.CheckBulkPermissionsRequest{Items: []*v1.CheckBulkPermissionsRequestItem{{Resource: obj("document", "d1"), Permission: "view", Subject: sub}}})
		}, connect.CodePermissionDenied, ""},
		{"bulk naming Nexus's own type", func() error {
			return bulk(checker, &v1.CheckBulkPermissionsRequest{Items: []*v1.CheckBulkPermissionsRequestItem{
				{Resource: obj("document", "d1"), Permission: "view", Subject: sub},
				{Resource: obj("user", "u2"), Permission: "view", Subject: sub, Context: ctxStruct}}})
		}, connect.CodePermissionDenied, "reading user"},
		{"bulk with a bad item", func() error {
			return bulk(checker, &v1.CheckBulkPermissionsRequest{Items: []*v1.CheckBulkPermissionsRequestItem{{Permission: "view"}}})
		}, connect.CodeInvalidArgument, ""},
		{"write with a check key", func() error { return write(checker, &v1.WriteRelationshipsRequest{}) }, connect.CodePermissionDenied, `scope "write"`},
		{"write with a bad relation", func() error {
			r := relOf("document")
			r.Relation = "Viewer!"
			return write(writer, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{touch(r)}})
		}, connect.CodeInvalidArgument, ""},
		{"write of more than the limit", func() error { return write(writer, &v1.WriteRelationshipsRequest{Updates: many}) }, connect.CodeInvalidArgument, "greater than maximum allowed"},
		{"write with a caveat", func() error {
			return write(writer, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{touch(caveated)}})
		}, connect.CodeInvalidArgument, "updates[0].relationship.optional_caveat"},
		{"write with an expiry", func() error {
			return write(writer, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{touch(expiring)}})
		}, connect.CodeInvalidArgument, "updates[0].relationship.optional_expires_at"},
		{"write to Nexus's own type", func() error {
			return write(writer, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{touch(relOf("document")), {
				Operation: v1.RelationshipUpdate_OPERATION_DELETE, Relationship: relOf("file")}}})
		}, connect.CodePermissionDenied, "relationships of file are Nexus's own"},
		{"write with a precondition on Nexus's own type", func() error {
			return write(writer, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{
				Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: relOf("document")}},
				OptionalPreconditions: []*v1.Precondition{ownPre}})
		}, connect.CodePermissionDenied, "reading file takes an operator's key"},
		{"delete with a check key", func() error {
			return del(checker, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}})
		}, connect.CodePermissionDenied, ""},
		{"delete without a filter", func() error { return del(writer, &v1.DeleteRelationshipsRequest{}) }, connect.CodeInvalidArgument, ""},
		{"a delete limit past the most", func() error {
			return del(writer, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}, OptionalLimit: 1001})
		}, connect.CodeInvalidArgument, "provided limit 1001 is greater than maximum allowed of 1000"},
		{"delete of Nexus's own type", func() error {
			return del(writer, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "user"}})
		}, connect.CodePermissionDenied, ""},
		{"delete with a precondition on Nexus's own type", func() error {
			return del(writer, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"},
				OptionalPreconditions: []*v1.Precondition{ownPre}})
		}, connect.CodePermissionDenied, "operator"},
		{"a billing/ key writes crm/contact", func() error {
			return write(billing, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{touch(relOf("crm/contact"))}})
		}, connect.CodePermissionDenied, "under billing/; crm/contact is not one of them"},
		{"a billing/ key writes billing/invoice and crm/contact at once", func() error {
			return write(billing, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{touch(relOf("billing/invoice")), touch(relOf("crm/contact"))}})
		}, connect.CodePermissionDenied, "crm/contact is not one of them"},
		{"a billing/ key deletes a crm/contact relationship by update", func() error {
			return write(billing, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{
				Operation: v1.RelationshipUpdate_OPERATION_DELETE, Relationship: relOf("crm/contact")}}})
		}, connect.CodePermissionDenied, "crm/contact is not one of them"},
		{"a billing/ key writes a type without a namespace", func() error {
			return write(billing, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{touch(relOf("document"))}})
		}, connect.CodePermissionDenied, "document is not one of them"},
		{"an operator's billing/ key writes Nexus's own type", func() error {
			return write(billingOp, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{touch(relOf("file"))}})
		}, connect.CodePermissionDenied, "relationships of file are Nexus's own"},
		{"a billing/ key deletes by a filter on crm/contact", func() error {
			return del(billing, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "crm/contact"}})
		}, connect.CodePermissionDenied, "under billing/; crm/contact is not one of them"},
		{"a billing/ key deletes by a filter on billing_old/invoice", func() error {
			return del(billing, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing_old/invoice"}})
		}, connect.CodePermissionDenied, "billing_old/invoice is not one of them"},
		{"a billing/ key deletes by a filter with no type", func() error {
			return del(billing, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{
				OptionalSubjectFilter: &v1.SubjectFilter{SubjectType: "user", OptionalSubjectId: "u1"}}})
		}, connect.CodePermissionDenied, "may delete only relationships of definitions under billing/"},
		{"a billing/ key deletes by a filter on Nexus's own type", func() error {
			return del(billingOp, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "user"}})
		}, connect.CodePermissionDenied, "Nexus's own"},
		{"an operator's billing/ key writes the schema", func() error {
			return schema(billingOp, &v1.WriteSchemaRequest{Schema: "definition billing/invoice {}"})
		}, connect.CodePermissionDenied, `this key's scope is "write:billing/"`},
		{"read schema without a principal", func() error {
			_, err := h.ReadSchema(anon, connect.NewRequest(&v1.ReadSchemaRequest{}))
			return err
		}, connect.CodePermissionDenied, ""},
		{"write schema with a check key", func() error { return schema(checker, &v1.WriteSchemaRequest{Schema: "definition a {}"}) }, connect.CodePermissionDenied, ""},
		{"write schema by a non-operator", func() error { return schema(writer, &v1.WriteSchemaRequest{Schema: "definition a {}"}) }, connect.CodePermissionDenied, "operator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.Equal(t, tc.code, connect.CodeOf(err), "%v", err)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
	t.Run("streams", func(t *testing.T) {
		err := h.mayStream(checker, LookupResourcesProcedure, &v1.LookupResourcesRequest{ResourceObjectType: "file", Permission: "view", Subject: sub}, "file")
		require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
		err = h.mayStream(anon, LookupResourcesProcedure, &v1.LookupResourcesRequest{ResourceObjectType: "document", Permission: "view", Subject: sub}, "document")
		require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
		err = h.mayStream(checker, LookupResourcesProcedure, &v1.LookupResourcesRequest{Permission: "view", Subject: sub}, "")
		require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
		require.NoError(t, h.mayStream(checker, LookupResourcesProcedure, &v1.LookupResourcesRequest{ResourceObjectType: "document", Permission: "view", Subject: sub}, "document"))
	})
	require.Empty(t, logged.String(), "no refusal is an internal error")
}

// fakeStream yields msgs, then err (io.EOF: the end).
type fakeStream struct {
	msgs []string
	err  error
}

func (s *fakeStream) Recv() (string, error) {
	if len(s.msgs) == 0 {
		return "", s.err
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

func TestRelay(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	h := newTestHandler(&logged)
	ctx := context.Background()
	var sent []string
	send := func(m string) error { sent = append(sent, m); return nil }

	require.NoError(t, relay(h, ctx, "p", nil, &fakeStream{msgs: []string{"a", "b"}, err: io.EOF}, send))
	require.Equal(t, []string{"a", "b"}, sent)

	err := relay[string](h, ctx, "p", authz.ErrUnavailable, nil, send)
	require.Equal(t, connect.CodeUnavailable, connect.CodeOf(err), "the engine refused to start the stream")

	sent = nil
	err = relay(h, ctx, "p", nil, &fakeStream{msgs: []string{"a"}, err: errors.New(secret)}, send)
	require.Equal(t, connect.CodeInternal, connect.CodeOf(err), "the engine failed mid-stream")
	require.NotContains(t, err.Error(), secret)
	require.Equal(t, []string{"a"}, sent)

	gone := errors.New("client gone")
	err = relay(h, ctx, "p", nil, &fakeStream{msgs: []string{"a"}, err: io.EOF}, func(string) error { return gone })
	require.ErrorIs(t, err, gone, "a failed send ends the relay")
}

func TestEngineConsistency(t *testing.T) {
	t.Parallel()
	h := New(fakeEngine{}, &fakeIDs{}, nil)
	require.NotNil(t, h.log, "a nil logger is slog's default")

	require.Equal(t, "minimize_latency", h.engineConsistency(nil).GetAtLeastAsFresh().GetToken(),
		"minimize_latency is raised to the engine's floor")
	full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	require.Same(t, full, h.engineConsistency(full))
	tok := string(authz.Token("zed1").WithLSN(0x10))
	got := h.engineConsistency(&v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: tok}}})
	require.Equal(t, "zed1", got.GetAtExactSnapshot().GetToken(), "only the ZedToken part reaches the engine")
	got = h.engineConsistency(&v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: tok}}})
	require.Equal(t, "at_least_as_fresh("+tok+")", got.GetAtLeastAsFresh().GetToken())
}

// ProtoConsistency of the fake names what it was given in the token.
func (e fakeEngine) ProtoConsistency(c authz.Consistency) *v1.Consistency {
	return &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: c.String()}}}
}

func (e fakeEngine) Conn() *grpc.ClientConn { return nil }
