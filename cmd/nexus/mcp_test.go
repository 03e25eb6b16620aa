package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/server/mcp"
)

// The MCP server end to end, with the SDK's own client, over both
// transports: `nexus mcp` on stdio (a subprocess talking to `nexus serve`)
// and Streamable HTTP at the server's /mcp. In zone default, alice and bob
// own /alice and /bob; bob shares /bob/shared and /bob/marker with his
// agent (one per transport); zone acme has its own files and memories. The
// agent must see exactly what bob shared with it, nothing of alice's or
// bob's other files, nothing of acme, and a revoke must hold at its next call.

var mcpTools = []string{"check", "copy", "delete", "forget", "glob", "grep", "list", "memory_get", "memory_list", "mkdir",
	"move", "read", "recall", "remember", "restore", "search", "share_grant", "share_link_create", "share_list",
	"share_revoke", "shared_with_me", "stat", "versions", "whoami", "write"}

// mcpWorld is the server and the keys of its users.
type mcpWorld struct {
	url, admin, bob string
	ok              func(args ...string) string
	aliceMemory     string
}

func newMCPWorld(t *testing.T) *mcpWorld {
	p, admin, ok := asAdmin(t)
	w := &mcpWorld{url: p.url, admin: admin, ok: ok}
	key := func(user string) string { return strings.TrimSpace(ok("admin", "key", "create", "--user", user)) }
	ok("admin", "user", "create", "alice")
	ok("admin", "user", "create", "bob")
	alice := key("alice")
	w.bob = key("bob")
	ok("admin", "zone", "create", "acme")
	ok("admin", "user", "create", "root", "--zone", "acme", "--admin")
	root := key("acme/root")
	for _, d := range []struct{ dir, owner string }{{"/alice", "alice"}, {"/bob", "bob"}} {
		ok("fs", "mkdir", d.dir)
		ok("share", "grant", d.dir, "user:"+d.owner, "owner")
	}
	big := strings.Repeat("0123456789abcdef", mcp.DefaultMaxReadBytes/16+1000) // past the read cap
	for _, f := range []struct{ key, path, data string }{
		{alice, "/alice/secret.txt", "alice's xylophone secret\n"},
		{w.bob, "/bob/private.txt", "bob's private xylophone\n"},
		{w.bob, "/bob/shared/notes.md", "# Notes\nthe xylophone plan\n"},
		{w.bob, "/bob/shared/logo.bin", "\x89PNG\x00\x01\x02\xff"},
		{w.bob, "/bob/shared/big.txt", big},
		{w.bob, "/bob/marker/m.txt", "m0"},
		{w.bob, "/bob/shared/live-stdio.md", "v1"},
		{w.bob, "/bob/shared/live-http.md", "v1"},
		{root, "/acme/plan.txt", "acme's xylophone plan\n"},
	} {
		w.write(t, f.key, f.path, f.data)
	}
	m, err := memoryClient(w.url, alice).Remember(context.Background(), connect.NewRequest(&nexusv1.RememberRequest{Text: "alice's xylophone memory"}))
	require.NoError(t, err)
	w.aliceMemory = m.Msg.GetMemory().GetId()
	_, err = memoryClient(w.url, root).Remember(context.Background(), connect.NewRequest(&nexusv1.RememberRequest{
		Text: "acme's xylophone memory", Scope: nexusv1.MemoryScope_MEMORY_SCOPE_ZONE}))
	require.NoError(t, err)
	return w
}

func (w *mcpWorld) write(t *testing.T, key, path, data string) {
	t.Helper()
	fs := nexusv1connect.NewFileServiceClient(http.DefaultClient, w.url, connect.WithInterceptors(bearer(key)))
	_, err := fs.Write(context.Background(), connect.NewRequest(&nexusv1.WriteRequest{Path: path, Data: []byte(data), CreateParents: true}))
	require.NoError(t, err, path)
}

