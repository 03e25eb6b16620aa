package authz

import (
	"context"
	"database/sql"
	"sync"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// Group commit on the embedded default. Every write with a Log pays a
// SQLite commit, which is an fsync; one at a time, writers queue behind each
// other's fsyncs. Instead, writers that arrive while a commit is under way
// wait in a queue, and the next commit takes them all (up to the group's
// size) in one transaction: each still runs its own precondition and hook,
// in a savepoint of its own, gets its own token and its own error, and is
// applied to the datastore in order, so each one's precondition sees every
// write before it. The caller that finds no commit under way leads: it
// commits groups until its own write is in one, then hands the lead to the
// first writer still waiting.
//
// PostgreSQL needs none of this: records commit concurrently, and one drain
// of the outbox applies every pending record (outbox.go).

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
	applied []Update // what it applied to the datastore, to undo on failure
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
	e.groups.size.Observe(float64(len(writes)))
	logWrites := make([]*LogWrite, len(writes))
	for i, w := range writes {
		logWrites[i] = &LogWrite{Ctx: w.ctx, Updates: w.updates, Hook: w.hook(), Apply: e.applyInLog(w)}
	}
	// The transaction is the group's: one caller going away must not take
	// the others' writes with it (each caller's statements use its own
	// context, so a cancelled caller fails alone).
	err := e.log.Commit(context.WithoutCancel(writes[0].ctx), logWrites)
	if err != nil {
		// Nothing is recorded: take back what the datastore has, newest
		// first, so no reader sees a relationship that would vanish at
		// restart.
		for i := len(writes) - 1; i >= 0; i-- {
			e.undo(writes[i])
		}
	}
	for i, w := range writes {
		switch {
		case err != nil:
			w.err, w.token = err, ""
		case logWrites[i].Err != nil:
			w.err, w.token = logWrites[i].Err, ""
		case w.token == "":
			// Nothing changed; any fresh read already sees the state
			// asked for.
			w.token, w.err = e.headToken(w.ctx)
		}
		e.metrics.observe("write", start, len(w.updates), w.err)
		w.settled = true
		close(w.done)
	}
}

// hook is w's TxHook, with its precondition first: run in w's turn of the
// group, after every earlier write of the group is applied.
func (w *pendingWrite) hook() TxHook {
	pre, hook := w.o.pre, w.o.hook
	if pre == nil {
		return hook
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if err := pre(ctx); err != nil {
			return err
		}
		if hook == nil {
			return nil
		}
		return hook(ctx, tx)
	}
}

// applyInLog is w's Apply in the log transaction: the effective updates
// go to the datastore, then w's WithTokenTx runs with the token. If that
// fails, the datastore's write is taken back before the log rolls w back.
func (e *Engine) applyInLog(w *pendingWrite) func(tx *sql.Tx, effective []Update) error {
	return func(tx *sql.Tx, effective []Update) error {
		tok, err := e.applyUpdates(w.ctx, effective)
		if err != nil {
			return err
		}
		w.token, w.applied = tok, effective
		if w.o.after == nil {
			return nil
		}
		if tok == "" {
			// Nothing changed: the newest revision already has this state.
			if tok, err = e.headToken(w.ctx); err != nil {
				e.undo(w)
				return err
			}
			w.token = tok
		}
		if err := w.o.after(w.ctx, tx, tok); err != nil {
			e.undo(w)
			return err
		}
		return nil
	}
}

// applyUpdates writes updates to the datastore and evicts what they change
// from the cache. It returns the write's token, "" for no updates.
func (e *Engine) applyUpdates(ctx context.Context, updates []Update) (Token, error) {
	if len(updates) == 0 {
		return "", nil
	}
	req := &v1.WriteRelationshipsRequest{Updates: make([]*v1.RelationshipUpdate, len(updates))}
	for i, u := range updates {
		req.Updates[i] = u.proto()
	}
	resp, err := e.perms.WriteRelationships(ctx, req)
	if err != nil {
		return "", wrapErr("write relationships", err)
	}
	token := Token(resp.GetWrittenAt().GetToken())
	e.wrote(ctx, token, updateChanges(updates))
	return token, nil
}

// undo takes back what w applied to the datastore, if anything.
func (e *Engine) undo(w *pendingWrite) {
	if len(w.applied) == 0 {
		return
	}
	if _, err := e.applyUpdates(context.WithoutCancel(w.ctx), invert(w.applied)); err != nil {
		e.logger.Error("authz: cannot undo a write whose log commit failed; restart to rebuild from the log", "err", err)
	}
	w.applied = nil
}
