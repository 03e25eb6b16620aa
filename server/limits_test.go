package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/server"
)

// An anonymous gzip bomb is refused as too large, by the bounded
// decompressor (whose message says the message inflates past the limit),
// not after Connect has inflated all of it to report its size.
func TestGzipBombIsRefusedWhileInflating(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	r := start(t, server.Config{MaxRequestBytes: limit})
	var member bytes.Buffer
	w, err := gzip.NewWriterLevel(&member, gzip.BestCompression)
	require.NoError(t, err)
	_, err = w.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	bomb := bytes.Repeat(member.Bytes(), limit/member.Len()) // 1 MiB each, under the limit compressed

	req, err := http.NewRequest(http.MethodPost, r.url+"/nexus.v1.ShareService/OpenLink", bytes.NewReader(bomb))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct{ Code, Message string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "resource_exhausted", body.Code, "%+v", body)
	require.Contains(t, body.Message, "inflates to more than", "refused while inflating, not after")

	t.Run("a compressed request within the limit is served", func(t *testing.T) {
		var small bytes.Buffer
		w := gzip.NewWriter(&small)
		_, err := w.Write([]byte(`{"token": "nxl_nope"}`))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		req, err := http.NewRequest(http.MethodPost, r.url+"/nexus.v1.ShareService/OpenLink", &small)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		require.Equal(t, "not_found", body.Code, "%+v", body)
	})
}

// Without --allowed-origins no origin gets a CORS grant, on the API or on
// /metrics; with one, only the API answers it, never the operators'
// endpoints.
func TestCORSIsOffUnlessConfigured(t *testing.T) {
	t.Parallel()
	grant := func(t *testing.T, url, method string) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodOptions, url, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Access-Control-Request-Method", method)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		allow := resp.Header.Get("Access-Control-Allow-Origin")

		req, err = http.NewRequest(method, url, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Content-Type", "application/json")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return allow + resp.Header.Get("Access-Control-Allow-Origin")
	}
	t.Run("by default", func(t *testing.T) {
		t.Parallel()
		r := start(t, server.Config{})
		require.Empty(t, grant(t, r.url+"/nexus.v1.IdentityService/WhoAmI", http.MethodPost))
		require.Empty(t, grant(t, r.url+"/metrics", http.MethodGet))
	})
	t.Run("any origin configured", func(t *testing.T) {
		t.Parallel()
		r := start(t, server.Config{AllowedOrigins: []string{"*"}})
		require.NotEmpty(t, grant(t, r.url+"/nexus.v1.IdentityService/WhoAmI", http.MethodPost))
		require.Empty(t, grant(t, r.url+"/metrics", http.MethodGet), "metrics are for operators")
		require.Empty(t, grant(t, r.url+"/healthz", http.MethodGet))
	})
}

// A consistency token the server did not issue is refused as bad input,
// saying what is wrong, on every call that takes one; the server's own
// token is taken.
func TestConsistencyTokensAreValidated(t *testing.T) {
	t.Parallel()
	r := start(t, server.Config{})
	ctx := context.Background()
	fc := nexusv1connect.NewFileServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	w, err := fc.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/t.txt", Data: []byte("t")}))
	require.NoError(t, err)
	at := func(tok string) *nexusv1.Consistency {
		return &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}}
	}
	_, err = fc.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: "/t.txt", Consistency: at(w.Msg.GetConsistencyToken())}))
	require.NoError(t, err)
	for _, tok := range []string{"garbage", w.Msg.GetConsistencyToken() + ".zz"} {
		_, err = fc.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: "/t.txt", Consistency: at(tok)}))
		require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%q: %v", tok, err)
		require.Contains(t, err.Error(), "consistency.at_least_as_fresh")
		_, err = fc.List(ctx, connect.NewRequest(&nexusv1.ListRequest{Path: "/", Consistency: at(tok)}))
		require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%q: %v", tok, err)
	}
}

// Nothing in the data dir is readable by anyone but its owner: the dir
// itself, the database and its WAL files, the admin key, the blobs.
func TestDataDirIsOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	r := start(t, server.Config{})
	fc := nexusv1connect.NewFileServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	_, err := fc.Write(context.Background(), connect.NewRequest(&nexusv1.WriteRequest{Path: "/blob.txt", Data: bytes.Repeat([]byte("x"), 1<<16)}))
	require.NoError(t, err)
	seen := map[string]bool{}
	require.NoError(t, filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		st, err := os.Stat(p)
		require.NoError(t, err)
		require.Zero(t, st.Mode().Perm()&0o077, "%s is %v", p, st.Mode().Perm())
		seen[filepath.Base(p)] = true
		return nil
	}))
	for _, f := range []string{"nexus.db", "nexus.db-wal", server.AdminKeyFile, "blobs"} {
		require.True(t, seen[f], "%s was not in the data dir", f)
	}
}