func memoryClient(url, key string) nexusv1connect.MemoryServiceClient {
	return nexusv1connect.NewMemoryServiceClient(http.DefaultClient, url, connect.WithInterceptors(bearer(key)))
}

func (w *mcpWorld) share(t *testing.T, path, subject string, revoke bool) {
	t.Helper()
	sh := nexusv1connect.NewShareServiceClient(http.DefaultClient, w.url, connect.WithInterceptors(bearer(w.bob)))
	var err error
	if revoke {
		_, err = sh.Revoke(context.Background(), connect.NewRequest(&nexusv1.RevokeRequest{Path: path, Subject: subject, Role: nexusv1.Role_ROLE_VIEWER}))
	} else {
		_, err = sh.Grant(context.Background(), connect.NewRequest(&nexusv1.GrantRequest{Path: path, Subject: subject, Role: nexusv1.Role_ROLE_VIEWER}))
	}
	require.NoError(t, err)
}

// mcpUpdates collects the resource-updated notifications a client receives.
type mcpUpdates struct {
	mu   sync.Mutex
	uris []string
	more chan struct{}
}

func (u *mcpUpdates) handle(_ context.Context, r *sdk.ResourceUpdatedNotificationRequest) {
	u.mu.Lock()
	u.uris = append(u.uris, r.Params.URI)
	u.mu.Unlock()
	select {
	case u.more <- struct{}{}:
	default:
	}
}

// waitFor waits for one more notification about uri than seen so far
// (counted from from) and returns how many have arrived in all.
func (u *mcpUpdates) waitFor(t *testing.T, from int, uri string) int {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		u.mu.Lock()
		got := slices.Clone(u.uris)
		u.mu.Unlock()
		if slices.Contains(got[from:], uri) {
			return len(got)
		}
		select {
		case <-u.more:
		case <-deadline:
			t.Fatalf("no notification for %s; got %v", uri, got)
		}
	}
}

func (u *mcpUpdates) since(from int) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.uris[from:])
}

type mcpTransport struct {
	name    string
	connect func(t *testing.T, url, key string, u *mcpUpdates) *sdk.ClientSession
}

var mcpTransports = []mcpTransport{
	{"stdio", func(t *testing.T, url, key string, u *mcpUpdates) *sdk.ClientSession {
		cmd := exec.Command(os.Args[0], "mcp", "--poll-interval", "100ms")
		cmd.Env = append(os.Environ(), "NEXUS_TEST_MAIN=1", "NEXUS_URL="+url, "NEXUS_TOKEN="+key, "NEXUS_CONTEXT=")
		cmd.Stderr = &lockedWriter{}
		return mcpConnect(t, &sdk.CommandTransport{Command: cmd}, u)
	}},
	{"http", func(t *testing.T, url, key string, u *mcpUpdates) *sdk.ClientSession {
		return mcpConnect(t, &sdk.StreamableClientTransport{Endpoint: url + "/mcp", HTTPClient: &http.Client{Transport: withKey(key)}}, u)
	}},
}

func mcpConnect(t *testing.T, tr sdk.Transport, u *mcpUpdates) *sdk.ClientSession {
	t.Helper()
	c := sdk.NewClient(&sdk.Implementation{Name: "nexus-test", Version: "1"}, &sdk.ClientOptions{ResourceUpdatedHandler: u.handle})
	cs, err := c.Connect(context.Background(), tr, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	return cs
}

// withKey sends an API key on every request, as an MCP host's configured
// header does.
type withKey string

func (k withKey) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	k.setOn(r)
	return http.DefaultTransport.RoundTrip(r)
}

func (k withKey) setOn(r *http.Request) {
	if k != "" {
		r.Header.Set("Authorization", "Bearer "+string(k))
	}
}

// mcpCall calls a tool; it fails the test only on a protocol error.
func mcpCall(t *testing.T, cs *sdk.ClientSession, name string, args any) *sdk.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err, "%s: a protocol error", name)
	return res
}

