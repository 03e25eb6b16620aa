package sharing_test

import (
	"testing"

	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/fileplane/sharing/sharingtest"
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/postgres"
	"github.com/nexus-authz/nexus/internal/storage/postgres/pgtest"
)

// The same suite as TestSQLiteStoreConformance, on PostgreSQL through the
// production driver settings (pgx, QueryExecModeExec).
func TestPostgresStoreConformance(t *testing.T) {
	pgtest.Require(t)
	sharingtest.Run(t, func(t *testing.T) (sharing.Store, storage.DBTX) {
		db := pgtest.Open(t, postgres.Domain{Name: "sharing", Migrations: sharing.PostgresMigrations()})
		return sharing.SQLStore{}, db
	})
}
