package identity_test

import (
	"testing"

	"github.com/nexus-authz/nexus/internal/identity"
	"github.com/nexus-authz/nexus/internal/identity/identitytest"
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/postgres"
	"github.com/nexus-authz/nexus/internal/storage/postgres/pgtest"
)

// The same suite as TestSQLiteStoreConformance, on PostgreSQL through the
// production driver settings (pgx, QueryExecModeExec).
func TestPostgresStoreConformance(t *testing.T) {
	pgtest.Require(t)
	identitytest.Run(t, func(t *testing.T) (identity.Store, storage.DBTX) {
		db := pgtest.Open(t, postgres.Domain{Name: "identity", Migrations: identity.PostgresMigrations()})
		return identity.SQLStore{}, db
	})
}
