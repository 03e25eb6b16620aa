package versions_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/fileplane/versions/versionstest"
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
)

func TestSQLiteStoreConformance(t *testing.T) {
	versionstest.Run(t, func(t *testing.T) (versions.Store, storage.DBTX) {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "nexus.db"))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		require.NoError(t, sqlite.Migrate(context.Background(), db, "versions", versions.SQLiteMigrations()))
		return versions.SQLStore{}, db
	})
}
