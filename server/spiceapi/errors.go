package spiceapi

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/server/rpc"
)

// fail turns err into the error SpiceDB would answer: the engine's own code
// and message (with its details) for what the engine refused, our words for
// what the policy refused, and nothing internal for the rest.
func (h *Handler) fail(ctx context.Context, procedure string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	st, ok := authz.EngineStatus(err)
	if !ok {
		// A call proxied to the engine returns its status as it is.
		if s, isStatus := status.FromError(err); isStatus && s.Code() != codes.OK {
			st, ok = s, true
		}
	}
	if ok {
		return fromStatus(ctx, h.log, procedure, st)
	}
	switch {
	case errors.Is(err, authz.ErrOwnDefinitions):
		return connect.NewError(connect.CodeInvalidArgument, errors.New(err.Error()))
	case errors.Is(err, authz.ErrInvalid):
		// The caller's own request, in the engine's words alone.
		msg := strings.TrimPrefix(err.Error(), "authz: ")
		if words := strings.TrimPrefix(msg, authz.ErrInvalid.Error()+": "); words != "" {
			msg = words
		}
		return connect.NewError(connect.CodeInvalidArgument, errors.New(msg))
	}
	return rpc.ConnectError(ctx, h.log, procedure, err)
}

// fromStatus copies an engine status into a Connect error. Internal and
// unknown errors are logged, not sent.
func fromStatus(ctx context.Context, log *slog.Logger, procedure string, st *status.Status) error {
	switch st.Code() {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		log.ErrorContext(ctx, "authorization engine error", "procedure", procedure, "code", st.Code().String(), "err", st.Message())
		return connect.NewError(connect.CodeInternal, errors.New("internal error; the server log has the details"))
	}
	ce := connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
	for _, d := range st.Proto().GetDetails() {
		m, err := d.UnmarshalNew()
		if err != nil {
			continue
		}
		if detail, err := connect.NewErrorDetail(m); err == nil {
			ce.AddDetail(detail)
		}
	}
	return ce
}

func denied(format string, args ...any) error {
	return errs.E(errs.PermissionDenied, format, args...)
}

// newAuthInterceptor authenticates every call, unary and streaming, with a
// service key: a missing or bad key is Unauthenticated (identity's one
// answer), a user's key (no scope) is PermissionDenied.
func newAuthInterceptor(ids Identity, log *slog.Logger) connect.Interceptor {
	return &authInterceptor{ids: ids, log: log}
}

type authInterceptor struct {
	ids Identity
	log *slog.Logger
}

func (a *authInterceptor) authenticate(ctx context.Context, procedure, header string) (context.Context, error) {
	key, _ := strings.CutPrefix(header, "Bearer ")
	p, err := a.ids.Authenticate(ctx, strings.TrimSpace(key))
	if err != nil {
		return nil, rpc.ConnectError(ctx, a.log, procedure, err)
	}
	if p.Scope == identity.ScopeNone {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New(
			"a user's key does not reach the SpiceDB API: use a service key (nexus admin key create --user NAME --scope check|write, by an operator)"))
	}
	return rpc.WithPrincipal(ctx, p), nil
}

func (a *authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := a.authenticate(ctx, req.Spec().Procedure, req.Header().Get("Authorization"))
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (a *authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a *authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := a.authenticate(ctx, conn.Spec().Procedure, conn.RequestHeader().Get("Authorization"))
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
