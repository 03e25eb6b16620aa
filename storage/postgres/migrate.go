package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// versionTable is domain's goose version table: each domain migrates on its
// own, as on SQLite.
func versionTable(domain string) string { return "goose_" + domain }

func provider(db *sql.DB, d Domain, opts ...goose.ProviderOption) (*goose.Provider, error) {
	opts = append([]goose.ProviderOption{
		goose.WithTableName(versionTable(d.Name)),
		goose.WithDisableGlobalRegistry(true),
	}, opts...)
	p, err := goose.NewProvider(goose.DialectPostgres, db, d.Migrations, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations of %s: %w", d.Name, err)
	}
	return p, nil
}

// Migrate brings each domain's tables up to date. Concurrent runs (two
// nodes started with nexus migrate at once) serialize on a PostgreSQL
// advisory lock, so it must run on a direct connection, not through
// PgBouncer in transaction mode.
func Migrate(ctx context.Context, db *sql.DB, domains ...Domain) error {
	for _, d := range domains {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		p, err := provider(db, d, goose.WithSessionLocker(locker))
		if err != nil {
			return err
		}
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("migrating %s: %w", d.Name, err)
		}
	}
	return nil
}

// ErrSchema is a database whose schema this binary cannot serve: not
// migrated, older, or newer than the binary.
var ErrSchema = errors.New("database schema does not match this nexus")

// Version is a domain's schema version in the database and in this binary.
type Version struct {
	Domain   string
	Database int64 // 0: not migrated
	Binary   int64
}

// Versions reads each domain's schema version without changing anything.
func Versions(ctx context.Context, db *sql.DB, domains ...Domain) ([]Version, error) {
	var out []Version
	for _, d := range domains {
		p, err := provider(db, d)
		if err != nil {
			return nil, err
		}
		src := p.ListSources()
		v := Version{Domain: d.Name}
		if len(src) > 0 {
			v.Binary = src[len(src)-1].Version
		}
		var exists bool
		if err := db.QueryRowContext(ctx, `SELECT to_regclass(?) IS NOT NULL`, versionTable(d.Name)).Scan(&exists); err != nil {
			return nil, err
		}
		if exists {
			// goose's table: version_id, is_applied; a row per applied (or
			// rolled back) step, version 0 the table's creation.
			if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM `+versionTable(d.Name)+` WHERE is_applied`).Scan(&v.Database); err != nil {
				return nil, err
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// Check returns nil if every domain's schema is the binary's, else an
// ErrSchema that says, in one line, what to do.
func Check(ctx context.Context, db *sql.DB, domains ...Domain) error {
	vs, err := Versions(ctx, db, domains...)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	for _, v := range vs {
		switch {
		case v.Database == 0:
			return fmt.Errorf("%w: the database is not migrated (no schema version for %s); run: nexus migrate --postgres URL", ErrSchema, v.Domain)
		case v.Database < v.Binary:
			return fmt.Errorf("%w: %s is at schema version %d, this nexus needs %d; run: nexus migrate --postgres URL", ErrSchema, v.Domain, v.Database, v.Binary)
		case v.Database > v.Binary:
			return fmt.Errorf("%w: %s is at schema version %d, newer than this nexus knows (%d); run a newer nexus", ErrSchema, v.Domain, v.Database, v.Binary)
		}
	}
	return nil
}
