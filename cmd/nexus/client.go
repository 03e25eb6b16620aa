package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
)

// client is what every client command shares: where the server is, the key,
// and how to print.
type client struct {
	url, token string
	context    string // --context: a named context (config.go)
	keyFile    string // the selected context's key file, if any
	json       bool
	out        io.Writer
	errOut     io.Writer
}

// base is the server's URL without a trailing /; one given without a
// scheme (127.0.0.1:8080) is taken as http, as curl takes it.
func (c *client) base() string {
	u := strings.TrimRight(c.url, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	return u
}

func (c *client) key() string {
	if c.token != "" {
		return c.token
	}
	if t := os.Getenv("NEXUS_TOKEN"); t != "" {
		return t
	}
	if c.keyFile != "" {
		if b, err := os.ReadFile(c.keyFile); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	dir := envOr("NEXUS_DATA_DIR", "./nexus-data")
	if b, err := os.ReadFile(filepath.Join(dir, "admin.key")); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

// bearer sets the key on every call of a client, unary or streaming.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if b != "" {
			req.Header().Set("Authorization", "Bearer "+string(b))
		}
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if b != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		}
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func (c *client) options() []connect.ClientOption {
	return []connect.ClientOption{connect.WithInterceptors(bearer(c.key()))}
}

func (c *client) httpClient() *http.Client { return &http.Client{Timeout: 60 * time.Second} }

func (c *client) identity() nexusv1connect.IdentityServiceClient {
	return nexusv1connect.NewIdentityServiceClient(c.httpClient(), c.base(), c.options()...)
}

// printJSON prints m as JSON; it returns false when --json is not set.
func (c *client) printJSON(m proto.Message) bool {
	if !c.json {
		return false
	}
	b, err := cliJSON(m)
	if err != nil {
		fmt.Fprintln(c.errOut, "nexus: cannot print JSON:", err)
		return true
	}
	fmt.Fprintln(c.out, string(b))
	return true
}

func (c *client) table(header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

func fmtTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().Local().Format("2006-01-02 15:04:05")
}
