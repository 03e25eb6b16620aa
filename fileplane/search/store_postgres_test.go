package search_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/fileplane/search/searchtest"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// The same suite as the SQLite store's, on PostgreSQL (tsvector, ts_rank,
// ts_headline), directly and through PgBouncer in transaction pooling mode.
func TestPostgresStoreConformance(t *testing.T) {
	t.Parallel()
	for _, target := range pgtest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			searchtest.Run(t, func(t *testing.T) *sql.DB {
				return target.Open(t, postgres.Domain{Name: "search", Migrations: search.PostgresMigrations()})
			}, search.PGStore{})
		})
	}
}

// Words PostgreSQL's english configuration would drop as stopwords (but
// search.Terms keeps, and FTS5 indexes) are found, and a snippet of a long
// document is a window around the match.
func TestPostgresStoreStopwordsAndSnippet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, postgres.Domain{Name: "search", Migrations: search.PostgresMigrations()})
	st := search.PGStore{}
	body := strings.Repeat("filler text goes here ", 40) + "the quarterly report is about exports " + strings.Repeat("more filler ", 40)
	require.NoError(t, st.Upsert(ctx, db, search.Doc{Entry: "e", Zone: "z", Hash: "h", Body: body}))
	for _, q := range []string{"about", "here", "exports"} {
		terms, err := search.Terms("q", q)
		require.NoError(t, err)
		hits, err := st.Query(ctx, db, "z", terms, 0, 10)
		require.NoError(t, err)
		require.Len(t, hits, 1, q)
	}
	hits, err := st.Query(ctx, db, "z", []string{"exports"}, 0, 10)
	require.NoError(t, err)
	sn := hits[0].Snippet
	require.Less(t, len(sn.Text), 300, sn.Text)
	require.Len(t, sn.Highlights, 1, sn.Mark("[", "]"))
	require.Equal(t, "exports", sn.Text[sn.Highlights[0].Start:sn.Highlights[0].End])
	t.Log(sn.Mark("[", "]"))
}

// Two indexers (two nodes) that took the same queued items: the second to
// commit gets ErrQueueTaken and rolls back what it indexed.
func TestPostgresStoreDoneRefusesItemsTakenMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, postgres.Domain{Name: "search", Migrations: search.PostgresMigrations()})
	st := search.PGStore{}
	require.NoError(t, st.Enqueue(ctx, db, []string{"e1", "e2"}))
	items, err := st.Pending(ctx, db, 10)
	require.NoError(t, err)
	require.NoError(t, st.Done(ctx, db, items[:1]))
	err = storage.InTx(ctx, db, func(tx *sql.Tx) error {
		if err := st.Upsert(ctx, tx, search.Doc{Entry: "e1", Zone: "z", Hash: "old", Body: "stale text"}); err != nil {
			return err
		}
		return st.Done(ctx, tx, items)
	})
	require.ErrorIs(t, err, search.ErrQueueTaken)
	_, err = st.IndexedHash(ctx, db, "e1")
	require.ErrorIs(t, err, errs.NotFound, "the stale document was rolled back")
	left, err := st.Pending(ctx, db, 10)
	require.NoError(t, err)
	require.Len(t, left, 1, "e2 stays queued")
}

// A document whose lexemes would not fit a tsvector (1 MiB) is indexed up
// to what fits, rather than failing the indexer.
func TestPostgresStoreIndexesTheStartOfAnOversizedDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, postgres.Domain{Name: "search", Migrations: search.PostgresMigrations()})
	st := search.PGStore{}
	var b strings.Builder
	b.WriteString("zanzibar ")
	for i := 0; b.Len() < search.DefaultMaxIndexBytes-64; i++ {
		fmt.Fprintf(&b, "w%x-%xq ", i*7919, i)
	}
	b.WriteString("endmarker")
	require.NoError(t, st.Upsert(ctx, db, search.Doc{Entry: "big", Zone: "z", Hash: "h", Body: b.String()}))
	hits, err := st.Query(ctx, db, "z", []string{"zanzibar"}, 0, 10)
	require.NoError(t, err)
	require.Len(t, hits, 1)
	hits, err = st.Query(ctx, db, "z", []string{"endmarker"}, 0, 10)
	require.NoError(t, err)
	require.Empty(t, hits, "the end did not fit")
}
