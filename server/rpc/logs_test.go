package rpc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// TestReadOnlyCallsAreNotLoggedOneByOne: at INFO, a backend's stream of
// checks leaves no line each; writes, failures and slow calls do. Every
// call is counted in the metrics either way.
func TestReadOnlyCallsAreNotLoggedOneByOne(t *testing.T) {
	var buf bytes.Buffer
	m := NewMetrics(prometheus.NewRegistry())
	o := &observeInterceptor{m: m, log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	ctx := context.Background()
	fail := connect.NewError(connect.CodeInvalidArgument, errors.New("bad path"))
	for _, tc := range []struct {
		name   string
		proc   string
		took   time.Duration
		err    error
		logged bool
	}{
		{"a check", "/authzed.api.v1.PermissionsService/CheckPermission", time.Millisecond, nil, false},
		{"a stat", "/nexus.v1.FileService/Stat", time.Millisecond, nil, false},
		{"a listing", "/nexus.v1.FileService/List", time.Millisecond, nil, false},
		{"a write", "/nexus.v1.FileService/Write", time.Millisecond, nil, true},
		{"a grant", "/nexus.v1.ShareService/Grant", time.Millisecond, nil, true},
		{"a link opened", "/nexus.v1.ShareService/OpenLink", time.Millisecond, nil, true},
		{"a failed check", "/nexus.v1.FileService/Stat", time.Millisecond, fail, true},
		{"a slow check", "/authzed.api.v1.PermissionsService/CheckPermission", 2 * SlowCall, nil, true},
		{"a shed check", "/authzed.api.v1.PermissionsService/CheckPermission", time.Millisecond, connect.NewError(connect.CodeResourceExhausted, errors.New("overloaded")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			code := "ok"
			if tc.err != nil {
				code = connect.CodeOf(tc.err).String()
			}
			before := count(t, m.requests.WithLabelValues(tc.proc, code))
			o.record(ctx, tc.proc, "grpc", time.Now().Add(-tc.took), tc.err)
			require.Equal(t, tc.logged, buf.Len() > 0, "log: %q", buf.String())
			require.Equal(t, before+1, count(t, m.requests.WithLabelValues(tc.proc, code)), "the call was not counted")
		})
	}
	// At DEBUG, every call has its line.
	buf.Reset()
	o.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.record(ctx, "/nexus.v1.FileService/Stat", "connect", time.Now(), nil)
	require.Contains(t, buf.String(), "procedure=/nexus.v1.FileService/Stat")
}

func count(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}
