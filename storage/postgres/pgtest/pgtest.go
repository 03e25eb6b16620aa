// Package pgtest gives tests fresh PostgreSQL databases. By default they are
// created on the server at 127.0.0.1:5432 (user postgres, trust auth: the
// machine's service, also there in CI); NEXUS_TEST_POSTGRES names another
// server. Tests that need server settings of their own (a replica,
// track_commit_timestamp) start a throwaway cluster with StartCluster.
//
// When no server answers, tests fail under CI (CI set) and are skipped,
// loudly, otherwise.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nexus-authz/nexus/storage/postgres"
)

// DefaultServer is the server tests use unless NEXUS_TEST_POSTGRES is set.
const DefaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Server returns the admin URL of the test server.
func Server() string {
	if u := os.Getenv("NEXUS_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultServer
}

var (
	reachOnce sync.Once
	reachErr  error
)

// Require skips (or, under CI, fails) tb when the test server does not answer.
func Require(tb testing.TB) {
	tb.Helper()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, Server())
		if err == nil {
			conn.Close(ctx)
		}
		reachErr = err
	})
	if reachErr == nil {
		return
	}
	msg := fmt.Sprintf("PostgreSQL test server %s unreachable: %v (start it, or set NEXUS_TEST_POSTGRES)", redactURL(Server()), reachErr)
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip("SKIPPING POSTGRESQL TESTS: " + msg)
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// NewDatabase creates an empty database on the test server, dropped when
// the test ends, and returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	Require(tb)
	return newDatabaseOn(tb, Server())
}

func newDatabaseOn(tb testing.TB, server string) string {
	tb.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "nexus_t_" + hex.EncodeToString(b)
	if err := admin(server, `CREATE DATABASE `+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// A test that stopped its server (a failover drill) has nothing
		// left to drop.
		if err := admin(server, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Logf("pgtest: %v", err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func admin(server, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return fmt.Errorf("pgtest: connecting to %s: %w", redactURL(server), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("pgtest: %s: %w", stmt, err)
	}
	return nil
}

// Open returns a pool on a new database with domains migrated; it is
// closed when the test ends.
func Open(tb testing.TB, domains ...postgres.Domain) *sql.DB {
	tb.Helper()
	return OpenURL(tb, NewDatabase(tb), domains...)
}

// OpenURL opens a small pool on url and migrates domains.
func OpenURL(tb testing.TB, url string, domains ...postgres.Domain) *sql.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 8})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := postgres.Migrate(ctx, db, domains...); err != nil {
		tb.Fatal(err)
	}
	return db
}

// Target is a way to reach the test server: directly, or through PgBouncer
// in transaction pooling mode. Open returns a pool on a new database with
// domains migrated (migrations always run directly, as `nexus migrate`
// must).
type Target struct {
	Name string
	Open func(tb testing.TB, domains ...postgres.Domain) *sql.DB
}

// Targets returns the direct target and the PgBouncer one, whose PgBouncer
// is started here and stopped when tb ends. Store suites run on each.
// Without the pgbouncer binary (outside CI) only the PgBouncer target's
// tests skip: the direct ones still run.
func Targets(tb testing.TB) []Target {
	tb.Helper()
	Require(tb)
	var bouncer *PgBouncer
	if havePgBouncer() || os.Getenv("CI") != "" {
		bouncer = StartPgBouncer(tb, Server())
	}
	return []Target{
		{Name: "direct", Open: Open},
		{Name: "pgbouncer", Open: func(tb testing.TB, domains ...postgres.Domain) *sql.DB {
			tb.Helper()
			if bouncer == nil {
				pgbouncerBin(tb) // skips
			}
			url := NewDatabase(tb)
			migrated := OpenURL(tb, url, domains...)
			migrated.Close()
			return OpenURL(tb, bouncer.URL(url))
		}},
	}
}
