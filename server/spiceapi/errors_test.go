package spiceapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/server/rpc"
)

// secret stands for anything internal an engine error may carry: it may
// reach the log, never the client.
const secret = "datastore row 0xdeadbeef"

const internalMsg = "internal error; the server log has the details"

func newTestHandler(logged *bytes.Buffer) *Handler {
	return &Handler{
		engine: fakeEngine{own: map[string]bool{"user": true, "file": true}},
		ids:    &fakeIDs{},
		log:    slog.New(slog.NewTextHandler(logged, nil)),
	}
}

// TestFail maps every kind of error the handlers return, directly: SpiceDB's
// own statuses as SpiceDB sends them (with their details), the policy's
// refusals in our words, and nothing internal for the rest.
func TestFail(t *testing.T) {
	t.Parallel()
	withInfo, err := status.New(codes.FailedPrecondition, "precondition failed").WithDetails(
		&errdetails.ErrorInfo{Reason: "ERROR_REASON_UNKNOWN", Domain: "authzed.com"})
	require.NoError(t, err)
	undecodable := status.New(codes.InvalidArgument, "bad relation").Proto()
	undecodable.Details = append(undecodable.Details, &anypb.Any{TypeUrl: "type.googleapis.com/no.such.Message", Value: []byte{1}})

	for _, tc := range []struct {
		name    string
		err     error
		code    connect.Code
		msg     string
		details int
		log     bool // the full error is logged
	}{
		{"engine refusal keeps SpiceDB's words", status.Error(codes.InvalidArgument, "object definition `nosuch` not found"), connect.CodeInvalidArgument, "object definition `nosuch` not found", 0, false},
		{"engine not found", status.Error(codes.NotFound, "no such relation"), connect.CodeNotFound, "no such relation", 0, false},
		{"engine status keeps its details", withInfo.Err(), connect.CodeFailedPrecondition, "precondition failed", 1, false},
		{"a detail that does not decode is dropped", status.ErrorProto(undecodable), connect.CodeInvalidArgument, "bad relation", 0, false},
		{"engine unavailable", status.Error(codes.Unavailable, "try later"), connect.CodeUnavailable, "try later", 0, false},
		{"engine internal error is not sent", status.Error(codes.Internal, secret), connect.CodeInternal, internalMsg, 0, true},
		{"engine unknown error is not sent", status.Error(codes.Unknown, secret), connect.CodeInternal, internalMsg, 0, true},
		{"engine data loss is not sent", status.Error(codes.DataLoss, secret), connect.CodeInternal, internalMsg, 0, true},
		{"own definitions", fmt.Errorf("authz: %w: file", authz.ErrOwnDefinitions), connect.CodeInvalidArgument, "authz: the schema would change Nexus's own definitions: file", 0, false},
		{"invalid, in the engine's words without our prefix", fmt.Errorf("authz: %w: relation viewer", authz.ErrInvalid), connect.CodeInvalidArgument, "relation viewer", 0, false},
		{"policy refusal", denied("no"), connect.CodePermissionDenied, "no", 0, false},
		{"domain errors as the rest of the API", errs.E(errs.Unauthenticated, "bad key"), connect.CodeUnauthenticated, "bad key", 0, false},
		{"engine overloaded", fmt.Errorf("authz: %w", authz.ErrOverloaded), connect.CodeResourceExhausted, "", 1, false},
		{"anything else is internal", errors.New(secret), connect.CodeInternal, internalMsg, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			h := newTestHandler(&logged)
			err := h.fail(context.Background(), CheckPermissionProcedure, tc.err)
			var ce *connect.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.code, ce.Code())
			if tc.msg != "" {
				require.Equal(t, tc.msg, ce.Message())
			}
			require.NotContains(t, ce.Message(), secret)
			require.Len(t, ce.Details(), tc.details)
			if tc.log {
				require.Contains(t, logged.String(), secret, "the log has the details")
				require.Contains(t, logged.String(), CheckPermissionProcedure)
			} else {
				require.Empty(t, logged.String())
			}
		})
	}
}

func TestFailPassesThrough(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	h := newTestHandler(&logged)
	require.NoError(t, h.fail(context.Background(), "p", nil))
	ce := connect.NewError(connect.CodeInvalidArgument, errors.New("bad"))
	require.Same(t, ce, h.fail(context.Background(), "p", ce))
	require.Empty(t, logged.String())
}

// TestAuthenticate: the interceptor's one check, on denials as on grants.
func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ids := &fakeIDs{keys: map[string]identity.Principal{
		"svc":  {User: identity.User{ID: "u_svc"}, Scope: identity.ScopeCheck},
		"user": {User: identity.User{ID: "u_1"}, Scope: identity.ScopeNone},
	}}
	a := &authInterceptor{ids: ids, log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		header string
		code   connect.Code // 0: allowed
	}{
		{"Bearer svc", 0},
		{"Bearer  svc ", 0},
		{"", connect.CodeUnauthenticated},
		{"Bearer nosuch", connect.CodeUnauthenticated},
		{"Bearer user", connect.CodePermissionDenied},
	} {
		t.Run(tc.header, func(t *testing.T) {
			ctx, err := a.authenticate(context.Background(), CheckPermissionProcedure, tc.header)
			if tc.code == 0 {
				require.NoError(t, err)
				p, ok := rpc.PrincipalFrom(ctx)
				require.True(t, ok)
				require.Equal(t, identity.UserID("u_svc"), p.User.ID)
				return
			}
			require.Equal(t, tc.code, connect.CodeOf(err))
			require.Nil(t, ctx)
		})
	}
}

type fakeEngine struct {
	Engine // nil: a test that reaches anything else panics
	own    map[string]bool
}

func (e fakeEngine) IsOwnDefinition(typ string) bool { return e.own[typ] }
func (e fakeEngine) OwnDefinitions() []string        { return []string{"file", "user"} }

type fakeIDs struct {
	keys      map[string]identity.Principal
	operators map[string]bool
	err       error // IsOperator's
}

func (f *fakeIDs) Authenticate(_ context.Context, key string) (identity.Principal, error) {
	p, ok := f.keys[key]
	if !ok {
		return identity.Principal{}, errs.E(errs.Unauthenticated, "missing or invalid API key")
	}
	return p, nil
}

func (f *fakeIDs) IsOperator(_ context.Context, p identity.Principal) (bool, error) {
	return f.operators[string(p.User.ID)], f.err
}
