package identity_test

import (
	"testing"

	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/identity/identitytest"
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
			identitytest.Run(t, func(t *testing.T) (identity.Store, storage.DBTX) {
				db := target.Open(t, postgres.Domain{Name: "identity", Migrations: identity.PostgresMigrations()})
				return identity.SQLStore{}, db
			})
		})
	}
}
