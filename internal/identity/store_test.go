package identity_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/internal/identity"
	"github.com/nexus-authz/nexus/internal/identity/identitytest"
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
)

func TestSQLiteStoreConformance(t *testing.T) {
	identitytest.Run(t, func(t *testing.T) (identity.Store, storage.DBTX) {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "nexus.db"))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		require.NoError(t, sqlite.Migrate(context.Background(), db, "identity", identity.SQLiteMigrations()))
		return identity.SQLStore{}, db
	})
}
