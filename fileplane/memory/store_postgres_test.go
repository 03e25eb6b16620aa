package memory_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/fileplane/memory/memorytest"
	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

func pgDomain() postgres.Domain {
	return postgres.Domain{Name: "memory", Migrations: memory.PostgresMigrations()}
}

// The same suite as the SQLite store's, on PostgreSQL (tsvector, ts_rank,
// ts_headline), directly and through PgBouncer in transaction pooling mode.
func TestPostgresStoreConformance(t *testing.T) {
	t.Parallel()
	for _, target := range pgtest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			memorytest.Run(t, func(t *testing.T) *sql.DB { return target.Open(t, pgDomain()) }, memory.PGStore{})
		})
	}
}

// PGStore ranks only the newest Window text matches of the zone, as
// SQLStore does (TestSQLStoreRanksTheNewestMatchesOnly), and other zones'
// matches do not count.
func TestPostgresStoreRanksTheNewestMatchesOfTheZoneOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, pgDomain())
	st := memory.PGStore{Window: 8}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	insert := func(id, zone, text string, i int) {
		m := memory.Memory{ID: memory.ID(id), Zone: zone, Owner: "u", Author: "u",
			Scope: memory.ScopeUser, Text: text, CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		require.NoError(t, st.Insert(ctx, db, m))
	}
	insert("best", "z", "walrus walrus walrus walrus", 0) // the best match, and the oldest
	for i := 1; i <= 8; i++ {
		insert(fmt.Sprintf("m%d", i), "z", "ordinary walrus note", i)
		insert(fmt.Sprintf("other%d", i), "z2", "walrus walrus walrus", i)
	}
	cs, err := st.Match(ctx, db, "z", []string{"walrus"}, nil, t0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, cs, 8)
	for _, c := range cs {
		require.NotEqual(t, memory.ID("best"), c.Memory.ID)
	}
	require.NoError(t, st.Delete(ctx, db, "m8"))
	cs, err = st.Match(ctx, db, "z", []string{"walrus"}, nil, t0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, memory.ID("best"), cs[0].Memory.ID)
	require.Equal(t, "walrus", cs[0].Snippet.Text[cs[0].Snippet.Highlights[0].Start:cs[0].Snippet.Highlights[0].End])
}

// A memory's text with the snippet markers in it cannot forge a highlight.
func TestPostgresStoreSnippetMarkersInTextAreNotHighlights(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, pgDomain())
	st := memory.PGStore{}
	text := "see " + search.MarkOpen + "forged" + search.MarkClose + " walrus"
	require.NoError(t, st.Insert(ctx, db, memory.Memory{ID: "m", Zone: "z", Owner: "u", Author: "u",
		Scope: memory.ScopeUser, Text: text, CreatedAt: time.Now()}))
	cs, err := st.Match(ctx, db, "z", []string{"walrus"}, nil, time.Now(), 10)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, text, cs[0].Memory.Text)
	sn := cs[0].Snippet
	require.Len(t, sn.Highlights, 1, sn.Mark("[", "]"))
	require.Equal(t, "walrus", sn.Text[sn.Highlights[0].Start:sn.Highlights[0].End])
}
