package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/server"
)

// A service watches its own definitions' relationships from a write's
// token and sees its changes and nothing of Nexus's own; watching every
// type, or Nexus's types, takes an operator's key; a user's key is no
// service key.
func TestSpiceDBWatch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := start(t, server.Config{})
	keys := serviceKeys(t, r)
	op := spiceClient(t, r, keys.opWrite)
	cur, err := op.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	require.NoError(t, err)
	ws, err := op.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: cur.GetSchemaText() + documentSchema})
	require.NoError(t, err)

	watcher := spiceClient(t, r, keys.svcCheck)
	stream, err := watcher.Watch(ctx, &v1.WatchRequest{OptionalObjectTypes: []string{"document"}, OptionalStartCursor: ws.GetWrittenAt()})
	require.NoError(t, err)
	opStream, err := op.Watch(ctx, &v1.WatchRequest{OptionalStartCursor: ws.GetWrittenAt()})
	require.NoError(t, err)

	// A Nexus file written first, then the service's relationship.
	files := nexusv1connect.NewFileServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	_, err = files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/watched.txt", Data: []byte("x"), CreateParents: true}))
	require.NoError(t, err)
	_, err = spiceClient(t, r, keys.svcWrite).WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		relUpdate(v1.RelationshipUpdate_OPERATION_TOUCH, obj("document", "d1"), "viewer", subj("user", "u_watch")),
	}})
	require.NoError(t, err)

	resp, err := stream.Recv()
	require.NoError(t, err)
	require.Len(t, resp.GetUpdates(), 1, "the service sees its relationship and nothing of Nexus's file: %v", resp)
	u := resp.GetUpdates()[0]
	require.Equal(t, "document", u.GetRelationship().GetResource().GetObjectType())
	require.Equal(t, "d1", u.GetRelationship().GetResource().GetObjectId())
	require.NotEmpty(t, resp.GetChangesThrough().GetToken())

	seen := map[string]bool{}
	for !seen["document"] {
		resp, err := opStream.Recv()
		require.NoError(t, err)
		for _, u := range resp.GetUpdates() {
			seen[u.GetRelationship().GetResource().GetObjectType()] = true
		}
	}
	require.True(t, seen["file"], "an operator watching every type sees Nexus's own: %v", seen)

	for _, c := range []struct {
		name string
		key  string
		req  *v1.WatchRequest
		want string
	}{
		{"every type, not an operator", keys.svcCheck, &v1.WatchRequest{}, "operator's key"},
		{"Nexus's own type", keys.svcCheck, &v1.WatchRequest{OptionalObjectTypes: []string{"file"}}, "operator's key"},
		{"Nexus's type through a filter", keys.svcWrite, &v1.WatchRequest{OptionalRelationshipFilters: []*v1.RelationshipFilter{{ResourceType: "group"}}}, "operator's key"},
		{"a user's key", keys.user, &v1.WatchRequest{OptionalObjectTypes: []string{"document"}}, ""},
	} {
		s, err := spiceClient(t, r, c.key).Watch(ctx, c.req)
		if err == nil {
			_, err = s.Recv()
		}
		require.Equal(t, codes.PermissionDenied, status.Code(err), "%s: %v", c.name, err)
		require.Contains(t, status.Convert(err).Message(), c.want, c.name)
	}
}
