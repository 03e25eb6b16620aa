// Package sqlitetest gives tests a fresh, migrated SQLite database.
package sqlitetest

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/nexus-authz/nexus/storage/sqlite"
)

// Open returns a new database in a temporary directory with domains
// migrated; it is closed when the test ends.
func Open(tb testing.TB, domains ...sqlite.Domain) *sql.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "nexus.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := sqlite.MigrateAll(ctx, db, domains...); err != nil {
		tb.Fatal(err)
	}
	return db
}
