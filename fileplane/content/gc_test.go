package content_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/storage"
)

// refs is a stand-in for a table of file versions: the object hashes it
// holds are referenced.
type refs struct{ db *sql.DB }

func newRefs(t *testing.T, db *sql.DB) refs {
	_, err := db.Exec(`CREATE TABLE test_refs (hash ` + blobType(db) + ` NOT NULL PRIMARY KEY)`)
	require.NoError(t, err)
	return refs{db}
}

func (r refs) add(ctx context.Context, q storage.DBTX, h content.Hash) error {
	_, err := q.ExecContext(ctx, `INSERT INTO test_refs (hash) VALUES (?) ON CONFLICT DO NOTHING`, h)
	return err
}

func (r refs) remove(t *testing.T, h content.Hash) {
	_, err := r.db.Exec(`DELETE FROM test_refs WHERE hash = ?`, h)
	require.NoError(t, err)
}

func (r refs) referencer(ctx context.Context, q storage.DBTX, fn func(content.Hash) error) error {
	rows, err := q.QueryContext(ctx, `SELECT hash FROM test_refs`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h content.Hash
		if err := rows.Scan(&h); err != nil {
			return err
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return rows.Err()
}

// saveReferenced saves obj with a reference to it, in one transaction.
func (e *env) saveReferenced(t *testing.T, r refs, obj content.Object) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, storage.InTx(ctx, e.db, func(tx *sql.Tx) error {
		if err := e.store.Save(ctx, tx, obj); err != nil {
			return err
		}
		return r.add(ctx, tx, obj.Hash)
	}))
}

func (e *env) requireReads(t *testing.T, h content.Hash, want []byte) {
	t.Helper()
	obj, err := e.store.Object(context.Background(), e.db, h)
	require.NoError(t, err)
	got, err := e.read(t, obj, 0, -1)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "object %s reads back %d bytes, want %d identical", h, len(got), len(want))
}

func (e *env) hasChunk(t *testing.T, h content.Hash) bool {
	t.Helper()
	_, err := os.Stat(e.disk.Path(h))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	require.NoError(t, err)
	return true
}

const grace = 10 * time.Minute

func TestGCRemovesUnreferenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	r := newRefs(t, e.db)

	shared := randomBytes(t, mib)
	keptData := append(append([]byte(nil), shared...), randomBytes(t, 500)...)
	goneData := randomBytes(t, 2*mib+10)
	partlyData := append(append([]byte(nil), shared...), randomBytes(t, 700)...) // shares chunk 0 with kept

	kept := e.write(t, keptData)
	gone := e.write(t, goneData)
	partly := e.write(t, partlyData)
	e.saveReferenced(t, r, kept)
	require.NoError(t, e.store.Save(ctx, e.db, gone))
	require.NoError(t, e.store.Save(ctx, e.db, partly))
	for _, o := range []content.Object{kept, gone, partly} {
		age(t, e.disk, time.Hour, o.Chunks...)
	}

	stats, err := e.store.GC(ctx, grace, r.referencer)
	require.NoError(t, err)
	require.Equal(t, content.GCStats{
		Objects:    2,
		Chunks:     4, // gone's three, partly's second
		BytesFreed: gone.Size + partly.ChunkSizes[1],
	}, stats)

	e.requireReads(t, kept.Hash, keptData)
	for _, h := range kept.Chunks {
		require.True(t, e.hasChunk(t, h))
	}
	for _, o := range []content.Object{gone, partly} {
		_, err := e.store.Object(ctx, e.db, o.Hash)
		require.ErrorIs(t, err, errs.NotFound)
	}
	for _, h := range gone.Chunks {
		require.False(t, e.hasChunk(t, h))
	}
	require.True(t, e.hasChunk(t, partly.Chunks[0]), "a chunk another object still lists is kept")
	require.False(t, e.hasChunk(t, partly.Chunks[1]))
	var rows int
	require.NoError(t, e.db.QueryRow(`SELECT count(*) FROM content_object_chunks`).Scan(&rows))
	require.Equal(t, len(kept.Chunks), rows, "the chunk lists of deleted objects go with them")

	stats, err = e.store.GC(ctx, grace, r.referencer)
	require.NoError(t, err)
	require.Equal(t, content.GCStats{}, stats, "a second GC finds nothing")

	// Dropping the last reference frees the rest.
	r.remove(t, kept.Hash)
	stats, err = e.store.GC(ctx, grace, r.referencer)
	require.NoError(t, err)
	require.Equal(t, content.GCStats{Objects: 1, Chunks: 2, BytesFreed: kept.Size}, stats)
	require.Empty(t, e.chunkFiles(t))
}

