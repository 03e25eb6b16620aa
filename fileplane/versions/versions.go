// Package versions keeps the history of every file: each write makes a
// version naming its content by hash; old versions can be listed, read and
// restored (a restore is a new version with old content). It stores rows
// only; content lives in fileplane/content.
package versions

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"time"

	"github.com/nexus-authz/nexus/storage"
)

// Version is one state of a file.
type Version struct {
	Entry       string
	Number      int64
	ContentHash string
	Size        int64
	MediaType   string
	CreatedBy   string
	CreatedAt   time.Time
}

// Store keeps versions. Add of an existing (entry, number) is
// errs.AlreadyExists; a missing version is errs.NotFound.
type Store interface {
	Add(ctx context.Context, q storage.DBTX, v Version) error
	Get(ctx context.Context, q storage.DBTX, entry string, number int64) (Version, error)
	// List returns an entry's versions, newest first.
	List(ctx context.Context, q storage.DBTX, entry string) ([]Version, error)
	// DeleteEntries removes every version of the given entries.
	DeleteEntries(ctx context.Context, q storage.DBTX, entries []string) error
	// ContentHashes calls fn with every content hash any version names.
	ContentHashes(ctx context.Context, q storage.DBTX, fn func(hash string) error) error
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteMigrations are the migrations of the versions table.
func SQLiteMigrations() fs.FS {
	return storage.Migrations(sqliteMigrations, "migrations/sqlite")
}

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// PostgresMigrations are the versions table' migrations on PostgreSQL.
func PostgresMigrations() fs.FS {
	return storage.Migrations(postgresMigrations, "migrations/postgres")
}

// SQLStore is the Store on SQL.
type SQLStore struct{}

var _ Store = SQLStore{}

const cols = `entry_id, version, content_hash, size, media_type, created_by, created_at`

func scan(s storage.Scanner) (Version, error) {
	var v Version
	var created sql.NullString
	if err := s.Scan(&v.Entry, &v.Number, &v.ContentHash, &v.Size, &v.MediaType, &v.CreatedBy, &created); err != nil {
		return Version{}, storage.Translate(err)
	}
	var err error
	v.CreatedAt, err = storage.ParseTime(created)
	return v, err
}

func (SQLStore) Add(ctx context.Context, q storage.DBTX, v Version) error {
	_, err := q.ExecContext(ctx, `INSERT INTO versions_versions (`+cols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		v.Entry, v.Number, v.ContentHash, v.Size, v.MediaType, v.CreatedBy, storage.FormatTime(v.CreatedAt))
	return storage.Translate(err)
}

func (SQLStore) Get(ctx context.Context, q storage.DBTX, entry string, number int64) (Version, error) {
	return scan(q.QueryRowContext(ctx, `SELECT `+cols+` FROM versions_versions WHERE entry_id = ? AND version = ?`, entry, number))
}

func (SQLStore) List(ctx context.Context, q storage.DBTX, entry string) ([]Version, error) {
	return storage.QueryAll(ctx, q, scan, `SELECT `+cols+` FROM versions_versions WHERE entry_id = ? ORDER BY version DESC`, entry)
}

func (SQLStore) DeleteEntries(ctx context.Context, q storage.DBTX, entries []string) error {
	for _, e := range entries {
		if _, err := q.ExecContext(ctx, `DELETE FROM versions_versions WHERE entry_id = ?`, e); err != nil {
			return storage.Translate(err)
		}
	}
	return nil
}

func (SQLStore) ContentHashes(ctx context.Context, q storage.DBTX, fn func(string) error) error {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT content_hash FROM versions_versions`)
	if err != nil {
		return storage.Translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return err
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return rows.Err()
}