func mcpText(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// mcpOK calls a tool that must succeed and decodes its structured output.
func mcpOK[T any](t *testing.T, cs *sdk.ClientSession, name string, args any) T {
	t.Helper()
	res := mcpCall(t, cs, name, args)
	require.False(t, res.IsError, "%s: %s", name, mcpText(res))
	var out T
	b, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return out
}

// mcpRead calls read, which must succeed, and returns its structured
// output and its first content block.
func mcpRead(t *testing.T, cs *sdk.ClientSession, args any) (mcp.ReadOut, string) {
	t.Helper()
	out := mcpOK[mcp.ReadOut](t, cs, "read", args)
	res := mcpCall(t, cs, "read", args)
	return out, res.Content[0].(*sdk.TextContent).Text
}

// mcpToolError calls a tool that must fail with a tool error, and returns its text.
func mcpToolError(t *testing.T, cs *sdk.ClientSession, name string, args any) string {
	t.Helper()
	res := mcpCall(t, cs, name, args)
	require.True(t, res.IsError, "%s %v must fail: %s", name, args, mcpText(res))
	return mcpText(res)
}

func entryPaths(es []mcp.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return out
}

func TestMCP(t *testing.T) {
	w := newMCPWorld(t)
	for _, tr := range mcpTransports {
		t.Run(tr.name, func(t *testing.T) {
			bot := "bob-bot-" + tr.name
			w.ok("admin", "user", "create", bot, "--agent-of", "bob")
			key := strings.TrimSpace(w.ok("admin", "key", "create", "--user", bot))
			w.share(t, "/bob/shared", "user:"+bot, false)
			w.share(t, "/bob/marker", "user:"+bot, false)
			u := &mcpUpdates{more: make(chan struct{}, 1)}
			cs := tr.connect(t, w.url, key, u)
			t.Run("ToolsAndSchemas", func(t *testing.T) { testMCPTools(t, cs) })
			t.Run("SeesExactlyWhatBobShared", func(t *testing.T) { testMCPView(t, cs) })
			t.Run("HiddenAndMissingReadAlike", func(t *testing.T) { testMCPHidden(t, cs, w) })
			t.Run("BadInputsAreToolErrors", func(t *testing.T) { testMCPBadInputs(t, cs) })
			t.Run("Resources", func(t *testing.T) { testMCPResources(t, cs) })
			t.Run("ACancelledCallKeepsTheSession", func(t *testing.T) { testMCPCancel(t, cs) })
			t.Run("RevokeHoldsAtOnceAndEndsNotifications", func(t *testing.T) { testMCPRevoke(t, cs, w, tr.name, u) })
		})
	}
}

func testMCPTools(t *testing.T, cs *sdk.ClientSession) {
	res, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		require.NotEmpty(t, tool.Description, tool.Name)
		in, ok := tool.InputSchema.(map[string]any)
		require.True(t, ok, "%s: input schema %T", tool.Name, tool.InputSchema)
		require.Equal(t, "object", in["type"], tool.Name)
		require.NotNil(t, tool.OutputSchema, "%s has an output schema", tool.Name)
		require.NotNil(t, tool.Annotations, tool.Name)
		if tool.Name == "read" {
			props := in["properties"].(map[string]any)
			for _, p := range []string{"path", "offset", "length", "version", "consistency_token"} {
				require.Contains(t, props, p)
			}
			require.Equal(t, []any{"path"}, in["required"])
			require.True(t, tool.Annotations.ReadOnlyHint)
			require.Contains(t, tool.Description, "262144 bytes")
		}
	}
	slices.Sort(names)
	require.Equal(t, mcpTools, names)
}

