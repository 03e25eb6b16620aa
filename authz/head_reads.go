package authz

import (
	"context"
	"sync"
)

// Readers that settle entries (Engine.Settle, on PostgreSQL) need a token
// at a revision no older than the moment they found the outbox empty. Under
// load a thousand of them each read SpiceDB's newest revision at once, and
// those reads filled SpiceDB's connection pool, ahead of the checks (a
// make bench-pg listing at 1,000 callers went from 36 to 2 pages a second).
// One read answers every reader that asked before it began: headReads runs
// at most one read at a time, and a reader joins the next one to begin,
// never one already under way (which may predate what the reader saw).

type headReads struct {
	read func(context.Context) (Token, error)

	mu      sync.Mutex
	running bool
	next    *headRead // the readers waiting for the next read
}

type headRead struct {
	done    chan struct{}
	readers int // joined it (under headReads.mu)
	tok     Token
	err     error
}

// get returns a token from a read that began after get was called.
func (h *headReads) get(ctx context.Context) (Token, error) {
	h.mu.Lock()
	if h.next == nil {
		h.next = &headRead{done: make(chan struct{})}
	}
	r := h.next
	r.readers++
	if !h.running {
		h.running = true
		go h.run()
	}
	h.mu.Unlock()
	select {
	case <-r.done:
		return r.tok, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// run makes reads while readers wait for one, each on a context of its own
// (its readers' may end; the read is theirs together).
func (h *headReads) run() {
	for {
		h.mu.Lock()
		r := h.next
		h.next = nil
		if r == nil {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
		r.tok, r.err = h.read(ctx)
		cancel()
		close(r.done)
	}
}
