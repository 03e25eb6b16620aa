package mcp

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
)

// Memory is one remembered note.
type Memory struct {
	ID         string            `json:"id"`
	Text       string            `json:"text"`
	Tags       []string          `json:"tags,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Scope      string            `json:"scope" jsonschema:"user, agent or zone"`
	Importance float64           `json:"importance"`
	Owner      string            `json:"owner"`
	CreatedAt  string            `json:"created_at"`
	ExpiresAt  string            `json:"expires_at,omitempty"`
}

func memoryOf(m *nexusv1.Memory) Memory {
	scope := "user"
	switch m.GetScope() {
	case nexusv1.MemoryScope_MEMORY_SCOPE_AGENT:
		scope = "agent"
	case nexusv1.MemoryScope_MEMORY_SCOPE_ZONE:
		scope = "zone"
	}
	return Memory{ID: m.GetId(), Text: m.GetText(), Tags: m.GetTags(), Metadata: m.GetMetadata(), Scope: scope,
		Importance: m.GetImportance(), Owner: m.GetOwner(), CreatedAt: rfc3339(m.GetCreatedAt()), ExpiresAt: rfc3339(m.GetExpiresAt())}
}

type rememberIn struct {
	Text       string            `json:"text" jsonschema:"what to remember, up to 16 KiB"`
	Tags       []string          `json:"tags,omitempty" jsonschema:"up to 32 tags (letters, digits, - _ . :)"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Scope      string            `json:"scope,omitempty" jsonschema:"user (default: your user's, or your owner's if you are an agent), agent (an agent's own; its owner reads it) or zone (every member of the zone reads it)"`
	Importance *float64          `json:"importance,omitempty" jsonschema:"0 to 1 (default 0.5)"`
	TTLSeconds int64             `json:"ttl_seconds,omitempty" jsonschema:"forget it after this many seconds (default: never)"`
}

// Remembered is a new memory and the token that makes a later call see it.
type Remembered struct {
	Memory           Memory `json:"memory"`
	ConsistencyToken string `json:"consistency_token,omitempty"`
}

