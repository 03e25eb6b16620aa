package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/storage/postgres"
)

// The production-mode benchmarks' database: servers named by the
// environment, one throwaway database on them.
//
//	NEXUS_BENCH_POSTGRES           the primary (a server URL; required), with
//	                               track_commit_timestamp on
//	NEXUS_BENCH_POSTGRES_REPLICA   a streaming replica of it (optional)
//	NEXUS_BENCH_PGBOUNCER          PgBouncer in transaction pooling mode in
//	                               front of the primary, with a fallback
//	                               database entry (`* = host=... port=...`)
//	                               so the throwaway database is reachable
//	                               through it (optional)
//
// make bench-pg starts all three with deploy/local-pg.sh when
// NEXUS_BENCH_POSTGRES is not set (bench/pg-run.sh).
type pgTopology struct {
	primary string // the bench database's URL on each; "" when not given
	replica string
	bouncer string
	drop    func()
}

func (t *pgTopology) describe() string {
	s := "primary"
	if t.replica != "" {
		s += " + streaming replica"
	}
	if t.bouncer != "" {
		s += " + PgBouncer (transaction pooling)"
	}
	return s + ", all on this machine, loopback"
}

// openPgTopology creates and migrates the throwaway database. SpiceDB's
// tables live in schema spicedb, selected by a search_path startup
// parameter, which PgBouncer 1.18 refuses; so the database's default
// search_path is set to "spicedb, public" after the migrations, and
// connections through PgBouncer find both SpiceDB's tables and ours.
func openPgTopology(ctx context.Context) (*pgTopology, error) {
	serverURL := os.Getenv("NEXUS_BENCH_POSTGRES")
	if serverURL == "" {
		return nil, fmt.Errorf("needs NEXUS_BENCH_POSTGRES (make bench-pg starts a local primary, replica and PgBouncer itself), e.g. from deploy/local-pg.sh: NEXUS_BENCH_POSTGRES=postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable")
	}
	if err := needCommitTimestamps(ctx, serverURL); err != nil {
		return nil, err
	}
	dbURL, name, drop, err := benchDatabase(ctx, serverURL)
	if err != nil {
		return nil, err
	}
	t := &pgTopology{primary: dbURL, drop: drop}
	if err := server.MigratePostgres(ctx, dbURL); err != nil {
		drop()
		return nil, err
	}
	if err := execOn(ctx, serverURL, "ALTER DATABASE "+name+" SET search_path TO "+postgres.SpiceDBSchema+", public"); err != nil {
		drop()
		return nil, err
	}
	for _, v := range []struct {
		env string
		dst *string
	}{{"NEXUS_BENCH_POSTGRES_REPLICA", &t.replica}, {"NEXUS_BENCH_PGBOUNCER", &t.bouncer}} {
		s := os.Getenv(v.env)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil {
			drop()
			return nil, fmt.Errorf("%s: %w", v.env, err)
		}
		u.Path = "/" + name
		*v.dst = u.String()
	}
	return t, nil
}

// pgEngine starts an engine on SpiceDB's postgres datastore. spicedbURL
// must select SpiceDB's schema (direct: postgres.WithSearchPath; through
// PgBouncer: the database default). db receives write hooks.
func pgEngine(ctx context.Context, spicedbURL string, replicaURLs []string, db *sql.DB, cache bool) (*authz.Engine, error) {
	var logger *slog.Logger
	if cache {
		// The cache says on stderr when it stops answering, and why.
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return authz.New(ctx, authz.Config{
		Schema: nexus.Schema,
		Logger: logger,
		Cache:  authz.CacheConfig{Disabled: !cache},
		Postgres: &authz.PostgresConfig{
			URL: spicedbURL, ReplicaURLs: replicaURLs, DB: db,
		},
	})
}

// benchDatabase creates a database on the server at serverURL and returns
// its URL, its name and a function that drops it.
func benchDatabase(ctx context.Context, serverURL string) (string, string, func(), error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "nexus_bench_" + hex.EncodeToString(b)
	if err := execOn(ctx, serverURL, "CREATE DATABASE "+name); err != nil {
		return "", "", nil, err
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		_ = execOn(context.Background(), serverURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), name, drop, nil
}

// needCommitTimestamps fails unless track_commit_timestamp is on: without
// it SpiceDB's Watch fails, and the decision cache never serves (the cached
// rows would measure the engine).
func needCommitTimestamps(ctx context.Context, serverURL string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("NEXUS_BENCH_POSTGRES: %w", err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW track_commit_timestamp").Scan(&v); err != nil {
		return fmt.Errorf("NEXUS_BENCH_POSTGRES: %w", err)
	}
	if v != "on" {
		return fmt.Errorf("NEXUS_BENCH_POSTGRES: track_commit_timestamp is %s; the decision cache's Watch needs it on (ALTER SYSTEM SET track_commit_timestamp = on, then restart the server), or leave NEXUS_BENCH_POSTGRES unset and make bench-pg starts servers of its own", v)
	}
	return nil
}

func execOn(ctx context.Context, serverURL, stmt string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("NEXUS_BENCH_POSTGRES: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}
