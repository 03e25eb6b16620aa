// Package mcp serves Nexus to AI agents over the Model Context Protocol:
// tools over the file plane, memory and sharing, and files as nexus://ZONE/PATH
// resources with change notifications. It decides nothing itself.
//
// Every tool is a thin call of Nexus's own Connect API, made with the
// caller's API key (Backend): over stdio (`nexus mcp`) the clients talk to a
// remote server; at /mcp on the server (NewHTTPHandler) they call the same
// handlers in process, interceptors and all. So an agent sees and does
// exactly what its key may, with the same consistency tokens, and nothing
// here can see more than the key. A denial is a tool error (IsError) whose
// text says what to do; a name the caller may not see reads exactly as a
// missing one. Outputs are bounded: reads have ranges and a cap, listings
// are paged.
package mcp

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
)

// Backend is one caller's clients of Nexus's services, each of which sends
// the caller's key on every call.
type Backend struct {
	Files    nexusv1connect.FileServiceClient
	Share    nexusv1connect.ShareServiceClient
	Search   nexusv1connect.SearchServiceClient
	Memory   nexusv1connect.MemoryServiceClient
	Identity nexusv1connect.IdentityServiceClient
}

// NewBackend returns the clients of the server at baseURL; opts must set
// the caller's key (an interceptor adding Authorization: Bearer).
func NewBackend(c connect.HTTPClient, baseURL string, opts ...connect.ClientOption) Backend {
	return Backend{
		Files:    nexusv1connect.NewFileServiceClient(c, baseURL, opts...),
		Share:    nexusv1connect.NewShareServiceClient(c, baseURL, opts...),
		Search:   nexusv1connect.NewSearchServiceClient(c, baseURL, opts...),
		Memory:   nexusv1connect.NewMemoryServiceClient(c, baseURL, opts...),
		Identity: nexusv1connect.NewIdentityServiceClient(c, baseURL, opts...),
	}
}

// Options bound what one caller's server does.
type Options struct {
	// MaxReadBytes caps what one read (tool or resource) returns (zero:
	// DefaultMaxReadBytes).
	MaxReadBytes int64
	// PollInterval is how often subscribed resources are checked for
	// changes, as the caller (zero: DefaultPollInterval).
	PollInterval time.Duration
	// MaxSubscriptions bounds one caller's subscribed resources (zero:
	// DefaultMaxSubscriptions).
	MaxSubscriptions int
	// Logger receives the SDK's and the poller's logs (nil: none).
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultMaxReadBytes     = 256 << 10
	DefaultPollInterval     = time.Second
	DefaultMaxSubscriptions = 100
	// maxPage bounds every paged tool's page.
	maxPage = 200
	// defaultPage is a paged tool's page when none is asked for.
	defaultPage = 50
)

func (o Options) withDefaults() Options {
	if o.MaxReadBytes <= 0 {
		o.MaxReadBytes = DefaultMaxReadBytes
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxSubscriptions <= 0 {
		o.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server is the MCP server of one caller (one API key): its tools, its view
// of the resources and its subscriptions. Every session it serves acts as
// that caller, so a change notification never reaches another principal.
type Server struct {
	sdk   *sdk.Server
	b     Backend
	opts  Options
	watch *watcher
	tools []string

	zoneMu   sync.Mutex
	zoneName string // the caller's zone, once asked
}

// NewServer returns the MCP server of the caller whose clients b holds.
func NewServer(b Backend, opts Options) *Server {
	s := &Server{b: b, opts: opts.withDefaults()}
	s.watch = newWatcher(s)
	s.sdk = sdk.NewServer(&sdk.Implementation{Name: "nexus", Title: "Nexus", Version: "1"}, &sdk.ServerOptions{
		Instructions: instructions,
		Logger:       s.opts.Logger,
		// No logging capability: nothing is sent as log messages.
		Capabilities:       &sdk.ServerCapabilities{},
		SubscribeHandler:   s.watch.subscribe,
		UnsubscribeHandler: s.watch.unsubscribe,
		SchemaCache:        schemas,
	})
	s.addFileTools()
	s.addFindTools()
	s.addMemoryTools()
	s.addShareTools()
	s.addResources()
	sort.Strings(s.tools)
	s.sdk.AddReceivingMiddleware(s.unknownTools, s.listResources)
	return s
}

// schemas keeps the tools' JSON schemas, inferred once from their types for
// every caller's server.
var schemas = sdk.NewSchemaCache()

const instructions = `Nexus is the file plane, memory and sharing of a Nexus server, seen as
your API key sees it: you see only what you may read, and anything else
reads as not found. Paths are absolute (/docs/notes.md). Reads are capped:
read large files in ranges (offset, length). Listings are paged: pass
next_page_token back to continue. Writes return a consistency_token; pass it
to a later read to be sure to see the write.`

// SDK is the underlying MCP server, to serve over a transport.
func (s *Server) SDK() *sdk.Server { return s.sdk }

// Run serves one session over t (stdio, for `nexus mcp`) until the client
// disconnects or ctx is done.
func (s *Server) Run(ctx context.Context, t sdk.Transport) error {
	defer s.Close()
	return s.sdk.Run(ctx, t)
}

// Close ends every session and stops watching subscribed resources.
func (s *Server) Close() {
	for ss := range s.sdk.Sessions() {
		ss.Close()
	}
	s.watch.stop()
}

// addTool registers a typed tool and remembers its name for unknownTools.
func addTool[In, Out any](s *Server, t *sdk.Tool, h sdk.ToolHandlerFor[In, Out]) {
	sdk.AddTool(s.sdk, t, h)
	s.tools = append(s.tools, t.Name)
}

// unknownTools answers a call of a tool that does not exist with a tool
// error naming the tools, not a protocol error.
func (s *Server) unknownTools(next sdk.MethodHandler) sdk.MethodHandler {
	return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
		if method != "tools/call" {
			return next(ctx, method, req)
		}
		if r, ok := req.(*sdk.CallToolRequest); ok && r.Params != nil {
			i := sort.SearchStrings(s.tools, r.Params.Name)
			if i == len(s.tools) || s.tools[i] != r.Params.Name {
				return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{
					Text: "unknown tool " + quote(r.Params.Name) + "; the tools are: " + strings.Join(s.tools, ", "),
				}}}, nil
			}
		}
		return next(ctx, method, req)
	}
}

// readOnly, destructive and additive describe tools to a host.
func readOnly(title string) *sdk.ToolAnnotations {
	return &sdk.ToolAnnotations{Title: title, ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)}
}

func additive(title string, idempotent bool) *sdk.ToolAnnotations {
	return &sdk.ToolAnnotations{Title: title, DestructiveHint: ptr(false), IdempotentHint: idempotent, OpenWorldHint: ptr(false)}
}

func destructive(title string) *sdk.ToolAnnotations {
	return &sdk.ToolAnnotations{Title: title, DestructiveHint: ptr(true), OpenWorldHint: ptr(false)}
}

func ptr[T any](v T) *T { return &v }

// pageSize bounds a requested page to 1..maxPage (0: defaultPage).
func pageSize(n int) int32 {
	switch {
	case n <= 0:
		return defaultPage
	case n > maxPage:
		return maxPage
	}
	return int32(n)
}

// bearer sets a fixed key on every call of a client.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// WithKey is the client option that sends key on every call.
func WithKey(key string) connect.ClientOption { return connect.WithInterceptors(bearer(key)) }
