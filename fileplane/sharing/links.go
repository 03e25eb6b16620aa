package sharing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/storage"
)

// tokenPrefix starts every link token, so a token is recognisable (in logs
// and secret scanners) and never mistaken for a link id.
const tokenPrefix = "nxl_"

// maxPasswordBytes is bcrypt's limit.
const maxPasswordBytes = 72

// newToken returns a token of 256 random bits and its hash.
func newToken() (string, []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, hashToken(tok)
}

// hashToken is SHA-256: the token is random enough that a slow hash adds
// nothing.
func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// LinkOptions are CreateLink's options.
type LinkOptions struct {
	Role      Role          // viewer (default) or editor
	ExpiresIn time.Duration // 0: never
	Password  string        // "": none
	MaxUses   int64         // 0: unlimited
}

// CreateLink makes a share link for the entry at path and returns it with
// its token (shown once; only its hash is kept) and the write's consistency
// token. It takes share on the entry.
func (s *Service) CreateLink(ctx context.Context, c access.Caller, path string, o LinkOptions) (Link, string, authz.Token, error) {
	rl := Viewer
	if o.Role != "" {
		if err := o.Role.Check("role"); err != nil {
			return Link{}, "", "", err
		}
		rl = o.Role
	}
	switch {
	case rl == Owner:
		return Link{}, "", "", errs.Invalid("role", "a link may be viewer or editor, not owner")
	case o.ExpiresIn < 0:
		return Link{}, "", "", errs.Invalid("expires_in", "%s is negative; give a duration from now, or none", o.ExpiresIn)
	case o.MaxUses < 0:
		return Link{}, "", "", errs.Invalid("max_uses", "%d is negative; use 0 for unlimited", o.MaxUses)
	case len(o.Password) > maxPasswordBytes:
		return Link{}, "", "", errs.Invalid("password", "is %d bytes; at most %d", len(o.Password), maxPasswordBytes)
	}
	r, err := s.mayShare(ctx, c, path, authz.MinimizeLatency())
	if err != nil {
		return Link{}, "", "", err
	}
	e := r.Entry()
	tok, hash := newToken()
	now := s.now()
	l := Link{ID: LinkID(storage.NewID("lnk")), Zone: e.Zone, Entry: e.ID, EntryKind: e.Kind, Role: rl, TokenHash: hash,
		CreatedBy: c.User, CreatedAt: now, MaxUses: o.MaxUses}
	if o.ExpiresIn > 0 {
		l.ExpiresAt = now.Add(o.ExpiresIn)
	}
	if o.Password != "" {
		ph, err := bcrypt.GenerateFromPassword([]byte(o.Password), s.limits.PasswordCost)
		if err != nil {
			return Link{}, "", "", err
		}
		l.PasswordHash = string(ph)
	}
	updates := []authz.Update{
		authz.TouchRel(authz.Rel(l.ID.Object(), nexus.RelZone, authz.Subject(nexus.TypeZone, l.Zone))),
		authz.TouchRel(authz.Rel(l.ID.Object(), nexus.RelCreator, authz.Subject(nexus.TypeUser, c.User))),
		authz.TouchRel(authz.Rel(e.Object(), string(rl), l.ID.Object().AsSubject())),
	}
	ct, err := s.engine.Write(ctx, updates, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		return s.store.InsertLink(ctx, tx, l)
	}), s.recordToken(e.ID))
	if err != nil {
		return Link{}, "", "", err
	}
	expires := "never"
	if !l.ExpiresAt.IsZero() {
		expires = l.ExpiresAt.UTC().Format(time.RFC3339)
	}
	s.log.Info("share link created", "link", l.ID, "path", r.Path, "role", rl, "by", s.who(ctx, c),
		"expires_at", expires, "max_uses", l.MaxUses, "password", l.PasswordHash != "")
	return l, tok, ct, nil
}

