package authz

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nexus-authz/nexus/storage/postgres"
)

// On PostgreSQL a Token also carries the primary's WAL position after the
// write that made it, so that reads of our own rows can go to a replica that
// has replayed it (read-your-writes across nodes):
//
//	<zedtoken>.<lsn in hex>
//
// A ZedToken is standard base64 (A-Z a-z 0-9 + / =), which has no '.', so
// the last '.' splits the two unambiguously. The zedtoken part may be empty
// (".16B374D848") for a write that changed none of SpiceDB's relationships
// (a file's new content): such a token asks nothing of SpiceDB. On the
// embedded default tokens are plain ZedTokens. Every place a Token reaches
// SpiceDB sends Zed() only.

// ErrBadToken is a consistency token whose WAL position suffix does not
// parse.
var ErrBadToken = errors.New("invalid consistency token")

// maxLSNDigits is the most hex digits a uint64 has.
const maxLSNDigits = 16

// Zed is the ZedToken part of t (t itself when it carries no WAL position).
func (t Token) Zed() Token {
	if i := strings.LastIndexByte(string(t), '.'); i >= 0 {
		return t[:i]
	}
	return t
}

// LSN is the WAL position t carries, 0 if none (or if the suffix does not
// parse; see ParseToken to refuse those).
func (t Token) LSN() postgres.LSN {
	i := strings.LastIndexByte(string(t), '.')
	if i < 0 {
		return 0
	}
	n, err := parseLSNHex(string(t[i+1:]))
	if err != nil {
		return 0
	}
	return n
}

func parseLSNHex(s string) (postgres.LSN, error) {
	if s == "" || len(s) > maxLSNDigits {
		return 0, fmt.Errorf("%w: the WAL position after '.' must be 1 to %d hex digits, got %q", ErrBadToken, maxLSNDigits, s)
	}
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: the WAL position after '.' must be hex digits, got %q", ErrBadToken, s)
	}
	return postgres.LSN(n), nil
}

// ParseToken checks the WAL position suffix of a token a client sent (the
// ZedToken part is SpiceDB's to judge). Errors wrap ErrBadToken and say
// what is wrong.
func ParseToken(s string) (Token, error) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return Token(s), nil
	}
	if _, err := parseLSNHex(s[i+1:]); err != nil {
		return "", err
	}
	if strings.ContainsRune(s[:i], '.') {
		return "", fmt.Errorf("%w: more than one '.'", ErrBadToken)
	}
	return Token(s), nil
}

// WithLSN returns t carrying lsn, or t's own WAL position if that is
// further (a token's position only ever moves forward). lsn 0 leaves t as
// it is.
func (t Token) WithLSN(lsn postgres.LSN) Token {
	lsn = max(lsn, t.LSN())
	if lsn == 0 {
		return t.Zed()
	}
	return t.Zed() + Token("."+strconv.FormatUint(uint64(lsn), 16))
}

// lsnUnknown is the position stamped when the primary's could not be read
// after a write: no replica has replayed it, so reads at it go to the
// primary, which has the write.
const lsnUnknown = postgres.LSN(math.MaxUint64)

// stamp returns tok carrying the primary's WAL position, read after the
// write's final commit (the outbox's drain): a replica that has replayed it
// has the write. It is called on the return of every PostgreSQL write path
// in write.go; a failed write (err) and the embedded default (no
// PostgreSQL) return as they are.
func (e *Engine) stamp(ctx context.Context, tok Token, err error) (Token, error) {
	if err != nil || e.lsnDB == nil {
		return tok, err
	}
	lsn, lerr := CurrentLSN(context.WithoutCancel(ctx), e.lsnDB)
	if lerr != nil {
		// The write committed; only its position is unknown. Reads at
		// lsnUnknown go to the primary, so read-your-writes still holds.
		e.logger.Warn("authz: cannot read the primary's WAL position after a write; reads at its token go to the primary", "err", lerr)
		lsn = lsnUnknown
	}
	return tok.WithLSN(lsn), nil
}

// CurrentLSN is the WAL position of the primary behind db.
func CurrentLSN(ctx context.Context, db *sql.DB) (postgres.LSN, error) {
	var s string
	if err := db.QueryRowContext(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s); err != nil {
		return 0, err
	}
	return postgres.ParseLSN(s)
}
