// Package memory keeps what users and agents remember: short texts with
// tags and metadata, recalled by text relevance, recency and importance.
// Every memory is an object of the authorization schema (memory:<id>, with
// zone, owner and viewer relations), and every answer is filtered by it in
// batches: a memory the caller may not read does not exist for it. An
// agent is a user with an owner (user:<agent>#owner@user:<person>); the
// owner reads the agent's memories. It knows nothing of HTTP.
package memory

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/internal/pagetoken"
	"github.com/nexus-authz/nexus/storage"
)

// ID is a memory's id, also its object id in authz.
type ID string

// Scope says who a memory is for.
type Scope string

const (
	// ScopeUser is the caller's own memory; an agent's goes to the user who
	// owns it, and the agent may read it.
	ScopeUser Scope = "user"
	// ScopeAgent is the calling agent's own memory; its owner may read it.
	ScopeAgent Scope = "agent"
	// ScopeZone is readable by every member of the zone.
	ScopeZone Scope = "zone"
)

// Memory is one remembered note.
type Memory struct {
	ID         ID
	Zone       string
	Owner      string // user id of the owner (a person or an agent)
	Author     string // user id of who remembered it
	Scope      Scope
	Text       string
	Tags       []string
	Metadata   map[string]string
	Importance float64 // 0-1
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	// PermToken is the token of the write that created its relationships.
	PermToken authz.Token
}

