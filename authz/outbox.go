package authz

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nexus-authz/nexus/internal/coalesce"
	"github.com/nexus-authz/nexus/storage"
)

// On PostgreSQL a caller's rows live in our tables and its relationships in
// SpiceDB's, written by two transactions. The outbox makes the pair one
// truth:
//
//  1. record: the caller's rows (its TxHook) and the write's operations, as
//     one row of authz_outbox, commit together. From here the write will
//     happen: nothing after this point can take it back.
//  2. drain: under one lock for the whole database (a transaction-level
//     advisory lock, so PgBouncer's transaction pooling keeps it), every
//     pending row is applied to SpiceDB, oldest first, and deleted in the
//     same transaction, which also records the caller's token (WithTokenTx)
//     under a savepoint.
//
// Applying is idempotent (touch, delete, delete-by-filter), so a row applied
// and then left behind by a crash before its delete is applied again
// harmlessly. Rows are applied in id order under the lock, and every write
// drains what is pending before its own, so a row a crash left behind is
// applied before any later write of any node — never after it, where it
// could undo it. A crash leaves at worst rows that are committed but whose
// relationships are not yet there (fail closed: nobody gains access), until
// the next write, the background replay (every second), or the next start
// applies them.
//
// Between the two steps other callers can see the rows without their
// relationships, for a few milliseconds (an entry they cannot yet open, a
// deleted entry whose relationships are still there but that has no row to
// open, a moved entry still checked under its old parent).

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// PostgresMigrations are the outbox's tables on PostgreSQL (domain "authz").
func PostgresMigrations() fs.FS {
	return storage.Migrations(postgresMigrations, "migrations/postgres")
}

// outboxOp is one operation of a recorded write.
type outboxOp struct {
	Op     string        `json:"op"` // opTouch, opDelete or opDeleteMatching
	Rel    *Relationship `json:"rel,omitempty"`
	Filter *Filter       `json:"filter,omitempty"`
}

const (
	opTouch          = "touch"
	opDelete         = "delete"
	opDeleteMatching = "delete_matching"
)

func updateOps(updates []Update) []outboxOp {
	ops := make([]outboxOp, len(updates))
	for i, u := range updates {
		r := u.Rel
		ops[i] = outboxOp{Op: opTouch, Rel: &r}
		if u.Op == Delete {
			ops[i].Op = opDelete
		}
	}
	return ops
}

func filterOps(filters []Filter) []outboxOp {
	ops := make([]outboxOp, len(filters))
	for i := range filters {
		f := filters[i]
		ops[i] = outboxOp{Op: opDeleteMatching, Filter: &f}
	}
	return ops
}

// outboxLock is the advisory lock key under which rows are applied
// ("nexus_ob").
const outboxLock int64 = 0x6e657875735f6f62

// drainBatch is how many rows one drain transaction applies at most.
const drainBatch = 500

// ReplayInterval is how often each node looks for rows a crash left behind.
const ReplayInterval = time.Second

type outbox struct {
	db     *sql.DB
	e      *Engine
	logger *slog.Logger
	node   string    // this engine's row in authz_node_writes (node_writes.go)
	self   nodeState // what it knows of that row
	// heads are Settle's reads of the newest revision. Under load a
	// thousand settling readers each read it at once, and those reads
	// filled SpiceDB's connection pool ahead of the checks (a make bench-pg
	// listing at 1,000 callers went from 36 to 2 pages a second); one read
	// that began after them answers them all.
	heads coalesce.Reads[struct{}, Token]

	applied, replayed, dead prometheus.Counter
	stale                   prometheus.Gauge
}

func newOutbox(db *sql.DB, e *Engine, reg prometheus.Registerer) *outbox {
	o := &outbox{
		db: db, e: e, logger: e.logger, node: uuid.NewString(),
		heads: coalesce.Reads[struct{}, Token]{
			Read:    func(ctx context.Context, _ struct{}) (Token, error) { return e.headToken(ctx) },
			Timeout: groupTimeout,
		},
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nexus_authz_outbox_applied_total",
			Help: "Recorded relationship writes applied to SpiceDB (PostgreSQL mode).",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nexus_authz_outbox_replayed_total",
			Help: "Recorded relationship writes applied by the start-up or background replay: left behind by a crash or a lost connection.",
		}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nexus_authz_outbox_dead_total",
			Help: "Recorded relationship writes SpiceDB refused for good, moved to authz_outbox_dead (their rows have no relationships: nobody can open them).",
		}),
		stale: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nexus_authz_outbox_stale",
			Help: "Recorded relationship writes pending for more than a second at the last look (every second): more than a few, for long, means SpiceDB cannot be written.",
		}),
	}
	if reg != nil {
		reg.MustRegister(o.applied, o.replayed, o.dead, o.stale)
	}
	return o
}

