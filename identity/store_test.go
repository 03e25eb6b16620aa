package identity_test

import (
	"testing"

	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/identity/identitytest"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	t.Parallel()
	identitytest.Run(t, func(t *testing.T) (identity.Store, storage.DBTX) {
		db := sqlitetest.Open(t, sqlite.Domain{Name: "identity", Migrations: identity.SQLiteMigrations()})
		return identity.SQLStore{}, db
	})
}
