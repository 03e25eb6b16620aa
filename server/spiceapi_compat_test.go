package server_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	dscmd "github.com/authzed/spicedb/pkg/cmd/datastore"
	spiceserver "github.com/authzed/spicedb/pkg/cmd/server"
	"github.com/authzed/spicedb/pkg/cmd/util"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// compatSchema is a service's: a namespace prefix, nested groups, an
// arrow, an intersection and an exclusion.
const compatSchema = `
definition billing/team {
    relation member: user | billing/team#member
}

definition billing/invoice {
    relation owner: billing/team
    relation viewer: user | billing/team#member
    relation blocked: user
    relation auditor: user
    permission view = (viewer + owner->member) - blocked
    permission audit = auditor & view
}
`

// TestSpiceDBAPICompatibility sends the same requests to Nexus's SpiceDB
// API and to a SpiceDB server (upstream's own memory datastore, in this
// process), and compares the answers method by method: the responses
// without their tokens and timestamps, and for a refusal the gRPC code and
// message. A difference fails here rather than surprising a service that
// moves between the two. Where Nexus differs on purpose, the case says so
// and asserts Nexus's own answer.
//
// It runs on both modes: the embedded default, and PostgreSQL (where
// SpiceDB's own PostgreSQL datastore holds the relationships).
func TestSpiceDBAPICompatibility(t *testing.T) {
	t.Parallel()
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		compatibility(t, start(t, server.Config{}))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pgtest.Require(t)
		url := pgtest.NewDatabase(t)
		require.NoError(t, server.MigratePostgres(context.Background(), url))
		compatibility(t, start(t, server.Config{Postgres: url}))
	})
}

