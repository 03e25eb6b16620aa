// Package sqlite opens the embedded default's SQLite database (pure Go,
// WAL, fsync on every commit) and runs each domain's migrations. It owns no
// tables itself: every capability brings its own migrations.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the database file at path. Commits are
// durable when they return: WAL with synchronous=FULL.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// One writer at a time is SQLite's rule; readers go on in WAL mode.
	db.SetMaxOpenConns(8)
	return db, nil
}

// Migrate brings one domain's tables up to date. Each domain keeps its own
// version table (goose_<domain>), so domains migrate independently.
func Migrate(ctx context.Context, db *sql.DB, domain string, migrations fs.FS) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations,
		goose.WithTableName("goose_"+domain),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrations of %s: %w", domain, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", domain, err)
	}
	return nil
}

// Domain is one capability's migrations.
type Domain struct {
	Name       string
	Migrations fs.FS
}

// MigrateAll migrates each domain in turn.
func MigrateAll(ctx context.Context, db *sql.DB, domains ...Domain) error {
	for _, d := range domains {
		if err := Migrate(ctx, db, d.Name, d.Migrations); err != nil {
			return err
		}
	}
	return nil
}
