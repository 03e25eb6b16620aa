package authz

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexus-authz/nexus/errs"
)

var (
	// ErrInvalid is a request the schema does not allow: an unknown type,
	// relation or permission, or a subject type a relation does not take.
	ErrInvalid = errs.Sentinel(errs.InvalidArgument, "invalid authorization request")
	// ErrUnavailable is an engine that cannot answer now; retry.
	ErrUnavailable = errs.Sentinel(errs.Unavailable, "authorization engine unavailable")
	// ErrEngine is any other engine failure. Callers deny on it.
	ErrEngine = errors.New("authorization engine error")
)

// wrapErr turns an error from SpiceDB's gRPC API into one of the errors above,
// keeping SpiceDB's message.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("authz: %s: %w: %w", op, ErrEngine, err)
	}
	var kind error
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound, codes.OutOfRange, codes.AlreadyExists:
		kind = ErrInvalid
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted, codes.Aborted:
		kind = ErrUnavailable
	default:
		kind = ErrEngine
		if lostDatastore(st.Message()) {
			kind = ErrUnavailable
		}
	}
	return newEngineError(op, kind, st)
}

// newEngineError is the engine's status st, of kind, from operation op.
func newEngineError(op string, kind error, st *status.Status) error {
	return &engineError{msg: fmt.Sprintf("authz: %s: %s: %s", op, kind, st.Message()), kind: kind, st: st}
}

// engineError is an error of the engine's gRPC API: one of the errors above,
// keeping the engine's status for those who serve the engine's API.
type engineError struct {
	msg  string
	kind error
	st   *status.Status
}

func (e *engineError) Error() string { return e.msg }
func (e *engineError) Unwrap() error { return e.kind }

// EngineStatus returns the engine's own gRPC status behind err, if err came
// from the engine's API: its code and message, for serving the SpiceDB API
// to other services as SpiceDB would answer.
func EngineStatus(err error) (*status.Status, bool) {
	var ee *engineError
	if errors.As(err, &ee) {
		return ee.st, true
	}
	return nil, false
}

// lostDatastore reports an engine message that says SpiceDB lost its
// PostgreSQL connection: SpiceDB reports some of those (a revision it could
// not read, say) with codes Unknown or Internal, which a client should see
// as Unavailable, not as an internal error.
func lostDatastore(msg string) bool {
	for _, s := range []string{"unexpected EOF", "conn closed", "connection refused", "failed to connect", "connection reset by peer", "broken pipe", "SQLSTATE 08", "SQLSTATE 57P0"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func grpcMessage(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}
