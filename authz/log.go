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

	// Commit records updates in one transaction and runs hook (if not nil)
	// in it; then it calls apply, in the same transaction, with the updates
	// that change the log's
	// state (a touch of a missing relationship, a delete of a present one),
	// and commits if and only if hook and apply return nil.
	//
	// If the commit itself fails after apply succeeded, Commit returns an
	// error wrapping ErrCommitFailed, and the caller must undo what apply did.
	Commit(ctx context.Context, updates []Update, hook TxHook, apply func(tx *sql.Tx, effective []Update) error) error
}

// ErrCommitFailed wraps a log commit that failed after the engine had
// applied the write.
var ErrCommitFailed = errors.New("relationship log commit failed")
