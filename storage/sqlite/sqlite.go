// Package sqlite opens the embedded default's SQLite database (pure Go,
// WAL, fsync on every commit) and runs each domain's migrations. It owns no
// tables itself: every capability brings its own migrations.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the database file at path. Commits are
// durable when they return: WAL with synchronous=FULL.
//
// The file is readable by its owner only (0600), and so are its -wal and
// -shm files, which SQLite creates with the database file's mode; a file
// left more open by an earlier version is narrowed.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	if err := private(path); err != nil {
		return nil, err
	}
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

// private creates the database file at path with mode 0600 if it does not
// exist, and narrows it and its WAL files to 0600 if they do.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("opening %s: %w", path, err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, st.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("narrowing the mode of %s to its owner: %w", p, err)
			}
		}
	}
	return nil
}
