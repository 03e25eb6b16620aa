package content

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

// Referencer reports, by calling fn, the object hashes some table still
// references (file versions, open upload sessions, ...). Other packages
// register theirs; GC runs them all in one transaction.
type Referencer func(ctx context.Context, q storage.DBTX, fn func(Hash) error) error

// GCLock makes GC's deletion of unreferenced objects and writers' Saves
// exclude each other where the database does not: on SQLite one write
// transaction runs at a time, so none is needed; on PostgreSQL (read
// committed, several nodes) a writer could reference an object between GC's
// reading the references and deleting it. Shared runs in the transaction of
// every Save, Exclusive in GC's; each lock lasts until its transaction ends.
type GCLock interface {
	Shared(ctx context.Context, q storage.DBTX) error
	Exclusive(ctx context.Context, q storage.DBTX) error
}

// PostgresGCLock is the GCLock of PostgreSQL: a transaction-level advisory
// lock (which PgBouncer's transaction pooling keeps correct).
var PostgresGCLock GCLock = pgAdvisoryLock(0x6e657875735f6763) // "nexus_gc"

type pgAdvisoryLock int64

func (k pgAdvisoryLock) Shared(ctx context.Context, q storage.DBTX) error {
	_, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared(?)`, int64(k))
	return err
}

func (k pgAdvisoryLock) Exclusive(ctx context.Context, q storage.DBTX) error {
	_, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(k))
	return err
}

// GCStats counts what one GC deleted.
type GCStats struct {
	Objects    int   // recorded objects deleted
	Chunks     int   // chunks deleted
	BytesFreed int64 // bytes of the chunks deleted
}

// GC deletes the recorded objects no referencer reports, then every chunk
// that no remaining object lists and whose modification time is older than
// now-grace.
//
// It is safe while writers run, provided each writer Saves an object within
// grace of Writing (or Concat-ing) it, in the transaction that references
// it: Put refreshes a chunk's modification time, so a chunk a writer is about
// to reference looks fresh until the object listing it is committed, and
// the ChunkStore's Sweep deletes a chunk only if no Put refreshed it since
// GC read its time. Objects have no grace: an object saved without a
// reference is deleted by the next GC.
//
// The chunk store must implement Sweeper. One GC runs at a time per Store.
func (s *Store) GC(ctx context.Context, grace time.Duration, refs ...Referencer) (GCStats, error) {
	var stats GCStats
	if grace < 0 {
		return stats, errs.Invalid("grace", "must not be negative, got %v", grace)
	}
	sweeper, ok := s.chunks.(Sweeper)
	if !ok {
		return stats, errs.E(errs.FailedPrecondition, "the chunk store (%T) cannot be garbage collected: it does not implement content.Sweeper", s.chunks)
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	// The cutoff is taken before anything is read: a chunk put after it
	// is never swept by this run.
	cutoff := s.now().Add(-grace)

	n, err := s.deleteUnreferenced(ctx, refs)
	if err != nil {
		return stats, err
	}
	stats.Objects = n

	err = s.chunks.Walk(ctx, func(h Hash, modTime time.Time) error {
		if !modTime.Before(cutoff) {
			return nil
		}
		var listed bool
		if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM content_object_chunks WHERE chunk_hash = ?)`, h).Scan(&listed); err != nil {
			return fmt.Errorf("content GC: %w", err)
		}
		if listed {
			return nil
		}
		deleted, freed, err := sweeper.Sweep(ctx, h, cutoff)
		if err != nil {
			return fmt.Errorf("content GC: %w", err)
		}
		if deleted {
			stats.Chunks++
			stats.BytesFreed += freed
		}
		return nil
	})
	return stats, err
}

// deleteUnreferenced deletes, in one transaction with the referencers'
// reads, every recorded object none of them reports.
func (s *Store) deleteUnreferenced(ctx context.Context, refs []Referencer) (int, error) {
	deleted := 0
	err := storage.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if s.gcLock != nil {
			if err := s.gcLock.Exclusive(ctx, tx); err != nil {
				return fmt.Errorf("content GC: %w", err)
			}
		}
		live := map[Hash]struct{}{}
		for _, ref := range refs {
			if err := ref(ctx, tx, func(h Hash) error { live[h] = struct{}{}; return nil }); err != nil {
				return fmt.Errorf("content GC: reading references: %w", err)
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT hash FROM content_objects`)
		if err != nil {
			return fmt.Errorf("content GC: %w", err)
		}
		var dead []Hash
		for rows.Next() {
			var h Hash
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return fmt.Errorf("content GC: %w", err)
			}
			if _, ok := live[h]; !ok {
				dead = append(dead, h)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("content GC: %w", err)
		}
		for _, h := range dead {
			if _, err := tx.ExecContext(ctx, `DELETE FROM content_object_chunks WHERE object_hash = ?`, h); err != nil {
				return fmt.Errorf("content GC: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM content_objects WHERE hash = ?`, h); err != nil {
				return fmt.Errorf("content GC: %w", err)
			}
		}
		deleted = len(dead)
		return nil
	})
	return deleted, err
}
