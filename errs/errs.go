// Package errs defines the kinds of error every Nexus capability reports and
// a way to attach a message safe to show a client. Transport code maps kinds
// to protocol codes in one place (server/rpc); capabilities never import a
// transport.
package errs

import (
	"errors"
	"fmt"
)

// Kinds. Compare with errors.Is.
var (
	InvalidArgument    = errors.New("invalid_argument")
	NotFound           = errors.New("not_found")
	AlreadyExists      = errors.New("already_exists")
	PermissionDenied   = errors.New("permission_denied")
	Unauthenticated    = errors.New("unauthenticated")
	FailedPrecondition = errors.New("failed_precondition")
	Aborted            = errors.New("aborted")
	ResourceExhausted  = errors.New("resource_exhausted")
	Unavailable        = errors.New("unavailable")
	DataLoss           = errors.New("data_loss")
)

// Error is an error of a kind with a message for the client. Cause, if any,
// is for logs only.
type Error struct {
	Kind  error
	Msg   string
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Msg + ": " + e.Cause.Error()
	}
	return e.Msg
}

// Is reports whether kind is e's kind, so errors.Is(err, errs.NotFound) works.
func (e *Error) Is(kind error) bool { return e.Kind == kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// E returns an error of kind with a formatted client message.
func E(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind with a client message, keeping cause for logs.
func Wrap(kind error, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Cause: cause}
}

// Invalid reports a field that breaks a rule: "invalid name: must be ...".
func Invalid(field, rule string, args ...any) error {
	return &Error{Kind: InvalidArgument, Msg: "invalid " + field + ": " + fmt.Sprintf(rule, args...)}
}

// Sentinel returns a layer's own sentinel error: it reads text, compares by
// identity as any sentinel does, and is of kind (errors.Is(err, kind) holds
// for it and for whatever wraps it), so every error of the module is
// classified by the kinds above whichever layer made it.
func Sentinel(kind error, text string) error { return &sentinel{kind: kind, text: text} }

type sentinel struct {
	kind error
	text string
}

func (s *sentinel) Error() string { return s.text }

// Is reports whether kind is s's kind.
func (s *sentinel) Is(kind error) bool { return s.kind == kind }
