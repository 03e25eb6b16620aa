// Package storage holds what every store shares, whatever its driver: the
// query interface, the translation of driver errors into errs' kinds
// (errs.NotFound, errs.AlreadyExists, errs.Unavailable: one vocabulary from
// the store up, classified by codes rather than message text), and the
// column conventions (ids, timestamps) written once.
package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/base32"
	"errors"
	"io"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/nexus-authz/nexus/errs"
)

// DBTX is what a store runs its queries on: a database or a transaction.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is what a service holds: queries, and transactions. A *sql.DB is one;
// on PostgreSQL with replicas, postgres.Routed is another, which sends
// transactions and writes to the primary and reads where the context says.
type DB interface {
	DBTX
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

var (
	_ DBTX = (*sql.DB)(nil)
	_ DBTX = (*sql.Tx)(nil)
	_ DB   = (*sql.DB)(nil)
)

// Translate turns a driver error into an error of errs' kinds where it has
// one: a missing row is errs.NotFound, a taken unique key errs.AlreadyExists
// (joined with the driver's error, for logs).
func Translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return errs.NotFound
	case IsUniqueViolation(err):
		return errors.Join(errs.AlreadyExists, err)
	}
	return err
}

// SQLite's extended result codes for a unique key taken
// (sqlite3.h: SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY).
const (
	sqliteConstraintUnique     = 2067
	sqliteConstraintPrimaryKey = 1555
)

// IsUniqueViolation reports whether err is a unique or primary key taken,
// by the driver's code: SQLSTATE 23505 on PostgreSQL (pgconn.PgError), the
// extended result code on SQLite (modernc.org/sqlite's Error).
func IsUniqueViolation(err error) bool {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return pg.SQLState() == "23505"
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		code := lite.Code()
		return code == sqliteConstraintUnique || code == sqliteConstraintPrimaryKey
	}
	return false
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix + "_" + 26 random characters (130 bits): a stable id
// that is also a valid SpiceDB object id.
func NewID(prefix string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + "_" + idEncoding.EncodeToString(b)
}

// TimeFormat is how timestamps are stored: UTC, fixed width, sortable.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// FormatTime formats t for a timestamp column.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// NullTime formats t, or returns NULL for the zero time.
func NullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return FormatTime(t)
}

// ParseTime parses a timestamp column; NULL or empty is the zero time.
func ParseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return time.Parse(TimeFormat, s.String)
}

// InTx runs fn in a transaction, committing iff fn returns nil.
func InTx(ctx context.Context, db DB, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// Migrations returns the directory dir of an embedded file system: each
// domain embeds its migrations and hands them out with this.
func Migrations(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // an embedded directory that is not there is a build mistake
	}
	return sub
}

// Scanner is a row: *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// QueryAll runs query on q and scans every row with scan.
func QueryAll[T any](ctx context.Context, q DBTX, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, Translate(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, Translate(rows.Err())
}

// IsUnavailable reports whether err (errs.Unavailable, or a driver's error)
// means the database could not be reached
// or dropped the connection: a network error, a connection the driver gave
// up on or that the server closed, a request the driver did not send
// because its connection was unusable (pgconn's "conn closed", which says
// SafeToRetry), or a PostgreSQL connection exception (SQLSTATE class 08)
// or shutdown (57P01-57P03).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errs.Unavailable) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true // io.ErrUnexpectedEOF: the server closed a pooled connection
	}
	var unsent interface{ SafeToRetry() bool }
	if errors.As(err, &unsent) && unsent.SafeToRetry() {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		code := st.SQLState()
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
	}
	return false
}
