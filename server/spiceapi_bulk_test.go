package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexus-authz/nexus/server"
)

// importAll streams msgs through ImportBulkRelationships and returns what
// the server answered.
func importAll(ctx context.Context, c *authzed.Client, msgs ...[]*v1.Relationship) (uint64, error) {
	stream, err := c.ImportBulkRelationships(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if err := stream.Send(&v1.ImportBulkRelationshipsRequest{Relationships: m}); err != nil {
			break // CloseAndRecv says why
		}
	}
	resp, err := stream.CloseAndRecv()
	return resp.GetNumLoaded(), err
}

func invoices(from, to int) []*v1.Relationship {
	var rels []*v1.Relationship
	for i := from; i < to; i++ {
		rels = append(rels, &v1.Relationship{Resource: obj("billing/invoice", fmt.Sprintf("i%d", i)), Relation: "viewer", Subject: subj("user", "alice")})
	}
	return rels
}

// TestSpiceDBAPIImportAndExport: ImportBulkRelationships creates a
// service's relationships atomically, judged as writes of them are; a
// refused or failed import leaves none of them; ExportBulkRelationships
// reads them back, as ReadRelationships would let the key.
func TestSpiceDBAPIImportAndExport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := start(t, server.Config{})
	keys := serviceKeys(t, r)
	op := spiceClient(t, r, keys.opWrite)
	billing := spiceClient(t, r, scopedKey(t, r, "svc", "write:billing/"))
	cur, err := op.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	require.NoError(t, err)
	_, err = op.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: cur.GetSchemaText() + twoServicesSchema})
	require.NoError(t, err)

	exported := func(c *authzed.Client, typ string) ([]*v1.Relationship, error) {
		t.Helper()
		req := &v1.ExportBulkRelationshipsRequest{
			Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}}
		if typ != "" {
			req.OptionalRelationshipFilter = &v1.RelationshipFilter{ResourceType: typ}
		}
		s, err := c.ExportBulkRelationships(ctx, req)
		require.NoError(t, err)
		var rels []*v1.Relationship
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return rels, nil
			}
			if err != nil {
				return rels, err
			}
			rels = append(rels, m.GetRelationships()...)
		}
	}
	requireInvoices := func(want int, why string) {
		t.Helper()
		rels, err := exported(billing, "billing/invoice")
		require.NoError(t, err)
		require.Len(t, rels, want, why)
	}

	n, err := importAll(ctx, billing, invoices(0, 1000), invoices(1000, 1500))
	require.NoError(t, err)
	require.EqualValues(t, 1500, n)
	requireInvoices(1500, "the import")
	resp, err := billing.CheckPermission(ctx, &v1.CheckPermissionRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		Resource:    obj("billing/invoice", "i1499"), Permission: "view", Subject: subj("user", "alice")})
	require.NoError(t, err)
	require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, resp.GetPermissionship())

	caveated := invoices(9000, 9001)
	caveated[0].OptionalCaveat = &v1.ContextualizedCaveat{CaveatName: "ip"}
	for _, tc := range []struct {
		name string
		c    *authzed.Client
		msgs [][]*v1.Relationship
		code codes.Code
		says string
	}{
		{"one that exists fails the whole import", billing,
			[][]*v1.Relationship{invoices(2000, 2500), invoices(1499, 1500)}, codes.AlreadyExists, "billing/invoice:i1499#viewer@user:alice"},
		{"a batch of another service's type, after one of its own", billing,
			[][]*v1.Relationship{invoices(2000, 2500), {{Resource: obj("crm/contact", "c9"), Relation: "owner", Subject: subj("user", "mallory")}}},
			codes.PermissionDenied, "crm/contact is not one of them"},
		{"Nexus's own types, even by a key of every definition", spiceClient(t, r, keys.svcWrite),
			[][]*v1.Relationship{{{Resource: obj("zone", "default"), Relation: "admin", Subject: subj("user", "mallory")}}},
			codes.PermissionDenied, "relationships of zone are Nexus's own"},
		{"a check key", spiceClient(t, r, keys.svcCheck), [][]*v1.Relationship{invoices(2000, 2001)},
			codes.PermissionDenied, ""},
		{"a user's key", spiceClient(t, r, keys.user), [][]*v1.Relationship{invoices(2000, 2001)},
			codes.PermissionDenied, "use a service key"},
		{"no key", spiceClient(t, r, "nx_bogus"), [][]*v1.Relationship{invoices(2000, 2001)},
			codes.Unauthenticated, ""},
		{"a caveat", billing, [][]*v1.Relationship{invoices(2000, 2500), caveated}, codes.InvalidArgument, "caveats on relationships are not supported"},
		{"a relation the schema lacks", billing,
			[][]*v1.Relationship{invoices(2000, 2500), {{Resource: obj("billing/invoice", "i1"), Relation: "payer", Subject: subj("user", "alice")}}},
			codes.FailedPrecondition, "payer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := importAll(ctx, tc.c, tc.msgs...)
			require.Equal(t, tc.code, status.Code(err), "%v", err)
			require.ErrorContains(t, err, tc.says)
			requireInvoices(1500, "nothing of a refused import")
		})
	}

	t.Run("export of every type takes an operator's key", func(t *testing.T) {
		_, err := exported(billing, "")
		require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
		_, err = exported(billing, "zone")
		require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
		opCheck := spiceClient(t, r, keys.opCheck)
		s, err := opCheck.ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{OptionalRelationshipFilter: &v1.RelationshipFilter{}})
		require.NoError(t, err)
		_, err = s.Recv()
		require.Equal(t, codes.InvalidArgument, status.Code(err), "an empty filter: %v", err)
		rels, err := exported(opCheck, "")
		require.NoError(t, err)
		types := map[string]bool{}
		for _, rel := range rels {
			types[rel.GetResource().GetObjectType()] = true
		}
		require.True(t, types["billing/invoice"] && types["zone"], "an operator exports every type: %v", types)
	})
}
