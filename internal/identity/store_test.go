package identity_test

import (
	"testing"

	"github.com/nexus-authz/nexus/internal/identity"
	"github.com/nexus-authz/nexus/internal/identity/identitytest"
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
	"github.com/nexus-authz/nexus/internal/storage/sqlite/sqlitetest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	identitytest.Run(t, func(t *testing.T) (identity.Store, storage.DBTX) {
		db := sqlitetest.Open(t, sqlite.Domain{Name: "identity", Migrations: identity.SQLiteMigrations()})
		return identity.SQLStore{}, db
	})
}