func TestGCWithoutReferencersDeletesEveryObject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	obj := e.write(t, randomBytes(t, 10))
	require.NoError(t, e.store.Save(ctx, e.db, obj))
	age(t, e.disk, time.Hour, obj.Chunks...)
	stats, err := e.store.GC(ctx, grace)
	require.NoError(t, err)
	require.Equal(t, content.GCStats{Objects: 1, Chunks: 1, BytesFreed: 10}, stats)
}

func TestGCKeepsFreshChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	r := newRefs(t, e.db)

	t.Run("OfAnUnsavedWrite", func(t *testing.T) {
		data := randomBytes(t, mib+3)
		inFlight := e.write(t, data)
		stats, err := e.store.GC(ctx, grace, r.referencer)
		require.NoError(t, err)
		require.Zero(t, stats.Chunks, "chunks put within the grace period are kept")
		e.saveReferenced(t, r, inFlight)
		e.requireReads(t, inFlight.Hash, data)
	})

	t.Run("OfAWriteReusingOldChunks", func(t *testing.T) {
		data := randomBytes(t, 2*mib)
		old := e.write(t, data)
		require.NoError(t, e.store.Save(ctx, e.db, old)) // saved, never referenced
		age(t, e.disk, time.Hour, old.Chunks...)

		// A writer stores the same content again: its Puts find the old
		// chunks and refresh them.
		again := e.write(t, data)
		require.Equal(t, old, again)
		stats, err := e.store.GC(ctx, grace, r.referencer)
		require.NoError(t, err)
		require.Equal(t, 1, stats.Objects, "the unreferenced object row goes")
		require.Zero(t, stats.Chunks, "the chunks a writer just reused stay")
		e.saveReferenced(t, r, again)
		e.requireReads(t, again.Hash, data)

		// Control: had the writer not come, the aged chunks would have gone.
		r.remove(t, again.Hash)
		age(t, e.disk, time.Hour, again.Chunks...)
		stats, err = e.store.GC(ctx, grace, r.referencer)
		require.NoError(t, err)
		require.Equal(t, content.GCStats{Objects: 1, Chunks: 2, BytesFreed: 2 * mib}, stats)
	})

	t.Run("OfAConcatOfOldParts", func(t *testing.T) {
		a, b := randomBytes(t, 1000), randomBytes(t, mib+1)
		pa, pb := e.write(t, a), e.write(t, b)
		age(t, e.disk, time.Hour, append(pa.Chunks, pb.Chunks...)...)
		whole, err := e.store.Concat(ctx, []content.Object{pa, pb})
		require.NoError(t, err)
		stats, err := e.store.GC(ctx, grace, r.referencer)
		require.NoError(t, err)
		require.Zero(t, stats.Chunks, "Concat refreshes the chunks it reuses")
		e.saveReferenced(t, r, whole)
		e.requireReads(t, whole.Hash, append(a, b...))
	})

	t.Run("UntilTheyAge", func(t *testing.T) {
		data := randomBytes(t, 100)
		abandoned := e.write(t, data) // never saved
		stats, err := e.store.GC(ctx, grace, r.referencer)
		require.NoError(t, err)
		require.Zero(t, stats.Chunks)
		require.True(t, e.hasChunk(t, abandoned.Chunks[0]))
		age(t, e.disk, grace+time.Minute, abandoned.Chunks...)
		stats, err = e.store.GC(ctx, grace, r.referencer)
		require.NoError(t, err)
		require.Equal(t, content.GCStats{Chunks: 1, BytesFreed: 100}, stats)
		require.False(t, e.hasChunk(t, abandoned.Chunks[0]))
	})
}

func TestGCReferencerErrorDeletesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	obj := e.write(t, randomBytes(t, 100))
	require.NoError(t, e.store.Save(ctx, e.db, obj))
	age(t, e.disk, time.Hour, obj.Chunks...)
	boom := errors.New("versions table unreadable")
	_, err := e.store.GC(ctx, grace, func(context.Context, storage.DBTX, func(content.Hash) error) error { return boom })
	require.ErrorIs(t, err, boom)
	_, err = e.store.Object(ctx, e.db, obj.Hash)
	require.NoError(t, err, "a GC that cannot read every reference deletes nothing")
	require.True(t, e.hasChunk(t, obj.Chunks[0]))
}