// compatibility compares the two. A traced check is compared on its
// answer and the schema it used, not its sub-problems: a union's branches
// run at once and the first to grant ends the others, so which ones a
// trace holds depends on timing (on PostgreSQL, and under load on memory
// too), and a result from the dispatch cache is traced without them.
func compatibility(t *testing.T, r *running) {
	ctx := context.Background()
	keys := serviceKeys(t, r)
	nx := spiceClient(t, r, keys.opWrite)
	sp := startSpiceDB(t)

	cur, err := nx.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	require.NoError(t, err)
	full := cur.GetSchemaText() + compatSchema
	for _, c := range []*authzed.Client{nx, sp} {
		_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: full})
		require.NoError(t, err)
	}

	// each compares texts: a response normalized, or a stream's.
	each := func(name string, call func(c *authzed.Client) (string, error)) {
		t.Helper()
		got, gotErr := call(nx)
		want, wantErr := call(sp)
		// Every difference is reported, not only the first.
		switch {
		case wantErr != nil && gotErr == nil:
			t.Errorf("%s: SpiceDB refused (%v), Nexus did not", name, wantErr)
		case wantErr == nil && gotErr != nil:
			t.Errorf("%s: Nexus refused (%v), SpiceDB did not", name, gotErr)
		case wantErr != nil:
			assert.Equal(t, status.Code(wantErr), status.Code(gotErr), "%s: codes differ: SpiceDB %v, Nexus %v", name, wantErr, gotErr)
			assert.Equal(t, status.Convert(wantErr).Message(), status.Convert(gotErr).Message(), "%s: messages differ", name)
		default:
			assert.Equal(t, want, got, "%s: responses differ", name)
		}
	}
	both := func(name string, call func(c *authzed.Client) (proto.Message, error)) {
		t.Helper()
		each(name, func(c *authzed.Client) (string, error) {
			m, err := call(c)
			if err != nil {
				return "", err
			}
			return normalized(t, m), nil
		})
	}
	write := func(name string, updates ...*v1.RelationshipUpdate) {
		t.Helper()
		both("WriteRelationships "+name, func(c *authzed.Client) (proto.Message, error) {
			return c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates})
		})
	}
	touch, create, del := v1.RelationshipUpdate_OPERATION_TOUCH, v1.RelationshipUpdate_OPERATION_CREATE, v1.RelationshipUpdate_OPERATION_DELETE
	team := func(id string) *v1.SubjectReference {
		return &v1.SubjectReference{Object: obj("billing/team", id), OptionalRelation: "member"}
	}

	// Writes, and their refusals.
	write("touch",
		relUpdate(touch, obj("billing/team", "eng"), "member", subj("user", "alice")),
		relUpdate(touch, obj("billing/team", "eng"), "member", team("platform")),
		relUpdate(touch, obj("billing/team", "platform"), "member", subj("user", "bob")),
		relUpdate(touch, obj("billing/invoice", "inv1"), "owner", subj("billing/team", "eng")),
		relUpdate(touch, obj("billing/invoice", "inv1"), "blocked", subj("user", "carol")),
		relUpdate(touch, obj("billing/invoice", "inv1"), "viewer", subj("user", "carol")),
		relUpdate(touch, obj("billing/invoice", "inv1"), "auditor", subj("user", "bob")),
		relUpdate(touch, obj("billing/invoice", "inv2"), "viewer", team("platform")),
		relUpdate(touch, obj("billing/invoice", "inv3"), "viewer", subj("user", "dave")),
	)
	write("create of one that exists", relUpdate(create, obj("billing/invoice", "inv3"), "viewer", subj("user", "dave")))
	write("the same relationship twice", relUpdate(touch, obj("billing/invoice", "inv4"), "viewer", subj("user", "dave")),
		relUpdate(touch, obj("billing/invoice", "inv4"), "viewer", subj("user", "dave")))
	write("an unknown type", relUpdate(touch, obj("billing/nope", "x"), "viewer", subj("user", "dave")))
	write("an unknown relation", relUpdate(touch, obj("billing/invoice", "x"), "nope", subj("user", "dave")))
	write("a permission as relation", relUpdate(touch, obj("billing/invoice", "x"), "view", subj("user", "dave")))
	write("a subject type the relation does not allow", relUpdate(touch, obj("billing/invoice", "x"), "owner", subj("user", "dave")))
	write("a bad id", relUpdate(touch, obj("billing/invoice", "a b"), "viewer", subj("user", "dave")))
	write("a delete of one that does not exist", relUpdate(del, obj("billing/invoice", "inv9"), "viewer", subj("user", "zed")))
	both("WriteRelationships with a precondition that fails", func(c *authzed.Client) (proto.Message, error) {
		return c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{
			Updates: []*v1.RelationshipUpdate{relUpdate(touch, obj("billing/invoice", "inv5"), "viewer", subj("user", "dave"))},
			OptionalPreconditions: []*v1.Precondition{{
				Operation: v1.Precondition_OPERATION_MUST_MATCH,
				Filter:    &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceId: "inv5"},
			}},
		})
	})
	both("WriteRelationships with a precondition that holds", func(c *authzed.Client) (proto.Message, error) {
		return c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{
			Updates: []*v1.RelationshipUpdate{relUpdate(touch, obj("billing/invoice", "inv5"), "viewer", subj("user", "dave"))},
			OptionalPreconditions: []*v1.Precondition{{
				Operation: v1.Precondition_OPERATION_MUST_NOT_MATCH,
				Filter:    &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceId: "inv5"},
			}},
		})
	})

	full1 := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	// With tracing, the engine answers, and its trace is SpiceDB's (what
	// differs by moment cleared: durations, node ids, cache marks). These
	// come before any other check: a result in either side's dispatch
	// cache is traced without its sub-problems (CI caught the upstream
	// server answering from its cache while Nexus computed).
	for _, u := range []string{"bob", "carol"} {
		both("CheckPermission with tracing for "+u, func(c *authzed.Client) (proto.Message, error) {
			resp, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{Consistency: full1, WithTracing: true,
				Resource: obj("billing/invoice", "inv1"), Permission: "view", Subject: subj("user", u)})
			if err != nil {
				return nil, err
			}
			if resp.GetDebugTrace().GetCheck() == nil {
				return nil, fmt.Errorf("no trace in %v", resp)
			}
			clearMoment(resp.GetDebugTrace().GetCheck())
			root := resp.GetDebugTrace().GetCheck()
			root.Resolution, root.PermissionType = nil, v1.CheckDebugTrace_PERMISSION_TYPE_UNSPECIFIED
			resp.DebugTrace.SchemaUsed = definitionsSorted(resp.GetDebugTrace().GetSchemaUsed())
			return resp, nil
		})
	}
	check := func(res *v1.ObjectReference, perm string, sub *v1.SubjectReference) {
		t.Helper()
		both("CheckPermission "+res.String()+"#"+perm+"@"+sub.String(), func(c *authzed.Client) (proto.Message, error) {
			return c.CheckPermission(ctx, &v1.CheckPermissionRequest{Consistency: full1, Resource: res, Permission: perm, Subject: sub})
		})
	}
	check(obj("billing/invoice", "inv1"), "view", subj("user", "alice"))  // through the owner team
	check(obj("billing/invoice", "inv1"), "view", subj("user", "bob"))    // nested team
	check(obj("billing/invoice", "inv1"), "view", subj("user", "carol"))  // viewer, but blocked
	check(obj("billing/invoice", "inv1"), "audit", subj("user", "bob"))   // auditor and viewer
	check(obj("billing/invoice", "inv1"), "audit", subj("user", "alice")) // viewer, not auditor
	check(obj("billing/invoice", "inv2"), "view", team("platform"))
	check(obj("billing/invoice", "nope"), "view", subj("user", "alice"))
	check(obj("billing/invoice", "inv1"), "nope", subj("user", "alice"))
	check(obj("billing/nope", "inv1"), "view", subj("user", "alice"))
	check(obj("billing/invoice", "inv1"), "view", subj("billing/nope", "x"))

	both("CheckBulkPermissions", func(c *authzed.Client) (proto.Message, error) {
		var items []*v1.CheckBulkPermissionsRequestItem
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			for _, inv := range []string{"inv1", "inv2", "inv3"} {
				items = append(items, &v1.CheckBulkPermissionsRequestItem{Resource: obj("billing/invoice", inv), Permission: "view", Subject: subj("user", u)})
			}
		}
		items = append(items, &v1.CheckBulkPermissionsRequestItem{Resource: obj("billing/invoice", "inv1"), Permission: "nope", Subject: subj("user", "alice")})
		return c.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{Consistency: full1, Items: items})
	})

	both("ExpandPermissionTree", func(c *authzed.Client) (proto.Message, error) {
		return c.ExpandPermissionTree(ctx, &v1.ExpandPermissionTreeRequest{Consistency: full1, Resource: obj("billing/invoice", "inv1"), Permission: "view"})
	})

	stream := func(name string, call func(c *authzed.Client) ([]proto.Message, error), sortThem bool) {
		t.Helper()
		each(name, func(c *authzed.Client) (string, error) {
			msgs, err := call(c)
			if err != nil {
				return "", err
			}
			var texts []string
			for _, m := range msgs {
				texts = append(texts, normalized(t, m))
			}
			if sortThem {
				slices.Sort(texts)
			}
			return strings.Join(texts, "\n"), nil
		})
	}
	recvAll := func(recv func() (proto.Message, error)) ([]proto.Message, error) {
		var out []proto.Message
		for {
			m, err := recv()
			if err != nil {
				if strings.Contains(err.Error(), "EOF") {
					return out, nil
				}
				return nil, err
			}
			out = append(out, m)
		}
	}
	lookupResources := func(perm string, sub *v1.SubjectReference) {
		t.Helper()
		stream("LookupResources "+perm+"@"+sub.String(), func(c *authzed.Client) ([]proto.Message, error) {
			s, err := c.LookupResources(ctx, &v1.LookupResourcesRequest{Consistency: full1, ResourceObjectType: "billing/invoice", Permission: perm, Subject: sub})
			if err != nil {
				return nil, err
			}
			return recvAll(func() (proto.Message, error) { return s.Recv() })
		}, true)
	}
	lookupResources("view", subj("user", "bob"))
	lookupResources("view", subj("user", "carol"))
	lookupResources("nope", subj("user", "bob"))
	stream("LookupSubjects", func(c *authzed.Client) ([]proto.Message, error) {
		s, err := c.LookupSubjects(ctx, &v1.LookupSubjectsRequest{Consistency: full1, Resource: obj("billing/invoice", "inv1"), Permission: "view", SubjectObjectType: "user"})
		if err != nil {
			return nil, err
		}
		return recvAll(func() (proto.Message, error) { return s.Recv() })
	}, true)

	read := func(name string, filter *v1.RelationshipFilter, limit uint32) {
		t.Helper()
		stream("ReadRelationships "+name, func(c *authzed.Client) ([]proto.Message, error) {
			s, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{Consistency: full1, RelationshipFilter: filter, OptionalLimit: limit})
			if err != nil {
				return nil, err
			}
			return recvAll(func() (proto.Message, error) { return s.Recv() })
		}, false)
	}
	read("by type", &v1.RelationshipFilter{ResourceType: "billing/invoice"}, 0)
	read("by id", &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceId: "inv1"}, 0)
	read("by id prefix", &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceIdPrefix: "inv"}, 0)
	read("by relation", &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalRelation: "viewer"}, 0)
	read("by subject", &v1.RelationshipFilter{ResourceType: "billing/team", OptionalSubjectFilter: &v1.SubjectFilter{
		SubjectType: "billing/team", OptionalRelation: &v1.SubjectFilter_RelationFilter{Relation: "member"}}}, 0)
	read("with a limit", &v1.RelationshipFilter{ResourceType: "billing/invoice"}, 3)
	read("of an unknown type", &v1.RelationshipFilter{ResourceType: "billing/nope"}, 0)
	read("with an id and a prefix", &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceId: "inv1", OptionalResourceIdPrefix: "inv"}, 0)

	both("DeleteRelationships with a limit it exceeds, partial deletes not allowed", func(c *authzed.Client) (proto.Message, error) {
		return c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalRelation: "viewer"}, OptionalLimit: 1,
		})
	})
	both("DeleteRelationships with a limit it exceeds, partial deletes allowed", func(c *authzed.Client) (proto.Message, error) {
		return c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalRelation: "viewer"},
			OptionalLimit:      2, OptionalAllowPartialDeletions: true,
		})
	})
	read("after a partial delete", &v1.RelationshipFilter{ResourceType: "billing/invoice"}, 0)
	both("DeleteRelationships with a limit past the most", func(c *authzed.Client) (proto.Message, error) {
		return c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice"}, OptionalLimit: 1001,
		})
	})
	both("WriteRelationships with a precondition on an id prefix", func(c *authzed.Client) (proto.Message, error) {
		return c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{
			Updates: []*v1.RelationshipUpdate{relUpdate(touch, obj("billing/invoice", "inv6"), "viewer", subj("user", "dave"))},
			OptionalPreconditions: []*v1.Precondition{{
				Operation: v1.Precondition_OPERATION_MUST_MATCH,
				Filter:    &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceIdPrefix: "inv"},
			}},
		})
	})
	both("DeleteRelationships by an id prefix", func(c *authzed.Client) (proto.Message, error) {
		return c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceIdPrefix: "inv5"},
		})
	})
	both("DeleteRelationships by an id and a prefix", func(c *authzed.Client) (proto.Message, error) {
		return c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceId: "inv1", OptionalResourceIdPrefix: "inv"},
		})
	})
	read("after a delete by prefix", &v1.RelationshipFilter{ResourceType: "billing/invoice"}, 0)
	both("DeleteRelationships of an unknown relation", func(c *authzed.Client) (proto.Message, error) {
		return c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalRelation: "nope"},
		})
	})
	both("DeleteRelationships", func(c *authzed.Client) (proto.Message, error) {
		return c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceId: "inv3"},
		})
	})
	read("after the delete", &v1.RelationshipFilter{ResourceType: "billing/invoice"}, 0)

	// Bulk: an import, one that names an existing relationship, one the
	// schema refuses, and the export of what is there.
	bulk := func(name string, rels ...*v1.Relationship) {
		t.Helper()
		each("ImportBulkRelationships "+name, func(c *authzed.Client) (string, error) {
			n, err := importAll(ctx, c, rels)
			return strconv.FormatUint(n, 10), err
		})
	}
	bulk("of new relationships", invoices(100, 150)...)
	bulk("of one that exists", invoices(149, 151)...)
	bulk("that the schema refuses", &v1.Relationship{Resource: obj("billing/invoice", "x"), Relation: "owner", Subject: subj("user", "alice")})
	stream("ExportBulkRelationships", func(c *authzed.Client) ([]proto.Message, error) {
		s, err := c.ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{
			Consistency: full1, OptionalRelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice"},
		})
		if err != nil {
			return nil, err
		}
		return recvAll(func() (proto.Message, error) { return s.Recv() })
	}, false)
	// Pages: LookupResources and ReadRelationships from a page's cursor.
	pages := func(name string, page func(c *authzed.Client, after *v1.Cursor) ([]proto.Message, *v1.Cursor, error)) {
		t.Helper()
		stream(name+", in pages of 7", func(c *authzed.Client) ([]proto.Message, error) {
			var all []proto.Message
			var after *v1.Cursor
			for range 20 {
				msgs, next, err := page(c, after)
				if err != nil || len(msgs) == 0 {
					return all, err
				}
				all, after = append(all, msgs...), next
			}
			return all, nil
		}, false)
	}
	pages("ReadRelationships", func(c *authzed.Client, after *v1.Cursor) ([]proto.Message, *v1.Cursor, error) {
		s, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{Consistency: full1, OptionalLimit: 7, OptionalCursor: after,
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice"}})
		if err != nil {
			return nil, nil, err
		}
		msgs, err := recvAll(func() (proto.Message, error) { return s.Recv() })
		if err != nil || len(msgs) == 0 {
			return nil, nil, err
		}
		return msgs, msgs[len(msgs)-1].(*v1.ReadRelationshipsResponse).GetAfterResultCursor(), nil
	})
	pages("LookupResources", func(c *authzed.Client, after *v1.Cursor) ([]proto.Message, *v1.Cursor, error) {
		s, err := c.LookupResources(ctx, &v1.LookupResourcesRequest{Consistency: full1, OptionalLimit: 7, OptionalCursor: after,
			ResourceObjectType: "billing/invoice", Permission: "view", Subject: subj("user", "alice")})
		if err != nil {
			return nil, nil, err
		}
		msgs, err := recvAll(func() (proto.Message, error) { return s.Recv() })
		if err != nil || len(msgs) == 0 {
			return nil, nil, err
		}
		return msgs, msgs[len(msgs)-1].(*v1.LookupResourcesResponse).GetAfterResultCursor(), nil
	})

	both("WriteSchema that does not parse", func(c *authzed.Client) (proto.Message, error) {
		return c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: full + "\ndefinition broken {"})
	})
	both("WriteSchema that drops a relation still in use", func(c *authzed.Client) (proto.Message, error) {
		return c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: strings.Replace(full, "relation blocked: user", "", 1)})
	})
}

