// Package coalesce shares reads among callers that may all take the same
// answer, without ever giving a caller an answer older than its question.
//
// Under load many callers read the same thing at once: the newest revision
// of a datastore, the row of a busy API key. Each read costs a round trip
// and a connection, and a thousand of them fill a pool ahead of the work
// they serve. A plain singleflight would share a read already under way,
// but that read may have begun before the caller's question (before a
// revocation it must see, say). Reads shares only reads that begin after
// every caller they answer asked: at most one read of a key runs at a time,
// and a caller joins the next one to begin, never one under way.
package coalesce

import (
	"context"
	"sync"
	"time"
)

// Reads coalesces reads per key. The zero value is not usable: set Read.
type Reads[K comparable, V any] struct {
	// Read reads key. It runs on a context of its own, bounded by Timeout
	// (its callers' contexts may end; the read is theirs together).
	Read func(ctx context.Context, key K) (V, error)
	// Timeout bounds each read; zero means 30 seconds.
	Timeout time.Duration

	mu   sync.Mutex
	keys map[K]*read[V] // keys with a reader running: the callers waiting for its next read (nil: none)
}

type read[V any] struct {
	done    chan struct{}
	callers int // joined it (under Reads.mu)
	v       V
	err     error
}

// Get returns the answer of a read of key that began after Get was called,
// shared with every other caller waiting for the same read. A caller whose
// context ends gets the context's error; the read goes on for the others.
func (r *Reads[K, V]) Get(ctx context.Context, key K) (V, error) {
	r.mu.Lock()
	if r.keys == nil {
		r.keys = map[K]*read[V]{}
	}
	next, running := r.keys[key]
	if next == nil {
		next = &read[V]{done: make(chan struct{})}
		r.keys[key] = next
	}
	next.callers++
	if !running {
		go r.run(key)
	}
	r.mu.Unlock()
	select {
	case <-next.done:
		return next.v, next.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// run makes reads of key while callers wait for one.
func (r *Reads[K, V]) run(key K) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	for {
		r.mu.Lock()
		next := r.keys[key]
		if next == nil {
			delete(r.keys, key)
			r.mu.Unlock()
			return
		}
		r.keys[key] = nil // running; callers from now on wait for the read after this one
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		next.v, next.err = r.Read(ctx, key)
		cancel()
		close(next.done)
	}
}

// Waiting reports how many callers wait for the next read of key (for tests
// that must know callers have joined before they let a read finish).
func (r *Reads[K, V]) Waiting(key K) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if next := r.keys[key]; next != nil {
		return next.callers
	}
	return 0
}
