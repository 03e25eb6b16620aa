package memory_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

// Memories stored before the text index had a zone column are found after
// the migration that adds it, in their own zone only.
func TestMigrationKeepsIndexedMemories(t *testing.T) {
	t.Parallel()
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

// Memories stored before ranking statistics were kept per zone get them
// from the migration that adds them: afterwards Match ranks as in a store
// that kept them from the start.
func TestMigrationKeepsRankingPerZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mems := []memory.Memory{
		{ID: "a1", Zone: "za", Text: "alpha beta"},
		{ID: "a2", Zone: "za", Text: "alpha gamma, and gamma again"},
		{ID: "a3", Zone: "za", Text: "a much longer memory about gamma rays and their forecasts"},
		{ID: "b1", Zone: "zb", Text: "beta beta beta"},
		{ID: "b2", Zone: "zb", Text: "beta forecasting"},
	}
	old := fstest.MapFS{}
	for _, n := range []string{"00001_memory.sql", "00002_memory_fts_zone.sql"} {
		b, err := fs.ReadFile(memory.SQLiteMigrations(), n)
		require.NoError(t, err)
		old[n] = &fstest.MapFile{Data: b}
	}
	db := sqlitetest.Open(t, sqlite.Domain{Name: "memory", Migrations: old})
	for i, m := range mems {
		_, err := db.ExecContext(ctx, `INSERT INTO memory_items (rid, id, zone_id, owner_id, author_id, scope, text, tags, metadata,
			importance, created_at, perm_token) VALUES (?, ?, ?, 'u', 'u', 'user', ?, '[]', '{}', 0, ?, '')`,
			i+1, m.ID, m.Zone, m.Text, storage.FormatTime(t0))
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `INSERT INTO memory_fts (rowid, text, zone) VALUES (?, ?, ?)`, i+1, m.Text, m.Zone)
		require.NoError(t, err)
	}
	require.NoError(t, sqlite.Migrate(ctx, db, "memory", memory.SQLiteMigrations()))

	fresh := sqlitetest.Open(t, sqlite.Domain{Name: "memory", Migrations: memory.SQLiteMigrations()})
	for _, m := range mems {
		m.Owner, m.Author, m.Scope, m.CreatedAt = "u", "u", memory.ScopeUser, t0
		require.NoError(t, memory.SQLStore{}.Insert(ctx, fresh, m))
	}
	for _, zq := range [][]string{{"za", "beta", "gamma"}, {"za", "forecast", "gamma"}, {"zb", "beta", "forecast"}} {
		want, err := memory.SQLStore{}.Match(ctx, fresh, zq[0], zq[1:], nil, t0, 10)
		require.NoError(t, err)
		require.NotEmpty(t, want)
		got, err := memory.SQLStore{}.Match(ctx, db, zq[0], zq[1:], nil, t0, 10)
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for i := range want {
			require.Equal(t, want[i].Memory.ID, got[i].Memory.ID, "%v", zq)
			require.InDelta(t, want[i].Relevance, got[i].Relevance, 1e-12, "%v", zq)
		}
	}
}
