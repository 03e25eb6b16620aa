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
	"github.com/nexus-authz/nexus/internal/storage"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
	"github.com/nexus-authz/nexus/internal/storage/sqlite/sqlitetest"
)

func TestSQLStore(t *testing.T) {
	memorytest.Run(t, func(t *testing.T) *sql.DB {
		return sqlitetest.Open(t, sqlite.Domain{Name: "memory", Migrations: memory.SQLiteMigrations()})
	}, memory.SQLStore{})
}

// SQLStore ranks only the newest MatchWindow text matches: an older match,
// however relevant, is not among the candidates.
func TestSQLStoreRanksTheNewestMatchesOnly(t *testing.T) {
	ctx := context.Background()
	db := sqlitetest.Open(t, sqlite.Domain{Name: "memory", Migrations: memory.SQLiteMigrations()})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, storage.InTx(ctx, db, func(tx *sql.Tx) error {
		for i := 0; i <= memory.MatchWindow; i++ {
			text := "ordinary walrus note"
			if i == 0 {
				text = "walrus walrus walrus walrus" // the best match, and the oldest
			}
			m := memory.Memory{ID: memory.ID(fmt.Sprintf("m%05d", i)), Zone: "z", Owner: "u", Author: "u",
				Scope: memory.ScopeUser, Text: text, CreatedAt: t0.Add(time.Duration(i) * time.Second)}
			if err := (memory.SQLStore{}).Insert(ctx, tx, m); err != nil {
				return err
			}
		}
		return nil
	}))
	cs, err := memory.SQLStore{}.Match(ctx, db, "z", []string{"walrus"}, nil, t0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, cs, 10)
	for _, c := range cs {
		require.NotEqual(t, memory.ID("m00000"), c.Memory.ID)
	}
	// Without the window's worth of newer matches, it ranks first.
	require.NoError(t, memory.SQLStore{}.Delete(ctx, db, "m04096"))
	cs, err = memory.SQLStore{}.Match(ctx, db, "z", []string{"walrus"}, nil, t0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, memory.ID("m00000"), cs[0].Memory.ID)
}
