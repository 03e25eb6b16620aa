package memory_test

import (
	"database/sql"
	"testing"

	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/fileplane/memory/memorytest"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
	"github.com/nexus-authz/nexus/internal/storage/sqlite/sqlitetest"
)

func TestSQLStore(t *testing.T) {
	memorytest.Run(t, func(t *testing.T) *sql.DB {
		return sqlitetest.Open(t, sqlite.Domain{Name: "memory", Migrations: memory.SQLiteMigrations()})
	}, memory.SQLStore{})
}
