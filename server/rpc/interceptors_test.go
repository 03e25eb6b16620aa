package rpc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/storage/postgres"
)

const (
	readProc  = "/test.v1.T/Read"  // no side effects, as Stat
	writeProc = "/test.v1.T/Write" // a write, as Write
)

// seen is what the handlers saw of their context.
type seen struct {
	principal identity.Principal
	authed    bool
	minLSN    postgres.LSN
	replica   bool // may read from a replica
}

// serve mounts a read and a write procedure behind interceptors and
// returns clients for both. The write answers token and err.
func serve(t *testing.T, token string, err error, icpt ...connect.Interceptor) (
	read *connect.Client[nexusv1.StatRequest, nexusv1.StatResponse],
	write *connect.Client[nexusv1.WriteRequest, nexusv1.WriteResponse], got *seen,
) {
	t.Helper()
	got = &seen{}
	record := func(ctx context.Context) {
		got.principal, got.authed = PrincipalFrom(ctx)
		got.minLSN, got.replica = postgres.MinLSN(ctx)
	}
	mux := http.NewServeMux()
	mux.Handle(readProc, connect.NewUnaryHandler(readProc,
		func(ctx context.Context, _ *connect.Request[nexusv1.StatRequest]) (*connect.Response[nexusv1.StatResponse], error) {
			record(ctx)
			return connect.NewResponse(&nexusv1.StatResponse{}), nil
		}, connect.WithIdempotency(connect.IdempotencyNoSideEffects), connect.WithInterceptors(icpt...)))
	mux.Handle(writeProc, connect.NewUnaryHandler(writeProc,
		func(ctx context.Context, _ *connect.Request[nexusv1.WriteRequest]) (*connect.Response[nexusv1.WriteResponse], error) {
			record(ctx)
			if err != nil {
				return nil, err
			}
			return connect.NewResponse(&nexusv1.WriteResponse{ConsistencyToken: token}), nil
		}, connect.WithInterceptors(icpt...)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	read = connect.NewClient[nexusv1.StatRequest, nexusv1.StatResponse](srv.Client(), srv.URL+readProc)
	write = connect.NewClient[nexusv1.WriteRequest, nexusv1.WriteResponse](srv.Client(), srv.URL+writeProc)
	return read, write, got
}

func fresh(tok string) *nexusv1.Consistency {
	return &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}}
}

func TestRoutingInterceptor(t *testing.T) {
	t.Parallel()
	lsnErr := error(nil)
	current := func(context.Context) (postgres.LSN, error) { return 0x2A, lsnErr }
	var logged bytes.Buffer
	read, write, got := serve(t, "zed1", nil, NewRoutingInterceptor(current, slog.New(slog.NewTextHandler(&logged, nil))))
	ctx := context.Background()

	_, err := read.CallUnary(ctx, connect.NewRequest(&nexusv1.StatRequest{}))
	require.NoError(t, err)
	require.True(t, got.replica, "a read without a token may go to a replica")
	require.Zero(t, got.minLSN)

	tok := authz.Token("zed1").WithLSN(0x10)
	_, err = read.CallUnary(ctx, connect.NewRequest(&nexusv1.StatRequest{Consistency: fresh(string(tok))}))
	require.NoError(t, err)
	require.True(t, got.replica)
	require.Equal(t, postgres.LSN(0x10), got.minLSN, "a replica must have replayed the token's position")

	_, err = read.CallUnary(ctx, connect.NewRequest(&nexusv1.StatRequest{Consistency: &nexusv1.Consistency{
		Requirement: &nexusv1.Consistency_FullyConsistent{FullyConsistent: true}}}))
	require.NoError(t, err)
	require.False(t, got.replica, "fully consistent reads from the primary")

	_, err = read.CallUnary(ctx, connect.NewRequest(&nexusv1.StatRequest{Consistency: fresh("zed1.nothex")}))
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	require.Contains(t, err.Error(), "consistency.at_least_as_fresh")

	resp, err := write.CallUnary(ctx, connect.NewRequest(&nexusv1.WriteRequest{}))
	require.NoError(t, err)
	require.False(t, got.replica, "a write reads from the primary")
	require.Equal(t, string(authz.Token("zed1").WithLSN(0x2A)), resp.Msg.GetConsistencyToken())

	lsnErr = errors.New("primary gone")
	resp, err = write.CallUnary(ctx, connect.NewRequest(&nexusv1.WriteRequest{}))
	require.NoError(t, err, "the write committed; only its position is unknown")
	require.Equal(t, postgres.LSN(math.MaxUint64), authz.Token(resp.Msg.GetConsistencyToken()).LSN(),
		"a token at the largest position sends reads at it to the primary")
	require.Contains(t, logged.String(), "primary gone")
}

