package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rpcCount reads how many calls of a FileService procedure answered ok.
func rpcCount(t *testing.T, url, proc string) int {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	re := regexp.MustCompile(`nexus_rpc_requests_total\{code="ok",procedure="/nexus.v1.FileService/` + proc + `"\} (\d+)`)
	m := re.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return n
}

// An interrupted put resumes where it stopped: the second put sends only
// what the server had not acknowledged (no new upload is begun), and the
// file is whole. A record naming an upload the server no longer has starts
// over, saying so.
func TestAnInterruptedPutResumes(t *testing.T) {
	p, key, ok := asAdmin(t)
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	records := filepath.Join(cache, "nexus", "uploads")

	data := make([]byte, 5*transferChunk+123)
	for i := range data {
		data[i] = byte(i*31 + i/7)
	}
	local := filepath.Join(t.TempDir(), "big.bin")
	require.NoError(t, os.WriteFile(local, data, 0o600))

	// Interrupt the first put once the server has acknowledged a chunk
	// (its record is on disk).
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		for ctx.Err() == nil {
			if ents, _ := os.ReadDir(records); len(ents) > 0 {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"--url", p.url, "--token", key, "fs", "put", local, "/big.bin"}, &out, &errOut)
	require.NotEqual(t, 0, code, "the put was to be interrupted: %s", errOut.String())
	require.Equal(t, 1, rpcCount(t, p.url, "BeginUpload"))
	sent := rpcCount(t, p.url, "AppendUpload")
	require.Less(t, sent, 6, "it stopped before the end")

	code, _, stderr := cli(p.url, key, "fs", "put", local, "/big.bin")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `resuming the upload of /big.bin at \d+ of `+strconv.Itoa(len(data))+` bytes`, stderr)
	require.Equal(t, 1, rpcCount(t, p.url, "BeginUpload"), "the same upload carried on")
	require.LessOrEqual(t, rpcCount(t, p.url, "AppendUpload"), sent+6-1, "the chunks acknowledged before were not all sent again")
	ents, err := os.ReadDir(records)
	require.NoError(t, err)
	require.Empty(t, ents, "a committed upload leaves no record")
	got := filepath.Join(t.TempDir(), "got.bin")
	ok("fs", "get", "/big.bin", got)
	b, err := os.ReadFile(got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, b), "the resumed file is whole")

	// A record of an upload the server does not have: start over.
	fi, err := os.Stat(local)
	require.NoError(t, err)
	rec := resumeRecord(p.url, "/big2.bin", local, fi)
	rec.UploadID, rec.Offset, rec.Chunk = "upl_gone", transferChunk, transferChunk
	require.NoError(t, rec.save())
	code, _, stderr = cli(p.url, key, "fs", "put", local, "/big2.bin")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "the interrupted upload of /big2.bin is gone from the server; starting over")
	require.Equal(t, 2, rpcCount(t, p.url, "BeginUpload"))
	ok("fs", "get", "/big2.bin", got)
	b, err = os.ReadFile(got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, b), fmt.Sprintf("%d bytes back", len(b)))
}
