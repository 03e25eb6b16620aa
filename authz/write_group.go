package authz

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Group commit on the embedded default. Every write with a Log pays a
// SQLite commit, which is an fsync, and a write to the datastore, which is a
// round trip through SpiceDB's in-process gRPC server; one at a time, writers
// queue behind each other's. Instead, writers that arrive while a commit is
// under way wait in a queue, and the next commit takes them all (up to the
// group's size) in one log transaction and, as far as it can, one datastore
// write:
//
//   - each write is recorded and runs its hook in a savepoint of its own, in
//     arrival order; a write whose hook fails is rolled back alone and gets
//     its own error;
//   - the effective updates of the others are gathered and written to the
//     datastore together once all have run (earlier if a write has a
//     precondition, which must see every write before it, or touches a
//     relationship already gathered, which one SpiceDB write cannot take
//     twice);
//   - then each write's WithTokenTx runs with the token of the datastore
//     write that carried it, and the transaction commits.
//
// If anything fails that is not one write's own (the datastore write, a
// token hook, the commit), the datastore writes are taken back, and the
// group is retried one write at a time, so each caller still gets its own
// outcome; a failed commit (the disk) fails them all.
//
// The caller that finds no commit under way leads: it commits groups until
// its own write is in one, then hands the lead to the first writer still
// waiting.
//
// PostgreSQL needs none of this: records commit concurrently, and one drain
// of the outbox applies every pending record (outbox.go).

// groupTimeout bounds a group commit, which no caller's deadline does.
const groupTimeout = 30 * time.Second

// DefaultWriteGroup is how many writes one log commit takes at most.
const DefaultWriteGroup = 64

type writeGroups struct {
	max int

	mu      sync.Mutex // guards queue and leading
	queue   []*pendingWrite
	leading bool

	size prometheus.Histogram
}

func newWriteGroups(max int, reg prometheus.Registerer) *writeGroups {
	if max <= 0 {
		max = DefaultWriteGroup
	}
	g := &writeGroups{
		max: max,
		size: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nexus_authz_write_group_size",
			Help:    "Relationship writes committed together in one log transaction (embedded default): 1 when writes do not overlap.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
	}
	if reg != nil {
		reg.MustRegister(g.size)
	}
	return g
}

// pendingWrite is one caller's write, waiting for or in a group commit.
type pendingWrite struct {
	ctx     context.Context
	updates []Update
	o       writeOptions

	token   Token
	err     error
	done    chan struct{}
	lead    chan struct{} // closed when this waiter is to lead
	settled bool          // done is closed (read by the leader only)
}

func newPendingWrite(ctx context.Context, updates []Update, o writeOptions) *pendingWrite {
	return &pendingWrite{ctx: ctx, updates: updates, o: o, done: make(chan struct{}), lead: make(chan struct{})}
}

// writeGrouped queues w for a group commit and returns its result.
func (e *Engine) writeGrouped(w *pendingWrite) (Token, error) {
	g := e.groups
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if g.leading {
		g.mu.Unlock()
		select {
		case <-w.done:
			return w.token, w.err
		case <-w.lead:
		}
	} else {
		g.leading = true
		g.mu.Unlock()
	}
	// Lead: w is in the queue, so some group below takes it.
	for !w.settled {
		g.mu.Lock()
		n := min(len(g.queue), g.max)
		batch := make([]*pendingWrite, n)
		copy(batch, g.queue)
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.mu.Unlock()
		e.commitGroup(batch)
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return w.token, w.err
}

// commitGroup commits batch as one log transaction and settles each write.
func (e *Engine) commitGroup(batch []*pendingWrite) {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.commitLocked(batch)
}

// commitLocked commits writes in one log transaction, under writeMu, and
// settles each: its token or its error, and done closed.
func (e *Engine) commitLocked(writes []*pendingWrite) {
	start := time.Now()
	// head is a token for the writes that changed nothing: any fresh read
	// already sees the state they asked for. The group's newest datastore
	// write is fresh enough; without one, one revision read serves them all.
	var head headOnce
	if g := e.commitTogether(writes); g != nil {
		e.groups.size.Observe(float64(len(writes)))
		head = g.head
	} else {
		// Something not one write's own failed: one at a time, each
		// gets its own outcome.
		for _, w := range writes {
			w.token, w.err = "", nil
			e.groups.size.Observe(1)
			if g := e.commitTogether([]*pendingWrite{w}); g != nil && g.head.tok != "" {
				head = g.head
			}
		}
	}
	for _, w := range writes {
		if w.err == nil && w.token == "" {
			w.token, w.err = head.get(e, w.ctx)
		}
		e.metrics.observe("write", start, len(w.updates), w.err)
		w.settled = true
		close(w.done)
	}
}

// commitTogether commits writes in one log transaction and sets each one's
// token or error, and returns what it gathered. It returns nil, having
// undone everything, when the group failed as a whole for a reason other
// than the commit itself, and more than one write was in it: the caller
// retries them one by one.
func (e *Engine) commitTogether(writes []*pendingWrite) *gathered {
	// The transaction and the datastore writes are the group's: one
	// caller going away must not take the others' writes with it (each
	// caller's own statements and hooks use its own context, so a
	// cancelled caller fails alone).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(writes[0].ctx), groupTimeout)
	defer cancel()
	g := &gathered{e: e, ctx: ctx}
	logWrites := make([]*LogWrite, len(writes))
	for i, w := range writes {
		logWrites[i] = &LogWrite{Ctx: w.ctx, Updates: w.updates, Hook: g.hook(w), Apply: g.apply(w)}
	}
	finish := func(tx *sql.Tx) error {
		if err := g.flush(); err != nil {
			return err
		}
		for i, w := range writes {
			if logWrites[i].Err != nil || w.o.after == nil {
				continue
			}
			tok := w.token
			if tok == "" {
				// Nothing changed: the newest revision already has
				// this state.
				var err error
				if tok, err = g.head.get(e, ctx); err != nil {
					return err
				}
				w.token = tok
			}
			if err := w.o.after(ctx, tx, tok); err != nil {
				return err
			}
		}
		return nil
	}
	err := e.log.Commit(ctx, logWrites, finish)
	if err == nil && g.err != nil {
		err = g.err // a datastore write failed inside a write's turn
	}
	if err != nil {
		// Nothing is recorded: take back what the datastore has, newest
		// first, so no reader sees a relationship that would vanish at
		// restart.
		g.undo()
		if len(writes) > 1 && !errors.Is(err, ErrCommitFailed) {
			return nil
		}
		g.head = headOnce{} // its datastore writes are undone
	}
	for i, w := range writes {
		switch {
		case err != nil:
			w.err, w.token = err, ""
		case logWrites[i].Err != nil:
			w.err, w.token = logWrites[i].Err, ""
		}
	}
	return g
}

// headOnce is a token at the newest revision, read at most once.
type headOnce struct {
	tok Token
	err error
}

// get returns the token, reading the newest revision the first time (on a
// context the caller cannot cancel for the others who share it).
func (h *headOnce) get(e *Engine, ctx context.Context) (Token, error) {
	if h.tok == "" && h.err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
		defer cancel()
		h.tok, h.err = e.headToken(ctx)
	}
	return h.tok, h.err
}

