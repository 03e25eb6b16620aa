package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// zipfLoad is the workload: callers asking Zipf-distributed questions in a
// closed loop, and writers that make exactly 1% of the operations writes by
// toggling a viewer grant on a uniformly random file for a random user.
// The writers are clients of their own, as writes come from other requests
// than the hot reads: a caller blocked behind the engine's writes would
// otherwise measure the write path, not the checks. There are cacheWriters
// of them, so one slow write does not hold every check back. The two sides
// are paced by counters: the n-th write waits for 99·n checks, and the
// callers may run writeSlack checks ahead of 99 per write done; past that
// they wait for the writers, and that wait is not their latency.
type zipfLoad struct {
	e  *authz.Engine
	w  *world
	qs []question

	checks  atomic.Int64 // checks done
	started atomic.Int64 // checks started, less failed ones
	claimed atomic.Int64 // writes taken by a writer
	writes  atomic.Int64 // writes done
	// Closed and replaced (under sigMu) when checks pass a multiple of 99
	// (wakes the writers) and when a write is done (wakes the callers).
	sigMu     sync.Mutex
	checksSig atomic.Pointer[chan struct{}]
	writesSig atomic.Pointer[chan struct{}]
	latMu     sync.Mutex
	writeLat  []time.Duration // the writers', read after they stop
	readOnly  bool            // no writers, no pacing
}

func newZipfLoad(e *authz.Engine, w *world, qs []question) *zipfLoad {
	l := &zipfLoad{e: e, w: w, qs: qs}
	c, wr := make(chan struct{}), make(chan struct{})
	l.checksSig.Store(&c)
	l.writesSig.Store(&wr)
	return l
}

// signal wakes whoever waits on sig.
func (l *zipfLoad) signal(sig *atomic.Pointer[chan struct{}]) {
	next := make(chan struct{})
	l.sigMu.Lock()
	close(*sig.Swap(&next))
	l.sigMu.Unlock()
}

// await waits until ok holds, woken by sig; it reports false if ctx ended.
func await(ctx context.Context, sig *atomic.Pointer[chan struct{}], ok func() bool) bool {
	for {
		ch := *sig.Load() // before ok: a signal after ok's read closes it
		if ok() {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// writer runs until ctx ends.
func (l *zipfLoad) writer(ctx context.Context, id int) error {
	rng := rand.New(rand.NewPCG(99, uint64(98+id)))
	for {
		n := l.claimed.Add(1)
		if !await(ctx, &l.checksSig, func() bool { return l.checks.Load() >= (cacheWriteEvery-1)*n }) {
			return nil
		}
		f := l.w.files[rng.IntN(len(l.w.files))]
		u := authz.Subject("user", l.w.users[rng.IntN(len(l.w.users))])
		up := authz.TouchRel(authz.Rel(f.obj, "viewer", u))
		if rng.IntN(2) == 0 {
			up = authz.DeleteRel(up.Rel)
		}
		t0 := time.Now()
		if _, err := l.e.Write(ctx, []authz.Update{up}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		l.latMu.Lock()
		l.writeLat = append(l.writeLat, time.Since(t0))
		l.latMu.Unlock()
		l.writes.Add(1)
		l.signal(&l.writesSig)
	}
}

// run measures callers for warm+d with the writer running beside them; it
// returns the loop's stats and the fraction of operations that were writes.
func (l *zipfLoad) run(ctx context.Context, callers int, warm, d time.Duration) (loadStats, float64, error) {
	rngs := make([]*rand.Rand, callers)
	zipfs := make([]*rand.Zipf, callers)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(uint64(i), 77))
		zipfs[i] = rand.NewZipf(rngs[i], cacheZipfS, 1, uint64(len(l.qs)-1))
	}
	wctx, stop := context.WithCancel(ctx)
	var writers sync.WaitGroup
	werr := make(chan error, cacheWriters)
	if !l.readOnly {
		for i := range cacheWriters {
			writers.Go(func() { werr <- l.writer(wctx, i) })
		}
	}
	c0, w0 := l.checks.Load(), l.writes.Load()
	st, err := runClosedLoop(ctx, callers, warm, d, func(ctx context.Context, caller, iter int) (tally, error) {
		// Yield before each check, as a handler does when it goes back to
		// the network: a cache hit never blocks, and without this the
		// callers would keep the engine's, the watch's and the writers'
		// goroutines off the two cores for whole scheduler slices. The
		// time in the run queue is not the check's latency.
		var t tally
		g0 := time.Now()
		runtime.Gosched()
		t.Wait = time.Since(g0)
		// Hold back while the writers are behind 1% of the operations,
		// so the workload is what it says whatever the write path costs.
		if !l.readOnly {
			n := l.started.Add(1)
			ahead := func() bool { return n <= (cacheWriteEvery-1)*l.writes.Load()+writeSlack }
			if !ahead() {
				w0 := time.Now()
				if !await(ctx, &l.writesSig, ahead) {
					return tally{}, ctx.Err()
				}
				t.Wait += time.Since(w0)
			}
		}
		q := l.qs[zipfs[caller].Uint64()]
		dd, err := l.e.Check(ctx, q.item, authz.MinimizeLatency())
		if err != nil {
			// A failed check did not happen: give its place back, or
			// shed checks would starve the writers' pacing.
			if !l.readOnly {
				l.started.Add(-1)
			}
			return tally{}, err
		}
		if c := l.checks.Add(1); !l.readOnly && c%(cacheWriteEvery-1) == 0 {
			l.signal(&l.checksSig)
		}
		t.Decisions = 1
		if dd.Allowed {
			t.Allowed = 1
		}
		return t, nil
	})
	stop()
	writers.Wait()
	close(werr)
	for e := range werr {
		if e != nil && err == nil {
			err = fmt.Errorf("writer: %w", e)
		}
	}
	checks, writes := l.checks.Load()-c0, l.writes.Load()-w0
	slices.Sort(l.writeLat)
	return st, float64(writes) / float64(max(checks+writes, 1)), err
}

// newLoggedEngine opens an engine as `nexus serve` runs one: its
// relationships recorded in a SQLite log in a directory of its own on disk
// (every commit fsyncs), concurrent writes committed in groups. close
// closes the engine and removes the directory.
func newLoggedEngine(ctx context.Context, cfg authz.Config) (*authz.Engine, func(), error) {
	dir, err := os.MkdirTemp("", "nexus-bench-cache-*")
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "nexus.db"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	cleanup := func() { db.Close(); os.RemoveAll(dir) }
	if err := sqlite.MigrateAll(ctx, db, sqlite.Domain{Name: "authz", Migrations: authz.SQLiteMigrations()}); err != nil {
		cleanup()
		return nil, nil, err
	}
	cfg.Log = &authz.SQLLog{DB: db}
	e, err := authz.New(ctx, cfg)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	var once sync.Once
	return e, func() { once.Do(func() { e.Close(); cleanup() }) }, nil
}
