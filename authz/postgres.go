package authz

import (
	"context"
	"fmt"
	"time"

	// Registers SpiceDB's datastore engines, postgres among them, with its
	// migration package.
	_ "github.com/authzed/spicedb/pkg/cmd/datastore"
	"github.com/authzed/spicedb/pkg/datastore/migration"
)

// PostgresEngine is SpiceDB's datastore engine name for PostgreSQL.
const PostgresEngine = "postgres"

// MigratePostgres runs SpiceDB's own migrations of its postgres datastore
// to the newest revision this build carries. url must select SpiceDB's
// schema (postgres.WithSearchPath): SpiceDB's migrations create their
// tables in the current schema.
func MigratePostgres(ctx context.Context, url string) error {
	quiet()
	err := migration.Run(ctx, &migration.Config{
		DatastoreEngine: PostgresEngine,
		DatastoreURI:    url,
		Timeout:         time.Hour,
		BatchSize:       1000,
	}, "head")
	if err != nil {
		return fmt.Errorf("migrating SpiceDB's tables: %w", err)
	}
	return nil
}

// PostgresVersion returns the revision of SpiceDB's tables in the database
// ("" when not migrated) and the newest revision this build carries.
func PostgresVersion(ctx context.Context, url string) (current, head string, err error) {
	quiet()
	head, err = migration.HeadRevision(PostgresEngine)
	if err != nil {
		return "", "", err
	}
	current, err = migration.Version(ctx, &migration.Config{DatastoreEngine: PostgresEngine, DatastoreURI: url})
	if err != nil {
		return "", head, err
	}
	return current, head, nil
}

// PostgresMigrationNames are the revisions of SpiceDB's tables this build
// knows, oldest first.
func PostgresMigrationNames() ([]string, error) { return migration.MigrationNames(PostgresEngine) }
