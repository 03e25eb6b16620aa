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
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
	"github.com/nexus-authz/nexus/storage/sqlite/sqlitetest"
)

func TestSQLStore(t *testing.T) {
	t.Parallel()
	memorytest.Run(t, func(t *testing.T) *sql.DB {
		return sqlitetest.Open(t, sqlite.Domain{Name: "memory", Migrations: memory.SQLiteMigrations()})
	}, memory.SQLStore{})
}

// SQLStore ranks only the newest MatchWindow text matches: an older match,
// however relevant, is not among the candidates.
func TestSQLStoreRanksTheNewestMatchesOnly(t *testing.T) {
	t.Parallel()
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

// TestSQLStoreReturnsDatabaseErrors: a database that fails is an error from
// every call, not an empty answer or a half-done write reported as done.
func TestSQLStoreReturnsDatabaseErrors(t *testing.T) {
	t.Parallel()
	db := sqlitetest.Open(t, sqlite.Domain{Name: "memory", Migrations: memory.SQLiteMigrations()})
	require.NoError(t, db.Close())
	ctx := context.Background()
	s := memory.SQLStore{}
	now := time.Now()
	require.Error(t, s.Insert(ctx, db, memory.Memory{ID: "mem_1", Zone: "z", Text: "x", CreatedAt: now}))
	require.Error(t, s.SetPermToken(ctx, db, "mem_1", "t"))
	require.Error(t, s.Delete(ctx, db, "mem_1"))
	_, err := s.Get(ctx, db, "mem_1", now)
	require.Error(t, err)
	_, err = s.Match(ctx, db, "z", []string{"x"}, nil, now, 10)
	require.Error(t, err)
	_, err = s.List(ctx, db, "z", nil, now, time.Time{}, "", 10)
	require.Error(t, err)
	_, err = s.Expired(ctx, db, now, 10)
	require.Error(t, err)
}