// plainChunks is a ChunkStore without Sweep.
type plainChunks struct{ c content.ChunkStore }

func (p plainChunks) Put(ctx context.Context, h content.Hash, b []byte) error {
	return p.c.Put(ctx, h, b)
}
func (p plainChunks) Get(ctx context.Context, h content.Hash) ([]byte, error) { return p.c.Get(ctx, h) }
func (p plainChunks) Delete(ctx context.Context, h content.Hash) error        { return p.c.Delete(ctx, h) }
func (p plainChunks) Walk(ctx context.Context, fn func(content.Hash, time.Time) error) error {
	return p.c.Walk(ctx, fn)
}

func TestGCArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.store.GC(ctx, -time.Second)
	require.ErrorIs(t, err, errs.InvalidArgument)
	_, err = content.NewStore(e.db, plainChunks{e.disk}).GC(ctx, grace)
	require.ErrorIs(t, err, errs.FailedPrecondition, "GC refuses a chunk store that cannot sweep atomically")
}

// hookedChunks calls onWalk for each chunk Walk reports, just before GC
// sees it.
type hookedChunks struct {
	*content.DiskChunks
	onWalk func(h content.Hash)
}

func (c *hookedChunks) Walk(ctx context.Context, fn func(content.Hash, time.Time) error) error {
	return c.DiskChunks.Walk(ctx, func(h content.Hash, mt time.Time) error {
		c.onWalk(h)
		return fn(h, mt)
	})
}

// TestGCSparesAChunkReusedAfterItsTimeWasRead makes the race GC must win
// happen every time: a writer reuses an old, unlisted chunk after GC has read
// its modification time and before GC deletes it, and saves afterwards.
func TestGCSparesAChunkReusedAfterItsTimeWasRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	r := newRefs(t, e.db)
	data := randomBytes(t, 5000)
	old := e.write(t, data)
	require.NoError(t, e.store.Save(ctx, e.db, old)) // unreferenced: GC deletes its row
	age(t, e.disk, time.Hour, old.Chunks...)

	var inFlight content.Object
	hooked := &hookedChunks{DiskChunks: e.disk}
	s := content.NewStore(e.db, hooked)
	hooked.onWalk = func(h content.Hash) {
		if h != old.Chunks[0] || inFlight.Size != 0 {
			return
		}
		var err error
		inFlight, err = s.Write(ctx, bytes.NewReader(data), -1)
		require.NoError(t, err)
	}
	stats, err := s.GC(ctx, grace, r.referencer)
	require.NoError(t, err)
	require.Equal(t, old, inFlight, "the writer ran during the walk")
	require.Zero(t, stats.Chunks, "the chunk was put after GC read its time: it must stay")
	e.saveReferenced(t, r, inFlight)
	e.requireReads(t, inFlight.Hash, data)
}

// TestGCConcurrentWithWriters runs writers that save and drop references
// while GC runs in a loop with a short grace, then checks that every object
// still referenced reads back, before and after a final GC.
func TestGCConcurrentWithWriters(t *testing.T) {
	runGCConcurrentWithWriters(t, newEnv(t))
}

