package identity

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"time"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

// Store keeps zones, users, groups and API keys. Every method runs on the
// DBTX it is given, so a caller can put it in the transaction that records
// the relationships of the same change. Lookups of missing rows return
// errs.NotFound; inserts of a taken name return errs.AlreadyExists.
type Store interface {
	InsertZone(ctx context.Context, q storage.DBTX, z Zone) error
	Zone(ctx context.Context, q storage.DBTX, id ZoneID) (Zone, error)
	ZoneByName(ctx context.Context, q storage.DBTX, name string) (Zone, error)
	Zones(ctx context.Context, q storage.DBTX) ([]Zone, error)

	InsertUser(ctx context.Context, q storage.DBTX, u User) error
	User(ctx context.Context, q storage.DBTX, id UserID) (User, error)
	UserByName(ctx context.Context, q storage.DBTX, zone ZoneID, name string) (User, error)
	Users(ctx context.Context, q storage.DBTX, zone ZoneID) ([]User, error)

	InsertGroup(ctx context.Context, q storage.DBTX, g Group) error
	Group(ctx context.Context, q storage.DBTX, id GroupID) (Group, error)
	GroupByName(ctx context.Context, q storage.DBTX, zone ZoneID, name string) (Group, error)
	Groups(ctx context.Context, q storage.DBTX, zone ZoneID) ([]Group, error)

	InsertKey(ctx context.Context, q storage.DBTX, k APIKey) error
	Key(ctx context.Context, q storage.DBTX, id KeyID) (APIKey, error)
	Keys(ctx context.Context, q storage.DBTX, user UserID) ([]APIKey, error)
	// RevokeKey marks a key revoked at t; revoking a revoked key keeps the
	// first time. A missing key is errs.NotFound.
	RevokeKey(ctx context.Context, q storage.DBTX, id KeyID, t time.Time) error
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteMigrations are the identity tables' migrations.
func SQLiteMigrations() fs.FS {
	return storage.Migrations(sqliteMigrations, "migrations/sqlite")
}

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// PostgresMigrations are the identity tables' migrations on PostgreSQL.
func PostgresMigrations() fs.FS {
	return storage.Migrations(postgresMigrations, "migrations/postgres")
}

// SQLStore is the Store on SQL (SQLite today).
type SQLStore struct{}

var _ Store = SQLStore{}

func (SQLStore) InsertZone(ctx context.Context, q storage.DBTX, z Zone) error {
	_, err := q.ExecContext(ctx, `INSERT INTO identity_zones (id, name, created_at) VALUES (?, ?, ?)`,
		z.ID, z.Name, storage.FormatTime(z.CreatedAt))
	return storage.Translate(err)
}

const zoneCols = `id, name, created_at`

func scanZone(s storage.Scanner) (Zone, error) {
	var z Zone
	var created sql.NullString
	if err := s.Scan(&z.ID, &z.Name, &created); err != nil {
		return Zone{}, storage.Translate(err)
	}
	var err error
	z.CreatedAt, err = storage.ParseTime(created)
	return z, err
}

func (SQLStore) Zone(ctx context.Context, q storage.DBTX, id ZoneID) (Zone, error) {
	return scanZone(q.QueryRowContext(ctx, `SELECT `+zoneCols+` FROM identity_zones WHERE id = ?`, id))
}

func (SQLStore) ZoneByName(ctx context.Context, q storage.DBTX, name string) (Zone, error) {
	return scanZone(q.QueryRowContext(ctx, `SELECT `+zoneCols+` FROM identity_zones WHERE name = ?`, name))
}

func (SQLStore) Zones(ctx context.Context, q storage.DBTX) ([]Zone, error) {
	return storage.QueryAll(ctx, q, scanZone, `SELECT `+zoneCols+` FROM identity_zones ORDER BY name`)
}

func (SQLStore) InsertUser(ctx context.Context, q storage.DBTX, u User) error {
	_, err := q.ExecContext(ctx, `INSERT INTO identity_users (id, zone_id, name, created_at) VALUES (?, ?, ?, ?)`,
		u.ID, u.Zone, u.Name, storage.FormatTime(u.CreatedAt))
	return storage.Translate(err)
}

const userCols = `id, zone_id, name, created_at`

func scanUser(s storage.Scanner) (User, error) {
	var u User
	var created sql.NullString
	if err := s.Scan(&u.ID, &u.Zone, &u.Name, &created); err != nil {
		return User{}, storage.Translate(err)
	}
	var err error
	u.CreatedAt, err = storage.ParseTime(created)
	return u, err
}

func (SQLStore) User(ctx context.Context, q storage.DBTX, id UserID) (User, error) {
	return scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM identity_users WHERE id = ?`, id))
}

func (SQLStore) UserByName(ctx context.Context, q storage.DBTX, zone ZoneID, name string) (User, error) {
	return scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM identity_users WHERE zone_id = ? AND name = ?`, zone, name))
}

