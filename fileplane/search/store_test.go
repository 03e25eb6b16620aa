package search_test

import (
	"database/sql"
	"testing"

	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/fileplane/search/searchtest"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
	"github.com/nexus-authz/nexus/internal/storage/sqlite/sqlitetest"
)

func TestSQLStore(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) *sql.DB {
		return sqlitetest.Open(t, sqlite.Domain{Name: "search", Migrations: search.SQLiteMigrations()})
	}, search.SQLStore{})
}
