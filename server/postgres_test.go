package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// Open refuses a database whose schema is not this build's, ours or
// SpiceDB's, with one line that says what to run.
func TestOpenPostgresRefusesAnotherSchema(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	require.NoError(t, server.MigratePostgres(ctx, url))
	db := pgtest.OpenURL(t, url)
	spicedb := postgres.WithSearchPath(url, postgres.SpiceDBSchema)
	require.NoError(t, server.CheckPostgres(ctx, db, spicedb))

	names, err := authz.PostgresMigrationNames()
	require.NoError(t, err)
	require.Greater(t, len(names), 1)
	head := names[len(names)-1]
	setSpiceDB := func(rev string) {
		_, err := db.Exec(`UPDATE `+postgres.SpiceDBSchema+`.alembic_version SET version_num = ?`, rev)
		require.NoError(t, err)
	}
	refuses := func(want string) {
		t.Helper()
		err := server.CheckPostgres(ctx, db, spicedb)
		require.ErrorIs(t, err, postgres.ErrSchema)
		require.Contains(t, err.Error(), want)
		_, err = server.Open(ctx, server.Config{
			DataDir: filepath.Join(t.TempDir(), "data"), Postgres: url,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		require.ErrorIs(t, err, postgres.ErrSchema, "serve refuses to start")
	}

	setSpiceDB(names[len(names)-2])
	refuses("SpiceDB's tables are at revision " + names[len(names)-2] + ", this nexus needs " + head + "; run: nexus migrate --postgres URL")
	setSpiceDB("from-a-newer-spicedb")
	refuses("which this nexus does not know (newer); run a newer nexus")
	setSpiceDB(head)

	bump := func(db *sql.DB, v int) {
		_, err := db.Exec(`INSERT INTO goose_paths (version_id, is_applied) VALUES (?, true)`, v)
		require.NoError(t, err)
	}
	bump(db, 99)
	refuses("paths is at schema version 99, newer than this nexus knows (1); run a newer nexus")
	_, err = db.Exec(`DELETE FROM goose_paths WHERE version_id > 0`)
	require.NoError(t, err)
	refuses("the database is not migrated (no schema version for paths); run: nexus migrate --postgres URL")
}

// Without track_commit_timestamp (the machine's server has it off) SpiceDB
// has no Watch: the node serves, with its decision cache off, and says why.
func TestOpenPostgresWithoutCommitTimestampsTurnsTheCacheOff(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db := pgtest.OpenURL(t, url)
	var track string
	require.NoError(t, db.QueryRow(`SHOW track_commit_timestamp`).Scan(&track))
	if track == "on" {
		t.Skip("the test server has track_commit_timestamp on")
	}
	require.NoError(t, server.MigratePostgres(ctx, url))
	var logs strings.Builder
	srv, err := server.Open(ctx, server.Config{
		DataDir: filepath.Join(t.TempDir(), "data"), Postgres: url,
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)),
	})
	require.NoError(t, err)
	defer srv.Close()
	require.Contains(t, logs.String(), "track_commit_timestamp = off")
	d, err := srv.Engine().Check(ctx, authz.CheckItem{Resource: authz.Obj("zone", "z"), Permission: "access", Subject: authz.Subject("user", "u")}, authz.MinimizeLatency())
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Equal(t, authz.CacheStats{}, srv.Engine().CacheStats(), "no cache")
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Two nodes started at once on an empty database: one creates the default
// zone and its admin key, the other finds them; both serve, and exactly one
// admin.key exists.
func TestOpenPostgresTwoNodesAtOnceBootstrapOnce(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	require.NoError(t, server.MigratePostgres(ctx, url))
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Go(func() {
			srv, err := server.Open(ctx, server.Config{
				DataDir: dir, Postgres: url, Cache: authz.CacheConfig{Disabled: true},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err == nil {
				srv.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	keys := 0
	for i, dir := range dirs {
		require.NoError(t, errs[i])
		if _, err := os.Stat(filepath.Join(dir, server.AdminKeyFile)); err == nil {
			keys++
		}
	}
	require.Equal(t, 1, keys, "exactly one node wrote admin.key")
}

// With --postgres-replica, the node probes the replica: its health and lag
// are metrics.
func TestOpenPostgresReplicaMetrics(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	primary := pgtest.StartCluster(t, pgtest.ClusterOptions{})
	replica := pgtest.StartReplica(t, primary)
	url := primary.NewDatabase(t)
	require.NoError(t, server.MigratePostgres(ctx, url))
	replica.CaughtUp(t, primary)
	replicaURL := strings.Replace(url, fmt.Sprintf(":%d/", primary.Port), fmt.Sprintf(":%d/", replica.Port), 1)
	srv, err := server.Open(ctx, server.Config{
		DataDir: filepath.Join(t.TempDir(), "data"), Postgres: url, PostgresReplicas: []string{replicaURL},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	defer srv.Close()
	want := fmt.Sprintf(`nexus_pg_replica_healthy{replica="127.0.0.1:%d"} 1`, replica.Port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body := rec.Body.String()
		if strings.Contains(body, want) {
			require.Contains(t, body, fmt.Sprintf(`nexus_pg_replica_lag_seconds{replica="127.0.0.1:%d"}`, replica.Port))
			require.Contains(t, body, fmt.Sprintf(`nexus_pg_replica_lag_bytes{replica="127.0.0.1:%d"}`, replica.Port))
			return
		}
		require.True(t, time.Now().Before(deadline), "no %s in /metrics", want)
		time.Sleep(50 * time.Millisecond)
	}
}