func TestRoutingInterceptorPassesErrors(t *testing.T) {
	t.Parallel()
	current := func(context.Context) (postgres.LSN, error) { t.Fatal("no position for a failed write"); return 0, nil }
	_, write, _ := serve(t, "", errs.E(errs.NotFound, "gone"), NewRoutingInterceptor(current, slog.New(slog.DiscardHandler)), NewErrorInterceptor(slog.New(slog.DiscardHandler)))
	_, err := write.CallUnary(context.Background(), connect.NewRequest(&nexusv1.WriteRequest{}))
	require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
}

func TestConsistencyInterceptor(t *testing.T) {
	t.Parallel()
	validate := func(_ context.Context, tok authz.Token) error {
		switch tok {
		case "bad":
			return authz.ErrBadToken
		case "down":
			return authz.ErrUnavailable
		}
		return nil
	}
	read, write, _ := serve(t, "t", nil, NewConsistencyInterceptor(validate, slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		c    *nexusv1.Consistency
		code connect.Code // 0: served
	}{
		{"no consistency", nil, 0},
		{"fully consistent", &nexusv1.Consistency{Requirement: &nexusv1.Consistency_FullyConsistent{FullyConsistent: true}}, 0},
		{"a good token", fresh("good"), 0},
		{"a token the server did not issue", fresh("bad"), connect.CodeInvalidArgument},
		{"an engine that cannot say", fresh("down"), connect.CodeUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read.CallUnary(ctx, connect.NewRequest(&nexusv1.StatRequest{Consistency: tc.c}))
			if tc.code == 0 {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.code, connect.CodeOf(err))
		})
	}
	_, err := write.CallUnary(ctx, connect.NewRequest(&nexusv1.WriteRequest{}))
	require.NoError(t, err, "a request without consistency passes")
}

type fakeAuth map[string]identity.Principal

func (f fakeAuth) Authenticate(_ context.Context, key string) (identity.Principal, error) {
	if p, ok := f[key]; ok {
		return p, nil
	}
	return identity.Principal{}, errs.E(errs.Unauthenticated, "missing or invalid API key")
}

// TestAuthInterceptor tests authentication on denials as on grants: one
// answer for every bad key, and service keys kept to WhoAmI.
func TestAuthInterceptor(t *testing.T) {
	t.Parallel()
	auth := fakeAuth{
		"user": {User: identity.User{ID: "u_1", Name: "ann"}},
		"svc":  {User: identity.User{ID: "u_2"}, Scope: identity.ScopeCheck},
	}
	log := slog.New(slog.DiscardHandler)
	read, write, got := serve(t, "", nil, NewAuthInterceptor(auth, log, readProc))
	ctx := context.Background()
	call := func(key string) error {
		req := connect.NewRequest(&nexusv1.WriteRequest{})
		if key != "" {
			req.Header().Set("Authorization", "Bearer "+key)
		}
		_, err := write.CallUnary(ctx, req)
		return err
	}

	require.NoError(t, call("user"))
	require.True(t, got.authed)
	require.Equal(t, identity.UserID("u_1"), got.principal.User.ID)

	require.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(call("")))
	require.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(call("nosuch")))
	err := call("svc")
	require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "a service key serves only the SpiceDB API and WhoAmI")

	_, err = read.CallUnary(ctx, connect.NewRequest(&nexusv1.StatRequest{}))
	require.NoError(t, err, "a public procedure needs no key")
	require.False(t, got.authed)
}

func TestObserveInterceptor(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	auth := fakeAuth{"user": {User: identity.User{Name: "ann"}, Zone: identity.Zone{Name: "default"}}}
	_, write, _ := serve(t, "", errs.E(errs.NotFound, "no such file"),
		NewObserveInterceptor(m, log), NewAuthInterceptor(auth, log), NewErrorInterceptor(log))
	req := connect.NewRequest(&nexusv1.WriteRequest{})
	req.Header().Set("Authorization", "Bearer user")
	_, err := write.CallUnary(context.Background(), req)
	require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
	var count dto.Metric
	require.NoError(t, m.requests.WithLabelValues(writeProc, "not_found").Write(&count))
	require.Equal(t, 1.0, count.GetCounter().GetValue())
	require.Contains(t, logged.String(), "error=\"no such file\"")
}

// Each call, unary or streaming, reaches its handler as one request for
// the engine's admission control (authz.WithRequest returns a context
// already marked as it is).
func TestEachCallIsOneRequestForAdmission(t *testing.T) {
	t.Parallel()
	i := NewRequestInterceptor()
	var unaryMarked, streamMarked bool
	unary := i.WrapUnary(func(ctx context.Context, _ connect.AnyRequest) (connect.AnyResponse, error) {
		unaryMarked = authz.WithRequest(ctx) == ctx
		return nil, nil
	})
	_, _ = unary(context.Background(), nil)
	stream := i.WrapStreamingHandler(func(ctx context.Context, _ connect.StreamingHandlerConn) error {
		streamMarked = authz.WithRequest(ctx) == ctx
		return nil
	})
	_ = stream(context.Background(), nil)
	require.True(t, unaryMarked)
	require.True(t, streamMarked)
	plain := context.Background()
	require.False(t, authz.WithRequest(plain) == plain, "an unmarked context is not one request")
}
