package sharing_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/sharing"
)

// syncBuffer is a log sink safe for the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The audit lines of sharing name people as the RPC log does (zone/user),
// never by internal id, and a link without an expiry says so rather than
// printing the zero time.
func TestAuditLinesNamePeopleNotIds(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var logs syncBuffer
	svc := sharing.New(sharing.Config{DB: w.db, Store: sharing.SQLStore{}, Tree: w.tree, Files: w.files, Engine: w.engine,
		Directory: w.dir, Fresh: w.Fresh, Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: w.clock.Now})
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/a.txt", "a")

	_, err := svc.Grant(ctx, w.alice, "/proj/a.txt", "user:bob", sharing.Viewer)
	require.NoError(t, err)
	_, err = svc.Revoke(ctx, w.alice, "/proj/a.txt", "user:bob", sharing.Viewer)
	require.NoError(t, err)
	forever, _, _, err := svc.CreateLink(ctx, w.alice, "/proj/a.txt", sharing.LinkOptions{})
	require.NoError(t, err)
	_, _, _, err = svc.CreateLink(ctx, w.alice, "/proj/a.txt", sharing.LinkOptions{ExpiresIn: time.Hour})
	require.NoError(t, err)
	_, err = svc.RevokeLink(ctx, w.alice, string(forever.ID))
	require.NoError(t, err)

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 5, "%s", logs.String())
	for _, l := range lines {
		require.Contains(t, l, "by=z1/alice", "the actor by name: %s", l)
		require.NotContains(t, l, w.alice.User, "no internal user id: %s", l)
	}
	require.Contains(t, lines[0], `msg=granted`)
	require.Contains(t, lines[0], `subject=user:bob`)
	require.Contains(t, lines[2], "expires_at=never")
	require.NotContains(t, logs.String(), "0001-01-01")
	require.Regexp(t, `expires_at=\d{4}-\d{2}-\d{2}T13:00:00Z`, lines[3])
}
