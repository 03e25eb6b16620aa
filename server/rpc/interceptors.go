// Package rpc adapts Nexus's capabilities to Connect: handlers that
// translate requests and errors, and the interceptors every service shares
// (authentication, metrics, logs). Nothing here decides anything.
package rpc

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/identity"
)

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p identity.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller.
func PrincipalFrom(ctx context.Context) (identity.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(identity.Principal)
	return p, ok
}

// Authenticator turns a bearer key into a Principal.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (identity.Principal, error)
}

const whoAmIProcedure = "/nexus.v1.IdentityService/WhoAmI"

// NewAuthInterceptor authenticates every call except those to the procedures
// in public. The same Unauthenticated answer covers a missing, malformed,
// unknown, revoked or expired key. A service key (one with a scope) is
// refused on every procedure but WhoAmI.
func NewAuthInterceptor(auth Authenticator, log *slog.Logger, public ...string) connect.Interceptor {
	open := make(map[string]bool, len(public))
	for _, p := range public {
		open[p] = true
	}
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			proc := req.Spec().Procedure
			if open[proc] {
				return next(ctx, req)
			}
			key, _ := strings.CutPrefix(req.Header().Get("Authorization"), "Bearer ")
			p, err := auth.Authenticate(ctx, strings.TrimSpace(key))
			if err != nil {
				return nil, toConnect(ctx, log, proc, err)
			}
			if p.Scope != identity.ScopeNone && proc != whoAmIProcedure {
				// A service key serves the SpiceDB API only.
				return nil, connect.NewError(connect.CodePermissionDenied, errors.New(
					"a service key (scope "+string(p.Scope)+") serves only the SpiceDB API (authzed.api.v1) and WhoAmI; use a user's key"))
			}
			return next(WithPrincipal(ctx, p), req)
		}
	})
}

// Metrics are the RPC metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the RPC metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexus_rpc_requests_total",
			Help: "RPCs handled, by procedure and code.",
		}, []string{"procedure", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nexus_rpc_duration_seconds",
			Help:    "RPC latency, by procedure and code.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}, []string{"procedure", "code"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// NewObserveInterceptor records each call's metrics and logs it, unary
// and streaming alike.
func NewObserveInterceptor(m *Metrics, log *slog.Logger) connect.Interceptor {
	return &observeInterceptor{m: m, log: log}
}

type observeInterceptor struct {
	m   *Metrics
	log *slog.Logger
	obs sync.Map // procedure and code -> observers
}

func (o *observeInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		resp, err := next(ctx, req)
		o.record(ctx, req.Spec().Procedure, req.Peer().Protocol, start, err)
		return resp, err
	}
}

func (o *observeInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (o *observeInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		o.record(ctx, conn.Spec().Procedure, conn.Peer().Protocol, start, err)
		return err
	}
}

// SlowCall is how long a read-only call may take before it is logged at
// INFO like a write.
const SlowCall = 250 * time.Millisecond

// readOnlyMethods name, by prefix, the methods that change nothing. A
// backend may ask thousands of them a second: one line each would be the
// log's whole content and a real share of the call's cost, so they are
// logged at DEBUG unless they fail or are slow. Writes, failures and slow
// calls are always logged at INFO; OpenLink is not read-only (it spends a
// link's use and is logged for the link's owner).
var readOnlyMethods = []string{
	"Check", "Stat", "List", "Read", "Glob", "Grep", "Search", "Recall", "Get",
	"WhoAmI", "Lookup", "Expand", "SharedWithMe", "LinkAccessLog", "Watch", "Export",
}

func readOnly(proc string) bool {
	method := proc[strings.LastIndexByte(proc, '/')+1:]
	for _, p := range readOnlyMethods {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// observers are a procedure and code's metrics, looked up once.
type observers struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func (o *observeInterceptor) observers(proc, code string) observers {
	key := proc + " " + code
	if v, ok := o.obs.Load(key); ok {
		return v.(observers)
	}
	v := observers{o.m.requests.WithLabelValues(proc, code), o.m.latency.WithLabelValues(proc, code)}
	o.obs.Store(key, v)
	return v
}

func (o *observeInterceptor) record(ctx context.Context, proc, protocol string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	d := time.Since(start)
	obs := o.observers(proc, code)
	obs.requests.Inc()
	obs.latency.Observe(d.Seconds())
	level := slog.LevelInfo
	if err == nil && d < SlowCall && readOnly(proc) {
		level = slog.LevelDebug
	}
	if code == connect.CodeResourceExhausted.String() {
		// Shed under overload: counted, not logged one by one (a log line
		// per shed call would add to the overload).
		level = slog.LevelDebug
	}
	if !o.log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"procedure", proc, "code", code, "duration", d.Round(time.Microsecond), "protocol", protocol}
	if p, ok := PrincipalFrom(ctx); ok {
		attrs = append(attrs, "user", p.Name())
	}
	if err != nil {
		var ce *connect.Error
		if errors.As(err, &ce) {
			attrs = append(attrs, "error", ce.Message())
		}
	}
	o.log.Log(ctx, level, "rpc", attrs...)
}

// NewErrorInterceptor translates every handler's domain errors with
// toConnect, so handlers return domain errors as they are.
func NewErrorInterceptor(log *slog.Logger) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			resp, err := next(ctx, req)
			if err != nil {
				return nil, toConnect(ctx, log, req.Spec().Procedure, err)
			}
			return resp, nil
		}
	})
}

// NewRequestInterceptor marks each call as one request for the engine's
// admission control (authz.WithRequest): once one of its engine calls is
// admitted, its later ones go ahead of new requests', so that under
// overload the requests under way finish.
func NewRequestInterceptor() connect.Interceptor { return requestInterceptor{} }

type requestInterceptor struct{}

func (requestInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		return next(authz.WithRequest(ctx), req)
	}
}

func (requestInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (requestInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(authz.WithRequest(ctx), conn)
	}
}