func (SQLStore) Users(ctx context.Context, q storage.DBTX, zone ZoneID) ([]User, error) {
	return storage.QueryAll(ctx, q, scanUser, `SELECT `+userCols+` FROM identity_users WHERE zone_id = ? ORDER BY name`, zone)
}

func (SQLStore) InsertGroup(ctx context.Context, q storage.DBTX, g Group) error {
	_, err := q.ExecContext(ctx, `INSERT INTO identity_groups (id, zone_id, name, created_at) VALUES (?, ?, ?, ?)`,
		g.ID, g.Zone, g.Name, storage.FormatTime(g.CreatedAt))
	return storage.Translate(err)
}

const groupCols = `id, zone_id, name, created_at`

func scanGroup(s storage.Scanner) (Group, error) {
	var g Group
	var created sql.NullString
	if err := s.Scan(&g.ID, &g.Zone, &g.Name, &created); err != nil {
		return Group{}, storage.Translate(err)
	}
	var err error
	g.CreatedAt, err = storage.ParseTime(created)
	return g, err
}

func (SQLStore) Group(ctx context.Context, q storage.DBTX, id GroupID) (Group, error) {
	return scanGroup(q.QueryRowContext(ctx, `SELECT `+groupCols+` FROM identity_groups WHERE id = ?`, id))
}

func (SQLStore) GroupByName(ctx context.Context, q storage.DBTX, zone ZoneID, name string) (Group, error) {
	return scanGroup(q.QueryRowContext(ctx, `SELECT `+groupCols+` FROM identity_groups WHERE zone_id = ? AND name = ?`, zone, name))
}

func (SQLStore) Groups(ctx context.Context, q storage.DBTX, zone ZoneID) ([]Group, error) {
	return storage.QueryAll(ctx, q, scanGroup, `SELECT `+groupCols+` FROM identity_groups WHERE zone_id = ? ORDER BY name`, zone)
}

func (SQLStore) InsertKey(ctx context.Context, q storage.DBTX, k APIKey) error {
	_, err := q.ExecContext(ctx, `INSERT INTO identity_api_keys (id, user_id, description, hash, created_at, expires_at, revoked_at, scope)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.User, k.Description, k.Hash, storage.FormatTime(k.CreatedAt), storage.NullTime(k.ExpiresAt), storage.NullTime(k.RevokedAt), string(k.Scope))
	return storage.Translate(err)
}

const keyCols = `id, user_id, description, hash, created_at, expires_at, revoked_at, scope`

func scanKey(s storage.Scanner) (APIKey, error) {
	var k APIKey
	var created, expires, revoked sql.NullString
	if err := s.Scan(&k.ID, &k.User, &k.Description, &k.Hash, &created, &expires, &revoked, &k.Scope); err != nil {
		return APIKey{}, storage.Translate(err)
	}
	var err1, err2, err3 error
	k.CreatedAt, err1 = storage.ParseTime(created)
	k.ExpiresAt, err2 = storage.ParseTime(expires)
	k.RevokedAt, err3 = storage.ParseTime(revoked)
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return APIKey{}, err
		}
	}
	return k, nil
}

func (SQLStore) Key(ctx context.Context, q storage.DBTX, id KeyID) (APIKey, error) {
	return scanKey(q.QueryRowContext(ctx, `SELECT `+keyCols+` FROM identity_api_keys WHERE id = ?`, id))
}

func (SQLStore) Keys(ctx context.Context, q storage.DBTX, user UserID) ([]APIKey, error) {
	return storage.QueryAll(ctx, q, scanKey, `SELECT `+keyCols+` FROM identity_api_keys WHERE user_id = ? ORDER BY created_at, id`, user)
}

func (SQLStore) RevokeKey(ctx context.Context, q storage.DBTX, id KeyID, t time.Time) error {
	res, err := q.ExecContext(ctx, `UPDATE identity_api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
		storage.FormatTime(t), id)
	if err != nil {
		return storage.Translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.NotFound
	}
	return nil
}