// write records ops with hook's rows, then applies everything pending up to
// them. after, if set, runs in the drain's transaction with the token; an
// error from it is logged, not returned (it may only record the token).
// ops is called after hook.
func (o *outbox) write(ctx context.Context, ops func() []outboxOp, hook TxHook, after func(context.Context, *sql.Tx, Token) error) (Token, error) {
	id, recorded, err := o.record(ctx, ops, hook)
	if err != nil {
		return "", err
	}
	failpoint("outbox-recorded", recorded)
	// The write is committed: finish it even if the caller goes away (a
	// record left pending would wait for the replay, up to a second or
	// two).
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	return o.drain(dctx, id, after)
}

// Settle applies every relationship write recorded but not yet applied and
// returns a token at which they are all visible. On the embedded default
// (no outbox) it returns "".
func (e *Engine) Settle(ctx context.Context) (Token, error) {
	if e.outbox == nil {
		return "", nil
	}
	// A write's row leaves the outbox in the transaction that follows
	// its application: with none there, everything recorded is applied,
	// and the reader need not queue for the cluster's outbox lock behind
	// the writers (under load it waited past its deadline ~1,500 times in
	// a make bench-pg run).
	pending, err := e.outbox.hasPending(ctx)
	if err != nil {
		return "", err
	}
	if pending {
		if _, err := e.outbox.drain(ctx, settling, nil); err != nil {
			return "", err
		}
	}
	tok, err := e.outbox.heads.Get(ctx, struct{}{})
	return e.stamp(ctx, tok, err)
}

// settling is the own of a drain for Settle: no row of its own, and the
// rows it applies are live writes, not counted as replayed.
const settling = -1

// drainTimeout bounds how long a writer waits to apply its recorded write
// once its caller has gone; what is not applied by then is replayed.
const drainTimeout = 10 * time.Second

