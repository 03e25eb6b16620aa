package memory_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
	"github.com/nexus-authz/nexus/internal/storage/sqlite/sqlitetest"
)

// Memories stored before the text index had a zone column are found after
// the migration that adds it, in their own zone only.
func TestMigrationKeepsIndexedMemories(t *testing.T) {
	ctx := context.Background()
	first, err := fs.ReadFile(memory.SQLiteMigrations(), "00001_memory.sql")
	require.NoError(t, err)
	db := sqlitetest.Open(t, sqlite.Domain{Name: "memory", Migrations: fstest.MapFS{"00001_memory.sql": {Data: first}}})
	at := "2026-01-01T00:00:00.000000000Z"
	for i, z := range []string{"z1", "z2"} {
		_, err := db.ExecContext(ctx, `INSERT INTO memory_items (rid, id, zone_id, owner_id, author_id, scope, text, tags, metadata,
			importance, created_at, perm_token) VALUES (?, ?, ?, 'u', 'u', 'user', 'walrus sighting', '[]', '{}', 0.5, ?, '')`,
			i+1, "m_"+z, z, at)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `INSERT INTO memory_fts (rowid, text) VALUES (?, 'walrus sighting')`, i+1)
		require.NoError(t, err)
	}
	require.NoError(t, sqlite.Migrate(ctx, db, "memory", memory.SQLiteMigrations()))
	cs, err := memory.SQLStore{}.Match(ctx, db, "z2", []string{"walrus"}, nil, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 10)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, memory.ID("m_z2"), cs[0].Memory.ID)
	require.NotEmpty(t, cs[0].Snippet.Highlights)
}
