package authz

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/authzed/spicedb/pkg/datastore"

	"github.com/nexus-authz/nexus/storage/postgres"
)

// Announced writes (PostgreSQL). A node's decision cache is fresh when its
// watch has processed every other node's change committed before a given
// time (probeLoop). Reading SpiceDB's newest revision and waiting for the
// watch to pass it makes the cache wait for the node's own writes too,
// which it has evicted already (cache_own.go): under load the watch is
// late with those, and the cache stopped answering although nobody else
// wrote. So every node announces its writes in authz_node_writes:
//
//   - before its first write to SpiceDB of a burst, under the outbox lock,
//     it sets its row pending and commits that (intend); while the burst
//     lasts the row stays pending, its time refreshed every ReplayInterval;
//   - once it has not written for settleAfter, it takes the outbox lock
//     (no write of its own is then under way), and records the newest
//     token it wrote and clears pending (settleIdle).
//
// A probe then reads the other nodes' rows: if one is pending, it falls
// back to waiting until the watch has processed every change SpiceDB
// committed before the probe (processedAll); otherwise every other node's change
// committed before the read is at or before the newest token in the rows,
// and the cache is fresh once its watch has processed that. A change is
// announced (committed pending) before it is made and cleared only after,
// so a row that is not pending covers every change its node made. A node
// that dies mid-burst leaves its row pending, and the others fall back
// until its row is pruned (pendingKeptFor after its last refresh); one
// that closes settles its row first (Engine.Close).
//
// One commit more per burst of writes, not per write: a node that writes
// steadily keeps its row pending, and the other nodes' probes wait for
// every change SpiceDB committed, as they did before rows were announced.

// settleAfter is how long a node must not have written before it clears
// its row.
const settleAfter = 200 * time.Millisecond

// How long rows are kept: a settled row until its node has not written for
// an hour (every running watch processed its changes long ago); a pending
// one until its node has not refreshed it for ten minutes (it died
// mid-burst: it refreshes every ReplayInterval while alive).
const (
	settledKeptFor = "1 hour"
	pendingKeptFor = "10 minutes"
)

// nodeState is what a node knows of its own row; its writes and
// settleIdle change it only with the outbox lock held.
type nodeState struct {
	mu        sync.Mutex
	pending   bool      // the row is pending, committed
	newest    Token     // the newest token written since the row was settled
	lastWrite time.Time // when the last write under the lock ended
}

// intend announces that this node is about to write to SpiceDB, unless its
// row is pending already. The outbox lock is held.
func (o *outbox) intend(ctx context.Context) error {
	o.self.mu.Lock()
	defer o.self.mu.Unlock()
	if o.self.pending {
		return nil
	}
	if _, err := o.db.ExecContext(ctx, `INSERT INTO authz_node_writes (node, pending) VALUES (?, true)
		ON CONFLICT (node) DO UPDATE SET pending = true, at = now()`, o.node); err != nil {
		return fmt.Errorf("authz: announcing a write: %w", err)
	}
	o.self.pending = true
	return nil
}

// wroteUnderLock notes the token of this node's latest write to SpiceDB,
// made with the outbox lock held: "" if it cannot name one (a write that
// failed may have reached SpiceDB all the same), and settleIdle then
// records SpiceDB's newest revision.
func (o *outbox) wroteUnderLock(tok Token) {
	o.self.mu.Lock()
	defer o.self.mu.Unlock()
	o.self.newest = tok
	o.self.lastWrite = time.Now()
}

// settleIdle refreshes this node's pending row, or settles it if the node
// has not written for settleAfter; called every ReplayInterval.
func (o *outbox) settleIdle(ctx context.Context) error { return o.settle(ctx, false) }

