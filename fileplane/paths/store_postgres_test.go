package paths_test

import (
	"testing"

	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/paths/pathstest"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// The same suite as TestSQLiteStoreConformance, on PostgreSQL with the
// production driver settings (pgx, QueryExecModeExec), directly and through
// PgBouncer in transaction pooling mode.
func TestPostgresStoreConformance(t *testing.T) {
	t.Parallel()
	for _, target := range pgtest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			pathstest.Run(t, func(t *testing.T) (paths.Store, storage.DBTX) {
				db := target.Open(t, postgres.Domain{Name: "paths", Migrations: paths.PostgresMigrations()})
				return paths.SQLStore{}, db
			})
		})
	}
}