func testMCPView(t *testing.T, cs *sdk.ClientSession) {
	who := mcpOK[mcp.Identity](t, cs, "whoami", nil)
	require.True(t, strings.HasPrefix(who.User, "bob-bot-"), who.User)
	require.Equal(t, "default", who.Zone)
	require.Empty(t, mcpOK[mcp.Page](t, cs, "list", map[string]any{"path": "/"}).Entries, "nothing at the root is the agent's")
	shared := mcpOK[mcp.SharedPage](t, cs, "shared_with_me", nil)
	var sharedPaths []string
	for _, s := range shared.Entries {
		sharedPaths = append(sharedPaths, s.Entry.Path)
	}
	require.ElementsMatch(t, []string{"/bob/shared", "/bob/marker"}, sharedPaths)
	all := mcpOK[mcp.Page](t, cs, "glob", map[string]any{"pattern": "/**"})
	require.ElementsMatch(t, []string{"/bob/shared/notes.md", "/bob/shared/logo.bin", "/bob/shared/big.txt", "/bob/marker/m.txt",
		"/bob/shared/live-stdio.md", "/bob/shared/live-http.md"},
		slices.DeleteFunc(entryPaths(all.Entries), func(p string) bool { return p == "/bob/shared" || p == "/bob/marker" }))

	notes, text := mcpRead(t, cs, map[string]any{"path": "/bob/shared/notes.md"})
	require.Equal(t, "# Notes\nthe xylophone plan\n", text, "a text file is the first content block, exactly")
	require.False(t, notes.Binary)
	require.False(t, notes.Truncated)
	logo := mcpOK[mcp.ReadOut](t, cs, "read", map[string]any{"path": "/bob/shared/logo.bin"})
	require.True(t, logo.Binary)
	b, err := base64.StdEncoding.DecodeString(logo.Base64)
	require.NoError(t, err)
	require.Equal(t, "\x89PNG\x00\x01\x02\xff", string(b))

	res := mcpCall(t, cs, "read", map[string]any{"path": "/bob/shared/big.txt"})
	require.False(t, res.IsError, mcpText(res))
	require.Contains(t, mcpText(res), "[truncated: bytes 0-262144 of")
	big, bigText := mcpRead(t, cs, map[string]any{"path": "/bob/shared/big.txt"})
	require.Len(t, bigText, mcp.DefaultMaxReadBytes)
	require.True(t, big.Truncated)
	require.EqualValues(t, mcp.DefaultMaxReadBytes, big.Length)
	rest := mcpOK[mcp.ReadOut](t, cs, "read", map[string]any{"path": "/bob/shared/big.txt", "offset": big.NextOffset})
	require.False(t, rest.Truncated)
	require.Equal(t, big.Size, big.Length+rest.Length)

	hits := mcpOK[mcp.SearchOut](t, cs, "search", map[string]any{"query": "xylophone"})
	require.Len(t, hits.Hits, 1)
	require.Equal(t, "/bob/shared/notes.md", hits.Hits[0].Path)
	grep := mcpOK[mcp.GrepOut](t, cs, "grep", map[string]any{"pattern": "xylophone"})
	require.Len(t, grep.Matches, 1)
	require.Equal(t, "/bob/shared/notes.md", grep.Matches[0].Path)

	mine := mcpOK[mcp.Remembered](t, cs, "remember", map[string]any{"text": "the agent's xylophone memory", "scope": "agent"})
	recalled := mcpOK[mcp.RecallOut](t, cs, "recall", map[string]any{"query": "xylophone"})
	require.Len(t, recalled.Memories, 1, "neither alice's memory nor acme's zone memory")
	require.Equal(t, mine.Memory.ID, recalled.Memories[0].Memory.ID)
	listed := mcpOK[mcp.MemoryPage](t, cs, "memory_list", nil)
	require.Len(t, listed.Memories, 1)

	require.True(t, mcpOK[mcp.Decision](t, cs, "check", map[string]any{"resource": "/bob/shared/notes.md", "permission": "read"}).Allowed)
	require.False(t, mcpOK[mcp.Decision](t, cs, "check", map[string]any{"resource": "/bob/shared/notes.md", "permission": "write"}).Allowed)
	require.False(t, mcpOK[mcp.Decision](t, cs, "check", map[string]any{"resource": "/alice/secret.txt", "permission": "read"}).Allowed)
	// A viewer may not write, nor share.
	require.Contains(t, mcpToolError(t, cs, "write", map[string]any{"path": "/bob/shared/notes.md", "text": "x"}), "permission denied")
	mcpToolError(t, cs, "share_grant", map[string]any{"path": "/bob/shared", "subject": "user:alice", "role": "viewer"})
}

