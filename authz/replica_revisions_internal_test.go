package authz

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// revDatastore answers revisions with fixed results; every other method of
// datastore.Datastore is left unimplemented (nil), as revisionFallback
// calls no other.
type revDatastore struct {
	datastore.Datastore
	rev    datastore.RevisionWithSchemaHash
	err    error
	closed bool
}

func (d *revDatastore) OptimizedRevision(ctx context.Context) (datastore.RevisionWithSchemaHash, error) {
	return d.rev, d.err
}

func (d *revDatastore) CheckRevision(ctx context.Context, _ datastore.Revision) error { return d.err }

func (d *revDatastore) Close() error { d.closed = true; return nil }

var errDown = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}

// TestRevisionFallback: with the primary unreachable, the first replica
// that answers gives the revision; an error that is not about reaching the
// primary, or a caller that gave up, is the primary's own answer; with no
// replica answering, the primary's error stands.
func TestRevisionFallback(t *testing.T) {
	ctx := context.Background()
	primaryRev := datastore.RevisionWithSchemaHash{SchemaHash: "primary"}
	replicaRev := datastore.RevisionWithSchemaHash{SchemaHash: "replica"}
	errOther := errors.New("relation tuple table is gone")
	for _, tc := range []struct {
		name     string
		primary  error
		replicas []*revDatastore
		cancel   bool
		want     string
		wantErr  error
	}{
		{name: "the primary answers", replicas: []*revDatastore{{rev: replicaRev}}, want: "primary"},
		{name: "the primary is down", primary: errDown, replicas: []*revDatastore{{err: errDown}, {rev: replicaRev}}, want: "replica"},
		{name: "the primary timed out", primary: context.DeadlineExceeded, replicas: []*revDatastore{{rev: replicaRev}}, want: "replica"},
		{name: "another error of the primary", primary: errOther, replicas: []*revDatastore{{rev: replicaRev}}, wantErr: errOther},
		{name: "no replica answers", primary: errDown, replicas: []*revDatastore{{err: errDown}}, wantErr: errDown},
		{name: "the caller gave up", primary: errDown, replicas: []*revDatastore{{rev: replicaRev}}, cancel: true, wantErr: errDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &revisionFallback{Datastore: &revDatastore{rev: primaryRev, err: tc.primary}, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			for _, r := range tc.replicas {
				d.replicas = append(d.replicas, r)
			}
			cctx := ctx
			if tc.cancel {
				var cancel context.CancelFunc
				cctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			rev, err := d.OptimizedRevision(cctx)
			cerr := d.CheckRevision(cctx, nil)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorIs(t, cerr, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, cerr)
			require.Equal(t, tc.want, string(rev.SchemaHash))
		})
	}
	t.Run("close closes every datastore", func(t *testing.T) {
		p, r := &revDatastore{}, &revDatastore{}
		d := &revisionFallback{Datastore: p, replicas: []datastore.Datastore{r}}
		require.NoError(t, d.Close())
		require.True(t, p.closed)
		require.True(t, r.closed)
	})
}

// TestReplicaRevisionSourcesSkipsBadURLs: a replica that cannot be opened
// at start is left out (and logged), not fatal.
func TestReplicaRevisionSourcesSkipsBadURLs(t *testing.T) {
	var logs bytes.Buffer
	got := replicaRevisionSources(context.Background(), []string{"not a url ://"}, 0, slog.New(slog.NewTextHandler(&logs, nil)))
	require.Empty(t, got)
	require.Contains(t, logs.String(), "could not be opened")
}

// TestFailpoint: a failpoint fires only when NEXUS_TEST_CRASH_AT names it
// and, if given, its substring occurs in the operations; firing kills the
// process with SIGKILL (checked in a child process).
func TestFailpoint(t *testing.T) {
	if os.Getenv("NEXUS_TEST_FAILPOINT_CHILD") != "" {
		crashAt = os.Getenv("NEXUS_TEST_FAILPOINT_CHILD")
		failpoint("outbox-applied", []outboxOp{{Op: opTouch, Rel: &Relationship{Relation: "viewer"}}})
		os.Exit(0) // not reached when it fires
	}
	old := crashAt
	t.Cleanup(func() { crashAt = old })
	ops := []outboxOp{{Op: opTouch, Rel: &Relationship{Relation: "viewer"}}}
	for _, at := range []string{"", "outbox-recorded", "outbox-applied:editor"} {
		crashAt = at
		failpoint("outbox-applied", ops) // returns: not this point, or no match
	}
	for _, tc := range []struct {
		at     string
		killed bool
	}{{"outbox-applied:viewer", true}, {"outbox-applied", true}, {"outbox-applied:editor", false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFailpoint$")
		cmd.Env = append(os.Environ(), "NEXUS_TEST_FAILPOINT_CHILD="+tc.at)
		err := cmd.Run()
		if !tc.killed {
			require.NoError(t, err, tc.at)
			continue
		}
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, tc.at)
		ws, ok := ee.Sys().(syscall.WaitStatus)
		require.True(t, ok)
		require.True(t, ws.Signaled(), tc.at)
		require.Equal(t, syscall.SIGKILL, ws.Signal(), tc.at)
	}
}

// TestPostgresVersion: an unmigrated database has no revision; a migrated
// one is at the head this build carries.
func TestPostgresVersion(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	cur, head, err := PostgresVersion(ctx, url)
	require.NoError(t, err)
	require.Empty(t, cur)
	require.NotEmpty(t, head)
	require.NoError(t, MigratePostgres(ctx, url))
	cur, head2, err := PostgresVersion(ctx, url)
	require.NoError(t, err)
	require.Equal(t, head, cur)
	require.Equal(t, head, head2)
	_, _, err = PostgresVersion(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	require.Error(t, err)
	require.Error(t, MigratePostgres(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"))
}
