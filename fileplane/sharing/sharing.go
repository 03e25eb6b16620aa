// Package sharing grants access to files and folders: roles (viewer, editor,
// owner) given to users and groups, including another zone's, and share
// links — bearer tokens with an optional password, expiry and use limit that
// act as share_link subjects in the same authorization engine. It decides
// who may share, keeps links and their access log, and opens links through
// the file plane (fileplane/files) as the link. It knows nothing of HTTP.
package sharing

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/storage"
)

// Role is a role on a file or folder (a relation of schema.zed).
type Role string

const (
	Viewer Role = "viewer"
	Editor Role = "editor"
	Owner  Role = "owner"
)

// rank orders roles by what they allow.
func (r Role) rank() int {
	switch r {
	case Owner:
		return 3
	case Editor:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// Check refuses a role that is not one: field names it in the message.
func (r Role) Check(field string) error {
	switch r {
	case Viewer, Editor, Owner:
		return nil
	case "":
		return errs.Invalid(field, "must be set: viewer, editor or owner")
	}
	return errs.Invalid(field, "%q is not a role; use viewer, editor or owner", string(r))
}

// LinkID is a share link's stable id, also its object id in authz
// (share_link:<id>). It is not a secret; the token is.
type LinkID string

// Object is the link's authz object.
func (id LinkID) Object() authz.ObjectRef { return authz.Obj(nexus.TypeShareLink, string(id)) }

// Link is a stored share link: the hash of its token, never the token.
type Link struct {
	ID           LinkID
	Zone         string
	Entry        paths.EntryID
	EntryKind    paths.Kind
	Role         Role // viewer or editor
	TokenHash    []byte
	PasswordHash string // bcrypt; "" for none
	CreatedBy    string // user id
	CreatedAt    time.Time
	ExpiresAt    time.Time // zero: never
	MaxUses      int64     // 0: unlimited
	Uses         int64
	RevokedAt    time.Time // zero: live
}

// Outcome is how an attempt to use a link ended.
type Outcome string

const (
	OK               Outcome = "ok"
	Unknown          Outcome = "unknown_token"
	Revoked          Outcome = "revoked"
	CreatorLost      Outcome = "creator_cannot_share" // the creator may no longer share the entry
	Expired          Outcome = "expired"
	UsedUp           Outcome = "used_up"
	PasswordRequired Outcome = "password_required"
	WrongPassword    Outcome = "wrong_password"
	RateLimited      Outcome = "rate_limited"
	PathNotFound     Outcome = "not_found"
	Denied           Outcome = "denied"
	EntryGone        Outcome = "entry_gone"
	Failed           Outcome = "error" // any other failure (the server log has it)
)

// Access is one attempt to use a link (Link is "" for a token that matched
// no link).
type Access struct {
	Link      LinkID
	At        time.Time
	Addr      string
	UserAgent string
	Action    string // "open" or "write"
	Outcome   Outcome
}

// FailureQuery selects failed attempts: of one link, or from one address
// (set exactly one), with one of Outcomes, after Since.
type FailureQuery struct {
	Link     LinkID
	Addr     string
	Outcomes []Outcome
	Since    time.Time
}

// Store keeps links and their access log. Methods run on the DBTX given, so
// callers put them in the transaction that records the matching
// relationships. A missing link is errs.NotFound; a taken id or token
// hash errs.AlreadyExists.
type Store interface {
	InsertLink(ctx context.Context, q storage.DBTX, l Link) error
	Link(ctx context.Context, q storage.DBTX, id LinkID) (Link, error)
	LinkByTokenHash(ctx context.Context, q storage.DBTX, hash []byte) (Link, error)
	// Links returns the links of an entry, newest first.
	Links(ctx context.Context, q storage.DBTX, entry paths.EntryID) ([]Link, error)
	// RevokeLink marks a live link revoked at t; a missing or already
	// revoked link is errs.NotFound.
	RevokeLink(ctx context.Context, q storage.DBTX, id LinkID, t time.Time) error
	// UseLink counts one use of the link if, at now, it is not revoked, not
	// expired (expires_at > now) and under its use limit, in one conditional
	// update: concurrent callers never get more than MaxUses between them.
	// It reports whether a use was counted.
	UseLink(ctx context.Context, q storage.DBTX, id LinkID, now time.Time) (bool, error)
	LogAccess(ctx context.Context, q storage.DBTX, a Access) error
	// AccessLog returns up to limit attempts on a link, newest first.
	AccessLog(ctx context.Context, q storage.DBTX, id LinkID, limit int) ([]Access, error)
	// Failures counts the attempts f selects and returns the oldest one's
	// time (zero if none).
	Failures(ctx context.Context, q storage.DBTX, f FailureQuery) (int, time.Time, error)
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteMigrations are the links and access log tables' migrations.
func SQLiteMigrations() fs.FS {
	return storage.Migrations(sqliteMigrations, "migrations/sqlite")
}

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// PostgresMigrations are the links and access log tables' migrations on PostgreSQL.
func PostgresMigrations() fs.FS {
	return storage.Migrations(postgresMigrations, "migrations/postgres")
}

// Engine is what sharing needs of authz.
type Engine interface {
	authz.Checker
	authz.Writer
	Read(ctx context.Context, f authz.Filter, c authz.Consistency) ([]authz.Relationship, error)
	Newest(tokens ...authz.Token) authz.Token
}

// Directory names subjects (identity implements it).
type Directory interface {
	// SubjectIn resolves "user:NAME" or "group:NAME" (NAME may be
	// "ZONE/NAME") relative to zone: the subject and its zone. One that does
	// not exist is errs.NotFound; a malformed one errs.InvalidArgument.
	SubjectIn(ctx context.Context, zone, field, ref string) (authz.SubjectRef, string, error)
	// SubjectName names a subject for display relative to zone.
	SubjectName(ctx context.Context, zone string, s authz.SubjectRef) string
	// ZoneName names a zone.
	ZoneName(ctx context.Context, zone string) string
}

// Limits bound attempts on links.
type Limits struct {
	// FailuresPerLink is how many wrong passwords a link takes per Window.
	FailuresPerLink int
	// FailuresPerAddr is how many failed attempts (unknown, revoked,
	// expired or used-up tokens, wrong passwords) one client address may
	// make per Window.
	FailuresPerAddr int
	Window          time.Duration
	// PasswordCost is bcrypt's cost.
	PasswordCost int
}

// DefaultLimits: 5 failures per minute per link and per address.
var DefaultLimits = Limits{FailuresPerLink: 5, FailuresPerAddr: 5, Window: time.Minute, PasswordCost: bcrypt.DefaultCost}

// Config configures a Service.
type Config struct {
	DB        storage.DB
	Store     Store
	Tree      *paths.Tree
	Files     *files.Service
	Engine    Engine
	Directory Directory
	// Fresh returns a token every check must be at least as fresh as (the
	// last group membership change), or "".
	Fresh  func() authz.Token
	Limits Limits
	Log    *slog.Logger
	// Now is the clock (tests inject one); nil is time.Now.
	Now func() time.Time
}

// Service is the sharing capability.
type Service struct {
	db     storage.DB
	store  Store
	tree   *paths.Tree
	files  *files.Service
	engine Engine
	gate   *access.Gate
	dir    Directory
	limits Limits
	log    *slog.Logger
	now    func() time.Time

	linkLocks sync.Map // LinkID -> *sync.Mutex, see lockLink
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{db: cfg.DB, store: cfg.Store, tree: cfg.Tree, files: cfg.Files, engine: cfg.Engine,
		gate: access.New(cfg.Engine, cfg.Fresh).WithPaths(cfg.Tree), dir: cfg.Directory, limits: cfg.Limits, log: cfg.Log, now: cfg.Now}
}

// recordToken stores a relationship write's token on the entry it changes:
// checks on the entry and below are then at least as fresh as the change.
func (s *Service) recordToken(id paths.EntryID) authz.WriteOption {
	return paths.RecordToken(s.tree.Store(), id, nil)
}

// pathOf returns the current path and chain of an entry, walking up its
// parents.
func (s *Service) pathOf(ctx context.Context, id paths.EntryID) (paths.Resolved, error) {
	var chain []paths.Entry
	for cur := id; ; {
		e, err := s.tree.Store().Get(ctx, s.db, cur)
		if err != nil {
			return paths.Resolved{}, err
		}
		chain = append(chain, e)
		if e.IsRoot() {
			break
		}
		if len(chain) > paths.MaxPathBytes {
			return paths.Resolved{}, errs.E(errs.DataLoss, "entry %s: parent chain does not end", id)
		}
		cur = e.Parent
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	p := paths.Root
	for _, e := range chain[1:] {
		p = p.Join(e.Name)
	}
	return paths.Resolved{Path: p, Chain: chain}, nil
}