// testMCPHidden: for each tool that takes a name, a name the agent may not
// see (in its zone: alice's, bob's own; another zone's) answers exactly as
// a name that does not exist, but for the name itself.
func testMCPHidden(t *testing.T, cs *sdk.ClientSession, w *mcpWorld) {
	cases := []struct {
		tool, arg, hidden, missing string
	}{
		{"read", "path", "/alice/secret.txt", "/alice/nothing.txt"},
		{"read", "path", "/bob/private.txt", "/bob/nothing.txt"},
		{"read", "path", "/acme/plan.txt", "/acmf/plan.txt"},
		{"stat", "path", "/bob/private.txt", "/bob/nothing.txt"},
		{"list", "path", "/alice", "/alicf"},
		{"versions", "path", "/bob/private.txt", "/bob/nothing.txt"},
		{"share_list", "path", "/bob/private.txt", "/bob/nothing.txt"},
		{"delete", "path", "/bob/private.txt", "/bob/nothing.txt"},
		{"memory_get", "id", w.aliceMemory, w.aliceMemory[:len(w.aliceMemory)-1] + "q"},
		{"forget", "id", w.aliceMemory, w.aliceMemory[:len(w.aliceMemory)-1] + "q"},
	}
	for _, c := range cases {
		hidden := mcpToolError(t, cs, c.tool, map[string]any{c.arg: c.hidden})
		missing := mcpToolError(t, cs, c.tool, map[string]any{c.arg: c.missing})
		require.Contains(t, hidden, "not found", c.tool)
		require.Equal(t, strings.ReplaceAll(missing, c.missing, "NAME"), strings.ReplaceAll(hidden, c.hidden, "NAME"), c.tool)
	}
}

func testMCPBadInputs(t *testing.T, cs *sdk.ClientSession) {
	for _, c := range []struct {
		tool string
		args any
		want string
	}{
		{"no_such_tool", nil, `unknown tool "no_such_tool"; the tools are: check, copy`},
		{"read", map[string]any{"path": 5}, "path"},
		{"read", map[string]any{"path": "/bob/shared/notes.md", "bogus": true}, "bogus"},
		{"read", map[string]any{"path": "/bob/shared/../private.txt"}, `has a ".." segment`},
		{"list", map[string]any{"path": "bob/shared"}, "is not absolute"},
		{"read", map[string]any{"path": "/bob/shared/big.txt", "length": mcp.DefaultMaxReadBytes + 1}, "over the read cap of 262144 bytes"},
		{"read", map[string]any{"path": "/bob/shared/notes.md", "offset": 1 << 20}, "past the end"},
		{"grep", map[string]any{"pattern": "a(b"}, "invalid pattern"},
		{"remember", map[string]any{"text": "x", "scope": "everyone"}, "scope \"everyone\" is unknown"},
		{"share_grant", map[string]any{"path": "/bob/shared", "subject": "user:alice", "role": "boss"}, "role \"boss\" is unknown"},
	} {
		require.Contains(t, mcpToolError(t, cs, c.tool, c.args), c.want, "%s %v", c.tool, c.args)
	}
}

