package mcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/identity"
)

// Authenticator turns a bearer key into the principal it acts as.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (identity.Principal, error)
}

// HTTPConfig configures the Streamable HTTP endpoint.
type HTTPConfig struct {
	// API is Nexus's own Connect API: the tools call it in process, with
	// the caller's key, through every interceptor a remote call meets.
	API http.Handler
	// Auth admits a request: a user's or an agent's key (not a service
	// key). Each tool call is authorized again by API.
	Auth Authenticator
	// MaxRequestBytes bounds one HTTP request body (zero: the SDK's 4 MiB).
	MaxRequestBytes int64
	// SessionIdle closes a session that has seen no request for this long
	// (zero: an hour).
	SessionIdle time.Duration
	// Options apply to every caller's server.
	Options Options
}

// HTTPHandler serves MCP over Streamable HTTP (at /mcp), with a Bearer API
// key on every request. Each key gets a Server of its own, whose clients
// send that key: sessions are bound to the key that opened them (the SDK
// refuses a request of the session with another key), and notifications
// of one key's subscriptions never reach another's sessions.
type HTTPHandler struct {
	cfg     HTTPConfig
	h       http.Handler
	mu      sync.Mutex
	callers map[string]*caller // by key id
	swept   time.Time
	closed  bool
}

var _ http.Handler = (*HTTPHandler)(nil)

type caller struct {
	srv  *Server
	used time.Time
}

// NewHTTPHandler returns the /mcp endpoint.
func NewHTTPHandler(cfg HTTPConfig) *HTTPHandler {
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = time.Hour
	}
	h := &HTTPHandler{cfg: cfg, callers: map[string]*caller{}}
	streamable := sdk.NewStreamableHTTPHandler(h.server, &sdk.StreamableHTTPOptions{
		Logger:              cfg.Options.Logger,
		MaxRequestBodyBytes: cfg.MaxRequestBytes,
		SessionTimeout:      cfg.SessionIdle,
		// Responses are event streams (the SDK's default), not plain JSON:
		// the SDK's client fails the whole session when a call it cancels
		// was answered with plain JSON, and hosts cancel calls.
		// The SDK refuses loopback requests whose Host is not loopback, to
		// stop DNS rebinding against unauthenticated local servers. Every
		// request here carries an API key a rebound page cannot have, and
		// Nexus on 127.0.0.1 behind a proxy gets the proxy's Host.
		DisableLocalhostProtection: true,
	})
	h.h = auth.RequireBearerToken(h.verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(streamable)
	return h
}

func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h.ServeHTTP(w, r) }

// verify admits a user's or an agent's key; the key's id binds the session.
func (h *HTTPHandler) verify(ctx context.Context, key string, _ *http.Request) (*auth.TokenInfo, error) {
	p, err := h.cfg.Auth.Authenticate(ctx, key)
	switch {
	case errors.Is(err, errs.Unauthenticated):
		return nil, fmt.Errorf("%w: the API key was not accepted (missing, unknown, revoked or expired); send Authorization: Bearer <key>", auth.ErrInvalidToken)
	case err != nil:
		return nil, errors.New("the key could not be checked now; retry")
	case p.Scope != identity.ScopeNone:
		return nil, fmt.Errorf("%w: a service key (scope %s) serves only the SpiceDB API; use a user's or an agent's key", auth.ErrInvalidToken, p.Scope)
	}
	return &auth.TokenInfo{UserID: string(p.KeyID), Extra: map[string]any{"key": key}}, nil
}

// server is the caller's Server, made on its first request.
func (h *HTTPHandler) server(r *http.Request) *sdk.Server {
	ti := auth.TokenInfoFromContext(r.Context())
	if ti == nil {
		return nil
	}
	key, _ := ti.Extra["key"].(string)
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.sweep(now)
	c := h.callers[ti.UserID]
	if c == nil {
		b := NewBackend(inProcess{h.cfg.API}, "http://nexus.in-process", WithKey(key),
			// In process there is nothing to save by compressing.
			connect.WithAcceptCompression("gzip", nil, nil))
		c = &caller{srv: NewServer(b, h.cfg.Options)}
		h.callers[ti.UserID] = c
	}
	c.used = now
	return c.srv.SDK()
}

// sweep forgets, once a minute, the servers of keys with no session left
// that have not been used for SessionIdle.
func (h *HTTPHandler) sweep(now time.Time) {
	if now.Sub(h.swept) < time.Minute {
		return
	}
	h.swept = now
	for id, c := range h.callers {
		if now.Sub(c.used) < h.cfg.SessionIdle {
			continue
		}
		idle := true
		for range c.srv.SDK().Sessions() {
			idle = false
			break
		}
		if idle {
			c.srv.Close()
			delete(h.callers, id)
		}
	}
}

// Close ends every session (their event streams would otherwise hold a
// graceful shutdown open) and refuses new ones.
func (h *HTTPHandler) Close() {
	h.mu.Lock()
	h.closed = true
	callers := h.callers
	h.callers = map[string]*caller{}
	h.mu.Unlock()
	for _, c := range callers {
		c.srv.Close()
	}
}

// inProcess is a connect.HTTPClient that serves a request with a handler,
// in the caller's goroutine: Nexus's API called without a socket.
type inProcess struct{ h http.Handler }

func (t inProcess) Do(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := &recorder{header: http.Header{}}
	t.h.ServeHTTP(w, in)
	if req.Body != nil {
		req.Body.Close()
	}
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.code, http.StatusText(w.code)), StatusCode: w.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// recorder is the response of an in-process call, held whole (a unary
// response is bounded by the server's limits).
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

func (r *recorder) Flush() {}
