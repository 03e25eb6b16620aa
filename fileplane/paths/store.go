package paths

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

// EntryID is an entry's stable id, also its object id in authz.
type EntryID string

// Kind is file or folder.
type Kind string

const (
	File   Kind = "file"
	Folder Kind = "folder"
)

// Object is the entry's authz object.
func (k Kind) Object(id EntryID) authz.ObjectRef { return authz.Obj(string(k), string(id)) }

// Entry is one node of a zone's tree.
type Entry struct {
	ID          EntryID
	Zone        string
	Parent      EntryID // "" for a zone's root
	Name        string  // "" for a zone's root
	Kind        Kind
	Size        int64
	ContentHash string
	Version     int64
	MediaType   string
	CreatedBy   string
	CreatedAt   time.Time
	ModifiedBy  string
	ModifiedAt  time.Time
	// PermToken is the consistency token of the entry's last
	// permission-relevant change.
	PermToken authz.Token
}

// Object is e's authz object.
func (e Entry) Object() authz.ObjectRef { return e.Kind.Object(e.ID) }

// IsRoot reports whether e is a zone's root folder.
func (e Entry) IsRoot() bool { return e.Parent == "" }

// Store keeps entries. Methods run on the DBTX given, so callers put them
// in the transaction that records the matching relationships. A missing
// entry is errs.NotFound; a taken (parent, name) is errs.AlreadyExists.
type Store interface {
	Insert(ctx context.Context, q storage.DBTX, e Entry) error
	Get(ctx context.Context, q storage.DBTX, id EntryID) (Entry, error)
	Root(ctx context.Context, q storage.DBTX, zone string) (Entry, error)
	Child(ctx context.Context, q storage.DBTX, parent EntryID, name string) (Entry, error)
	// Children returns up to limit children of parent whose names sort
	// after afterName, ordered by name (bytewise).
	Children(ctx context.Context, q storage.DBTX, parent EntryID, afterName string, limit int) ([]Entry, error)
	// Update writes every field of e but ID, Zone, Parent, Name, Kind and
	// CreatedBy/At.
	Update(ctx context.Context, q storage.DBTX, e Entry) error
	// Move sets e's parent and name.
	Move(ctx context.Context, q storage.DBTX, id, parent EntryID, name string, token authz.Token) error
	// SetPermToken sets only e's PermToken (a relationship write's token,
	// recorded once the write is applied).
	SetPermToken(ctx context.Context, q storage.DBTX, id EntryID, token authz.Token) error
	// Subtree returns id and everything below it, parents before children.
	Subtree(ctx context.Context, q storage.DBTX, id EntryID) ([]Entry, error)
	// Depth returns how many parent steps lead from id to its zone's root
	// (0 for a root).
	Depth(ctx context.Context, q storage.DBTX, id EntryID) (int, error)
	// Height returns how many parent steps lead from the deepest entry
	// below id up to id (0 for a file or an empty folder).
	Height(ctx context.Context, q storage.DBTX, id EntryID) (int, error)
	// Delete removes the given entries (children before parents).
	Delete(ctx context.Context, q storage.DBTX, ids []EntryID) error
	// IDs calls fn with every entry id of a kind.
	IDs(ctx context.Context, q storage.DBTX, kind Kind, fn func(EntryID) error) error
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteMigrations are the migrations of the entries table.
func SQLiteMigrations() fs.FS {
	return storage.Migrations(sqliteMigrations, "migrations/sqlite")
}

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// PostgresMigrations are the entries table' migrations on PostgreSQL.
func PostgresMigrations() fs.FS {
	return storage.Migrations(postgresMigrations, "migrations/postgres")
}

// SQLStore is the Store on SQL.
type SQLStore struct{}

var _ Store = SQLStore{}

const entryCols = `id, zone_id, COALESCE(parent_id, ''), name, kind, size, content_hash, version, media_type,
	created_by, created_at, modified_by, modified_at, perm_token`

func scanEntry(s storage.Scanner) (Entry, error) {
	var e Entry
	var created, modified sql.NullString
	if err := s.Scan(&e.ID, &e.Zone, &e.Parent, &e.Name, &e.Kind, &e.Size, &e.ContentHash, &e.Version, &e.MediaType,
		&e.CreatedBy, &created, &e.ModifiedBy, &modified, &e.PermToken); err != nil {
		return Entry{}, storage.Translate(err)
	}
	var err error
	if e.CreatedAt, err = storage.ParseTime(created); err != nil {
		return Entry{}, err
	}
	e.ModifiedAt, err = storage.ParseTime(modified)
	return e, err
}

func nullID(id EntryID) any {
	if id == "" {
		return nil
	}
	return string(id)
}

func (SQLStore) Insert(ctx context.Context, q storage.DBTX, e Entry) error {
	_, err := q.ExecContext(ctx, `INSERT INTO paths_entries (id, zone_id, parent_id, name, kind, size, content_hash,
		version, media_type, created_by, created_at, modified_by, modified_at, perm_token)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Zone, nullID(e.Parent), e.Name, e.Kind, e.Size, e.ContentHash, e.Version, e.MediaType,
		e.CreatedBy, storage.FormatTime(e.CreatedAt), e.ModifiedBy, storage.FormatTime(e.ModifiedAt), e.PermToken)
	return storage.Translate(err)
}

func (SQLStore) Get(ctx context.Context, q storage.DBTX, id EntryID) (Entry, error) {
	return scanEntry(q.QueryRowContext(ctx, `SELECT `+entryCols+` FROM paths_entries WHERE id = ?`, id))
}

func (SQLStore) Root(ctx context.Context, q storage.DBTX, zone string) (Entry, error) {
	return scanEntry(q.QueryRowContext(ctx, `SELECT `+entryCols+` FROM paths_entries WHERE zone_id = ? AND parent_id IS NULL`, zone))
}

func (SQLStore) Child(ctx context.Context, q storage.DBTX, parent EntryID, name string) (Entry, error) {
	if strings.IndexByte(name, 0) >= 0 || !utf8.ValidString(name) {
		// No stored name has these (ParsePath refuses them), and PostgreSQL's
		// text cannot even carry them in a query.
		return Entry{}, errs.NotFound
	}
	return scanEntry(q.QueryRowContext(ctx, `SELECT `+entryCols+` FROM paths_entries WHERE parent_id = ? AND name = ?`, parent, name))
}

func (SQLStore) Children(ctx context.Context, q storage.DBTX, parent EntryID, afterName string, limit int) ([]Entry, error) {
	return storage.QueryAll(ctx, q, scanEntry, `SELECT `+entryCols+` FROM paths_entries
		WHERE parent_id = ? AND name > ? ORDER BY name LIMIT ?`, parent, afterName, limit)
}

func (SQLStore) Update(ctx context.Context, q storage.DBTX, e Entry) error {
	res, err := q.ExecContext(ctx, `UPDATE paths_entries SET size = ?, content_hash = ?, version = ?, media_type = ?,
		modified_by = ?, modified_at = ?, perm_token = ? WHERE id = ?`,
		e.Size, e.ContentHash, e.Version, e.MediaType, e.ModifiedBy, storage.FormatTime(e.ModifiedAt), e.PermToken, e.ID)
	return affected(res, err)
}

func (SQLStore) Move(ctx context.Context, q storage.DBTX, id, parent EntryID, name string, token authz.Token) error {
	res, err := q.ExecContext(ctx, `UPDATE paths_entries SET parent_id = ?, name = ?, perm_token = ? WHERE id = ?`,
		parent, name, token, id)
	return affected(res, err)
}

func (SQLStore) SetPermToken(ctx context.Context, q storage.DBTX, id EntryID, token authz.Token) error {
	res, err := q.ExecContext(ctx, `UPDATE paths_entries SET perm_token = ? WHERE id = ?`, token, id)
	return affected(res, err)
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return storage.Translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.NotFound
	}
	return nil
}

func (SQLStore) Subtree(ctx context.Context, q storage.DBTX, id EntryID) ([]Entry, error) {
	out, err := storage.QueryAll(ctx, q, scanEntry, `WITH RECURSIVE sub(id, depth) AS (
			SELECT id, 0 FROM paths_entries WHERE id = ?
			UNION ALL
			SELECT e.id, sub.depth + 1 FROM paths_entries e JOIN sub ON e.parent_id = sub.id
		)
		SELECT `+entryCols+` FROM paths_entries JOIN sub USING (id) ORDER BY sub.depth, name`, id)
	if err == nil && len(out) == 0 {
		return nil, errs.NotFound // id itself is missing
	}
	return out, err
}

// maxSteps bounds the walks of Depth and Height against a loop (which no
// write makes).
const maxSteps = MaxPathBytes / 2

func (SQLStore) Depth(ctx context.Context, q storage.DBTX, id EntryID) (int, error) {
	return steps(ctx, q, `WITH RECURSIVE up(id, parent_id, n) AS (
			SELECT id, parent_id, 0 FROM paths_entries WHERE id = ?
			UNION ALL
			SELECT e.id, e.parent_id, up.n + 1 FROM paths_entries e JOIN up ON e.id = up.parent_id WHERE up.n < ?
		)
		SELECT MAX(n) FROM up`, id)
}

func (SQLStore) Height(ctx context.Context, q storage.DBTX, id EntryID) (int, error) {
	return steps(ctx, q, `WITH RECURSIVE sub(id, n) AS (
			SELECT id, 0 FROM paths_entries WHERE id = ?
			UNION ALL
			SELECT e.id, sub.n + 1 FROM paths_entries e JOIN sub ON e.parent_id = sub.id WHERE sub.n < ?
		)
		SELECT MAX(n) FROM sub`, id)
}

// steps runs a walk of Depth or Height; no row means id is missing.
func steps(ctx context.Context, q storage.DBTX, query string, id EntryID) (int, error) {
	var n sql.NullInt64
	if err := q.QueryRowContext(ctx, query, id, maxSteps).Scan(&n); err != nil {
		return 0, storage.Translate(err)
	}
	if !n.Valid {
		return 0, errs.NotFound
	}
	return int(n.Int64), nil
}

func (SQLStore) Delete(ctx context.Context, q storage.DBTX, ids []EntryID) error {
	for _, id := range ids {
		if _, err := q.ExecContext(ctx, `DELETE FROM paths_entries WHERE id = ?`, id); err != nil {
			return storage.Translate(err)
		}
	}
	return nil
}

func (SQLStore) IDs(ctx context.Context, q storage.DBTX, kind Kind, fn func(EntryID) error) error {
	rows, err := q.QueryContext(ctx, `SELECT id FROM paths_entries WHERE kind = ?`, kind)
	if err != nil {
		return storage.Translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id EntryID
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return rows.Err()
}
