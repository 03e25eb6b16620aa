package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexus-authz/nexus/authz"
)

// loadStats is what a closed-loop run measured.
type loadStats struct {
	Ops     int           // operations that succeeded
	Tally   tally         // what the successful operations reported
	Errors  int           // operations that failed, shed ones included
	Shed    int           // of those, refused by admission control (isShed)
	Elapsed time.Duration // wall time of the measured phase
	P50     time.Duration // latency percentiles of the successful operations
	P99     time.Duration
	Max     time.Duration
}

// tally is what one operation reports about the decisions it made, for a
// scenario that checks permissions.
type tally struct {
	Decisions  int // decisions made (1 for a check, n for a bulk check of n)
	Allowed    int // of those, allowed
	Mismatches int // of those, different from the expected answer
	// Wait is time the operation spent held back by the workload (not
	// serving); it is left out of the operation's latency.
	Wait time.Duration
}

func (t *tally) add(o tally) {
	t.Decisions += o.Decisions
	t.Allowed += o.Allowed
	t.Mismatches += o.Mismatches
}

// PerSecond is the throughput of successful operations.
func (s loadStats) PerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ops) / s.Elapsed.Seconds()
}

// errNoneSucceeded: no operation completed in the measured window.
var errNoneSucceeded = errors.New("no operation succeeded in the measured window")

// runClosedLoop runs op from callers goroutines, each issuing its next
// operation as soon as the previous one returns, for warm+d. Only the
// A call shed by admission control (isShed) waits authz.RetryAfter before
// its caller goes on. Only the
// operations that complete inside the measured window [warm, warm+d) count,
// whenever they started: that is throughput = completions in the window / d,
// and their latencies make the percentiles. At the end of the window the
// context of the operations still running is cancelled and they are dropped,
// so the run ends on time whatever the latency. op gets the caller's index
// and a per-caller iteration count; it must be safe to call concurrently for
// different callers. A failed operation inside the window counts as an error
// and its caller goes on.
func runClosedLoop(ctx context.Context, callers int, warm, d time.Duration, op func(ctx context.Context, caller, iter int) (tally, error)) (loadStats, error) {
	type callerStats struct {
		lat    []time.Duration
		errors int
		shed   int
		tally  tally
	}
	per := make([]callerStats, callers)
	for i := range per {
		per[i].lat = make([]time.Duration, 0, 4096)
	}

	var wg sync.WaitGroup
	start := time.Now()
	measureFrom := start.Add(warm)
	end := measureFrom.Add(d)
	runCtx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			st := &per[c]
			for iter := 0; runCtx.Err() == nil; iter++ {
				t0 := time.Now()
				t, err := op(runCtx, c, iter)
				t1 := time.Now()
				if err != nil && isShed(err) {
					// A shed call comes back after the retry hint, as a
					// client should: without it the shed callers spin on
					// refusals and take the CPU from the admitted ones.
					select {
					case <-time.After(authz.RetryAfter):
					case <-runCtx.Done():
					}
				}
				if !t1.Before(end) {
					return // finished after the window (or cut off by its end)
				}
				if t1.Before(measureFrom) {
					continue // warm-up
				}
				if err != nil {
					st.errors++
					if isShed(err) {
						st.shed++
					}
					continue
				}
				st.lat = append(st.lat, t1.Sub(t0)-t.Wait)
				st.tally.add(t)
			}
		}(c)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return loadStats{}, err
	}

	var all []time.Duration
	stats := loadStats{Elapsed: d}
	for _, st := range per {
		all = append(all, st.lat...)
		stats.Errors += st.errors
		stats.Shed += st.shed
		stats.Tally.add(st.tally)
	}
	stats.Ops = len(all)
	if len(all) == 0 {
		return stats, fmt.Errorf("%w (%d failed)", errNoneSucceeded, stats.Errors)
	}
	slices.Sort(all)
	stats.P50 = percentile(all, 0.50)
	stats.P99 = percentile(all, 0.99)
	stats.Max = all[len(all)-1]
	return stats, nil
}

// isShed says whether err is a call refused by admission control: in
// process authz.ErrOverloaded, over the wire ResourceExhausted.
func isShed(err error) bool {
	return errors.Is(err, authz.ErrOverloaded) || status.Code(err) == codes.ResourceExhausted
}

// percentile returns the nearest-rank percentile of sorted, non-empty xs.
func percentile(xs []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	i = max(0, min(i, len(xs)-1))
	return xs[i]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// setupWorkers is how many writers a scenario's setup uses: writes that
// overlap share their commits (authz's group commit), so setting up takes
// a fraction of the time one writer would.
const setupWorkers = 16

// inParallel runs fn(0..n-1) on setupWorkers goroutines and returns the
// first error; after one, the rest are skipped.
func inParallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range setupWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					continue
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
