// Package postgres opens the production mode's PostgreSQL database and runs
// each domain's migrations, the way package sqlite does for the embedded
// default. It owns no tables itself: every capability brings its own
// migrations (migrations/postgres), each with its own goose version table.
//
// Stores use database/sql through pgx's stdlib driver, with every query sent
// in pgx's QueryExecModeExec: no prepared statements, one round trip, so
// PgBouncer in transaction pooling mode (Debian's 1.18 has no prepared
// statement support) works. The stores' SQL is written once with ?
// placeholders; the connector rewrites them into $1, $2, ... (see Rebind).
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Options tune a pool.
type Options struct {
	// MaxConns bounds the pool (default 16).
	MaxConns int
	// ConnectTimeout bounds each connection attempt (default 2 s, so that
	// writes fail fast while the primary is down) unless the URL sets
	// connect_timeout.
	ConnectTimeout time.Duration
	// Lazy skips the check that the database answers (for replicas, which
	// may be down at start).
	Lazy bool
}

// ParseURL parses a PostgreSQL URL (or key=value string) into a pgx config
// for QueryExecModeExec. Errors name the flag to fix and never echo the
// password.
func ParseURL(url string, opts Options) (*pgx.ConnConfig, error) {
	if url == "" {
		return nil, errors.New("no PostgreSQL URL given (pass --postgres postgres://USER:PASSWORD@HOST:5432/DB)")
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("invalid PostgreSQL URL (want postgres://USER:PASSWORD@HOST:5432/DB): %w", redacted(err))
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = opts.ConnectTimeout
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = 2 * time.Second
		}
	}
	return cfg, nil
}

// redacted drops the connection string pgx puts in its parse errors (it
// masks the password, but the URL is still noise in one line).
func redacted(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap()
	}
	return err
}

// Open opens a pool on url and checks that the database answers. Its
// errors are one line that says what to do (see Explain).
func Open(ctx context.Context, url string, opts Options) (*sql.DB, error) {
	cfg, err := ParseURL(url, opts)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	max := opts.MaxConns
	if max <= 0 {
		max = 16
	}
	db.SetMaxOpenConns(max)
	db.SetMaxIdleConns(max)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if opts.Lazy {
		return db, nil
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, Explain(cfg, err)
	}
	return db, nil
}

// Explain turns a connection error into one line that says what is wrong
// and what to do. The password never appears in it.
func Explain(cfg *pgx.ConnConfig, err error) error {
	where := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "28P01":
			return fmt.Errorf("PostgreSQL at %s refused the password of user %q (fix the password in --postgres)", where, cfg.User)
		case "28000":
			return fmt.Errorf("PostgreSQL at %s does not let user %q connect to database %q (%s; check the user in --postgres and pg_hba.conf)", where, cfg.User, cfg.Database, pg.Message)
		case "3D000":
			return fmt.Errorf("database %q does not exist on PostgreSQL at %s (create it with: createdb %s; then run: nexus migrate --postgres URL)", cfg.Database, where, cfg.Database)
		case "53300":
			return fmt.Errorf("PostgreSQL at %s has no free connections (raise max_connections, or put PgBouncer in front)", where)
		case "57P03":
			return fmt.Errorf("PostgreSQL at %s is starting up or shutting down; retry shortly", where)
		}
		return fmt.Errorf("PostgreSQL at %s: %s (SQLSTATE %s)", where, pg.Message, pg.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("PostgreSQL at %s did not answer within %s (is the host right in --postgres, and the server up?)", where, cfg.ConnectTimeout)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Errorf("cannot reach PostgreSQL at %s: %v (is the server running, and the host and port right in --postgres?)", where, oe.Err)
	}
	return fmt.Errorf("cannot connect to PostgreSQL at %s: %v (check --postgres)", where, err)
}

// Domain is one capability's migrations.
type Domain struct {
	Name       string
	Migrations fs.FS
}

// SpiceDBSchema is the schema SpiceDB's tables live in. Ours are in the
// database's default schema (public), named by domain (identity_*,
// paths_*, ...); SpiceDB's connections select its schema with search_path,
// so neither side's migrations touch the other's tables.
const SpiceDBSchema = "spicedb"

// WithSearchPath returns url with search_path set to schema, sent as a
// startup parameter (URL or key=value form, multi-host URLs included).
func WithSearchPath(url, schema string) string {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		return url + sep + "search_path=" + schema
	}
	return strings.TrimSpace(url) + " search_path=" + schema
}
