package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// documentSchema is what another service adds to Nexus's schema.
const documentSchema = `
definition document {
    relation viewer: user
    relation editor: user
    permission view = viewer + editor
    permission edit = editor
}
`

type spiceKeys struct {
	opWrite, opCheck, svcWrite, svcCheck, user string
}

// serviceKeys creates user svc and keys: write and check keys of the
// operator (admin) and of svc, and a user's key for svc.
func serviceKeys(t *testing.T, r *running) spiceKeys {
	t.Helper()
	ctx := context.Background()
	ids := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	_, err := ids.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "svc"}))
	require.NoError(t, err)
	key := func(user, scope string) string {
		resp, err := ids.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: user, Scope: scope}))
		require.NoError(t, err)
		require.Equal(t, scope, resp.Msg.GetKey().GetScope())
		return resp.Msg.GetSecret()
	}
	return spiceKeys{
		opWrite: key("admin", "write"), opCheck: key("admin", "check"),
		svcWrite: key("svc", "write"), svcCheck: key("svc", "check"), user: key("svc", ""),
	}
}

// scopedKey creates a key of scope for user, as the admin.
func scopedKey(t *testing.T, r *running, user, scope string) string {
	t.Helper()
	ids := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	resp, err := ids.CreateAPIKey(context.Background(), connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: user, Scope: scope}))
	require.NoError(t, err)
	require.Equal(t, scope, resp.Msg.GetKey().GetScope())
	return resp.Msg.GetSecret()
}

func spiceClient(t *testing.T, r *running, key string) *authzed.Client {
	t.Helper()
	c, err := authzed.NewClient(strings.TrimPrefix(r.url, "http://"),
		grpcutil.WithInsecureBearerToken(key), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func obj(typ, id string) *v1.ObjectReference {
	return &v1.ObjectReference{ObjectType: typ, ObjectId: id}
}
func subj(typ, id string) *v1.SubjectReference {
	return &v1.SubjectReference{Object: obj(typ, id)}
}
func relUpdate(op v1.RelationshipUpdate_Operation, res *v1.ObjectReference, rel string, sub *v1.SubjectReference) *v1.RelationshipUpdate {
	return &v1.RelationshipUpdate{Operation: op, Relationship: &v1.Relationship{Resource: res, Relation: rel, Subject: sub}}
}
func fresh(tok *v1.ZedToken) *v1.Consistency {
	return &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}}
}

func drain[T any](t *testing.T, recv func() (T, error)) []T {
	t.Helper()
	var out []T
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, m)
	}
}

func TestSpiceDBAPIWithAuthzedClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := start(t, server.Config{})
	keys := serviceKeys(t, r)
	op := spiceClient(t, r, keys.opWrite)
	svc := spiceClient(t, r, keys.svcWrite)
	checker := spiceClient(t, r, keys.svcCheck)

	// The operator adds the service's definition to Nexus's schema.
	cur, err := op.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	require.NoError(t, err)
	require.Contains(t, cur.GetSchemaText(), "definition folder")
	_, err = op.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: cur.GetSchemaText() + documentSchema})
	require.NoError(t, err)

	// The service writes its relationships, naming Nexus's users.
	w, err := svc.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("document", "d1"), "viewer", subj("user", "alice")),
		relUpdate(v1.RelationshipUpdate_OPERATION_CREATE, obj("document", "d2"), "viewer", subj("user", "bob")),
		relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("document", "d3"), "editor", subj("user", "alice")),
	}})
	require.NoError(t, err)
	require.NotEmpty(t, w.GetWrittenAt().GetToken())

	t.Run("check", func(t *testing.T) {
		for _, tc := range []struct {
			doc, perm, user string
			want            v1.CheckPermissionResponse_Permissionship
		}{
			{"d1", "view", "alice", v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION},
			{"d1", "view", "bob", v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION},
			{"d1", "edit", "alice", v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION},
			{"d3", "edit", "alice", v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION},
		} {
			full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
			for _, cons := range []*v1.Consistency{fresh(w.GetWrittenAt()), full} {
				resp, err := checker.CheckPermission(ctx, &v1.CheckPermissionRequest{
					Consistency: cons, Resource: obj("document", tc.doc), Permission: tc.perm, Subject: subj("user", tc.user),
				})
				require.NoError(t, err)
				require.Equal(t, tc.want, resp.GetPermissionship(), "%s %s %s", tc.doc, tc.perm, tc.user)
				require.NotEmpty(t, resp.GetCheckedAt().GetToken())
			}
		}
	})

	t.Run("bulk check", func(t *testing.T) {
		resp, err := checker.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{Consistency: fresh(w.GetWrittenAt()), Items: []*v1.CheckBulkPermissionsRequestItem{
			{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "alice")},
			{Resource: obj("document", "d2"), Permission: "view", Subject: subj("user", "alice")},
			{Resource: obj("document", "d2"), Permission: "view", Subject: subj("user", "bob")},
		}})
		require.NoError(t, err)
		var got []v1.CheckPermissionResponse_Permissionship
		for _, p := range resp.GetPairs() {
			got = append(got, p.GetItem().GetPermissionship())
		}
		require.Equal(t, []v1.CheckPermissionResponse_Permissionship{
			v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION,
			v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION,
			v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION,
		}, got)
		require.Equal(t, "d2", resp.GetPairs()[2].GetRequest().GetResource().GetObjectId())

		// An item the schema does not allow gets SpiceDB's own per-item
		// error; the others are still answered.
		resp, err = checker.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{Consistency: fresh(w.GetWrittenAt()), Items: []*v1.CheckBulkPermissionsRequestItem{
			{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "alice")},
			{Resource: obj("document", "d1"), Permission: "nosuchperm", Subject: subj("user", "alice")},
		}})
		require.NoError(t, err)
		require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, resp.GetPairs()[0].GetItem().GetPermissionship())
		require.Contains(t, resp.GetPairs()[1].GetError().GetMessage(), "nosuchperm")
	})

	// A Nexus token on PostgreSQL carries a WAL position after the
	// ZedToken: the SpiceDB API takes it (and gives SpiceDB only the
	// ZedToken), on every path, and refuses a position that does not parse.
	t.Run("nexus tokens", func(t *testing.T) {
		withLSN := fresh(&v1.ZedToken{Token: w.GetWrittenAt().GetToken() + ".1f"})
		resp, err := checker.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: withLSN, Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "alice"),
		})
		require.NoError(t, err)
		require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, resp.GetPermissionship())
		resp, err = checker.CheckPermission(ctx, &v1.CheckPermissionRequest{WithTracing: true,
			Consistency: withLSN, Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "alice"),
		})
		require.NoError(t, err, "straight to the engine")
		require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, resp.GetPermissionship())
		rr, err := checker.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
			Consistency: withLSN, RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"},
		})
		require.NoError(t, err)
		require.Len(t, drain(t, rr.Recv), 3)

		_, err = checker.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: fresh(&v1.ZedToken{Token: w.GetWrittenAt().GetToken() + ".zz"}),
			Resource:    obj("document", "d1"), Permission: "view", Subject: subj("user", "alice"),
		})
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	})

	t.Run("lookups and reads", func(t *testing.T) {
		lr, err := checker.LookupResources(ctx, &v1.LookupResourcesRequest{
			Consistency: fresh(w.GetWrittenAt()), ResourceObjectType: "document", Permission: "view", Subject: subj("user", "alice"),
		})
		require.NoError(t, err)
		var docs []string
		for _, m := range drain(t, lr.Recv) {
			docs = append(docs, m.GetResourceObjectId())
		}
		sort.Strings(docs)
		require.Equal(t, []string{"d1", "d3"}, docs)

		ls, err := checker.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
			Consistency: fresh(w.GetWrittenAt()), Resource: obj("document", "d2"), Permission: "view", SubjectObjectType: "user",
		})
		require.NoError(t, err)
		var users []string
		for _, m := range drain(t, ls.Recv) {
			users = append(users, m.GetSubject().GetSubjectObjectId())
		}
		require.Equal(t, []string{"bob"}, users)

		rr, err := checker.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
			Consistency: fresh(w.GetWrittenAt()), RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"},
		})
		require.NoError(t, err)
		require.Len(t, drain(t, rr.Recv), 3)

		s, err := checker.ReadSchema(ctx, &v1.ReadSchemaRequest{})
		require.NoError(t, err)
		require.Contains(t, s.GetSchemaText(), "definition document")

		// Streams are observed as unary calls are.
		resp, err := http.Get(r.url + "/metrics")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Contains(t, string(body), `nexus_rpc_requests_total{code="ok",procedure="/authzed.api.v1.PermissionsService/LookupResources"}`)
	})

	t.Run("delete, create and preconditions", func(t *testing.T) {
		_, err := svc.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			relUpdate(v1.RelationshipUpdate_OPERATION_CREATE, obj("document", "d1"), "viewer", subj("user", "alice")),
		}})
		require.Equal(t, codes.AlreadyExists, status.Code(err), "%v", err)

		_, err = svc.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{
			Updates: []*v1.RelationshipUpdate{relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("document", "d9"), "viewer", subj("user", "carol"))},
			OptionalPreconditions: []*v1.Precondition{{Operation: v1.Precondition_OPERATION_MUST_MATCH,
				Filter: &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: "d9"}}},
		})
		require.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)

		d, err := svc.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: "d1"},
		})
		require.NoError(t, err)
		require.Equal(t, uint64(1), d.GetRelationshipsDeletedCount())
		resp, err := checker.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: fresh(d.GetDeletedAt()), Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "alice"),
		})
		require.NoError(t, err)
		require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION, resp.GetPermissionship(), "deleted through the cache at once with the token")
	})

	t.Run("SpiceDB's errors come through", func(t *testing.T) {
		// At least as fresh as a write after WriteSchema: a minimize_latency
		// check inside the quantization window of the schema write may be
		// answered at a revision before it, where document is not defined.
		_, err := checker.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: fresh(w.GetWrittenAt()),
			Resource:    obj("document", "d1"), Permission: "nosuchperm", Subject: subj("user", "alice"),
		})
		require.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
		require.Contains(t, status.Convert(err).Message(), "nosuchperm")

		_, err = checker.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Resource: obj("document", "bad id!"), Permission: "view", Subject: subj("user", "alice"),
		})
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)

		_, err = svc.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("document", "d1"), "viewer", subj("zone", "z1")),
		}})
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
		require.Contains(t, status.Convert(err).Message(), "zone", "SpiceDB says which subject type the relation does not take")
	})
}

