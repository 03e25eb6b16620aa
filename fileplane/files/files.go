// Package files is the file plane's use cases: what FileService does, as
// the caller, over the namespace tree (fileplane/paths), the versions
// (fileplane/versions) and the content (fileplane/content). Every operation
// checks the caller's permission from schema.zed at least as fresh as the
// newest permission change on the entry and its ancestors; an entry the
// caller may not read does not exist for it. It knows nothing of HTTP.
package files

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/internal/pagetoken"
	"github.com/nexus-authz/nexus/storage"
)

// Limits bound what one request may do.
type Limits struct {
	// MaxUnaryBytes bounds Write's content, one Read response and one
	// upload chunk.
	MaxUnaryBytes int64
	// MaxFileBytes bounds a file.
	MaxFileBytes int64
	// UploadTTL is how long an upload session lives.
	UploadTTL time.Duration
	// GlobMaxVisit bounds the entries one Glob call examines.
	GlobMaxVisit int
	// GrepMaxBytes and GrepMaxTime bound one Grep call, and GrepMaxVisit
	// the entries its walk examines (readable or not).
	GrepMaxBytes int64
	GrepMaxTime  time.Duration
	GrepMaxVisit int
	// GrepConcurrency bounds the Grep calls running at once; beyond it a
	// call is ResourceExhausted.
	GrepConcurrency int
}

// withDefaults fills the zero limits of the search operations.
func (l Limits) withDefaults() Limits {
	if l.GlobMaxVisit <= 0 {
		l.GlobMaxVisit = DefaultGlobMaxVisit
	}
	if l.GrepMaxBytes <= 0 {
		l.GrepMaxBytes = DefaultGrepMaxBytes
	}
	if l.GrepMaxTime <= 0 {
		l.GrepMaxTime = DefaultGrepMaxTime
	}
	if l.GrepMaxVisit <= 0 {
		l.GrepMaxVisit = DefaultGrepMaxVisit
	}
	if l.GrepConcurrency <= 0 {
		l.GrepConcurrency = DefaultGrepConcurrency
	}
	return l
}

// DefaultLimits: 16 MiB unary, 5 GiB per file, 24 h uploads.
var DefaultLimits = Limits{MaxUnaryBytes: 16 << 20, MaxFileBytes: 5 << 30, UploadTTL: 24 * time.Hour}

// Engine is what files needs of authz.
type Engine interface {
	authz.Checker
	// Newest returns the freshest of tokens.
	Newest(tokens ...authz.Token) authz.Token
}

// Service is the file plane.
type Service struct {
	db       storage.DB
	tree     *paths.Tree
	versions versions.Store
	content  *content.Store
	engine   Engine
	gate     *access.Gate
	limits   Limits
	onChange ChangeHook
	// tokens seals page tokens (List, Glob, Grep), which may name an
	// entry the caller cannot see.
	tokens *pagetoken.Sealer
	// grepSlots holds one token per Grep call running (Limits.GrepConcurrency).
	grepSlots chan struct{}
	log       *slog.Logger
	now       func() time.Time
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteMigrations are the upload and meta tables' migrations.
func SQLiteMigrations() fs.FS {
	return storage.Migrations(sqliteMigrations, "migrations/sqlite")
}

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// PostgresMigrations are the upload and meta tables' migrations on PostgreSQL.
func PostgresMigrations() fs.FS {
	return storage.Migrations(postgresMigrations, "migrations/postgres")
}

// Config configures a Service.
type Config struct {
	DB       storage.DB
	Tree     *paths.Tree
	Versions versions.Store
	Content  *content.Store
	Engine   Engine
	Fresh    func() authz.Token
	Limits   Limits
	Log      *slog.Logger
	// OnChange, if not nil, runs in the transaction of every change to a
	// file's content or existence (search queues the entries there).
	OnChange ChangeHook
}

// ChangeHook learns, in the change's own transaction, which entries had
// their content written, were created or were deleted. A move changes no
// entry id and is not reported.
type ChangeHook func(ctx context.Context, tx *sql.Tx, ids []paths.EntryID) error

func (s *Service) changed(ctx context.Context, tx *sql.Tx, ids ...paths.EntryID) error {
	if s.onChange == nil || len(ids) == 0 {
		return nil
	}
	return s.onChange(ctx, tx, ids)
}

// New returns a Service.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Limits.MaxUnaryBytes == 0 && cfg.Limits.MaxFileBytes == 0 && cfg.Limits.UploadTTL == 0 {
		cfg.Limits.MaxUnaryBytes, cfg.Limits.MaxFileBytes, cfg.Limits.UploadTTL = DefaultLimits.MaxUnaryBytes, DefaultLimits.MaxFileBytes, DefaultLimits.UploadTTL
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Service{db: cfg.DB, tree: cfg.Tree, versions: cfg.Versions, content: cfg.Content, engine: cfg.Engine,
		gate: access.New(cfg.Engine, cfg.Fresh).WithPaths(cfg.Tree), limits: cfg.Limits, onChange: cfg.OnChange, log: cfg.Log, now: time.Now,
		grepSlots: make(chan struct{}, cfg.Limits.GrepConcurrency)}
	key, err := s.meta(ctx, "cursor_key", 32)
	if err != nil {
		return nil, err
	}
	s.tokens = pagetoken.New(key)
	return s, nil
}

