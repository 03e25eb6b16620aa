package spiceapi

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/server/rpc"
)

// TestPolicy tests the policy directly, on denials as on grants: scopes,
// Nexus's own definitions, and who is an operator.
func TestPolicy(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	h := newTestHandler(&logged)
	ids := h.ids.(*fakeIDs)
	ids.operators = map[string]bool{"u_op": true}
	checker := identity.Principal{User: identity.User{ID: "u_svc"}, Scope: identity.ScopeCheck}
	writer := identity.Principal{User: identity.User{ID: "u_svc"}, Scope: identity.ScopeWrite}
	operator := identity.Principal{User: identity.User{ID: "u_op"}, Scope: identity.ScopeWrite}
	billing := identity.Principal{User: identity.User{ID: "u_svc"}, Scope: "write:billing/"}
	billingOp := identity.Principal{User: identity.User{ID: "u_op"}, Scope: "write:billing/"}
	ctx := context.Background()

	t.Run("caller", func(t *testing.T) {
		_, err := h.caller(ctx, identity.ScopeCheck)
		require.ErrorIs(t, err, errs.PermissionDenied, "no principal")

		_, err = h.caller(rpc.WithPrincipal(ctx, checker), identity.ScopeWrite)
		require.ErrorIs(t, err, errs.PermissionDenied, "a check key does not write")
		require.Contains(t, err.Error(), `this call needs a key of scope "write"`)

		p, err := h.caller(rpc.WithPrincipal(ctx, writer), identity.ScopeCheck)
		require.NoError(t, err, "a write key also checks")
		require.Equal(t, writer, p)
	})

	t.Run("mayRead", func(t *testing.T) {
		require.NoError(t, h.mayRead(ctx, checker, "document", "folder_of_theirs"))
		err := h.mayRead(ctx, checker, "document", "file")
		require.ErrorIs(t, err, errs.PermissionDenied)
		require.Contains(t, err.Error(), "reading file takes an operator's key")
		err = h.mayRead(ctx, checker, "")
		require.ErrorIs(t, err, errs.PermissionDenied, "every type includes Nexus's own")
		require.Contains(t, err.Error(), "reading every type")
		require.NoError(t, h.mayRead(ctx, operator, "file", "user", ""))

		ids.err = errors.New("database down")
		defer func() { ids.err = nil }()
		require.ErrorIs(t, h.mayRead(ctx, operator, "file"), ids.err, "an identity error is not a grant")
		require.NoError(t, h.mayRead(ctx, operator, "document"), "a service's own type does not ask")
	})

	t.Run("mayWrite", func(t *testing.T) {
		require.NoError(t, h.mayWrite(writer, "document", "folder_of_theirs", "crm/contact"), "write is every service definition")
		err := h.mayWrite(writer, "document", "user")
		require.ErrorIs(t, err, errs.PermissionDenied)
		require.Contains(t, err.Error(), "relationships of user are Nexus's own")
		err = h.mayWrite(writer, "")
		require.ErrorIs(t, err, errs.PermissionDenied)
		require.Contains(t, err.Error(), "a delete must name a resource type")
	})

	t.Run("mayWrite with a prefixed scope", func(t *testing.T) {
		require.NoError(t, h.mayWrite(billing, "billing/invoice", "billing/sub/line"))
		for _, typ := range []string{"crm/contact", "document", "billing_old/invoice", "billing"} {
			err := h.mayWrite(billing, "billing/invoice", typ)
			require.ErrorIs(t, err, errs.PermissionDenied, typ)
			require.Contains(t, err.Error(), "may write only relationships of definitions under billing/; "+typ+" is not one of them")
		}
		err := h.mayWrite(billing, "")
		require.ErrorIs(t, err, errs.PermissionDenied, "a delete of every type")
		require.Contains(t, err.Error(), "may delete only relationships of definitions under billing/")
		for _, own := range []string{"user", "file"} {
			err := h.mayWrite(billingOp, own)
			require.ErrorIs(t, err, errs.PermissionDenied, own)
			require.Contains(t, err.Error(), "relationships of "+own+" are Nexus's own")
		}
	})

	t.Run("mayWriteSchema", func(t *testing.T) {
		require.NoError(t, h.mayWriteSchema(ctx, operator))
		err := h.mayWriteSchema(ctx, writer)
		require.ErrorIs(t, err, errs.PermissionDenied)
		require.Contains(t, err.Error(), "WriteSchema takes an operator's key")
		err = h.mayWriteSchema(ctx, billingOp)
		require.ErrorIs(t, err, errs.PermissionDenied, "an operator's prefixed key does not write the schema")
		require.Contains(t, err.Error(), `this key's scope is "write:billing/"`)
		ids.err = errors.New("database down")
		defer func() { ids.err = nil }()
		require.ErrorIs(t, h.mayWriteSchema(ctx, operator), ids.err)
	})
}

// TestValidate: bad input is InvalidArgument, in SpiceDB's words, before
// anything else runs (a handler with no engine answers these).
func TestValidate(t *testing.T) {
	t.Parallel()
	res := &v1.ObjectReference{ObjectType: "document", ObjectId: "d1"}
	sub := &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "u1"}}
	fresh := func(tok string) *v1.Consistency {
		return &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: tok}}}
	}
	exact := func(tok string) *v1.Consistency {
		return &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: tok}}}
	}
	for _, tc := range []struct {
		name string
		m    request
		ok   bool
	}{
		{"valid", &v1.CheckPermissionRequest{Resource: res, Permission: "view", Subject: sub}, true},
		{"valid with a token", &v1.CheckPermissionRequest{Resource: res, Permission: "view", Subject: sub, Consistency: fresh("zed.0000000000000010")}, true},
		{"no resource", &v1.CheckPermissionRequest{Permission: "view", Subject: sub}, false},
		{"bad permission name", &v1.CheckPermissionRequest{Resource: res, Permission: "View!", Subject: sub}, false},
		{"bad WAL position in the token", &v1.CheckPermissionRequest{Resource: res, Permission: "view", Subject: sub, Consistency: fresh("zed.nothex")}, false},
		{"two positions in an exact snapshot", &v1.LookupResourcesRequest{ResourceObjectType: "document", Permission: "view", Subject: sub, Consistency: exact("a.b.0000000000000010")}, false},
		{"a request without consistency", &v1.WriteRelationshipsRequest{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(tc.m)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
		})
	}
}
