package sharing

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/storage"
)

// SQLStore is the Store on SQL.
type SQLStore struct{}

var _ Store = SQLStore{}

const linkCols = `id, zone_id, entry_id, entry_kind, role, token_hash, password_hash, created_by, created_at,
	expires_at, max_uses, uses, revoked_at`

func scanLink(s storage.Scanner) (Link, error) {
	var l Link
	var created, expires, revoked sql.NullString
	if err := s.Scan(&l.ID, &l.Zone, &l.Entry, &l.EntryKind, &l.Role, &l.TokenHash, &l.PasswordHash, &l.CreatedBy,
		&created, &expires, &l.MaxUses, &l.Uses, &revoked); err != nil {
		return Link{}, storage.Translate(err)
	}
	var err error
	if l.CreatedAt, err = storage.ParseTime(created); err != nil {
		return Link{}, err
	}
	if l.ExpiresAt, err = storage.ParseTime(expires); err != nil {
		return Link{}, err
	}
	l.RevokedAt, err = storage.ParseTime(revoked)
	return l, err
}

func (SQLStore) InsertLink(ctx context.Context, q storage.DBTX, l Link) error {
	_, err := q.ExecContext(ctx, `INSERT INTO sharing_links (`+linkCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.Zone, l.Entry, l.EntryKind, l.Role, l.TokenHash, l.PasswordHash, l.CreatedBy,
		storage.FormatTime(l.CreatedAt), storage.NullTime(l.ExpiresAt), l.MaxUses, l.Uses, storage.NullTime(l.RevokedAt))
	return storage.Translate(err)
}

func (SQLStore) Link(ctx context.Context, q storage.DBTX, id LinkID) (Link, error) {
	return scanLink(q.QueryRowContext(ctx, `SELECT `+linkCols+` FROM sharing_links WHERE id = ?`, id))
}

func (SQLStore) LinkByTokenHash(ctx context.Context, q storage.DBTX, hash []byte) (Link, error) {
	return scanLink(q.QueryRowContext(ctx, `SELECT `+linkCols+` FROM sharing_links WHERE token_hash = ?`, hash))
}

func (SQLStore) Links(ctx context.Context, q storage.DBTX, entry paths.EntryID) ([]Link, error) {
	return storage.QueryAll(ctx, q, scanLink, `SELECT `+linkCols+` FROM sharing_links WHERE entry_id = ?
		ORDER BY created_at DESC, id DESC`, entry)
}

func (SQLStore) RevokeLink(ctx context.Context, q storage.DBTX, id LinkID, t time.Time) error {
	res, err := q.ExecContext(ctx, `UPDATE sharing_links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
		storage.FormatTime(t), id)
	if err != nil {
		return storage.Translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.NotFound
	}
	return nil
}

func (SQLStore) UseLink(ctx context.Context, q storage.DBTX, id LinkID, now time.Time) (bool, error) {
	// One statement: the condition and the increment are atomic, so racing
	// callers cannot both take the last use.
	res, err := q.ExecContext(ctx, `UPDATE sharing_links SET uses = uses + 1
		WHERE id = ? AND revoked_at IS NULL
		AND (expires_at IS NULL OR expires_at > ?)
		AND (max_uses = 0 OR uses < max_uses)`, id, storage.FormatTime(now))
	if err != nil {
		return false, storage.Translate(err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (SQLStore) LogAccess(ctx context.Context, q storage.DBTX, a Access) error {
	_, err := q.ExecContext(ctx, `INSERT INTO sharing_link_access (link_id, at, remote_addr, user_agent, action, outcome)
		VALUES (?, ?, ?, ?, ?, ?)`, nullString(string(a.Link)), storage.FormatTime(a.At), a.Addr, a.UserAgent, a.Action, a.Outcome)
	return storage.Translate(err)
}

func scanAccess(s storage.Scanner) (Access, error) {
	var a Access
	var link sql.NullString
	var at sql.NullString
	if err := s.Scan(&link, &at, &a.Addr, &a.UserAgent, &a.Action, &a.Outcome); err != nil {
		return Access{}, storage.Translate(err)
	}
	a.Link = LinkID(link.String)
	var err error
	a.At, err = storage.ParseTime(at)
	return a, err
}

func (SQLStore) AccessLog(ctx context.Context, q storage.DBTX, id LinkID, limit int) ([]Access, error) {
	return storage.QueryAll(ctx, q, scanAccess, `SELECT link_id, at, remote_addr, user_agent, action, outcome
		FROM sharing_link_access WHERE link_id = ? ORDER BY at DESC, id DESC LIMIT ?`, id, limit)
}

func (SQLStore) Failures(ctx context.Context, q storage.DBTX, f FailureQuery) (int, time.Time, error) {
	if len(f.Outcomes) == 0 {
		return 0, time.Time{}, nil
	}
	col, key := "link_id", string(f.Link)
	if f.Addr != "" {
		col, key = "remote_addr", f.Addr
	}
	args := []any{key, storage.FormatTime(f.Since)}
	for _, o := range f.Outcomes {
		args = append(args, string(o))
	}
	var n int
	var oldest sql.NullString
	err := q.QueryRowContext(ctx, `SELECT COUNT(*), MIN(at) FROM sharing_link_access
		WHERE `+col+` = ? AND at > ? AND outcome IN (?`+strings.Repeat(", ?", len(f.Outcomes)-1)+`)`, args...).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, storage.Translate(err)
	}
	t, err := storage.ParseTime(oldest)
	return n, t, err
}
