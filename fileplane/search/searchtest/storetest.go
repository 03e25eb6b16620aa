// Package searchtest is the conformance suite of search.Store: every
// implementation (SQLite FTS5, PostgreSQL tsvector) runs it.
package searchtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/search"
)

// Run runs the suite. newDB returns an empty, migrated database for one
// subtest.
func Run(t *testing.T, newDB func(t *testing.T) *sql.DB, store search.Store) {
	ctx := context.Background()
	query := func(t *testing.T, db *sql.DB, zone, q string, off, limit int) []search.Hit {
		t.Helper()
		terms, err := search.Terms("query", q)
		require.NoError(t, err)
		hits, err := store.Query(ctx, db, zone, terms, off, limit)
		require.NoError(t, err)
		return hits
	}
	entries := func(hits []search.Hit) []string {
		out := make([]string, len(hits))
		for i, h := range hits {
			out[i] = h.Entry
		}
		return out
	}

	t.Run("upsert replaces, delete removes", func(t *testing.T) {
		db := newDB(t)
		require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: "e1", Zone: "z", Hash: "h1", Body: "the quick brown fox"}))
		require.Equal(t, []string{"e1"}, entries(query(t, db, "z", "fox", 0, 10)))
		h, err := store.IndexedHash(ctx, db, "e1")
		require.NoError(t, err)
		require.Equal(t, "h1", h)

		require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: "e1", Zone: "z", Hash: "h2", Body: "a lazy dog"}))
		require.Empty(t, query(t, db, "z", "fox", 0, 10))
		require.Equal(t, []string{"e1"}, entries(query(t, db, "z", "dog", 0, 10)))

		require.NoError(t, store.Delete(ctx, db, "e1"))
		require.NoError(t, store.Delete(ctx, db, "e1"), "deleting a missing document is no error")
		require.Empty(t, query(t, db, "z", "dog", 0, 10))
		_, err = store.IndexedHash(ctx, db, "e1")
		require.True(t, errors.Is(err, errs.NotFound), "got %v", err)
	})

	t.Run("zones are separate", func(t *testing.T) {
		db := newDB(t)
		require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: "a", Zone: "z1", Hash: "h", Body: "shared secret words"}))
		require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: "b", Zone: "z2", Hash: "h", Body: "shared secret words"}))
		require.Equal(t, []string{"a"}, entries(query(t, db, "z1", "secret", 0, 10)))
		require.Equal(t, []string{"b"}, entries(query(t, db, "z2", "secret", 0, 10)))
	})

	t.Run("ranking, stemming and any-word matching", func(t *testing.T) {
		db := newDB(t)
		docs := map[string]string{
			"both":  "quarterly revenue forecast for the sales team",
			"one":   "the weather forecast says rain",
			"stem":  "forecasting is hard; forecasts are often wrong; we forecasted growth",
			"none":  "nothing relevant here at all",
			"other": "revenue",
		}
		for _, e := range []string{"both", "one", "stem", "none", "other"} {
			require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: e, Zone: "z", Hash: "h", Body: docs[e]}))
		}
		got := entries(query(t, db, "z", "quarterly revenue forecast", 0, 10))
		require.Equal(t, "both", got[0], "the document with every word ranks first: %v", got)
		require.ElementsMatch(t, []string{"both", "one", "stem", "other"}, got)
		require.Contains(t, entries(query(t, db, "z", "forecasts", 0, 10)), "stem")
	})

	// A zone's ranking must not tell how common a word is in other zones:
	// rarity (document frequency), document count and average length are
	// the zone's own.
	t.Run("ranking does not depend on other zones", func(t *testing.T) {
		db := newDB(t)
		require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: "d1", Zone: "a", Hash: "h", Body: "alpha beta"}))
		require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: "d2", Zone: "a", Hash: "h", Body: "alpha gamma"}))
		require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: "d3", Zone: "a", Hash: "h", Body: "gamma " + strings.Repeat("delta ", 20)}))
		before := query(t, db, "a", "beta gamma", 0, 10)
		require.Len(t, before, 3)

		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		for i := 0; i < 1000; i++ {
			body := "beta " + strings.Repeat("epsilon ", i%50)
			require.NoError(t, store.Upsert(ctx, tx, search.Doc{Entry: fmt.Sprintf("b%04d", i), Zone: "b", Hash: "h", Body: body}))
		}
		require.NoError(t, tx.Commit())
		after := query(t, db, "a", "beta gamma", 0, 10)
		require.Equal(t, entries(before), entries(after), "zone b's documents changed zone a's order")
		for i := range before {
			require.InDelta(t, before[i].Score, after[i].Score, 1e-9, "zone b's documents changed the score of %s", before[i].Entry)
		}

		// Updates and deletes in the other zone leave it as it was too.
		require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: "b0001", Zone: "b", Hash: "h2", Body: "gamma gamma"}))
		require.NoError(t, store.Delete(ctx, db, "b0002"))
		require.Equal(t, entries(before), entries(query(t, db, "a", "beta gamma", 0, 10)))
		require.Len(t, query(t, db, "b", "beta", 0, 2000), 998)
	})

	t.Run("scores descend and pages are consistent", func(t *testing.T) {
		db := newDB(t)
		for i := 0; i < 30; i++ {
			body := strings.Repeat("apple ", i%7+1) + strings.Repeat("filler words ", 10)
			require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: string(rune('A' + i)), Zone: "z", Hash: "h", Body: body}))
		}
		all := query(t, db, "z", "apple", 0, 100)
		require.Len(t, all, 30)
		for i := 1; i < len(all); i++ {
			require.GreaterOrEqual(t, all[i-1].Score, all[i].Score)
		}
		var paged []string
		for off := 0; off < 30; off += 7 {
			paged = append(paged, entries(query(t, db, "z", "apple", off, 7))...)
		}
		require.Equal(t, entries(all), paged)
	})

	t.Run("snippets highlight the matched words", func(t *testing.T) {
		db := newDB(t)
		body := "Minutes of the meeting. Bob prefers CSV exports for every report. Nothing else."
		require.NoError(t, store.Upsert(ctx, db, search.Doc{Entry: "m", Zone: "z", Hash: "h", Body: body}))
		hits := query(t, db, "z", "export", 0, 1)
		require.Len(t, hits, 1)
		sn := hits[0].Snippet
		require.NotEmpty(t, sn.Highlights)
		for _, h := range sn.Highlights {
			require.Equal(t, "exports", strings.ToLower(sn.Text[h.Start:h.End]))
		}
		require.NotContains(t, sn.Text, search.MarkOpen)
	})

	t.Run("the queue keeps what was enqueued until done", func(t *testing.T) {
		db := newDB(t)
		require.NoError(t, store.Enqueue(ctx, db, []string{"e1", "e2"}))
		p, err := store.Pending(ctx, db, 10)
		require.NoError(t, err)
		require.Len(t, p, 2)
		require.Equal(t, "e1", p[0].Entry)
		// e1 changes again while being indexed: it stays queued.
		require.NoError(t, store.Enqueue(ctx, db, []string{"e1"}))
		require.NoError(t, store.Done(ctx, db, p))
		p, err = store.Pending(ctx, db, 10)
		require.NoError(t, err)
		require.Len(t, p, 1)
		require.Equal(t, "e1", p[0].Entry)

		// A transaction that rolls back leaves the queue as it was.
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, store.Enqueue(ctx, tx, []string{"e3"}))
		require.NoError(t, tx.Rollback())
		p, err = store.Pending(ctx, db, 10)
		require.NoError(t, err)
		require.Len(t, p, 1)
	})
}
