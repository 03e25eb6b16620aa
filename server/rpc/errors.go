package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

var kindCodes = []struct {
	kind error
	code connect.Code
}{
	{errs.InvalidArgument, connect.CodeInvalidArgument},
	{errs.NotFound, connect.CodeNotFound},
	{errs.AlreadyExists, connect.CodeAlreadyExists},
	{errs.PermissionDenied, connect.CodePermissionDenied},
	{errs.Unauthenticated, connect.CodeUnauthenticated},
	{errs.FailedPrecondition, connect.CodeFailedPrecondition},
	{errs.Aborted, connect.CodeAborted},
	{errs.ResourceExhausted, connect.CodeResourceExhausted},
	{errs.Unavailable, connect.CodeUnavailable},
	{errs.DataLoss, connect.CodeDataLoss},
}

// toConnect is the one place domain errors become Connect errors. A client
// sees the domain's message for errors it made; anything else is logged in
// full and reported as "internal error", with nothing internal in it.
func toConnect(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var de *errs.Error
	if errors.As(err, &de) {
		for _, kc := range kindCodes {
			if errors.Is(de.Kind, kc.kind) {
				if de.Cause != nil {
					log.WarnContext(ctx, "request failed", "procedure", procedure, "code", kc.code.String(), "err", err)
				}
				return connect.NewError(kc.code, errors.New(de.Msg))
			}
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
	case errors.Is(err, authz.ErrOverloaded):
		// Shed by admission control: no log line each (the metric counts
		// them), and a hint for when to come back.
		return overloaded()
	case errors.Is(err, authz.ErrUnavailable):
		log.WarnContext(ctx, "authorization engine unavailable", "procedure", procedure, "err", err)
		return connect.NewError(connect.CodeUnavailable, errors.New("authorization engine unavailable; retry"))
	case errors.Is(err, authz.ErrInvalid):
		// The engine's message names internal object ids: log it, do not
		// send it.
		log.WarnContext(ctx, "authorization engine refused a request", "procedure", procedure, "err", err)
		return connect.NewError(connect.CodeInvalidArgument, errors.New("the request does not fit the authorization schema"))
	case storage.IsUnavailable(err):
		log.WarnContext(ctx, "database unavailable", "procedure", procedure, "err", err)
		return connect.NewError(connect.CodeUnavailable, errors.New("primary unreachable; retry"))
	case errors.Is(err, errs.NotFound):
		return connect.NewError(connect.CodeNotFound, errors.New("not found"))
	}
	log.ErrorContext(ctx, "internal error", "procedure", procedure, "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error; the server log has the details"))
}

// ConnectError is toConnect for adapters outside this package (the SpiceDB
// API): domain errors become Connect errors, anything else "internal error".
func ConnectError(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	return toConnect(ctx, log, procedure, err)
}

// overloaded is the answer to a call shed by admission control:
// ResourceExhausted, with a RetryInfo detail saying when to retry.
func overloaded() error {
	ce := connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("the authorization engine is overloaded; retry in %s", authz.RetryAfter))
	if d, err := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(authz.RetryAfter)}); err == nil {
		ce.AddDetail(d)
	}
	return ce
}