func testMCPResources(t *testing.T, cs *sdk.ClientSession) {
	ctx := context.Background()
	var uris []string
	for r, err := range cs.Resources(ctx, nil) {
		require.NoError(t, err)
		uris = append(uris, r.URI)
	}
	require.ElementsMatch(t, []string{"nexus://default/bob/shared", "nexus://default/bob/marker"}, uris)
	r, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "nexus://default/bob/shared/notes.md"})
	require.NoError(t, err)
	require.Equal(t, "# Notes\nthe xylophone plan\n", r.Contents[0].Text)
	r, err = cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "nexus://default/bob/shared"})
	require.NoError(t, err)
	require.Contains(t, r.Contents[0].Text, `"uri":"nexus://default/bob/shared/notes.md"`)
	r, err = cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "nexus://default/bob/shared/big.txt"})
	require.NoError(t, err)
	require.Equal(t, true, r.Contents[0].Meta["truncated"])
	require.Len(t, r.Contents[0].Text, mcp.DefaultMaxReadBytes)

	notFound := func(uri string) string {
		_, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
		require.Error(t, err, uri)
		return strings.ReplaceAll(err.Error(), uri, "URI")
	}
	missing := notFound("nexus://default/bob/nothing.txt")
	require.Contains(t, missing, "not found")
	for _, hidden := range []string{"nexus://default/bob/private.txt", "nexus://default/alice/secret.txt", "nexus://acme/acme/plan.txt"} {
		require.Equal(t, missing, notFound(hidden), hidden)
	}
	_, err = cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "nexus://default/bob/shared/../private.txt"})
	require.ErrorContains(t, err, `".." segment`)
}

// testMCPCancel: hosts cancel calls; the session must survive it, wherever
// the call was when the cancel came.
func testMCPCancel(t *testing.T, cs *sdk.ClientSession) {
	for d := time.Duration(0); d < 4*time.Millisecond; d += 50 * time.Microsecond {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		_, _ = cs.CallTool(ctx, &sdk.CallToolParams{Name: "grep", Arguments: map[string]any{"pattern": "[0-9]{3}zz"}})
		cancel()
	}
	mcpOK[mcp.Identity](t, cs, "whoami", nil)
}

// testMCPRevoke: a subscribed file notifies on change; bob's revoke holds
// at the agent's very next call, the agent is told its view changed, and
// then hears nothing more of the file, whatever bob does to it. The marker
// file, still shared, orders the notifications: the server checks
// subscriptions in rounds, in URI order, so once two changes of the
// marker made after bob's last write have been notified, a round has
// checked the file after that write.
func testMCPRevoke(t *testing.T, cs *sdk.ClientSession, w *mcpWorld, name string, u *mcpUpdates) {
	ctx := context.Background()
	const marker = "nexus://default/bob/marker/m.txt"
	bot, file := "bob-bot-"+name, "/bob/shared/live-"+name+".md"
	notes := "nexus://default" + file
	require.NoError(t, cs.Subscribe(ctx, &sdk.SubscribeParams{URI: notes}))
	require.NoError(t, cs.Subscribe(ctx, &sdk.SubscribeParams{URI: marker}))
	seen := len(u.since(0))
	w.write(t, w.bob, file, "v2")
	seen = u.waitFor(t, seen, notes)
	_, text := mcpRead(t, cs, map[string]any{"path": file})
	require.Equal(t, "v2", text)

	w.share(t, "/bob/shared", "user:"+bot, true)
	require.Contains(t, mcpToolError(t, cs, "read", map[string]any{"path": file}), "not found")
	mcpToolError(t, cs, "stat", map[string]any{"path": "/bob/shared"})
	seen = u.waitFor(t, seen, notes) // the agent's view changed: the file is gone for it
	_, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: notes})
	require.ErrorContains(t, err, "not found")

	w.write(t, w.bob, file, "v3, after the revoke")
	from := seen
	for i := 1; i <= 2; i++ {
		w.write(t, w.bob, "/bob/marker/m.txt", "m"+strings.Repeat("!", i))
		seen = u.waitFor(t, seen, marker)
	}
	require.NotContains(t, u.since(from), notes, "no notification after the revoke")
}
