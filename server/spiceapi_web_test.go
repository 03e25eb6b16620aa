package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/server/spiceapi"
)

// Browsers and other HTTP clients reach the SpiceDB API too: gRPC-web,
// Connect (binary and JSON), and plain JSON POSTs, with CORS for allowed
// origins.
func TestSpiceDBAPIOverWebProtocols(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const origin = "https://app.example"
	r := start(t, server.Config{AllowedOrigins: []string{origin}})
	keys := serviceKeys(t, r)
	req := &v1.CheckPermissionRequest{Resource: obj("zone", "z1"), Permission: "manage", Subject: subj("user", "alice")}

	for _, tc := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"gRPC-web", []connect.ClientOption{connect.WithGRPCWeb()}},
		{"gRPC-web JSON", []connect.ClientOption{connect.WithGRPCWeb(), connect.WithProtoJSON()}},
		{"Connect", nil},
		{"Connect JSON", []connect.ClientOption{connect.WithProtoJSON()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connect.NewClient[v1.CheckPermissionRequest, v1.CheckPermissionResponse](http.DefaultClient,
				r.url+spiceapi.CheckPermissionProcedure, append(tc.opts, bearer(keys.opCheck))...)
			resp, err := c.CallUnary(ctx, connect.NewRequest(req))
			require.NoError(t, err)
			require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION, resp.Msg.GetPermissionship())
			require.NotEmpty(t, resp.Msg.GetCheckedAt().GetToken())

			// The scope is enforced whatever the protocol.
			w := connect.NewClient[v1.WriteRelationshipsRequest, v1.WriteRelationshipsResponse](http.DefaultClient,
				r.url+spiceapi.WriteRelationshipsProcedure, append(tc.opts, bearer(keys.svcCheck))...)
			_, err = w.CallUnary(ctx, connect.NewRequest(&v1.WriteRelationshipsRequest{}))
			require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "%v", err)
		})
	}

	t.Run("a raw gRPC-web request", func(t *testing.T) {
		body, err := (&v1.ReadSchemaRequest{}).MarshalVT()
		require.NoError(t, err)
		frame := append([]byte{0, 0, 0, 0, byte(len(body))}, body...)
		hr, err := http.NewRequest(http.MethodPost, r.url+spiceapi.ReadSchemaProcedure, bytes.NewReader(frame))
		require.NoError(t, err)
		hr.Header.Set("Content-Type", "application/grpc-web+proto")
		hr.Header.Set("X-Grpc-Web", "1")
		hr.Header.Set("Origin", origin)
		hr.Header.Set("Authorization", "Bearer "+keys.svcCheck)
		resp, err := http.DefaultClient.Do(hr)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "application/grpc-web+proto", resp.Header.Get("Content-Type"))
		require.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "Grpc-Status")
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Greater(t, len(raw), 5)
		var msg v1.ReadSchemaResponse
		n := int(raw[1])<<24 | int(raw[2])<<16 | int(raw[3])<<8 | int(raw[4])
		require.Zero(t, raw[0], "the first frame is the message")
		require.NoError(t, msg.UnmarshalVT(raw[5:5+n]))
		require.Contains(t, msg.GetSchemaText(), "definition folder")
		require.Contains(t, string(raw[5+n:]), "grpc-status: 0", "the trailers frame says OK")
	})

	t.Run("a plain JSON POST", func(t *testing.T) {
		hr, err := http.NewRequest(http.MethodPost, r.url+spiceapi.CheckPermissionProcedure,
			bytes.NewReader([]byte(`{"resource":{"objectType":"zone","objectId":"z1"},"permission":"manage","subject":{"object":{"objectType":"user","objectId":"alice"}}}`)))
		require.NoError(t, err)
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Authorization", "Bearer "+keys.opCheck)
		resp, err := http.DefaultClient.Do(hr)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Equal(t, "PERMISSIONSHIP_NO_PERMISSION", out["permissionship"])
	})

	t.Run("a cross-origin preflight", func(t *testing.T) {
		for _, tc := range []struct {
			origin  string
			allowed bool
		}{{origin, true}, {"https://evil.example", false}} {
			hr, err := http.NewRequest(http.MethodOptions, r.url+spiceapi.CheckPermissionProcedure, nil)
			require.NoError(t, err)
			hr.Header.Set("Origin", tc.origin)
			hr.Header.Set("Access-Control-Request-Method", "POST")
			hr.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-grpc-web,x-user-agent")
			resp, err := http.DefaultClient.Do(hr)
			require.NoError(t, err)
			resp.Body.Close()
			if !tc.allowed {
				require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "an origin not configured is not allowed")
				continue
			}
			require.Less(t, resp.StatusCode, 300)
			require.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
			require.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
			allowedHeaders := resp.Header.Get("Access-Control-Allow-Headers")
			for _, h := range []string{"authorization", "content-type", "x-grpc-web"} {
				require.Contains(t, allowedHeaders, h)
			}
		}
	})
}
