package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/internal/server"
)

// An anonymous gzip bomb is refused as too large, by the bounded
// decompressor (whose message says the message inflates past the limit),
// not after Connect has inflated all of it to report its size.
func TestGzipBombIsRefusedWhileInflating(t *testing.T) {
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
