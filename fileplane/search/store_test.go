package search_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/fileplane/search/searchtest"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

func TestSQLStore(t *testing.T) {
	t.Parallel()
	searchtest.Run(t, func(t *testing.T) *sql.DB {
		return sqlitetest.Open(t, sqlite.Domain{Name: "search", Migrations: search.SQLiteMigrations()})
	}, search.SQLStore{})
}

// With one zone in the index, SQLStore's ranking is FTS5's own bm25(): the
// per-zone statistics change which documents count, not the formula.
func TestSQLStoreRanksAsFTS5InOneZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqlitetest.Open(t, sqlite.Domain{Name: "search", Migrations: search.SQLiteMigrations()})
	names, err := filepath.Glob("testdata/corpus/*.txt")
	require.NoError(t, err)
	rng := rand.New(rand.NewSource(1))
	words := strings.Fields("walrus forecast revenue quarter outage disk export keys apple engineers rain season")
	for i := 0; i < 60; i++ {
		var body string
		if i < len(names) {
			b, err := os.ReadFile(names[i])
			require.NoError(t, err)
			body = string(b)
		} else {
			for j := rng.Intn(40); j >= 0; j-- {
				body += words[rng.Intn(len(words))] + " filler "
			}
		}
		require.NoError(t, search.SQLStore{}.Upsert(ctx, db, search.Doc{Entry: fmt.Sprintf("e%02d", i), Zone: "z", Hash: "h", Body: body}))
	}
	for _, q := range []string{"walrus", "quarterly revenue forecast", "disk outage keys", "apple rain season engineers"} {
		terms, err := search.Terms("q", q)
		require.NoError(t, err)
		hits, err := search.SQLStore{}.Query(ctx, db, "z", terms, 0, 100)
		require.NoError(t, err)
		type ranked struct {
			Entry string
			Score float64
		}
		var got, want []ranked
		for _, h := range hits {
			got = append(got, ranked{h.Entry, h.Score})
		}
		rows, err := db.QueryContext(ctx, `SELECT d.entry_id, -bm25(search_fts) FROM search_fts JOIN search_docs d ON d.id = search_fts.rowid
			WHERE search_fts MATCH ? ORDER BY bm25(search_fts), d.id`, search.FTS5Match(terms))
		require.NoError(t, err)
		for rows.Next() {
			var r ranked
			require.NoError(t, rows.Scan(&r.Entry, &r.Score))
			want = append(want, r)
		}
		require.NoError(t, rows.Err())
		require.NotEmpty(t, want, q)
		require.Len(t, got, len(want), q)
		for i := range want {
			require.Equal(t, want[i].Entry, got[i].Entry, "%q, position %d", q, i)
			require.InDelta(t, want[i].Score, got[i].Score, 1e-9, "%q, %s", q, want[i].Entry)
		}
	}
}

// A word common in the zone counts less than a rare one, whatever other
// zones hold: here gamma is rare in zone a, beta common, so the document
// with gamma ranks first, though zone b is full of gamma.
func TestSQLStoreRarityIsTheZones(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqlitetest.Open(t, sqlite.Domain{Name: "search", Migrations: search.SQLiteMigrations()})
	st := search.SQLStore{}
	require.NoError(t, st.Upsert(ctx, db, search.Doc{Entry: "d1", Zone: "a", Hash: "h", Body: "alpha beta"}))
	require.NoError(t, st.Upsert(ctx, db, search.Doc{Entry: "d2", Zone: "a", Hash: "h", Body: "alpha gamma"}))
	for i := 0; i < 5; i++ {
		require.NoError(t, st.Upsert(ctx, db, search.Doc{Entry: fmt.Sprintf("a%d", i), Zone: "a", Hash: "h", Body: "beta delta epsilon zeta"}))
	}
	for i := 0; i < 200; i++ {
		require.NoError(t, st.Upsert(ctx, db, search.Doc{Entry: fmt.Sprintf("b%d", i), Zone: "b", Hash: "h", Body: "alpha gamma"}))
	}
	hits, err := st.Query(ctx, db, "a", []string{"beta", "gamma"}, 0, 2)
	require.NoError(t, err)
	require.Equal(t, "d2", hits[0].Entry)
	require.Equal(t, "d1", hits[1].Entry)
}

// TestSQLStoreReturnsDatabaseErrors: a database that fails is an error from
// every call, not an empty answer (a search that found nothing, an index
// with nothing queued).
func TestSQLStoreReturnsDatabaseErrors(t *testing.T) {
	t.Parallel()
	db := sqlitetest.Open(t, sqlite.Domain{Name: "search", Migrations: search.SQLiteMigrations()})
	require.NoError(t, db.Close())
	ctx := context.Background()
	s := search.SQLStore{}
	require.Error(t, s.Upsert(ctx, db, search.Doc{Entry: "fil_1", Zone: "z", Hash: "h", Body: "text"}))
	require.Error(t, s.Delete(ctx, db, "fil_1"))
	_, err := s.IndexedHash(ctx, db, "fil_1")
	require.Error(t, err)
	_, err = s.Query(ctx, db, "z", []string{"text"}, 0, 10)
	require.Error(t, err)
	require.Error(t, s.Enqueue(ctx, db, []string{"fil_1"}))
	_, err = s.Pending(ctx, db, 10)
	require.Error(t, err)
	require.Error(t, s.Done(ctx, db, []search.Pending{{Seq: 1, Entry: "fil_1"}}))
}