// startSpiceDB runs a SpiceDB gRPC server in this process on upstream's
// memory datastore, and returns a client with its preshared key.
func startSpiceDB(t *testing.T) *authzed.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ds, err := dscmd.NewDatastore(ctx, dscmd.DefaultDatastoreConfig().ToOption(), dscmd.WithEngine(dscmd.MemoryEngine))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	srv, err := spiceserver.NewConfigWithOptionsAndDefaults(
		spiceserver.WithDatastore(ds),
		spiceserver.WithGRPCServer(util.GRPCServerConfig{Network: "tcp", Address: addr, Enabled: true}),
		spiceserver.WithPresharedSecureKey("compat"),
		spiceserver.WithHTTPGateway(util.HTTPServerConfig{HTTPEnabled: false}),
		spiceserver.WithMetricsAPI(util.HTTPServerConfig{HTTPEnabled: false}),
		spiceserver.WithDispatchServer(util.GRPCServerConfig{Enabled: false}),
		spiceserver.WithSilentlyDisableTelemetry(true),
		spiceserver.WithTelemetryEndpoint(""),
		spiceserver.WithDisableVersionResponse(true),
	).Complete(ctx)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; ds.Close() })
	c, err := authzed.NewClient(addr, grpcutil.WithInsecureBearerToken("compat"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.Eventually(t, func() bool {
		_, err := c.ReadSchema(ctx, &v1.ReadSchemaRequest{})
		return err == nil || status.Code(err) == 5 // NotFound: no schema yet, but serving
	}, 10*time.Second, 20*time.Millisecond)
	return c
}

// normalized is m as JSON without what differs by server and moment:
// tokens and timestamps.
func normalized(t *testing.T, m proto.Message) string {
	t.Helper()
	if m == nil {
		return "<nil>"
	}
	m = proto.Clone(m)
	clearTokens(m.ProtoReflect())
	b, err := protojson.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

// clearTokens clears every ZedToken, Cursor and Timestamp in m, however
// deep.
func clearTokens(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				clearTokens(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				clearTokens(mv.Message())
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			switch fd.Message().FullName() {
			case "authzed.api.v1.ZedToken", "authzed.api.v1.Cursor", "google.protobuf.Timestamp":
				m.Clear(fd)
			default:
				clearTokens(v.Message())
			}
		}
		return true
	})
}

// definitionsSorted is schema's lines, sorted: the order of schemaUsed's
// definitions is the datastore's (by name in memory, as written on
// PostgreSQL), not the engine's.
func definitionsSorted(schema string) string {
	lines := strings.Split(schema, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// clearMoment clears what differs between two runs of the same traced
// check: durations, the serving node and where the answer came from.
func clearMoment(t *v1.CheckDebugTrace) {
	t.Duration, t.Source, t.TraceOperationId = nil, "", ""
	if r, ok := t.Resolution.(*v1.CheckDebugTrace_WasCachedResult); ok && r.WasCachedResult {
		t.Resolution = nil
	}
	for _, sub := range t.GetSubProblems().GetTraces() {
		clearMoment(sub)
	}
}
