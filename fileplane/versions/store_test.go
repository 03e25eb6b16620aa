package versions_test

import (
	"testing"

	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/fileplane/versions/versionstest"
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
	"github.com/nexus-authz/nexus/internal/storage/sqlite/sqlitetest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	versionstest.Run(t, func(t *testing.T) (versions.Store, storage.DBTX) {
		db := sqlitetest.Open(t, sqlite.Domain{Name: "versions", Migrations: versions.SQLiteMigrations()})
		return versions.SQLStore{}, db
	})
}
