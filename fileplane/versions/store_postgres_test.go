package versions_test

import (
	"testing"

	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/fileplane/versions/versionstest"
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/postgres"
	"github.com/nexus-authz/nexus/internal/storage/postgres/pgtest"
)

// The same suite as TestSQLiteStoreConformance, on PostgreSQL through the
// production driver settings (pgx, QueryExecModeExec).
func TestPostgresStoreConformance(t *testing.T) {
	pgtest.Require(t)
	versionstest.Run(t, func(t *testing.T) (versions.Store, storage.DBTX) {
		db := pgtest.Open(t, postgres.Domain{Name: "versions", Migrations: versions.PostgresMigrations()})
		return versions.SQLStore{}, db
	})
}
