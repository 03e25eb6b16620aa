package search_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

// Documents indexed before ranking statistics were kept per zone get them
// from the migration that adds them: afterwards every query ranks as in an
// index built with them from the start.
func TestMigrationKeepsRankingPerZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	docs := []search.Doc{
		{Entry: "a1", Zone: "za", Hash: "h", Body: "alpha beta"},
		{Entry: "a2", Zone: "za", Hash: "h", Body: "alpha gamma, and gamma again"},
		{Entry: "a3", Zone: "za", Hash: "h", Body: "a much longer document about gamma rays and their forecasts"},
		{Entry: "b1", Zone: "zb", Hash: "h", Body: "beta beta beta"},
		{Entry: "b2", Zone: "zb", Hash: "h", Body: "beta forecasting"},
	}
	first, err := fs.ReadFile(search.SQLiteMigrations(), "00001_search.sql")
	require.NoError(t, err)
	old := sqlitetest.Open(t, sqlite.Domain{Name: "search", Migrations: fstest.MapFS{"00001_search.sql": {Data: first}}})
	for i, d := range docs {
		_, err := old.ExecContext(ctx, `INSERT INTO search_docs (id, entry_id, zone_id, content_hash, indexed_at) VALUES (?, ?, ?, ?, '')`,
			i+1, d.Entry, d.Zone, d.Hash)
		require.NoError(t, err)
		_, err = old.ExecContext(ctx, `INSERT INTO search_fts (rowid, body) VALUES (?, ?)`, i+1, d.Body)
		require.NoError(t, err)
	}
	require.NoError(t, sqlite.Migrate(ctx, old, "search", search.SQLiteMigrations()))

	fresh := sqlitetest.Open(t, sqlite.Domain{Name: "search", Migrations: search.SQLiteMigrations()})
	for _, d := range docs {
		require.NoError(t, search.SQLStore{}.Upsert(ctx, fresh, d))
	}
	for _, zq := range [][2]string{{"za", "beta gamma"}, {"za", "forecast gamma"}, {"zb", "beta forecast"}} {
		terms, err := search.Terms("q", zq[1])
		require.NoError(t, err)
		want, err := search.SQLStore{}.Query(ctx, fresh, zq[0], terms, 0, 10)
		require.NoError(t, err)
		require.NotEmpty(t, want)
		got, err := search.SQLStore{}.Query(ctx, old, zq[0], terms, 0, 10)
		require.NoError(t, err)
		require.Equal(t, want, got, "%s in %s", zq[1], zq[0])
	}
}
