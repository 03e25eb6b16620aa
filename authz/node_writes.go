package authz

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/authzed/spicedb/pkg/datastore"
)

// Announced writes (PostgreSQL). A node's decision cache is fresh when its
// watch has processed every other node's change committed before a given
// time (probeLoop). Reading SpiceDB's newest revision and waiting for the
// watch to pass it makes the cache wait for the node's own writes too,
// which it has evicted already (cache_own.go): under load the watch is
// late with those, and the cache stopped answering although nobody else
// wrote. So every node announces its writes in authz_node_writes:
//
//   - before it writes to SpiceDB under the outbox lock, it sets its row
//     pending and commits that (intend);
//   - in the lock's transaction, once its writes are made, it clears
//     pending and records the newest token it wrote (settle), or SpiceDB's
//     newest revision if it cannot tell (a write that failed after intend).
//
// A probe then reads the other nodes' rows: if one is pending, it falls
// back to SpiceDB's newest revision; otherwise every other node's change
// committed before the read is at or before the newest token in the rows,
// and the cache is fresh once its watch has processed that. A change is
// announced (committed pending) before it is made and cleared only after,
// so a row that is not pending covers every change its node made: a node
// that dies mid-write leaves its row pending, and the others fall back
// until its row is pruned (an hour after it last wrote).

// nodeRowsKeptFor is how long the row of a node that stopped writing is
// kept before another node's start removes it.
const nodeRowsKeptFor = "1 hour"

// intend announces that this node is about to write to SpiceDB. It is
// called with the outbox lock held, so no settle of this node's runs
// between it and the write.
func (o *outbox) intend(ctx context.Context) error {
	if _, err := o.db.ExecContext(ctx, `INSERT INTO authz_node_writes (node, pending) VALUES (?, true)
		ON CONFLICT (node) DO UPDATE SET pending = true, at = now()`, o.node); err != nil {
		return fmt.Errorf("authz: announcing a write: %w", err)
	}
	return nil
}

// settle clears this node's pending announcement in tx, the lock's
// transaction, recording tok (the newest token this node wrote under the
// lock); without one, SpiceDB's newest revision, which every write made
// so far is at or before.
func (o *outbox) settle(ctx context.Context, tx *sql.Tx, tok Token) error {
	if tok == "" {
		var pending bool
		err := tx.QueryRowContext(ctx, `SELECT pending FROM authz_node_writes WHERE node = ?`, o.node).Scan(&pending)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !pending) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("authz: settling a write's announcement: %w", err)
		}
		if tok, err = o.e.headToken(ctx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE authz_node_writes SET pending = false, token = ?, at = now() WHERE node = ?`, string(tok), o.node); err != nil {
		return fmt.Errorf("authz: settling a write's announcement: %w", err)
	}
	return nil
}

// othersNewest returns the newest revision the other nodes' announced
// writes reached (nil if none wrote), or pending if one of them may be
// writing now or a token cannot be read: then only SpiceDB's newest
// revision will do.
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

// pruneNodes removes the rows of nodes that have not written for
// nodeRowsKeptFor: their changes are long processed by every running
// watch, and a node that died mid-write must not keep the others on the
// slow path forever.
func (o *outbox) pruneNodes(ctx context.Context) error {
	if _, err := o.db.ExecContext(ctx, `DELETE FROM authz_node_writes WHERE node <> ? AND at < now() - interval '`+nodeRowsKeptFor+`'`, o.node); err != nil {
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
	// What write does must be settled whether or not the caller waits.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	tok, werr := write(wctx)
	if err := o.settle(wctx, tx, tok); err != nil {
		o.logger.Warn("authz: a write is made, but settling its announcement failed; other nodes' caches read SpiceDB's newest revision until it is", "err", err)
	} else if err := tx.Commit(); err != nil {
		o.logger.Warn("authz: a write is made, but settling its announcement failed; other nodes' caches read SpiceDB's newest revision until it is", "err", err)
	}
	return tok, werr
}
