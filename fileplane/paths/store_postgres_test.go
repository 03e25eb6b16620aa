package paths_test

import (
	"testing"

	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/paths/pathstest"
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/postgres"
	"github.com/nexus-authz/nexus/internal/storage/postgres/pgtest"
)

// The same suite as TestSQLiteStoreConformance, on PostgreSQL through the
// production driver settings (pgx, QueryExecModeExec).
func TestPostgresStoreConformance(t *testing.T) {
	pgtest.Require(t)
	pathstest.Run(t, func(t *testing.T) (paths.Store, storage.DBTX) {
		db := pgtest.Open(t, postgres.Domain{Name: "paths", Migrations: paths.PostgresMigrations()})
		return paths.SQLStore{}, db
	})
}
