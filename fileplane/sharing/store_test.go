package sharing_test

import (
	"testing"

	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/fileplane/sharing/sharingtest"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	t.Parallel()
	sharingtest.Run(t, func(t *testing.T) (sharing.Store, storage.DBTX) {
		db := sqlitetest.Open(t, sqlite.Domain{Name: "sharing", Migrations: sharing.SQLiteMigrations()})
		return sharing.SQLStore{}, db
	})
}
