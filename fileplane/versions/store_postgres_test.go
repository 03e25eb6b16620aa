package versions_test

import (
	"testing"

	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/fileplane/versions/versionstest"
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
			versionstest.Run(t, func(t *testing.T) (versions.Store, storage.DBTX) {
				db := target.Open(t, postgres.Domain{Name: "versions", Migrations: versions.PostgresMigrations()})
				return versions.SQLStore{}, db
			})
		})
	}
}
