package server_test

import (
	"context"
	"net/http"
	"sort"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/server"
)

// twoServicesSchema is what two services, billing and crm, add to Nexus's
// schema. A billing invoice may name a crm contact as its viewer.
const twoServicesSchema = `
definition crm/contact {
    relation owner: user
    permission view = owner
}

definition billing/invoice {
    relation viewer: user | crm/contact
    permission view = viewer
}
`

// TestSpiceDBAPIPrefixedWriteKeys: a key of scope write:billing/ writes
// and deletes billing's relationships and no other service's, through an
// unchanged authzed-go client; every refused call leaves the other
// service's relationships as they were.
func TestSpiceDBAPIPrefixedWriteKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := start(t, server.Config{})
	keys := serviceKeys(t, r)
	ids := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	key := func(user, scope string) string { return scopedKey(t, r, user, scope) }
	op := spiceClient(t, r, keys.opWrite)
	billing := spiceClient(t, r, key("svc", "write:billing/"))
	opBilling := spiceClient(t, r, key("admin", "write:billing/"))
	crm := spiceClient(t, r, key("svc", "write:crm/"))
	full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}

	cur, err := op.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	require.NoError(t, err)
	_, err = op.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: cur.GetSchemaText() + twoServicesSchema})
	require.NoError(t, err)

	// crm writes its contacts.
	_, err = crm.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("crm/contact", "c1"), "owner", subj("user", "alice")),
		relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("crm/contact", "c2"), "owner", subj("user", "bob")),
	}})
	require.NoError(t, err)
	// crm's relationships, read at full consistency.
	crmRels := func() []string {
		t.Helper()
		s, err := crm.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{Consistency: full,
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "crm/contact"}})
		require.NoError(t, err)
		var out []string
		for _, m := range drain(t, s.Recv) {
			rel := m.GetRelationship()
			out = append(out, rel.GetResource().GetObjectId()+"#"+rel.GetRelation()+"@"+rel.GetSubject().GetObject().GetObjectId())
		}
		sort.Strings(out)
		return out
	}
	wantCRM := []string{"c1#owner@alice", "c2#owner@bob"}
	require.Equal(t, wantCRM, crmRels())

	t.Run("billing writes billing/invoice, naming users and crm contacts as subjects", func(t *testing.T) {
		w, err := billing.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("billing/invoice", "i1"), "viewer", subj("user", "alice")),
			relUpdate(v1.RelationshipUpdate_OPERATION_CREATE, obj("billing/invoice", "i2"), "viewer", subj("crm/contact", "c2")),
		}})
		require.NoError(t, err)
		resp, err := billing.CheckPermission(ctx, &v1.CheckPermissionRequest{Consistency: fresh(w.GetWrittenAt()),
			Resource: obj("billing/invoice", "i1"), Permission: "view", Subject: subj("user", "alice")})
		require.NoError(t, err)
		require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, resp.GetPermissionship())
		// A prefixed key reads other services' definitions, as a check key does.
		resp, err = billing.CheckPermission(ctx, &v1.CheckPermissionRequest{Consistency: fresh(w.GetWrittenAt()),
			Resource: obj("crm/contact", "c1"), Permission: "view", Subject: subj("user", "alice")})
		require.NoError(t, err)
		require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, resp.GetPermissionship())
	})

	for _, tc := range []struct {
		name string
		c    *authzed.Client
		call func(c *authzed.Client) error
		says string
	}{
		{"billing may not touch crm/contact", billing, func(c *authzed.Client) error {
			_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
				relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("crm/contact", "c1"), "owner", subj("user", "mallory")),
			}})
			return err
		}, "under billing/; crm/contact is not one of them"},
		{"nor delete one by update", billing, func(c *authzed.Client) error {
			_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
				relUpdate(v1.RelationshipUpdate_OPERATION_DELETE, obj("crm/contact", "c1"), "owner", subj("user", "alice")),
			}})
			return err
		}, "crm/contact is not one of them"},
		{"nor slip one in beside its own", billing, func(c *authzed.Client) error {
			_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
				relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("billing/invoice", "i3"), "viewer", subj("user", "alice")),
				relUpdate(v1.RelationshipUpdate_OPERATION_DELETE, obj("crm/contact", "c2"), "owner", subj("user", "bob")),
			}})
			return err
		}, "crm/contact is not one of them"},
		{"nor delete by a filter on crm/contact", billing, func(c *authzed.Client) error {
			_, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "crm/contact"}})
			return err
		}, "under billing/; crm/contact is not one of them"},
		{"nor delete by a filter with no type", billing, func(c *authzed.Client) error {
			_, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{
				OptionalSubjectFilter: &v1.SubjectFilter{SubjectType: "user", OptionalSubjectId: "alice"}}})
			return err
		}, "may delete only relationships of definitions under billing/"},
		{"nor write Nexus's own types, even an operator's billing key", opBilling, func(c *authzed.Client) error {
			_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
				relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("zone", "default"), "admin", subj("user", "svc")),
			}})
			return err
		}, "relationships of zone are Nexus's own"},
		{"nor delete them", opBilling, func(c *authzed.Client) error {
			_, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "group"}})
			return err
		}, "relationships of group are Nexus's own"},
		{"nor write the schema, even an operator's", opBilling, func(c *authzed.Client) error {
			_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: cur.GetSchemaText() + twoServicesSchema})
			return err
		}, `this key's scope is "write:billing/"`},
		{"crm may not touch billing/invoice", crm, func(c *authzed.Client) error {
			_, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice"}})
			return err
		}, "under crm/; billing/invoice is not one of them"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(tc.c)
			require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
			require.Contains(t, status.Convert(err).Message(), tc.says)
			require.Equal(t, wantCRM, crmRels(), "crm's relationships are as they were")
		})
	}

	t.Run("the refused mixed write wrote nothing", func(t *testing.T) {
		resp, err := billing.CheckPermission(ctx, &v1.CheckPermissionRequest{Consistency: full,
			Resource: obj("billing/invoice", "i3"), Permission: "view", Subject: subj("user", "alice")})
		require.NoError(t, err)
		require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION, resp.GetPermissionship())
	})

	t.Run("billing deletes by a filter on billing/invoice", func(t *testing.T) {
		d, err := billing.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice"}})
		require.NoError(t, err)
		require.Equal(t, uint64(2), d.GetRelationshipsDeletedCount())
		require.Equal(t, wantCRM, crmRels(), "crm's contacts, which billing named as subjects, are untouched")
	})

	t.Run("an unprefixed write key still writes every service definition", func(t *testing.T) {
		svc := spiceClient(t, r, keys.svcWrite)
		_, err := svc.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("crm/contact", "c3"), "owner", subj("user", "carol")),
			relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("billing/invoice", "i4"), "viewer", subj("user", "carol")),
		}})
		require.NoError(t, err)
		require.Equal(t, []string{"c1#owner@alice", "c2#owner@bob", "c3#owner@carol"}, crmRels())
	})

	t.Run("a malformed scope is refused at creation", func(t *testing.T) {
		for _, bad := range []string{"write:", "write:Billing", "write:../", "delete:billing/"} {
			_, err := ids.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: "svc", Scope: bad}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), bad)
			require.Contains(t, err.Error(), "accepted: check, write, or write:PREFIX", bad)
		}
	})
}