// gathered is what a group commit has to write to the datastore: the
// effective updates of its writes, written together (flush).
type gathered struct {
	e       *Engine
	ctx     context.Context // the group's
	updates []Update
	keys    map[Relationship]bool
	writes  []*pendingWrite // whose updates are in updates
	applied [][]Update      // datastore writes done, in order, to undo
	head    headOnce        // the newest datastore write's token
	err     error           // a failed flush: the group fails as a whole
}

// hook is w's TxHook, with its precondition first: before it, what the
// group has gathered is written, so the precondition sees every write
// before w.
func (g *gathered) hook(w *pendingWrite) TxHook {
	pre, hook := w.o.pre, w.o.hook
	if pre == nil {
		return hook
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if err := g.flush(); err != nil {
			return err
		}
		if err := pre(ctx); err != nil {
			return err
		}
		if hook == nil {
			return nil
		}
		return hook(ctx, tx)
	}
}

// apply is w's Apply: its effective updates join the gathered ones.
func (g *gathered) apply(w *pendingWrite) func(tx *sql.Tx, effective []Update) error {
	return func(tx *sql.Tx, effective []Update) error {
		for _, u := range effective {
			if g.keys[u.Rel] {
				// One SpiceDB write takes a relationship once.
				if err := g.flush(); err != nil {
					return err
				}
				break
			}
		}
		if len(effective) == 0 {
			return nil
		}
		if g.keys == nil {
			g.keys = map[Relationship]bool{}
		}
		for _, u := range effective {
			g.keys[u.Rel] = true
		}
		g.updates = append(g.updates, effective...)
		g.writes = append(g.writes, w)
		return nil
	}
}

// flush writes what is gathered to the datastore and gives its token to
// the writes it carried. A failure fails the group.
func (g *gathered) flush() error {
	if g.err != nil {
		return g.err
	}
	if len(g.updates) == 0 {
		return nil
	}
	tok, err := g.e.applyUpdates(g.ctx, g.updates)
	if err != nil {
		g.err = err
		return err
	}
	g.applied = append(g.applied, g.updates)
	for _, w := range g.writes {
		w.token = tok
	}
	g.head = headOnce{tok: tok}
	g.updates, g.keys, g.writes = nil, nil, nil
	return nil
}

// undo takes back every datastore write of the group, newest first.
func (g *gathered) undo() {
	// On a context of its own: the group's may be what ran out.
	g.e.undo(g.ctx, g.applied)
	g.applied = nil
}

// applyUpdates writes updates to the datastore and evicts what they change
// from the cache. It returns the write's token, "" for no updates.
func (e *Engine) applyUpdates(ctx context.Context, updates []Update) (Token, error) {
	if len(updates) == 0 {
		return "", nil
	}
	token, err := e.writeRelationships(ctx, updates)
	if err != nil {
		return "", err
	}
	e.wrote(ctx, token, updateChanges(updates))
	return token, nil
}
