package paths_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/paths/pathstest"
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
)

func TestSQLiteStoreConformance(t *testing.T) {
	pathstest.Run(t, func(t *testing.T) (paths.Store, storage.DBTX) {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "nexus.db"))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		require.NoError(t, sqlite.Migrate(context.Background(), db, "paths", paths.SQLiteMigrations()))
		return paths.SQLStore{}, db
	})
}
