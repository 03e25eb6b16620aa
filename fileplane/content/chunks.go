package content

import (
	"context"
	"time"
)

// ChunkSize is the size of every chunk Write makes but the last of a content,
// which may be shorter. Chunks reused by Concat may be of any size up to it.
const ChunkSize = 1 << 20

// ChunkStore stores chunks by their hash.
//
// Put stores data under h; data must hash to h (errs.InvalidArgument if not).
// Put of an existing chunk is cheap and refreshes its modification time, so
// GC never collects a chunk a writer just reused. Put does not retain data.
//
// Get verifies the hash and returns an error of kind errs.DataLoss
// (errors.Is(err, errs.DataLoss)) when the bytes do not match — never wrong
// bytes. A missing chunk is errs.NotFound.
//
// Delete removes a chunk; deleting a missing chunk is not an error.
//
// Walk calls fn for every stored chunk with its modification time, and stops
// at the first error fn returns, returning it. Chunks put or deleted during a
// Walk may or may not be reported.
type ChunkStore interface {
	Put(ctx context.Context, h Hash, data []byte) error
	Get(ctx context.Context, h Hash) ([]byte, error)
	Delete(ctx context.Context, h Hash) error
	Walk(ctx context.Context, fn func(h Hash, modTime time.Time) error) error
}

// Sweeper is what Store.GC needs of a ChunkStore on top of the interface:
// Sweep deletes h only if its modification time is before cutoff, atomically
// with respect to Put (a Put that refreshes h either happens before Sweep,
// which then keeps h, or after it, which then writes h anew). It reports
// whether h was deleted and how many bytes that freed. A missing chunk is
// (false, 0, nil).
//
// Without this, GC could delete a chunk between reading its old
// modification time and a writer's Put refreshing it.
type Sweeper interface {
	Sweep(ctx context.Context, h Hash, cutoff time.Time) (deleted bool, freed int64, err error)
}