type recallIn struct {
	Query            string   `json:"query" jsonschema:"words to look for"`
	Tags             []string `json:"tags,omitempty" jsonschema:"only memories with every one of these tags"`
	Limit            int      `json:"limit,omitempty" jsonschema:"memories to return, 1-100 (default 10)"`
	ConsistencyToken string   `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

// Recalled is a memory that matched, best first.
type Recalled struct {
	Memory  Memory  `json:"memory"`
	Score   float64 `json:"score" jsonschema:"from the rank only: 1/(n+1) for the n-th"`
	Snippet string  `json:"snippet,omitempty" jsonschema:"matched words in [brackets]"`
}

// RecallOut are the memories that best match a query.
type RecallOut struct {
	Memories []Recalled `json:"memories"`
}

type memoryIDIn struct {
	ID               string `json:"id" jsonschema:"a memory's id (mem_...)"`
	ConsistencyToken string `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

type memoryListIn struct {
	Tags             []string `json:"tags,omitempty" jsonschema:"only memories with every one of these tags"`
	PageSize         int      `json:"page_size,omitempty" jsonschema:"memories per page, 1-200 (default 50)"`
	PageToken        string   `json:"page_token,omitempty" jsonschema:"next_page_token of the previous page"`
	ConsistencyToken string   `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

// MemoryPage is a page of memories, newest first.
type MemoryPage struct {
	Memories      []Memory `json:"memories"`
	NextPageToken string   `json:"next_page_token,omitempty"`
}

// Token is what a change that returns nothing else returns.
type Token struct {
	ConsistencyToken string `json:"consistency_token,omitempty"`
}

var scopes = map[string]nexusv1.MemoryScope{
	"":      nexusv1.MemoryScope_MEMORY_SCOPE_UNSPECIFIED,
	"user":  nexusv1.MemoryScope_MEMORY_SCOPE_USER,
	"agent": nexusv1.MemoryScope_MEMORY_SCOPE_AGENT,
	"zone":  nexusv1.MemoryScope_MEMORY_SCOPE_ZONE,
}

func (s *Server) addMemoryTools() {
	addTool(s, &sdk.Tool{Name: "remember", Annotations: additive("Remember", false),
		Description: "Store a memory: a short text with tags, for recall later by you (and, by scope, your owner or your zone)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in rememberIn) (*sdk.CallToolResult, Remembered, error) {
			scope, ok := scopes[in.Scope]
			if !ok {
				return nil, Remembered{}, fmt.Errorf("scope %s is unknown: give user, agent or zone", quote(in.Scope))
			}
			r, err := s.b.Memory.Remember(ctx, connect.NewRequest(&nexusv1.RememberRequest{Text: in.Text, Tags: in.Tags,
				Metadata: in.Metadata, Scope: scope, Importance: in.Importance, TtlSeconds: in.TTLSeconds}))
			if err != nil {
				return nil, Remembered{}, toolError("memory", err)
			}
			return nil, Remembered{Memory: memoryOf(r.Msg.GetMemory()), ConsistencyToken: r.Msg.GetConsistencyToken()}, nil
		})
	addTool(s, &sdk.Tool{Name: "recall", Annotations: readOnly("Recall memories"),
		Description: "Recall the memories you may read that best match a query (relevance, recency and importance)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in recallIn) (*sdk.CallToolResult, RecallOut, error) {
			n := in.Limit
			if n <= 0 {
				n = 10
			}
			r, err := s.b.Memory.Recall(ctx, connect.NewRequest(&nexusv1.RecallRequest{Query: in.Query, Tags: in.Tags,
				Limit: int32(min(n, 100)), Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, RecallOut{}, toolError("query "+quote(in.Query), err)
			}
			out := RecallOut{Memories: []Recalled{}}
			for _, m := range r.Msg.GetMemories() {
				out.Memories = append(out.Memories, Recalled{Memory: memoryOf(m.GetMemory()), Score: m.GetScore(), Snippet: marked(m.GetSnippet())})
			}
			return nil, out, nil
		})
	addTool(s, &sdk.Tool{Name: "memory_get", Annotations: readOnly("Get a memory"),
		Description: "Get one memory by its id."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in memoryIDIn) (*sdk.CallToolResult, Memory, error) {
			r, err := s.b.Memory.Get(ctx, connect.NewRequest(&nexusv1.MemoryServiceGetRequest{Id: in.ID, Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, Memory{}, toolError("memory "+quote(in.ID), err)
			}
			return nil, memoryOf(r.Msg.GetMemory()), nil
		})
	addTool(s, &sdk.Tool{Name: "forget", Annotations: destructive("Forget a memory"),
		Description: "Delete a memory for good."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in memoryIDIn) (*sdk.CallToolResult, Token, error) {
			r, err := s.b.Memory.Forget(ctx, connect.NewRequest(&nexusv1.ForgetRequest{Id: in.ID}))
			if err != nil {
				return nil, Token{}, toolError("memory "+quote(in.ID), err)
			}
			return nil, Token{ConsistencyToken: r.Msg.GetConsistencyToken()}, nil
		})
	addTool(s, &sdk.Tool{Name: "memory_list", Annotations: readOnly("List memories"),
		Description: "List the memories you may read, newest first, a page at a time."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in memoryListIn) (*sdk.CallToolResult, MemoryPage, error) {
			r, err := s.b.Memory.List(ctx, connect.NewRequest(&nexusv1.MemoryServiceListRequest{Tags: in.Tags, PageSize: pageSize(in.PageSize),
				PageToken: in.PageToken, Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, MemoryPage{}, toolError("memories", err)
			}
			out := MemoryPage{Memories: []Memory{}, NextPageToken: r.Msg.GetNextPageToken()}
			for _, m := range r.Msg.GetMemories() {
				out.Memories = append(out.Memories, memoryOf(m))
			}
			return nil, out, nil
		})
}
