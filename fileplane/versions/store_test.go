package versions_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/fileplane/versions/versionstest"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	t.Parallel()
	versionstest.Run(t, func(t *testing.T) (versions.Store, storage.DBTX) {
		db := sqlitetest.Open(t, sqlite.Domain{Name: "versions", Migrations: versions.SQLiteMigrations()})
		return versions.SQLStore{}, db
	})
}

// TestSQLStoreReturnsDatabaseErrors: a database that fails is an error,
// not an empty answer (a walk of content hashes that saw none would let
// garbage collection delete content still in use).
func TestSQLStoreReturnsDatabaseErrors(t *testing.T) {
	t.Parallel()
	db := sqlitetest.Open(t, sqlite.Domain{Name: "versions", Migrations: versions.SQLiteMigrations()})
	require.NoError(t, db.Close())
	ctx := context.Background()
	s := versions.SQLStore{}
	require.Error(t, s.DeleteEntries(ctx, db, []string{"fil_1"}))
	require.Error(t, s.ContentHashes(ctx, db, func(string) error { t.Fatal("no hash from a failed query"); return nil }))
	_, err := s.List(ctx, db, "fil_1")
	require.Error(t, err)
}
