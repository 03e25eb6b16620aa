package content

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

// DBChunks keeps chunks in the database, in table content_chunks (from
// PostgresMigrations): the production mode's ChunkStore, so that any node
// serves any file. Modification times are the writing node's clock, as
// GC's cutoff is; keep the nodes' clocks in sync (NTP) and GC's grace
// period far above their skew.
//
// Gets read where the context routes them (storage.DB; on PostgreSQL with
// replicas, postgres.Routed). Sweep deletes with a query, so it must run
// under a context that reads from the primary (any unmarked one does).
type DBChunks struct {
	db  storage.DB
	now func() time.Time
}

var (
	_ ChunkStore = (*DBChunks)(nil)
	_ Sweeper    = (*DBChunks)(nil)
)

// NewDBChunks returns the ChunkStore on db.
func NewDBChunks(db storage.DB) *DBChunks { return &DBChunks{db: db, now: time.Now} }

// Put implements ChunkStore. A chunk stored already only gets its time
// refreshed (and its bytes replaced if their length is wrong, as DiskChunks
// replaces a truncated file); a refresh and Sweep are one row each, so they
// are atomic with respect to each other.
func (d *DBChunks) Put(ctx context.Context, h Hash, data []byte) error {
	if got := Sum(data); got != h {
		return errs.E(errs.InvalidArgument, "chunk put as %s hashes to %s", h, got)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO content_chunks (hash, data, mod_time) VALUES (?, ?, ?)
		ON CONFLICT (hash) DO UPDATE SET mod_time = excluded.mod_time,
			data = CASE WHEN length(content_chunks.data) = length(excluded.data) THEN content_chunks.data ELSE excluded.data END`,
		h, data, storage.FormatTime(d.now()))
	if err != nil {
		return fmt.Errorf("writing chunk %s: %w", h, storage.Translate(err))
	}
	return nil
}

// Get implements ChunkStore.
func (d *DBChunks) Get(ctx context.Context, h Hash) ([]byte, error) {
	var data []byte
	err := d.db.QueryRowContext(ctx, `SELECT data FROM content_chunks WHERE hash = ?`, h).Scan(&data)
	if err != nil {
		err = storage.Translate(err)
		if errors.Is(err, errs.NotFound) {
			return nil, fmt.Errorf("chunk %s: %w", h, err)
		}
		return nil, fmt.Errorf("reading chunk %s: %w", h, err)
	}
	if got := Sum(data); got != h {
		return nil, errs.E(errs.DataLoss, "chunk %s is damaged: its %d bytes hash to %s", h, len(data), got)
	}
	return data, nil
}

// Delete implements ChunkStore.
func (d *DBChunks) Delete(ctx context.Context, h Hash) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM content_chunks WHERE hash = ?`, h); err != nil {
		return fmt.Errorf("deleting chunk %s: %w", h, storage.Translate(err))
	}
	return nil
}

// Sweep implements Sweeper: one conditional DELETE.
func (d *DBChunks) Sweep(ctx context.Context, h Hash, cutoff time.Time) (bool, int64, error) {
	var n int64
	err := d.db.QueryRowContext(ctx, `DELETE FROM content_chunks WHERE hash = ? AND mod_time < ? RETURNING length(data)`,
		h, storage.FormatTime(cutoff)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("sweeping chunk %s: %w", h, storage.Translate(err))
	}
	return true, n, nil
}

// walkPage is how many chunks Walk reads per query: no query stays open
// while fn runs.
const walkPage = 1000

// Walk implements ChunkStore, in hash order, a page at a time.
func (d *DBChunks) Walk(ctx context.Context, fn func(h Hash, modTime time.Time) error) error {
	type row struct {
		h  Hash
		mt time.Time
	}
	after := []byte{}
	for {
		page, err := storage.QueryAll(ctx, d.db, func(s storage.Scanner) (row, error) {
			var r row
			var mt sql.NullString
			if err := s.Scan(&r.h, &mt); err != nil {
				return row{}, err
			}
			var err error
			r.mt, err = storage.ParseTime(mt)
			return r, err
		}, `SELECT hash, mod_time FROM content_chunks WHERE hash > ? ORDER BY hash LIMIT ?`, after, walkPage)
		if err != nil {
			return fmt.Errorf("listing chunks: %w", err)
		}
		for _, r := range page {
			if err := fn(r.h, r.mt); err != nil {
				return err
			}
		}
		if len(page) < walkPage {
			return nil
		}
		last := page[len(page)-1].h
		after = last[:]
	}
}