// Limits on what one memory holds.
const (
	MaxTextBytes      = 16 << 10
	MaxTags           = 32
	MaxTagBytes       = 64
	MaxMetadata       = 32
	MaxMetaKeyBytes   = 64
	MaxMetaValueBytes = 1024
	MaxTTL            = 10 * 365 * 24 * time.Hour
	DefaultImportance = 0.5
)

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_.:\-]+$`)

// Engine is what memory needs of authz.
type Engine interface {
	authz.Checker
	authz.Writer
	Read(ctx context.Context, f authz.Filter, c authz.Consistency) ([]authz.Relationship, error)
	Newest(tokens ...authz.Token) authz.Token
}

// Service is the memory capability.
type Service struct {
	db     storage.DB
	store  Store
	engine Engine
	gate   *access.Gate
	now    func() time.Time
	// tokens seals List's page tokens, which name the last memory a page
	// examined (maybe one the caller may not read).
	tokens *pagetoken.Sealer
}

// NewService returns a Service. fresh returns a token every check must be
// at least as fresh as (the last group membership change), or nil.
func NewService(db storage.DB, store Store, engine Engine, fresh func() authz.Token) *Service {
	return &Service{db: db, store: store, engine: engine, gate: access.New(engine, fresh), now: time.Now, tokens: pagetoken.New(nil)}
}

// SetClock replaces the service's clock (for tests of expiry).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// RememberRequest is what Remember stores.
type RememberRequest struct {
	Text       string
	Tags       []string
	Metadata   map[string]string
	Scope      Scope         // "" means ScopeUser
	Importance *float64      // nil means DefaultImportance
	TTL        time.Duration // 0 means never expires
}

func (r *RememberRequest) validate() error {
	switch {
	case r.Text == "":
		return errs.Invalid("text", "must not be empty")
	case len(r.Text) > MaxTextBytes:
		return errs.Invalid("text", "is %d bytes; a memory holds at most %d", len(r.Text), MaxTextBytes)
	case !utf8.ValidString(r.Text):
		return errs.Invalid("text", "is not valid UTF-8")
	case strings.IndexByte(r.Text, 0) >= 0:
		// PostgreSQL's text holds none; refused on SQLite too, so that a
		// memory is the same on either.
		return errs.Invalid("text", "holds a NUL byte; a memory's text may not")
	case len(r.Tags) > MaxTags:
		return errs.Invalid("tags", "%d tags; at most %d", len(r.Tags), MaxTags)
	case len(r.Metadata) > MaxMetadata:
		return errs.Invalid("metadata", "%d entries; at most %d", len(r.Metadata), MaxMetadata)
	case r.Importance != nil && !(*r.Importance >= 0 && *r.Importance <= 1):
		return errs.Invalid("importance", "%v is out of range; use 0-1", *r.Importance)
	case r.TTL < 0 || r.TTL > MaxTTL:
		return errs.Invalid("ttl", "%s is out of range; use 0 (never expires) up to %s", r.TTL, MaxTTL)
	}
	if err := validTags("tags", r.Tags); err != nil {
		return err
	}
	for k, v := range r.Metadata {
		if k == "" || len(k) > MaxMetaKeyBytes {
			return errs.Invalid("metadata", "key %q must be 1-%d bytes", k, MaxMetaKeyBytes)
		}
		if len(v) > MaxMetaValueBytes {
			return errs.Invalid("metadata", "value of %q is %d bytes; at most %d", k, len(v), MaxMetaValueBytes)
		}
	}
	switch r.Scope {
	case "":
		r.Scope = ScopeUser
	case ScopeUser, ScopeAgent, ScopeZone:
	default:
		return errs.Invalid("scope", "%q: use user, agent or zone", r.Scope)
	}
	return nil
}

func validTags(field string, tags []string) error {
	for _, t := range tags {
		if len(t) == 0 || len(t) > MaxTagBytes || !tagRE.MatchString(t) {
			return errs.Invalid(field, "%q must be 1-%d of letters, digits, - _ . :", t, MaxTagBytes)
		}
	}
	return nil
}

// agentOwner returns the user who owns the agent user, or "" if user is
// not an agent.
func (s *Service) agentOwner(ctx context.Context, user string) (string, error) {
	rels, err := s.engine.Read(ctx, authz.Filter{Resource: authz.Obj(nexus.TypeUser, user), Relation: nexus.RelOwner}, authz.FullyConsistent())
	if err != nil || len(rels) == 0 {
		return "", err
	}
	return rels[0].Subject.Object.ID, nil
}

// Remember stores a memory for the caller and returns it with the token of
// the write that made it readable.
func (s *Service) Remember(ctx context.Context, c access.Caller, r RememberRequest) (Memory, authz.Token, error) {
	if err := r.validate(); err != nil {
		return Memory{}, "", err
	}
	now := s.now()
	m := Memory{ID: ID(storage.NewID("mem")), Zone: c.Zone, Owner: c.User, Author: c.User, Scope: r.Scope, Text: r.Text,
		Tags: dedupe(r.Tags), Metadata: r.Metadata, Importance: DefaultImportance, CreatedAt: now}
	if r.Importance != nil {
		m.Importance = *r.Importance
	}
	if r.TTL > 0 {
		m.ExpiresAt = now.Add(r.TTL)
	}
	obj := object(m.ID)
	rels := []authz.Relationship{authz.Rel(obj, nexus.RelZone, authz.Subject(nexus.TypeZone, c.Zone))}
	owner, err := s.agentOwner(ctx, c.User)
	if err != nil {
		return Memory{}, "", err
	}
	switch m.Scope {
	case ScopeAgent:
		if owner == "" {
			return Memory{}, "", errs.Invalid("scope", "agent is for agents (users with an owner); you are not one: use user or zone")
		}
	case ScopeUser:
		if owner != "" {
			m.Owner = owner // the agent's person owns it; the agent reads it
			rels = append(rels, authz.Rel(obj, nexus.RelViewer, c.Subject()))
		}
	case ScopeZone:
		rels = append(rels, authz.Rel(obj, nexus.RelViewer, authz.SubjectSet(nexus.TypeZone, c.Zone, nexus.RelMember)))
	}
	rels = append(rels, authz.Rel(obj, nexus.RelOwner, authz.Subject(nexus.TypeUser, m.Owner)))
	updates := make([]authz.Update, len(rels))
	for i, rel := range rels {
		updates[i] = authz.TouchRel(rel)
	}
	tok, err := s.engine.Write(ctx, updates, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		return s.store.Insert(ctx, tx, m)
	}), authz.WithTokenTx(func(ctx context.Context, tx *sql.Tx, token authz.Token) error {
		m.PermToken = token
		return s.store.SetPermToken(ctx, tx, m.ID, token)
	}))
	if err != nil {
		return Memory{}, "", err
	}
	return m, tok, nil
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func notFound(id ID) error { return errs.E(errs.NotFound, "memory %s not found", id) }

// open returns memory id if the caller may read it (else NotFound, as for
// one that does not exist or has expired).
func (s *Service) open(ctx context.Context, c access.Caller, id ID, cons authz.Consistency) (Memory, error) {
	if id == "" {
		return Memory{}, errs.Invalid("id", "must not be empty")
	}
	if err := object(id).Validate(); err != nil {
		return Memory{}, notFound(id)
	}
	m, err := s.store.Get(ctx, s.db, id, s.now())
	if errors.Is(err, errs.NotFound) {
		return Memory{}, notFound(id)
	}
	if err != nil {
		return Memory{}, err
	}
	ok, err := s.gate.May(ctx, c, object(id), nexus.PermRead, cons, m.PermToken)
	if err != nil {
		return Memory{}, err
	}
	if !ok {
		return Memory{}, notFound(id)
	}
	return m, nil
}

// Get returns one memory.
func (s *Service) Get(ctx context.Context, c access.Caller, id ID, cons authz.Consistency) (Memory, error) {
	return s.open(ctx, c, id, cons)
}

// Forget deletes a memory and its relationships; it takes delete on it.
func (s *Service) Forget(ctx context.Context, c access.Caller, id ID) (authz.Token, error) {
	m, err := s.open(ctx, c, id, authz.MinimizeLatency())
	if err != nil {
		return "", err
	}
	ok, err := s.gate.May(ctx, c, object(id), nexus.PermDelete, authz.MinimizeLatency(), m.PermToken)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errs.E(errs.PermissionDenied, "you may read memory %s but not forget it (only its owner may)", id)
	}
	return s.delete(ctx, id)
}

func (s *Service) delete(ctx context.Context, id ID) (authz.Token, error) {
	return s.engine.DeleteMatching(ctx, authz.Filter{Resource: object(id)}, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		err := s.store.Delete(ctx, tx, id)
		if errors.Is(err, errs.NotFound) {
			return notFound(id) // forgotten concurrently
		}
		return err
	}))
}

// Sweep deletes expired memories (they are already invisible) with their
// relationships, and returns how many.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	n := 0
	for {
		ids, err := s.store.Expired(ctx, s.db, s.now(), 100)
		if err != nil || len(ids) == 0 {
			return n, err
		}
		for _, id := range ids {
			if _, err := s.delete(ctx, id); err != nil && !errors.Is(err, errs.NotFound) {
				return n, err
			}
			n++
		}
	}
}