func runGCConcurrentWithWriters(t *testing.T, e *env) {
	ctx := context.Background()
	r := newRefs(t, e.db)
	const (
		// Longer than most saves take under -race on a busy 2-core
		// machine (waits for SQLite's write lock reach about 1 s), short
		// enough for chunks to age and be swept during the run. A save
		// slower than this breaks GC's contract; verify allows for it.
		shortGrace = time.Second
		writers    = 4
		phases     = 3
		phaseSize  = 120
		poolSize   = phases * phaseSize
	)
	const duration = 3 * time.Second

	// A pool of contents writers pick from, so chunks are reused, dropped,
	// aged and reused again. Every tenth spans two chunks, the first of
	// which (a common prefix) it shares with the other tenths. Writers draw
	// from one third of the pool per third of the run, so the contents of
	// the first third age past the grace and are swept while writers run
	// (on a fast machine a single small pool is rewritten too often for any
	// chunk to age).
	prefix := randomBytes(t, mib)
	pool := make([][]byte, poolSize)
	for i := range pool {
		switch {
		case i%10 == 0:
			pool[i] = append(append([]byte(nil), prefix...), randomBytes(t, 1+i)...)
		default:
			pool[i] = randomBytes(t, 1+rand.IntN(32<<10))
		}
	}

	var (
		mu       sync.Mutex
		expected = map[content.Hash][]byte{}        // every content ever saved
		took     = map[content.Hash]time.Duration{} // the slowest save of each
		saves    atomic.Int64
		gcStats  content.GCStats
		gcRuns   int
	)
	began := time.Now()
	deadline := began.Add(duration)
	pick := func(rng *rand.Rand) []byte {
		phase := min(phases-1, int(time.Since(began)*phases/duration))
		return pool[phase*phaseSize+rng.IntN(phaseSize)]
	}
	stop := make(chan struct{})
	var gcDone sync.WaitGroup
	gcDone.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			stats, err := e.store.GC(ctx, shortGrace, r.referencer)
			if err != nil {
				t.Errorf("GC: %v", err)
				return
			}
			gcRuns++
			gcStats.Objects += stats.Objects
			gcStats.Chunks += stats.Chunks
			gcStats.BytesFreed += stats.BytesFreed
			time.Sleep(5 * time.Millisecond)
		}
	})

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for time.Now().Before(deadline) {
				start := time.Now()
				var data []byte
				var obj content.Object
				var err error
				if rng.IntN(8) == 0 {
					// A chunked upload: two parts, then Concat.
					a, b := pick(rng), pick(rng)
					var pa, pb content.Object
					if pa, err = e.store.Write(ctx, bytes.NewReader(a), -1); err == nil {
						if pb, err = e.store.Write(ctx, bytes.NewReader(b), -1); err == nil {
							obj, err = e.store.Concat(ctx, []content.Object{pa, pb})
						}
					}
					data = append(append([]byte(nil), a...), b...)
				} else {
					data = pick(rng)
					obj, err = e.store.Write(ctx, bytes.NewReader(data), -1)
				}
				if err != nil {
					t.Errorf("write: %v", err)
					return
				}
				err = storage.InTx(ctx, e.db, func(tx *sql.Tx) error {
					if err := e.store.Save(ctx, tx, obj); err != nil {
						return err
					}
					return r.add(ctx, tx, obj.Hash)
				})
				if err != nil {
					t.Errorf("save: %v", err)
					return
				}
				d := time.Since(start)
				saves.Add(1)
				mu.Lock()
				expected[obj.Hash] = data
				took[obj.Hash] = max(took[obj.Hash], d)
				mu.Unlock()
				// Drop a random reference most of the time, so objects
				// become garbage while their content is still in the pool.
				if rng.IntN(10) < 7 {
					if _, err := e.db.Exec(`DELETE FROM test_refs WHERE hash = (SELECT hash FROM test_refs ORDER BY random() LIMIT 1)`); err != nil {
						t.Errorf("dropping a reference: %v", err)
						return
					}
				}
				time.Sleep(time.Duration(rng.IntN(4)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(stop)
	gcDone.Wait()
	require.False(t, t.Failed())
	var slowest time.Duration
	for _, d := range took {
		slowest = max(slowest, d)
	}
	t.Logf("%d saves, %d GC runs deleted %+v, slowest save %v", saves.Load(), gcRuns, gcStats, slowest)
	require.Positive(t, gcStats.Chunks, "the test must make GC delete chunks while writers run, or it proves nothing")

	verify := func(when string) {
		var live []content.Hash
		require.NoError(t, r.referencer(ctx, e.db, func(h content.Hash) error { live = append(live, h); return nil }))
		require.NotEmpty(t, live)
		for _, h := range live {
			obj, err := e.store.Object(ctx, e.db, h)
			require.NoError(t, err, "%s: referenced object %s", when, h)
			got, err := e.read(t, obj, 0, -1)
			if err != nil && took[h] > shortGrace {
				// The writer broke GC's contract (save within grace);
				// losing its content is then allowed.
				t.Logf("%s: object %s lost, but a save of it took %v, over the grace", when, h, took[h])
				continue
			}
			require.NoError(t, err, "%s: referenced object %s must read back", when, h)
			require.True(t, bytes.Equal(expected[h], got), "%s: object %s", when, h)
		}
	}
	verify("after the run")
	// No writer is in flight now, so even a zero grace must keep every
	// chunk a referenced object lists.
	_, err := e.store.GC(ctx, 0, r.referencer)
	require.NoError(t, err)
	verify("after a final GC with no grace")
}
