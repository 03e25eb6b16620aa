package authz

import (
	"context"
	"database/sql"
	"errors"
)

// TxHook runs inside the transaction that records a write's relationships,
// so a caller's own rows commit together with them or not at all.
type TxHook func(ctx context.Context, tx *sql.Tx) error

// Log is the durable record of the relationships of the embedded engine,
// whose SpiceDB datastore lives in memory. The log is the source of truth: at
// start the engine is rebuilt from it.
type Log interface {
	// Load calls fn with every relationship in the log, in batches.
	Load(ctx context.Context, fn func([]Relationship) error) error

	// Commit records several callers' writes in one transaction, so they
	// share one commit (one fsync): a group commit. Each write gets a
	// savepoint of its own, in order: Commit records its Updates, runs its
	// Hook (if not nil) and then its Apply with the updates that change the
	// log's state (a touch of a missing relationship, a delete of a present
	// one). If any of the three fails, that write's part is rolled back to
	// its savepoint, its Err is set, and the others go on. Then Commit runs
	// finish (if not nil) in the transaction and commits whatever is left.
	//
	// An error from Commit itself means the transaction as a whole failed
	// (it could not begin, a rollback to a savepoint failed, finish failed,
	// or the commit did): none of the writes is recorded, whatever their
	// Apply and finish did must be undone by the caller, and a failed
	// commit wraps ErrCommitFailed.
	Commit(ctx context.Context, writes []*LogWrite, finish func(tx *sql.Tx) error) error

	// Import records relationships that are not in the log yet, all in
	// one transaction: it takes batches from next until it returns io.EOF,
	// records each batch and then calls apply with it. A relationship
	// already in the log, or twice in the import, fails it with
	// SpiceDB's AlreadyExists error (errExists). Any error leaves nothing
	// recorded (apply's effects are the caller's to undo); a failed commit
	// wraps ErrCommitFailed.
	Import(ctx context.Context, next ImportSource, apply func([]Relationship) error) error
}

// LogWrite is one caller's write in a Log's Commit.
type LogWrite struct {
	// Ctx is the caller's context, for its statements and its hook.
	Ctx     context.Context
	Updates []Update
	Hook    TxHook
	Apply   func(tx *sql.Tx, effective []Update) error
	// Err is set by Commit when this write failed on its own and was
	// rolled back (the others may still commit).
	Err error
}

// ErrCommitFailed wraps a log commit that failed after the engine had
// applied the write.
var ErrCommitFailed = errors.New("relationship log commit failed")