func TestSpiceDBAPIDenials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := start(t, server.Config{})
	keys := serviceKeys(t, r)
	op := spiceClient(t, r, keys.opWrite)
	cur, err := op.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	require.NoError(t, err)
	_, err = op.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: cur.GetSchemaText() + documentSchema})
	require.NoError(t, err)

	write := &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("document", "d1"), "viewer", subj("user", "alice")),
	}}
	zoneCheck := &v1.CheckPermissionRequest{Resource: obj("zone", "z1"), Permission: "manage", Subject: subj("user", "alice")}

	for _, tc := range []struct {
		name string
		key  string
		call func(c *authzed.Client) error
		want codes.Code
	}{
		{"a check key may not write (scope)", keys.svcCheck, func(c *authzed.Client) error {
			_, err := c.WriteRelationships(ctx, write)
			return err
		}, codes.PermissionDenied},
		{"a check key may not delete (scope)", keys.svcCheck, func(c *authzed.Client) error {
			_, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}})
			return err
		}, codes.PermissionDenied},
		{"a check key may not write the schema", keys.opCheck, func(c *authzed.Client) error {
			_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: cur.GetSchemaText()})
			return err
		}, codes.PermissionDenied},
		{"a write key of a non-operator may not write the schema", keys.svcWrite, func(c *authzed.Client) error {
			_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: cur.GetSchemaText() + documentSchema})
			return err
		}, codes.PermissionDenied},
		{"no key writes Nexus's own relationships", keys.svcWrite, func(c *authzed.Client) error {
			_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
				relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("zone", "z1"), "admin", subj("user", "svc")),
			}})
			return err
		}, codes.PermissionDenied},
		{"not even an operator's", keys.opWrite, func(c *authzed.Client) error {
			_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
				relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("document", "d1"), "viewer", subj("user", "alice")),
				relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("folder", "f1"), "viewer", subj("user", "alice")),
			}})
			return err
		}, codes.PermissionDenied},
		{"nor deletes them", keys.opWrite, func(c *authzed.Client) error {
			_, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "group"}})
			return err
		}, codes.PermissionDenied},
		{"a service key may not check Nexus's own types", keys.svcCheck, func(c *authzed.Client) error {
			_, err := c.CheckPermission(ctx, zoneCheck)
			return err
		}, codes.PermissionDenied},
		{"nor bulk check them among its own", keys.svcCheck, func(c *authzed.Client) error {
			_, err := c.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{Items: []*v1.CheckBulkPermissionsRequestItem{
				{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "alice")},
				{Resource: obj("file", "f1"), Permission: "read", Subject: subj("user", "alice")},
			}})
			return err
		}, codes.PermissionDenied},
		{"nor look them up", keys.svcCheck, func(c *authzed.Client) error {
			s, err := c.LookupResources(ctx, &v1.LookupResourcesRequest{ResourceObjectType: "folder", Permission: "read", Subject: subj("user", "alice")})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.PermissionDenied},
		{"nor read them", keys.svcCheck, func(c *authzed.Client) error {
			s, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "zone"}})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.PermissionDenied},
		{"nor expand who holds a permission on them", keys.svcCheck, func(c *authzed.Client) error {
			_, err := c.ExpandPermissionTree(ctx, &v1.ExpandPermissionTreeRequest{Resource: obj("zone", "default"), Permission: "access"})
			return err
		}, codes.PermissionDenied},
		{"a user's key does not reach the API", keys.user, func(c *authzed.Client) error {
			_, err := c.ReadSchema(ctx, &v1.ReadSchemaRequest{})
			return err
		}, codes.PermissionDenied},
		{"nor its streams", keys.user, func(c *authzed.Client) error {
			s, err := c.LookupSubjects(ctx, &v1.LookupSubjectsRequest{Resource: obj("document", "d1"), Permission: "view", SubjectObjectType: "user"})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.PermissionDenied},
		{"a bad key is unauthenticated", "nx_bogus", func(c *authzed.Client) error {
			_, err := c.CheckPermission(ctx, zoneCheck)
			return err
		}, codes.Unauthenticated},
		{"also on streams", "nx_bogus", func(c *authzed.Client) error {
			s, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.Unauthenticated},
		{"WriteSchema may not remove Nexus's definitions", keys.opWrite, func(c *authzed.Client) error {
			_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: documentSchema})
			return err
		}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(spiceClient(t, r, tc.key))
			require.Equal(t, tc.want, status.Code(err), "%v", err)
		})
	}

	t.Run("what an operator may do", func(t *testing.T) {
		resp, err := spiceClient(t, r, keys.opCheck).CheckPermission(ctx, zoneCheck)
		require.NoError(t, err, "an operator's key reads Nexus's own types")
		require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION, resp.GetPermissionship())
	})
	t.Run("the refusal of WriteSchema names the definitions", func(t *testing.T) {
		_, err := op.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: documentSchema})
		require.Contains(t, status.Convert(err).Message(), "removes user, zone, group, folder, file, share_link, memory")
	})
	t.Run("a service key serves nothing else", func(t *testing.T) {
		files := nexusv1connect.NewFileServiceClient(http.DefaultClient, r.url, bearer(keys.svcWrite))
		_, err := files.List(ctx, connect.NewRequest(&nexusv1.ListRequest{Path: "/"}))
		require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "%v", err)
		ids := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, r.url, bearer(keys.svcCheck))
		who, err := ids.WhoAmI(ctx, connect.NewRequest(&nexusv1.WhoAmIRequest{}))
		require.NoError(t, err, "WhoAmI works with any key")
		require.Equal(t, "svc", who.Msg.GetUser().GetName())
	})
	t.Run("nothing was written", func(t *testing.T) {
		rr, err := spiceClient(t, r, keys.opCheck).ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
			Consistency:        &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "folder"},
		})
		require.NoError(t, err)
		require.Empty(t, drain(t, rr.Recv))
	})
}

