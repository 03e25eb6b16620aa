package paths_test

import (
	"testing"

	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/paths/pathstest"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	t.Parallel()
	pathstest.Run(t, func(t *testing.T) (paths.Store, storage.DBTX) {
		db := sqlitetest.Open(t, sqlite.Domain{Name: "paths", Migrations: paths.SQLiteMigrations()})
		return paths.SQLStore{}, db
	})
}
