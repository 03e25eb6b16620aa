package sharing_test

import (
	"testing"

	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/fileplane/sharing/sharingtest"
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
			sharingtest.Run(t, func(t *testing.T) (sharing.Store, storage.DBTX) {
				db := target.Open(t, postgres.Domain{Name: "sharing", Migrations: sharing.PostgresMigrations()})
				return sharing.SQLStore{}, db
			})
		})
	}
}
