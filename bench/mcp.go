package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/server/mcp"
)

var mcpScenario = Scenario{
	Name: "mcp",
	Description: "MCP at /mcp (Streamable HTTP, the Go SDK's client) over loopback TCP: the read tool of a 4 KiB file vs the same " +
		"Connect Read (one caller, alternating one call of each), and the recall tool from 64 concurrent agents, each with its " +
		"own key and session, over their own and the zone's memories (after the same recalls through Connect, for the " +
		"recall's own cost); whole server in-process",
	Run: runMCP,
}

const (
	mcpFileBytes      = 4 << 10
	mcpAgents         = 64
	mcpAgentMemories  = 30 // remembered by each agent (scope agent)
	mcpZoneMemories   = 1000
	mcpMemoryWords    = 12
	mcpTargetOverhead = 1.5 // from the issue
)

func runMCP(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("mcp: "+format, args...) }
	dir, dirFS, err := tmpDir("nexus-bench-mcp-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := server.Open(ctx, server.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(runCtx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()
	url := "http://" + ln.Addr().String()
	keyBytes, err := os.ReadFile(filepath.Join(dir, server.AdminKeyFile))
	if err != nil {
		return nil, err
	}
	admin := mcp.NewBackend(benchHTTPClient(""), url, mcp.WithKey(strings.TrimSpace(string(keyBytes))))
	adminKey := strings.TrimSpace(string(keyBytes))

	// The read: a Connect Read and the read tool, of the same file.
	data := strings.Repeat("lorem ipsum dolor sit amet, consectetur adipiscing elit\n", mcpFileBytes/56+1)[:mcpFileBytes]
	if _, err := admin.Files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/bench/doc.txt", Data: []byte(data), CreateParents: true})); err != nil {
		return nil, err
	}
	cs, err := mcpSession(ctx, url, adminKey)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	viaConnect := func(ctx context.Context) error {
		r, err := admin.Files.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: "/bench/doc.txt"}))
		if err == nil && len(r.Msg.GetData()) != mcpFileBytes {
			err = fmt.Errorf("read %d bytes", len(r.Msg.GetData()))
		}
		return err
	}
	viaMCP := func(ctx context.Context) error {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "read", Arguments: map[string]any{"path": "/bench/doc.txt"}})
		if err == nil && res.IsError {
			err = fmt.Errorf("read tool: %v", res.Content)
		}
		return err
	}
	// Side by side: one call of each in turn, so that both meet the same
	// load (the machine may be shared), after a warm-up of each.
	for range 50 {
		if err := viaConnect(ctx); err != nil {
			return nil, err
		}
		if err := viaMCP(ctx); err != nil {
			return nil, err
		}
	}
	progress("read: alternating a Connect Read and a read tool call for %s", cfg.Duration)
	var connectLat, mcpLat []time.Duration
	for start := time.Now(); time.Since(start) < cfg.Duration; {
		for _, side := range []struct {
			op  func(context.Context) error
			lat *[]time.Duration
		}{{viaConnect, &connectLat}, {viaMCP, &mcpLat}} {
			t0 := time.Now()
			if err := side.op(ctx); err != nil {
				return nil, err
			}
			*side.lat = append(*side.lat, time.Since(t0))
		}
	}
	cm, mm := latencyMetrics("connect_read_", slices.Clone(connectLat)), latencyMetrics("mcp_read_", slices.Clone(mcpLat))
	overhead := float64(percentile(sorted(mcpLat), 0.5)) / float64(percentile(sorted(connectLat), 0.5))
	readMetrics := append([]Metric{
		{Name: "mcp_tool_call_overhead", Unit: "x", Value: overhead},
		{Name: "mcp_tool_call_overhead_target", Unit: "x", Value: mcpTargetOverhead},
	}, append(cm, mm...)...)

	recall, err := runMCPRecall(ctx, cfg, url, admin, progress)
	if err != nil {
		return nil, err
	}
	return &Outcome{
		Params: map[string]any{"file_bytes": mcpFileBytes, "read_order": "alternating, one call each", "agents": mcpAgents,
			"memories_per_agent": mcpAgentMemories, "zone_memories": mcpZoneMemories, "memory_words": mcpMemoryWords,
			"transport": "Streamable HTTP at /mcp, loopback TCP; Connect (binary) for the baseline", "data_dir_fs": dirFS},
		Results: []Result{
			{Name: "read tool vs Connect Read (p50 ratio)", Metrics: readMetrics},
			{Name: fmt.Sprintf("recall tool, %d agents", mcpAgents), Metrics: recall},
		},
	}, nil
}

