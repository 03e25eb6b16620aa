package authz

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestWrapErr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"invalid", status.Error(codes.InvalidArgument, "bad type"), ErrInvalid},
		{"unavailable", status.Error(codes.Unavailable, "down"), ErrUnavailable},
		{"lost the database, said as unknown", status.Error(codes.Unknown, "unexpected consistency middleware error: unable to find revision: unexpected EOF"), ErrUnavailable},
		{"lost the database, said as internal", status.Error(codes.Internal, "failed to connect to `user=nexus`: dial error: connection refused"), ErrUnavailable},
		{"lost the database, said with its SQLSTATE", status.Error(codes.Unknown, "unable to find revision: FATAL: server login has been failing, try again later (server_login_retry) (SQLSTATE 08P01)"), ErrUnavailable},
		{"other internal", status.Error(codes.Internal, "boom"), ErrEngine},
		{"not grpc", errors.New("plain"), ErrEngine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.ErrorIs(t, wrapErr("op", tc.err), tc.want)
		})
	}
}