// meta returns a named secret of this data dir, creating it at first use.
func (s *Service) meta(ctx context.Context, name string, n int) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM files_meta WHERE name = ?`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	v = make([]byte, n)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO files_meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, name, v); err != nil {
		return nil, err
	}
	return s.meta(ctx, name, n)
}

// Referencers report the content that versions and open uploads still use,
// for content.Store.GC.
func (s *Service) Referencers() []content.Referencer {
	byHex := func(fn func(content.Hash) error) func(string) error {
		return func(h string) error {
			hash, err := content.ParseHash(h)
			if err != nil {
				return err
			}
			return fn(hash)
		}
	}
	return []content.Referencer{
		func(ctx context.Context, q storage.DBTX, fn func(content.Hash) error) error {
			return s.versions.ContentHashes(ctx, q, byHex(fn))
		},
		func(ctx context.Context, q storage.DBTX, fn func(content.Hash) error) error {
			rows, err := q.QueryContext(ctx, `SELECT DISTINCT content_hash FROM files_upload_parts`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var h string
				if err := rows.Scan(&h); err != nil {
					return err
				}
				if err := byHex(fn)(h); err != nil {
					return err
				}
			}
			return rows.Err()
		},
	}
}

// Item is an entry and its path, as operations return them.
type Item struct {
	Path  paths.Path
	Entry paths.Entry
}

func item(r paths.Resolved) Item { return Item{Path: r.Path, Entry: r.Entry()} }

func notFound(p paths.Path) error { return errs.E(errs.NotFound, "%s not found", p) }

// may reports whether the caller has perm on r's entry. Reading a zone's
// root is open to every member of the zone (what they see in it is
// filtered entry by entry).
func (s *Service) may(ctx context.Context, c access.Caller, r paths.Resolved, perm string, cons authz.Consistency) (bool, error) {
	return s.gate.MayEntry(ctx, c, r, perm, cons)
}

// open resolves p for the caller and checks perm. An entry the caller may
// not read is NotFound; one it may read but lacks perm on is
// PermissionDenied.
func (s *Service) open(ctx context.Context, c access.Caller, p paths.Path, perm string, cons authz.Consistency) (paths.Resolved, error) {
	return s.gate.Open(ctx, c, p, perm, cons)
}

// Stat returns the entry at p.
func (s *Service) Stat(ctx context.Context, c access.Caller, path string, cons authz.Consistency) (Item, error) {
	p, _, err := paths.ParseField("path", path)
	if err != nil {
		return Item{}, err
	}
	r, err := s.open(ctx, c, p, nexus.PermRead, cons)
	if err != nil {
		return Item{}, err
	}
	return item(r), nil
}

// Limits returns the service's limits.
func (s *Service) Limits() Limits { return s.limits }

// Object resolves path in zone to its authz object and the permission
// tokens of its chain, for permission questions about paths (nexus check).
// It checks nothing: the caller decides who may ask.
func (s *Service) Object(ctx context.Context, zone, path string) (authz.ObjectRef, []authz.Token, error) {
	p, _, err := paths.ParseField("resource", path)
	if err != nil {
		return authz.ObjectRef{}, nil, err
	}
	r, err := s.tree.Resolve(ctx, zone, p)
	if errors.Is(err, errs.NotFound) {
		return authz.ObjectRef{}, nil, notFound(p)
	}
	if err != nil {
		return authz.ObjectRef{}, nil, err
	}
	return r.Entry().Object(), r.Tokens(), nil
}