// settle settles this node's pending row if it has not written for
// settleAfter or, closing, at once (a write still under way holds the lock
// until it has ended; one begun after marks the row pending again).
// Otherwise it refreshes the row's time.
func (o *outbox) settle(ctx context.Context, closing bool) error {
	o.self.mu.Lock()
	pending, idle := o.self.pending, closing || time.Since(o.self.lastWrite) >= settleAfter
	o.self.mu.Unlock()
	if !pending {
		return nil
	}
	if !idle {
		if _, err := o.db.ExecContext(ctx, `UPDATE authz_node_writes SET at = now() WHERE node = ?`, o.node); err != nil {
			return fmt.Errorf("authz: refreshing this node's announced writes: %w", err)
		}
		return nil
	}
	tx, err := o.lock(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	o.self.mu.Lock()
	defer o.self.mu.Unlock()
	tok := o.self.newest
	if tok == "" {
		// A write that failed after its announcement may have reached
		// SpiceDB: every change so far is at or before the newest revision.
		if tok, err = o.e.headToken(ctx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE authz_node_writes SET pending = false, token = ?, at = now() WHERE node = ?`, string(tok), o.node); err != nil {
		return fmt.Errorf("authz: settling this node's announced writes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("authz: settling this node's announced writes: %w", err)
	}
	o.self.pending, o.self.newest = false, ""
	return nil
}

// othersNewest returns the newest revision the other nodes' announced
// writes reached (nil if none wrote), or pending if one of them may be
// writing now or a token cannot be read: then only every change SpiceDB
// committed will do (processedAll).
func (o *outbox) othersNewest(ctx context.Context) (rev datastore.Revision, pending bool, err error) {
	rows, err := o.db.QueryContext(ctx, `SELECT token, pending FROM authz_node_writes WHERE node <> ?`, o.node)
	if err != nil {
		return nil, false, fmt.Errorf("authz: reading the nodes' writes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tok string
		var p bool
		if err := rows.Scan(&tok, &p); err != nil {
			return nil, false, fmt.Errorf("authz: reading the nodes' writes: %w", err)
		}
		if p {
			return nil, true, nil
		}
		if tok == "" {
			continue
		}
		r, ok := o.e.revision(Token(tok))
		if !ok {
			return nil, true, nil
		}
		if rev == nil || atLeast(r, rev) {
			rev = r
		}
	}
	return rev, false, rows.Err()
}

// snapshotText matches a PostgreSQL revision's snapshot as text
// (xmin:xmax:xip,...), which PostgreSQL reads as a pg_snapshot.
var snapshotText = regexp.MustCompile(`^[0-9]+:[0-9]+:[0-9,]*$`)

// processedAll reports whether a watch that has processed the changes up to
// done has processed every change SpiceDB committed before now. SpiceDB's
// newest revision will not do for that: it is PostgreSQL's current
// snapshot, which every transaction of the cluster moves on (our own rows,
// this table's), while the watch moves only with SpiceDB's transactions;
// after another write than SpiceDB's the watch would never reach it.
func (o *outbox) processedAll(ctx context.Context, done datastore.Revision) (bool, error) {
	ds, ok := done.(interface{ DebugString() string })
	var snap string
	if ok {
		snap = ds.DebugString()
	}
	if !snapshotText.MatchString(snap) {
		return false, fmt.Errorf("authz: a revision that is not a PostgreSQL snapshot: %v", done)
	}
	var all bool
	err := o.db.QueryRowContext(ctx, `SELECT NOT EXISTS (SELECT 1 FROM `+postgres.SpiceDBSchema+`.relation_tuple_transaction
		WHERE xid >= pg_snapshot_xmin(?::pg_snapshot) AND NOT pg_visible_in_snapshot(xid, ?::pg_snapshot)
		AND pg_visible_in_snapshot(xid, pg_current_snapshot()))`, snap, snap).Scan(&all)
	if err != nil {
		return false, fmt.Errorf("authz: reading SpiceDB's transactions: %w", err)
	}
	return all, nil
}

// pruneNodes removes the rows of nodes that stopped: settled ones an hour
// after their last write (every running watch has processed it), pending
// ones ten minutes after their last refresh (the node died mid-burst, and
// must not keep the others on the slow path for ever).
func (o *outbox) pruneNodes(ctx context.Context) error {
	if _, err := o.db.ExecContext(ctx, `DELETE FROM authz_node_writes WHERE node <> ? AND (
		(NOT pending AND at < now() - interval '`+settledKeptFor+`') OR (pending AND at < now() - interval '`+pendingKeptFor+`'))`, o.node); err != nil {
		return fmt.Errorf("authz: pruning the nodes' writes: %w", err)
	}
	return nil
}

// locked runs write, which writes to SpiceDB and returns its token, under
// the outbox lock and announced: for the writes that are not relationship
// writes (the schema).
func (o *outbox) locked(ctx context.Context, write func(context.Context) (Token, error)) (Token, error) {
	tx, err := o.lock(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback() }()
	if err := o.intend(ctx); err != nil {
		return "", err
	}
	tok, err := write(ctx)
	o.wroteUnderLock(tok)
	return tok, err
}