// runMCPRecall makes the agents and their memories, then has every agent
// call recall in a closed loop over its own session.
func runMCPRecall(ctx context.Context, cfg RunConfig, url string, admin mcp.Backend, progress func(string, ...any)) ([]Metric, error) {
	progress("recall: %d agents, %d memories each and %d of the zone's", mcpAgents, mcpAgentMemories, mcpZoneMemories)
	if _, err := admin.Identity.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "owner"})); err != nil {
		return nil, err
	}
	keys := make([]string, mcpAgents)
	for i := range keys {
		name := fmt.Sprintf("agent-%02d", i)
		if _, err := admin.Identity.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: name, AgentOf: "owner"})); err != nil {
			return nil, err
		}
		k, err := admin.Identity.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: name}))
		if err != nil {
			return nil, err
		}
		keys[i] = k.Msg.GetSecret()
	}
	vocab := newVocabulary(searchVocab, searchSeed)
	texts := make([]string, mcpAgents*mcpAgentMemories+mcpZoneMemories)
	rng := rand.New(rand.NewPCG(searchSeed, 7))
	for i := range texts {
		texts[i] = vocab.text(rng, mcpMemoryWords)
	}
	start := time.Now()
	agents := make([]mcp.Backend, mcpAgents)
	for i, k := range keys {
		agents[i] = mcp.NewBackend(benchHTTPClient(""), url, mcp.WithKey(k))
	}
	if err := inParallel(ctx, len(texts), func(ctx context.Context, i int) error {
		req := &nexusv1.RememberRequest{Text: texts[i], Scope: nexusv1.MemoryScope_MEMORY_SCOPE_AGENT}
		b := admin
		if i < mcpAgents*mcpAgentMemories {
			b = agents[i%mcpAgents]
		} else {
			req.Scope = nexusv1.MemoryScope_MEMORY_SCOPE_ZONE
		}
		_, err := b.Memory.Remember(ctx, connect.NewRequest(req))
		return err
	}); err != nil {
		return nil, err
	}
	setup := time.Since(start)
	sessions := make([]*sdk.ClientSession, mcpAgents)
	for i, k := range keys {
		cs, err := mcpSession(ctx, url, k)
		if err != nil {
			return nil, err
		}
		defer cs.Close()
		sessions[i] = cs
	}
	queries := vocab.queries(rng, 200)
	var foreign atomic.Int64
	progress("recall: memories made in %s; %d agents recalling for %s", setup.Round(time.Millisecond), mcpAgents, cfg.Duration)
	warm := min(max(cfg.Duration/10, 200*time.Millisecond), time.Second)
	// The same recalls through Connect, with the same keys, are what the
	// recall itself costs under this load, beside what MCP adds. The sides
	// run A B B A after an unmeasured phase, so that neither gains from
	// running second (warm caches) and each figure is the mean of two.
	viaConnect := func(ctx context.Context, c, iter int) (tally, error) {
		r, err := agents[c].Memory.Recall(ctx, connect.NewRequest(&nexusv1.RecallRequest{Query: queries[(c*31+iter)%len(queries)], Limit: 10}))
		if err != nil {
			return tally{}, err
		}
		return tally{Decisions: len(r.Msg.GetMemories())}, nil
	}
	var firstErr atomic.Value
	viaMCP := func(ctx context.Context, c, iter int) (tally, error) {
		res, err := sessions[c].CallTool(ctx, &sdk.CallToolParams{Name: "recall",
			Arguments: map[string]any{"query": queries[(c*31+iter)%len(queries)], "limit": 10}})
		if err == nil && res.IsError {
			err = fmt.Errorf("recall tool: %s", res.Content[0].(*sdk.TextContent).Text)
		}
		if err != nil {
			if ctx.Err() == nil {
				firstErr.CompareAndSwap(nil, err.Error())
			}
			return tally{}, err
		}
		var out mcp.RecallOut
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out); err != nil {
			return tally{}, err
		}
		for _, m := range out.Memories {
			if m.Memory.Scope == "agent" && m.Memory.Owner != fmt.Sprintf("agent-%02d", c) {
				foreign.Add(1)
			}
		}
		return tally{Decisions: len(out.Memories)}, nil
	}
	if _, err := runClosedLoop(ctx, mcpAgents, warm, cfg.Duration/2, viaConnect); err != nil {
		return nil, err
	}
	var base, stats []loadStats
	for _, side := range []bool{false, true, true, false} {
		op, into := viaConnect, &base
		if side {
			op, into = viaMCP, &stats
		}
		st, err := runClosedLoop(ctx, mcpAgents, warm, cfg.Duration, op)
		if err != nil {
			return nil, err
		}
		*into = append(*into, st)
		progress("recall: mcp=%v p50 %s p99 %s", side, st.P50, st.P99)
	}
	if e := firstErr.Load(); e != nil {
		progress("recall: MCP errors; the first: %v", e)
	}
	if n := foreign.Load(); n > 0 {
		return nil, fmt.Errorf("recall returned %d memories of another agent", n)
	}
	ms := func(sts []loadStats, f func(loadStats) time.Duration) float64 {
		return float64((f(sts[0]) + f(sts[1])).Microseconds()) / 2000
	}
	p50 := func(s loadStats) time.Duration { return s.P50 }
	p99 := func(s loadStats) time.Duration { return s.P99 }
	perSec := func(sts []loadStats) float64 { return (sts[0].PerSecond() + sts[1].PerSecond()) / 2 }
	errors := func(sts []loadStats) float64 { return float64(sts[0].Errors + sts[1].Errors) }
	results := float64(stats[0].Tally.Decisions+stats[1].Tally.Decisions) / float64(max(stats[0].Ops+stats[1].Ops, 1))
	return []Metric{
		{Name: "mcp_recall_p99_ms", Unit: "ms", Value: ms(stats, p99)},
		{Name: "mcp_recall_p50_ms", Unit: "ms", Value: ms(stats, p50)},
		{Name: "mcp_recalls_per_s", Unit: "1/s", Value: perSec(stats)},
		{Name: "mcp_recall_results_per_call", Unit: "count", Value: results},
		{Name: "mcp_recall_errors", Unit: "count", Value: errors(stats)},
		{Name: "connect_recall_p99_ms", Unit: "ms", Value: ms(base, p99)},
		{Name: "connect_recall_p50_ms", Unit: "ms", Value: ms(base, p50)},
		{Name: "connect_recalls_per_s", Unit: "1/s", Value: perSec(base)},
		{Name: "connect_recall_errors", Unit: "count", Value: errors(base)},
		{Name: "setup_s", Unit: "s", Value: setup.Seconds()},
	}, nil
}

// mcpSession opens a session at /mcp with key.
func mcpSession(ctx context.Context, url, key string) (*sdk.ClientSession, error) {
	c := sdk.NewClient(&sdk.Implementation{Name: "nexus-bench", Version: "1"}, nil)
	return c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url + "/mcp", HTTPClient: benchHTTPClient(key),
		DisableStandaloneSSE: true}, nil)
}

// benchHTTPClient keeps connections open for many callers, and sends key
// (if any) on every request.
func benchHTTPClient(key string) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: keyTransport{key: key, next: t}}
}

type keyTransport struct {
	key  string
	next http.RoundTripper
}

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if k.key != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+k.key)
	}
	return k.next.RoundTrip(r)
}

func sorted(xs []time.Duration) []time.Duration {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs
}
