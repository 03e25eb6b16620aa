package search_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/search"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// crashingStore fails (as a crash would: the transaction never commits)
// once it has indexed `after` documents.
type crashingStore struct {
	search.SQLStore
	after int
}

var errCrash = errors.New("simulated crash")

func (s *crashingStore) Upsert(ctx context.Context, q storage.DBTX, d search.Doc) error {
	if s.after == 0 {
		return errCrash
	}
	s.after--
	return s.SQLStore.Upsert(ctx, q, d)
}

// Changes queued before a crash, and a crash in the middle of indexing
// them, lose nothing: after a restart the index catches up.
func TestIndexCatchesUpAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "nexus.db")
	open := func(store search.Store) *world {
		db, err := sqlite.Open(ctx, dbPath)
		require.NoError(t, err)
		require.NoError(t, sqlite.MigrateAll(ctx, db, domains...))
		return newWorld(t, opts{db: db, dir: dir, store: store})
	}
	w := open(&crashingStore{after: 70})
	for i := 0; i < 100; i++ {
		w.write(alice, fmt.Sprintf("/alice/doc%03d.txt", i), fmt.Sprintf("platypus number %d", i))
	}
	// The indexer commits its first batch (64), then dies in the second.
	_, err := w.indexer.CatchUp(ctx, 0)
	require.ErrorIs(t, err, errCrash)
	var queued int
	require.NoError(t, w.db.QueryRow(`SELECT count(*) FROM search_queue`).Scan(&queued))
	require.Equal(t, 36, queued, "the batch that failed is still queued")
	w.engine.Close()
	require.NoError(t, w.db.Close())

	// Restart: a new process opens the same data.
	w = open(search.SQLStore{})
	got := w.paths(alice, "platypus", ml)
	require.Len(t, got, 100)
	require.NoError(t, w.db.QueryRow(`SELECT count(*) FROM search_queue`).Scan(&queued))
	require.Zero(t, queued)
}
