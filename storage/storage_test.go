package storage_test

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

type sqlState string

func (s sqlState) Error() string    { return "pg error " + string(s) }
func (s sqlState) SQLState() string { return string(s) }

// unsent is a driver error that says whether the request was sent, as
// pgconn's errors do ("conn closed": a connection the server closed).
type unsent bool

func (u unsent) Error() string     { return "conn closed" }
func (u unsent) SafeToRetry() bool { return bool(u) }

func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"bad connection", driver.ErrBadConn, true},
		{"closed by the server", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), true},
		{"refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"connection failure", sqlState("08006"), true},
		{"admin shutdown", sqlState("57P01"), true},
		{"unique violation", sqlState("23505"), false},
		{"not sent: the connection was closed", fmt.Errorf("authz: %w", unsent(true)), true},
		{"sent, then failed", unsent(false), false},
		{"not found", errs.NotFound, false},
		{"other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, storage.IsUnavailable(tc.err))
		})
	}
}