// The relationships of an entry that does not exist (a crash in the middle
// of a recursive delete leaves them in the relationship log) are swept once
// the server serves again; those of entries that exist stay.
func TestAStartSweepsRelationshipsOfEntriesThatAreGone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	r := start(t, server.Config{DataDir: dir})
	keys := serviceKeys(t, r)
	count := func(c *authzed.Client, typ, id string) int {
		rr, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
			Consistency:        &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: typ, OptionalResourceId: id},
		})
		require.NoError(t, err)
		return len(drain(t, rr.Recv))
	}
	fs := nexusv1connect.NewFileServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	_, err := fs.Mkdir(ctx, connect.NewRequest(&nexusv1.MkdirRequest{Path: "/kept/inner", Parents: true}))
	require.NoError(t, err)
	folders := count(spiceClient(t, r, keys.opCheck), "folder", "")
	require.Positive(t, folders, "the folders made")
	require.NoError(t, r.stop())

	// What a crash leaves: the log holds the relationship of an entry the
	// tree no longer has, and no snapshot is current.
	db, err := sqlite.Open(ctx, filepath.Join(dir, server.SQLiteFile))
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO authz_relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
		VALUES ('file', 'fil_gone', 'viewer', 'user', 'bob', '')`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, server.SnapshotFile)))

	r = start(t, server.Config{DataDir: dir})
	c := spiceClient(t, r, keys.opCheck)
	require.Eventually(t, func() bool { return count(c, "file", "fil_gone") == 0 }, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, folders, count(c, "folder", ""), "a live entry's relationships stay")
}
