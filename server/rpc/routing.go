package rpc

import (
	"context"
	"errors"
	"log/slog"
	"math"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/storage/postgres"
)

// NewRoutingInterceptor routes the reads of each call on PostgreSQL with
// replicas (postgres.Routed), and makes the token of each write carry the
// primary's WAL position:
//
//   - A procedure without side effects (idempotency_level NO_SIDE_EFFECTS)
//     may read from a replica that has replayed the WAL position of its
//     at_least_as_fresh token (read-your-writes across nodes); a
//     fully_consistent one reads from the primary. A token whose position
//     does not parse is InvalidArgument.
//   - Every other procedure reads from the primary, before and after its
//     writes: what it reads decides what it writes (a path resolved before a
//     create, move or delete; a version before a write), and a stale read
//     there could make a wrong write or hide the call's own write from its
//     later reads. Its consistency_token, if it answers one, is stamped with
//     the primary's WAL position read after the handler returned, so it
//     covers every commit of the call — also writes of our rows alone (new
//     content of a file), which change nothing in SpiceDB.
//
// currentLSN reads the primary's WAL position.
func NewRoutingInterceptor(currentLSN func(context.Context) (postgres.LSN, error), log *slog.Logger) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if req.Spec().IdempotencyLevel == connect.IdempotencyNoSideEffects {
				rctx, err := readRoute(ctx, req.Any())
				if err != nil {
					return nil, err
				}
				return next(rctx, req)
			}
			resp, err := next(postgres.WithPrimary(ctx), req)
			if err != nil || resp == nil {
				return resp, err
			}
			stampResponse(ctx, resp.Any(), currentLSN, log)
			return resp, nil
		}
	})
}

// readRoute marks ctx for a read request m.
func readRoute(ctx context.Context, m any) (context.Context, error) {
	c, ok := m.(interface{ GetConsistency() *nexusv1.Consistency })
	if !ok {
		return postgres.WithMinLSN(ctx, 0), nil
	}
	switch r := c.GetConsistency().GetRequirement().(type) {
	case *nexusv1.Consistency_FullyConsistent:
		if r.FullyConsistent {
			return postgres.WithPrimary(ctx), nil
		}
	case *nexusv1.Consistency_AtLeastAsFresh:
		tok, err := authz.ParseToken(r.AtLeastAsFresh)
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("consistency.at_least_as_fresh: "+err.Error()+" (pass a token exactly as Nexus returned it)"))
		}
		return postgres.WithMinLSN(ctx, tok.LSN()), nil
	}
	return postgres.WithMinLSN(ctx, 0), nil
}

// stampResponse sets m's consistency_token, if it has one, to carry the
// primary's current WAL position.
func stampResponse(ctx context.Context, m any, currentLSN func(context.Context) (postgres.LSN, error), log *slog.Logger) {
	pm, ok := m.(proto.Message)
	if !ok {
		return
	}
	r := pm.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("consistency_token")
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return
	}
	lsn, err := currentLSN(context.WithoutCancel(ctx))
	if err != nil {
		// The write committed; only its position is unknown. A token at
		// the largest position sends reads at it to the primary.
		log.Warn("cannot read the primary's WAL position after a write; reads at its token go to the primary", "err", err)
		lsn = math.MaxUint64
	}
	tok := authz.Token(r.Get(fd).String()).WithLSN(lsn)
	r.Set(fd, protoreflect.ValueOfString(string(tok)))
}

// NewConsistencyInterceptor refuses a request whose consistency token the
// server did not issue (garbage, a bad WAL position, a token newer than
// the server's data) with InvalidArgument saying what is wrong, rather than
// reading as if no token had been sent. validate is authz's ValidateToken.
func NewConsistencyInterceptor(validate func(context.Context, authz.Token) error, log *slog.Logger) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			c, ok := req.Any().(interface{ GetConsistency() *nexusv1.Consistency })
			if !ok {
				return next(ctx, req)
			}
			r, ok := c.GetConsistency().GetRequirement().(*nexusv1.Consistency_AtLeastAsFresh)
			if !ok {
				return next(ctx, req)
			}
			err := validate(ctx, authz.Token(r.AtLeastAsFresh))
			switch {
			case errors.Is(err, authz.ErrBadToken):
				return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("consistency.at_least_as_fresh: "+err.Error()+"; pass a token exactly as this server returned it"))
			case err != nil:
				return nil, toConnect(ctx, log, req.Spec().Procedure, err)
			}
			return next(ctx, req)
		}
	})
}
