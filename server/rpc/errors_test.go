package rpc

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
)

// secret stands for anything internal an error may carry (a SQL statement, a
// file path, an engine's object id): it may reach the log, never the client.
const secret = "SELECT secret FROM internals"

// TestToConnect maps every kind of error a handler can return, directly:
// the code, the client's message, and whether the full error was logged.
func TestToConnect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code connect.Code
		msg  string // the whole message the client sees
		log  bool   // the full error is logged
	}{
		{"invalid argument", errs.Invalid("name", "must not be empty"), connect.CodeInvalidArgument, "invalid name: must not be empty", false},
		{"not found", errs.E(errs.NotFound, "no file %q", "/a"), connect.CodeNotFound, `no file "/a"`, false},
		{"already exists", errs.E(errs.AlreadyExists, "exists"), connect.CodeAlreadyExists, "exists", false},
		{"permission denied", errs.E(errs.PermissionDenied, "denied"), connect.CodePermissionDenied, "denied", false},
		{"unauthenticated", errs.E(errs.Unauthenticated, "who are you"), connect.CodeUnauthenticated, "who are you", false},
		{"failed precondition", errs.E(errs.FailedPrecondition, "stale"), connect.CodeFailedPrecondition, "stale", false},
		{"aborted", errs.E(errs.Aborted, "conflict"), connect.CodeAborted, "conflict", false},
		{"resource exhausted", errs.E(errs.ResourceExhausted, "quota"), connect.CodeResourceExhausted, "quota", false},
		{"unavailable", errs.E(errs.Unavailable, "later"), connect.CodeUnavailable, "later", false},
		{"data loss", errs.E(errs.DataLoss, "lost"), connect.CodeDataLoss, "lost", false},
		{"a kind with a cause logs the cause, sends the message", errs.Wrap(errs.Unavailable, errors.New(secret), "later"), connect.CodeUnavailable, "later", true},
		{"a wrapped domain error keeps its kind", fmt.Errorf("files: %w", errs.E(errs.NotFound, "no file")), connect.CodeNotFound, "no file", false},
		{"a kind outside the table is internal", &errs.Error{Kind: errors.New("new_kind"), Msg: secret}, connect.CodeInternal, "internal error; the server log has the details", true},
		{"canceled", fmt.Errorf("query: %w", context.Canceled), connect.CodeCanceled, "request canceled", false},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), connect.CodeDeadlineExceeded, "deadline exceeded", false},
		{"engine unavailable", fmt.Errorf("authz: check: %w: %s", authz.ErrUnavailable, secret), connect.CodeUnavailable, "authorization engine unavailable; retry", true},
		{"engine refused", fmt.Errorf("authz: check: %w: %s", authz.ErrInvalid, secret), connect.CodeInvalidArgument, "the request does not fit the authorization schema", true},
		{"database unreachable", fmt.Errorf("%s: %w", secret, errs.Unavailable), connect.CodeUnavailable, "primary unreachable; retry", true},
		{"database dropped the connection", fmt.Errorf("%s: %w", secret, driver.ErrBadConn), connect.CodeUnavailable, "primary unreachable; retry", true},
		{"row not found", fmt.Errorf("%s: %w", secret, errs.NotFound), connect.CodeNotFound, "not found", false},
		{"anything else is internal", errors.New(secret), connect.CodeInternal, "internal error; the server log has the details", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logged, nil))
			err := toConnect(context.Background(), log, "/nexus.v1.Files/Read", tc.err)
			var ce *connect.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.code, ce.Code())
			require.Equal(t, tc.msg, ce.Message())
			require.NotContains(t, ce.Message(), secret, "nothing internal reaches the client")
			require.Empty(t, ce.Details())
			if tc.log {
				require.Contains(t, logged.String(), "/nexus.v1.Files/Read")
				require.Contains(t, logged.String(), secret, "the log has the details")
			} else {
				require.Empty(t, logged.String(), "a client's own error is not logged")
			}
		})
	}
}

func TestToConnectPassesThrough(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	require.NoError(t, toConnect(context.Background(), log, "p", nil))

	ce := connect.NewError(connect.CodeOutOfRange, errors.New("page past the end"))
	got := ConnectError(context.Background(), log, "p", fmt.Errorf("wrapped: %w", ce))
	require.Same(t, ce, got, "a Connect error is sent as it is")
	require.Empty(t, logged.String())
}

// TestToConnectOverloaded: a call shed by admission control is
// ResourceExhausted with a RetryInfo detail, and is not logged (a metric
// counts them).
func TestToConnectOverloaded(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	err := toConnect(context.Background(), log, "p", fmt.Errorf("authz: %w (queue full); retry in %s", authz.ErrOverloaded, authz.RetryAfter))
	var ce *connect.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, connect.CodeResourceExhausted, ce.Code())
	require.Contains(t, ce.Message(), "overloaded")
	require.Len(t, ce.Details(), 1)
	v, derr := ce.Details()[0].Value()
	require.NoError(t, derr)
	ri, ok := v.(*errdetails.RetryInfo)
	require.True(t, ok, "detail is %T", v)
	require.Equal(t, authz.RetryAfter, ri.GetRetryDelay().AsDuration())
	require.Greater(t, ri.GetRetryDelay().AsDuration(), time.Duration(0))
	require.Empty(t, logged.String())
}