// managedLink finds the link named by ref (its token or its id) for a
// caller who may manage it: its creator, or whoever may share its entry. A
// link the caller may not manage is NotFound, like an unknown one.
func (s *Service) managedLink(ctx context.Context, c access.Caller, ref string) (Link, error) {
	notFound := errs.E(errs.NotFound, "link not found")
	var l Link
	var err error
	switch {
	case ref == "":
		return Link{}, errs.Invalid("link", "must not be empty: give the link's token or its id")
	case strings.HasPrefix(ref, tokenPrefix):
		l, err = s.store.LinkByTokenHash(ctx, s.db, hashToken(ref))
	default:
		l, err = s.store.Link(ctx, s.db, LinkID(ref))
	}
	if errors.Is(err, errs.NotFound) {
		return Link{}, notFound
	}
	if err != nil {
		return Link{}, err
	}
	if l.Zone != c.Zone {
		return Link{}, notFound
	}
	// Managing a link takes share on its entry, now: a creator who has
	// lost it (and with it the link, see admit) manages nothing. A link
	// whose entry is gone is dead; its creator and the zone's admins may
	// still read its log and revoke it (manage on the link).
	ok, gone, err := s.mayShareAs(ctx, c.User, l)
	if err != nil {
		return Link{}, err
	}
	if gone {
		ok, err = s.gate.May(ctx, access.Caller{User: c.User, Zone: c.Zone}, l.ID.Object(), nexus.PermManage, authz.MinimizeLatency())
		if err != nil {
			return Link{}, err
		}
	}
	if !ok {
		return Link{}, notFound
	}
	return l, nil
}

// RevokeLink ends the link named by ref (its token or its id) at once: the
// row is marked revoked and the link's role on its entry is deleted, in one
// transaction. It returns the write's consistency token.
func (s *Service) RevokeLink(ctx context.Context, c access.Caller, ref string) (authz.Token, error) {
	l, err := s.managedLink(ctx, c, ref)
	if err != nil {
		return "", err
	}
	if !l.RevokedAt.IsZero() {
		return "", errs.E(errs.FailedPrecondition, "link %s was revoked at %s", l.ID, l.RevokedAt.Format(time.RFC3339))
	}
	rel := authz.Rel(l.EntryKind.Object(l.Entry), string(l.Role), l.ID.Object().AsSubject())
	opts := []authz.WriteOption{authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		return s.store.RevokeLink(ctx, tx, l.ID, s.now())
	})}
	if _, err := s.tree.Store().Get(ctx, s.db, l.Entry); err == nil {
		opts = append(opts, s.recordToken(l.Entry))
	}
	tok, err := s.engine.Write(ctx, []authz.Update{authz.DeleteRel(rel)}, opts...)
	if errors.Is(err, errs.NotFound) {
		return "", errs.E(errs.FailedPrecondition, "link %s is already revoked", l.ID)
	}
	if err != nil {
		return "", err
	}
	s.log.Info("share link revoked", "link", l.ID, "by", s.who(ctx, c))
	return tok, nil
}

// ListLinks returns the links of the entry at path, newest first. It takes
// share on the entry.
func (s *Service) ListLinks(ctx context.Context, c access.Caller, path string) ([]Link, paths.Path, error) {
	r, err := s.mayShare(ctx, c, path, authz.MinimizeLatency())
	if err != nil {
		return nil, "", err
	}
	ls, err := s.store.Links(ctx, s.db, r.Entry().ID)
	return ls, r.Path, err
}

// LinkAccessLog returns up to limit attempts to use the link named by ref,
// newest first, with the real reason of each failure.
func (s *Service) LinkAccessLog(ctx context.Context, c access.Caller, ref string, limit int) ([]Access, error) {
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return nil, errs.Invalid("limit", "%d is out of range; use 1-%d (0 means %d)", limit, MaxPageSize, DefaultPageSize)
	}
	l, err := s.managedLink(ctx, c, ref)
	if err != nil {
		return nil, err
	}
	return s.store.AccessLog(ctx, s.db, l.ID, limit)
}

// LinkPath returns the current path of a link's entry ("" if it is gone).
func (s *Service) LinkPath(ctx context.Context, l Link) paths.Path {
	r, err := s.pathOf(ctx, l.Entry)
	if err != nil {
		return ""
	}
	return r.Path
}