func (o *outbox) record(ctx context.Context, opsOf func() []outboxOp, hook TxHook) (int64, []outboxOp, error) {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("authz: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if hook != nil {
		if err := hook(ctx, tx); err != nil {
			return 0, nil, err
		}
	}
	ops := opsOf()
	text, err := json.Marshal(ops)
	if err != nil {
		return 0, nil, fmt.Errorf("authz: encoding a write: %w", err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO authz_outbox (ops) VALUES (?) RETURNING id`, string(text)).Scan(&id); err != nil {
		return 0, nil, fmt.Errorf("authz: recording a write: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("authz: %w", err)
	}
	return id, ops, nil
}

// drain applies pending rows until every row up to own is applied (own 0 or
// settling: until none is left), and returns a token at least as fresh as own's
// write.
func (o *outbox) drain(ctx context.Context, own int64, after func(context.Context, *sql.Tx, Token) error) (Token, error) {
	for {
		tok, done, err := o.drainOnce(ctx, own, after)
		if err != nil || done {
			return tok, err
		}
	}
}

type outboxRow struct {
	id      int64
	text    string
	ops     []outboxOp
	created time.Time
}

// drainOnce applies up to drainBatch pending rows in one transaction. done
// reports that nothing up to own (or nothing at all, for own 0) is left.
func (o *outbox) drainOnce(ctx context.Context, own int64, after func(context.Context, *sql.Tx, Token) error) (tok Token, done bool, err error) {
	tx, err := o.lock(ctx)
	if err != nil {
		return "", false, err
	}
	defer func() { _ = tx.Rollback() }()
	tok, ownErr, n, last, err := o.applyPending(ctx, tx, own)
	if err != nil {
		return "", false, err
	}
	done = n < drainBatch || (own > 0 && last >= own)
	if tok == "" && own > 0 && ownErr == nil {
		// Another writer applied our row before we had the lock, and
		// committed (we see it gone): the newest revision has it.
		if tok, err = o.e.headToken(ctx); err != nil {
			return "", false, err
		}
	}
	if done && own > 0 && after != nil && ownErr == nil {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT nexus_after`); err != nil {
			return "", false, fmt.Errorf("authz: %w", err)
		}
		if err := after(ctx, tx, tok); err != nil {
			o.logger.Warn("authz: the write is applied, but recording its token failed", "err", err)
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT nexus_after`); err != nil {
				return "", false, fmt.Errorf("authz: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return "", false, fmt.Errorf("authz: %w", err)
	}
	if ownErr != nil {
		return "", true, ownErr
	}
	return tok, done, nil
}

// lock begins a transaction holding the outbox lock.
func (o *outbox) lock(ctx context.Context) (*sql.Tx, error) {
	// The transaction ends by the caller's Commit or Rollback, never by
	// ctx: database/sql would roll it back behind the caller's back when
	// ctx ends, after the caller may have applied rows it must commit.
	// Waiting for the lock does end with ctx.
	tx, err := o.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, outboxLock); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("authz: waiting for the outbox lock: %w", err)
	}
	return tx, nil
}

// applyPending applies up to drainBatch pending rows, oldest first, and
// deletes them in tx, which holds the lock. It returns the newest token,
// SpiceDB's error for row own if it refused it for good, how many rows it
// saw and the last one's id.
func (o *outbox) applyPending(ctx context.Context, tx *sql.Tx, own int64) (tok Token, ownErr error, n int, last int64, err error) {
	rows, err := o.pending(ctx, tx)
	if err != nil || len(rows) == 0 {
		return "", nil, 0, 0, err
	}
	if err := o.intend(ctx); err != nil {
		return "", nil, 0, 0, err
	}
	defer func() {
		if err != nil {
			o.wroteUnderLock("") // some may have reached SpiceDB
		} else {
			o.wroteUnderLock(tok)
		}
	}()
	ids := make([]any, 0, len(rows))
	for _, r := range rows {
		t, err := o.apply(ctx, r.ops)
		switch {
		case errors.Is(err, ErrInvalid):
			// Refused for good: keep it for the operator and go on, so one
			// bad row cannot stop every write of every node.
			o.logger.Error("authz: SpiceDB refused a recorded write; moved to authz_outbox_dead, its rows have no relationships", "outbox_id", r.id, "err", err)
			if _, derr := tx.ExecContext(ctx, `INSERT INTO authz_outbox_dead (id, ops, error, created_at) VALUES (?, ?, ?, ?)`, r.id, r.text, err.Error(), r.created); derr != nil {
				return "", nil, 0, 0, fmt.Errorf("authz: %w", derr)
			}
			o.dead.Inc()
			if r.id == own {
				ownErr = err
			}
		case err != nil:
			return "", nil, 0, 0, err // applied rows stay pending: applying again is harmless
		default:
			tok = t
			o.applied.Inc()
			if own == 0 {
				o.replayed.Inc()
			}
		}
		failpoint("outbox-applied", r.ops)
		ids = append(ids, r.id)
	}
	q := `DELETE FROM authz_outbox WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
	if _, err := tx.ExecContext(ctx, q, ids...); err != nil {
		return "", nil, 0, 0, fmt.Errorf("authz: %w", err)
	}
	return tok, ownErr, len(rows), rows[len(rows)-1].id, nil
}

// writeDirect applies a write that has no rows of its own (no hook, no
// token to record) under the lock, after everything pending, with no
// record: pre, if set, runs under the lock too, so what it reads (SpiceDB,
// fully consistent) no write of any node changes before this one is
// applied. This is how the SpiceDB API's preconditions and CREATE hold
// across nodes.
func (o *outbox) writeDirect(ctx context.Context, ops []outboxOp, pre func(context.Context) error) (Token, error) {
	return o.underLock(ctx, pre, func(ctx context.Context) (Token, error) { return o.apply(ctx, ops) })
}

// underLock runs do under the lock, after everything pending and pre (if
// set), on a context the caller cannot cancel, bounded like a drain: what
// do applies must commit, whether or not the caller waits.
func (o *outbox) underLock(ctx context.Context, pre func(context.Context) error, do func(context.Context) (Token, error)) (Token, error) {
	tx, err := o.lock(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback() }()
	// From here on what is applied must commit, whether or not the caller
	// waits: a pending row applied but left in the outbox would be applied
	// again after this write and undo it. So the rest runs on a context the
	// caller cannot cancel, bounded like a drain; a caller gone before its
	// own write gets its context's error and the write is not made.
	caller := ctx
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	for {
		_, _, n, _, err := o.applyPending(ctx, tx, 0)
		if err != nil {
			return "", err
		}
		if n < drainBatch {
			break
		}
	}
	var tok Token
	if err = caller.Err(); err == nil && pre != nil {
		err = pre(ctx)
	}
	if err == nil {
		err = o.intend(ctx)
		if err == nil {
			tok, err = do(ctx)
			if err != nil {
				tok = "" // it may have reached SpiceDB: settle at the newest revision
			}
			o.wroteUnderLock(tok)
		}
	}
	// Commit what was pending and applied, whatever became of this write.
	if cerr := tx.Commit(); cerr != nil && err == nil {
		err = fmt.Errorf("authz: %w", cerr)
	}
	return tok, err
}

// hasPending reports whether any recorded write waits to be applied.
func (o *outbox) hasPending(ctx context.Context) (bool, error) {
	var pending bool
	if err := o.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM authz_outbox)`).Scan(&pending); err != nil {
		return false, fmt.Errorf("authz: reading the outbox: %w", err)
	}
	return pending, nil
}

func (o *outbox) pending(ctx context.Context, tx *sql.Tx) ([]outboxRow, error) {
	rs, err := tx.QueryContext(ctx, `SELECT id, ops, created_at FROM authz_outbox ORDER BY id LIMIT ?`, drainBatch)
	if err != nil {
		return nil, fmt.Errorf("authz: reading the outbox: %w", err)
	}
	defer rs.Close()
	var out []outboxRow
	for rs.Next() {
		var r outboxRow
		if err := rs.Scan(&r.id, &r.text, &r.created); err != nil {
			return nil, fmt.Errorf("authz: reading the outbox: %w", err)
		}
		if err := json.Unmarshal([]byte(r.text), &r.ops); err != nil {
			return nil, fmt.Errorf("authz: outbox row %d is not a write this build can read: %w", r.id, err)
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// apply applies one row's operations to SpiceDB: consecutive touches and
// deletes in one WriteRelationships, each filter by DeleteRelationships
// until nothing matches. Every operation is idempotent.
func (o *outbox) apply(ctx context.Context, ops []outboxOp) (Token, error) {
	var tok Token
	var batch []*v1.RelationshipUpdate
	var rels []Relationship
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		resp, err := o.e.perms.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: batch})
		batch = nil
		if err != nil {
			return wrapErr("write relationships", err)
		}
		tok = Token(resp.GetWrittenAt().GetToken())
		o.e.wrote(ctx, tok, changes{rels: rels})
		rels = nil
		return nil
	}
	for _, op := range ops {
		switch op.Op {
		case opTouch, opDelete:
			if op.Rel == nil {
				return "", fmt.Errorf("%w: outbox %s without a relationship", ErrInvalid, op.Op)
			}
			u := Update{Op: Touch, Rel: *op.Rel}
			if op.Op == opDelete {
				u.Op = Delete
			}
			batch = append(batch, u.proto())
			rels = append(rels, u.Rel)
		case opDeleteMatching:
			if err := flush(); err != nil {
				return "", err
			}
			if op.Filter == nil {
				return "", fmt.Errorf("%w: outbox delete without a filter", ErrInvalid)
			}
			for {
				resp, err := o.e.perms.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
					RelationshipFilter:            op.Filter.proto(),
					OptionalLimit:                 maxUpdatesPerWrite,
					OptionalAllowPartialDeletions: true,
				})
				if err != nil {
					return "", wrapErr("delete relationships", err)
				}
				tok = Token(resp.GetDeletedAt().GetToken())
				if resp.GetDeletionProgress() != v1.DeleteRelationshipsResponse_DELETION_PROGRESS_PARTIAL {
					break
				}
			}
			o.e.wrote(ctx, tok, changes{filters: []Filter{*op.Filter}})
		default:
			return "", fmt.Errorf("%w: unknown outbox operation %q", ErrInvalid, op.Op)
		}
	}
	if err := flush(); err != nil {
		return "", err
	}
	return tok, nil
}

// replay applies, every ReplayInterval, rows pending for more than a
// second: left behind by a crashed or disconnected writer (live writers
// apply their own within milliseconds).
func (o *outbox) replay(ctx context.Context) {
	t := time.NewTicker(ReplayInterval)
	defer t.Stop()
	ticks := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var stale int
		err := o.db.QueryRowContext(ctx, `SELECT count(*) FROM authz_outbox WHERE created_at < now() - interval '1 second'`).Scan(&stale)
		if err == nil {
			o.stale.Set(float64(stale))
		}
		if err == nil && stale > 0 {
			_, err = o.drain(ctx, 0, nil)
		}
		if err != nil && ctx.Err() == nil {
			o.logger.Warn("authz: replaying the outbox failed; retrying", "err", err)
		}
		if err := o.settleIdle(ctx); err != nil && ctx.Err() == nil {
			o.logger.Warn("authz: cannot settle this node's announced writes; other nodes' caches wait for every change SpiceDB committed until it can", "err", err)
		}
		if ticks++; ticks%60 == 0 {
			if err := o.pruneNodes(ctx); err != nil && ctx.Err() == nil {
				o.logger.Warn("authz: cannot prune the rows of nodes gone", "err", err)
			}
		}
	}
}
