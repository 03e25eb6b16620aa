package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

// What a caller's key decides at /mcp, beside TestMCP: who gets in, whose
// session it is, whose notifications reach whom, CORS, and shutdown.

// TestMCPHTTPNeedsAUserKey: /mcp refuses a request without a key, with a
// bad key, or with a service key, before any session is made; and a
// session answers only the key that opened it.
func TestMCPHTTPNeedsAUserKey(t *testing.T) {
	w := newMCPWorld(t)
	w.ok("admin", "user", "create", "svc")
	svc := strings.TrimSpace(w.ok("admin", "key", "create", "--user", "svc", "--scope", "check"))
	for _, key := range []string{"", "nexus_bogus", svc} {
		tr := &sdk.StreamableClientTransport{Endpoint: w.url + "/mcp", HTTPClient: &http.Client{Transport: withKey(key)}}
		_, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(context.Background(), tr, nil)
		require.Error(t, err, "key %q", key)
		require.ErrorContains(t, err, "Unauthorized")
	}

	cs := mcpConnect(t, &sdk.StreamableClientTransport{Endpoint: w.url + "/mcp", HTTPClient: &http.Client{Transport: withKey(w.bob)}},
		&mcpUpdates{more: make(chan struct{}, 1)})
	for key, want := range map[string]int{w.bob: http.StatusOK, w.admin: http.StatusForbidden, "": http.StatusUnauthorized} {
		req, err := http.NewRequest(http.MethodPost, w.url+"/mcp", strings.NewReader(
			`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", cs.ID())
		req.Header.Set("Mcp-Protocol-Version", cs.InitializeResult().ProtocolVersion)
		withKey(key).setOn(req)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, "key %q on bob's session", key)
	}
}

// TestMCPShutdownEndsEventStreams: a graceful stop ends the MCP sessions'
// event streams, so it finishes cleanly instead of waiting out its
// deadline and failing.
func TestMCPShutdownEndsEventStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	cs := mcpConnect(t, &sdk.StreamableClientTransport{Endpoint: p.url + "/mcp", HTTPClient: &http.Client{Transport: withKey(adminKey(t, dir))}},
		&mcpUpdates{more: make(chan struct{}, 1)})
	require.NoError(t, cs.Subscribe(context.Background(), &sdk.SubscribeParams{URI: "nexus://default/x"}))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.cmd.Wait(), "stderr:\n%s", p.stderr.String())
}

// TestMCPNotificationsFollowEachKeysView: two agents subscribe to the same
// file, which only one of them may read; a change notifies that one only
// (each key has its own server and poller, as itself). Then each agent's
// key is revoked, and its next call fails.
func TestMCPNotificationsFollowEachKeysView(t *testing.T) {
	w := newMCPWorld(t)
	const notes, marker = "nexus://default/bob/shared/notes.md", "nexus://default/bob/marker/m.txt"
	type agent struct {
		cs  *sdk.ClientSession
		u   *mcpUpdates
		key string
	}
	agents := map[string]*agent{}
	for _, tr := range mcpTransports {
		for _, sees := range []bool{true, false} {
			name := fmt.Sprintf("bot-%s-%v", tr.name, sees)
			w.ok("admin", "user", "create", name, "--agent-of", "bob")
			a := &agent{u: &mcpUpdates{more: make(chan struct{}, 1)}, key: strings.TrimSpace(w.ok("admin", "key", "create", "--user", name))}
			if sees {
				w.share(t, "/bob/shared", "user:"+name, false)
			}
			w.share(t, "/bob/marker", "user:"+name, false)
			a.cs = tr.connect(t, w.url, a.key, a.u)
			for _, uri := range []string{notes, marker} {
				require.NoError(t, a.cs.Subscribe(context.Background(), &sdk.SubscribeParams{URI: uri}))
			}
			agents[name] = a
		}
	}
	w.write(t, w.bob, "/bob/shared/notes.md", "# Notes\nchanged\n")
	for name, a := range agents {
		if strings.HasSuffix(name, "true") {
			a.u.waitFor(t, 0, notes)
		}
	}
	// Two marker changes after the notes change, each notified to every
	// agent, mean each poller has checked the notes after it changed.
	seen := map[string]int{}
	for i := range 2 {
		w.write(t, w.bob, "/bob/marker/m.txt", fmt.Sprintf("change %d", i))
		for name, a := range agents {
			seen[name] = a.u.waitFor(t, seen[name], marker)
		}
	}
	for name, a := range agents {
		if strings.HasSuffix(name, "false") {
			require.NotContains(t, a.u.since(0), notes, "%s may not read the notes: no notification of them", name)
		}
	}

	for name, a := range agents {
		w.ok("admin", "key", "revoke", a.key)
		res, err := a.cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
		if strings.Contains(name, "stdio") {
			require.NoError(t, err)
			require.True(t, res.IsError)
			require.Contains(t, mcpText(res), "unauthenticated", name)
		} else {
			require.ErrorContains(t, err, "Unauthorized", name)
		}
	}
}

// TestMCPCORS: a browser agent on an allowed origin may open, use and end
// a session (the MCP headers pass the preflight and the session id is
// readable); another origin gets no CORS answer.
func TestMCPCORS(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir, "--allowed-origins", "https://agent.example")
	for origin, allowed := range map[string]bool{"https://agent.example": true, "https://evil.example": false} {
		req, err := http.NewRequest(http.MethodOptions, p.url+"/mcp", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodDelete)
		req.Header.Set("Access-Control-Request-Headers", "authorization,mcp-protocol-version,mcp-session-id") // sorted, as browsers send it
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		if !allowed {
			require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), origin)
			continue
		}
		require.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), http.MethodDelete)
		require.Contains(t, strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "mcp-session-id")
	}

	req, err := http.NewRequest(http.MethodPost, p.url+"/mcp", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	require.NoError(t, err)
	req.Header.Set("Origin", "https://agent.example")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	withKey(adminKey(t, dir)).setOn(req)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Mcp-Session-Id"))
	require.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "Mcp-Session-Id", "the browser may read the session id")
}
