package sharing

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// Client is who presents a link: no identity, only what the connection
// says, for the access log and the per-address limit.
type Client struct {
	Addr      string
	UserAgent string
}

// Opened is what OpenLink returns: the entry at the path opened, with its
// path relative to the link's entry ("/" is the entry itself), and either
// a file's content or a page of a folder's children.
type Opened struct {
	Link     Link
	Item     files.Item
	Data     []byte
	Children []files.Item
	Next     string
}

// errLinkNotFound is the one answer for every token that does not work:
// unknown, revoked, expired, used up. Only the access log says which.
var errLinkNotFound = errs.E(errs.NotFound, "link not found (unknown, revoked, expired or used up)")

// addrFailures are the outcomes counted against a client address: tokens
// that do not work and wrong passwords.
var addrFailures = []Outcome{Unknown, Revoked, Expired, UsedUp, WrongPassword}

// linkFailures are the outcomes counted against a link.
var linkFailures = []Outcome{WrongPassword}

// attempt is one use of a link being decided; it logs its outcome once.
type attempt struct {
	s      *Service
	client Client
	action string
	link   LinkID
	logged bool
}

func (a *attempt) done(ctx context.Context, o Outcome) {
	if a.logged {
		return
	}
	a.logged = true
	acc := Access{Link: a.link, At: a.s.now(), Addr: a.client.Addr, UserAgent: a.client.UserAgent, Action: a.action, Outcome: o}
	if err := a.s.store.LogAccess(context.WithoutCancel(ctx), a.s.db, acc); err != nil {
		a.s.log.Error("share link: cannot record an access", "link", a.link, "outcome", o, "err", err)
	}
	if o != OK {
		a.s.log.Info("share link refused", "link", a.link, "outcome", o, "addr", a.client.Addr, "action", a.action)
	}
}

// limited returns ResourceExhausted if q counts max failures or more within
// the window, saying when to retry.
func (s *Service) limited(ctx context.Context, q FailureQuery, max int, what string) error {
	now := s.now()
	q.Since = now.Add(-s.limits.Window)
	n, oldest, err := s.store.Failures(ctx, s.db, q)
	if err != nil {
		return err
	}
	if n < max {
		return nil
	}
	wait := max1s(oldest.Add(s.limits.Window).Sub(now))
	return errs.E(errs.ResourceExhausted, "too many failed attempts %s; retry in %d s", what, int(math.Ceil(wait.Seconds())))
}

func max1s(d time.Duration) time.Duration {
	return max(d, time.Second)
}

// admit checks a token and its password, in the order that reveals least:
// the address's failures, then the token (unknown, revoked, expired, used
// up: all NotFound), then the link's failures, then the password.
func (s *Service) admit(ctx context.Context, a *attempt, token, password string) (Link, error) {
	if err := s.limited(ctx, FailureQuery{Addr: a.client.Addr, Outcomes: addrFailures}, s.limits.FailuresPerAddr, "from your address"); err != nil {
		if errors.Is(err, errs.ResourceExhausted) {
			a.done(ctx, RateLimited)
		}
		return Link{}, err
	}
	l, err := s.store.LinkByTokenHash(ctx, s.db, hashToken(token))
	if errors.Is(err, errs.NotFound) {
		a.done(ctx, Unknown)
		return Link{}, errLinkNotFound
	}
	if err != nil {
		return Link{}, err
	}
	a.link = l.ID
	now := s.now()
	switch {
	case !l.RevokedAt.IsZero():
		a.done(ctx, Revoked)
		return Link{}, errLinkNotFound
	case !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt):
		a.done(ctx, Expired)
		return Link{}, errLinkNotFound
	case l.MaxUses > 0 && l.Uses >= l.MaxUses:
		a.done(ctx, UsedUp)
		return Link{}, errLinkNotFound
	}
	// A link speaks for its creator: once the creator may no longer share
	// its entry (their role revoked, their user removed from the zone),
	// the link is dead too, like a revoked one.
	ok, gone, err := s.mayShareAs(ctx, l.CreatedBy, l)
	switch {
	case err != nil:
		return Link{}, err
	case gone:
		a.done(ctx, EntryGone)
		return Link{}, errLinkNotFound
	case !ok:
		a.done(ctx, CreatorLost)
		return Link{}, errLinkNotFound
	}
	if l.PasswordHash != "" {
		if password == "" {
			a.done(ctx, PasswordRequired)
			return Link{}, errs.E(errs.PermissionDenied, "password required")
		}
		// One password check per link at a time on this node: the failures
		// counted above cannot be outrun by guesses sent together.
		unlock := s.lockLink(l.ID)
		defer unlock()
		if err := s.limited(ctx, FailureQuery{Link: l.ID, Outcomes: linkFailures}, s.limits.FailuresPerLink, "on this link"); err != nil {
			if errors.Is(err, errs.ResourceExhausted) {
				a.done(ctx, RateLimited)
			}
			return Link{}, err
		}
		if bcrypt.CompareHashAndPassword([]byte(l.PasswordHash), []byte(password)) != nil {
			a.done(ctx, WrongPassword)
			return Link{}, errs.E(errs.PermissionDenied, "wrong password")
		}
	}
	return l, nil
}

// mayShareAs reports whether user may share the link's entry, at least as
// fresh as the entry's chain and the last membership change; gone is true
// when the entry no longer exists.
func (s *Service) mayShareAs(ctx context.Context, user string, l Link) (ok, gone bool, err error) {
	r, err := s.pathOf(ctx, l.Entry)
	if errors.Is(err, errs.NotFound) {
		return false, true, nil
	}
	if err != nil {
		return false, false, err
	}
	ok, err = s.gate.May(ctx, access.Caller{User: user, Zone: l.Zone}, l.EntryKind.Object(l.Entry), nexus.PermShare, authz.MinimizeLatency(), r.Tokens()...)
	return ok, false, err
}

// lockLink serializes password checks on one link; the returned func
// unlocks.
func (s *Service) lockLink(id LinkID) func() {
	v, _ := s.linkLocks.LoadOrStore(id, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// errEntryGone is target's answer for a link whose entry no longer exists
// (the access log tells it from a sub-path that is not there).
var errEntryGone = errors.New("sharing: the link's entry no longer exists")

// target resolves a sub-path below the link's entry. Anything that is not
// a plain relative path below it ("..", ".", empty segments, a path into a
// file link) is NotFound, as a missing entry is: the link's subtree is all
// there is.
func (s *Service) target(ctx context.Context, l Link, sub string) (paths.Path, paths.Path, error) {
	root, err := s.pathOf(ctx, l.Entry)
	if errors.Is(err, errs.NotFound) {
		return "", "", errEntryGone
	}
	if err != nil {
		return "", "", err
	}
	sub = strings.TrimPrefix(sub, "/")
	if sub == "" {
		return root.Path, paths.Root, nil
	}
	rel, _, err := paths.Parse("/" + sub)
	if err != nil || l.EntryKind != paths.Folder {
		return "", "", errs.E(errs.NotFound, "not found")
	}
	full := root.Path
	for _, seg := range rel.Segments() {
		full = full.Join(seg)
	}
	if !full.IsWithin(root.Path) {
		return "", "", errs.E(errs.NotFound, "not found")
	}
	return full, rel, nil
}

// relative rewrites a path below root as one relative to it.
func relative(root, p paths.Path) paths.Path {
	if root == paths.Root {
		return p
	}
	if p == root {
		return paths.Root
	}
	return paths.Path(strings.TrimPrefix(string(p), string(root)))
}

// scrub keeps an error's kind but says nothing of the paths above the
// link's entry: a link holder knows only its subtree.
func scrub(err error, root paths.Path) error {
	var de *errs.Error
	if !errors.As(err, &de) || root == paths.Root {
		return err
	}
	msg := strings.ReplaceAll(de.Msg, string(root)+"/", "/")
	msg = strings.ReplaceAll(msg, string(root), "/")
	return &errs.Error{Kind: de.Kind, Msg: msg, Cause: de.Cause}
}

// outcomeOf is the access log's name for a failure of the file plane.
func outcomeOf(err error) Outcome {
	switch {
	case errors.Is(err, errs.NotFound):
		return PathNotFound
	case errors.Is(err, errs.PermissionDenied):
		return Denied
	}
	return Failed
}

// OpenLink opens a link: with its token (and its password, if it has one),
// the file at sub (relative to the link's entry; "" is the entry itself) or
// a page of the folder's children. It acts as the link's subject,
// share_link:<id>, through the file plane, so the engine decides as for
// anyone else. Each successful open uses one of the link's uses.
func (s *Service) OpenLink(ctx context.Context, cl Client, token, password, sub string, pageSize int, pageToken string) (Opened, error) {
	a := &attempt{s: s, client: cl, action: "open"}
	l, err := s.admit(ctx, a, token, password)
	if err != nil {
		return Opened{}, err
	}
	c := access.Caller{User: l.CreatedBy, Zone: l.Zone, Link: string(l.ID)}
	full, _, err := s.target(ctx, l, sub)
	if errors.Is(err, errEntryGone) {
		a.done(ctx, EntryGone)
		return Opened{}, errLinkNotFound
	}
	if err != nil {
		a.done(ctx, PathNotFound)
		return Opened{}, err
	}
	root, _ := s.pathOf(ctx, l.Entry)
	ml := authz.MinimizeLatency()
	it, err := s.files.Stat(ctx, c, string(full), ml)
	if err != nil {
		a.done(ctx, outcomeOf(err))
		return Opened{}, scrub(err, root.Path)
	}
	// The use is spent last, once the file or the page is in hand: a call
	// that fails (a bad page size or page token, a vanished entry) uses
	// nothing. What was read is dropped if the last use went to another.
	out := Opened{Link: l}
	if it.Entry.Kind == paths.File {
		r, err := s.files.Read(ctx, c, string(full), 0, 0, 0, ml)
		if err != nil {
			a.done(ctx, outcomeOf(err))
			return Opened{}, scrub(err, root.Path)
		}
		it, out.Data = r.Item, r.Data
	} else {
		kids, next, err := s.files.List(ctx, c, string(full), pageSize, pageToken, ml)
		if err != nil {
			a.done(ctx, outcomeOf(err))
			return Opened{}, scrub(err, root.Path)
		}
		for _, k := range kids {
			k.Path = relative(root.Path, k.Path)
			out.Children = append(out.Children, k)
		}
		out.Next = next
	}
	if err := s.use(ctx, a, l); err != nil {
		return Opened{}, err
	}
	it.Path = relative(root.Path, it.Path)
	out.Item = it
	a.done(ctx, OK)
	return out, nil
}

// use counts one use of l, if it still has one: the last use goes to one
// caller only, however many race for it.
func (s *Service) use(ctx context.Context, a *attempt, l Link) error {
	ok, err := s.store.UseLink(ctx, s.db, l.ID, s.now())
	if err != nil {
		return err
	}
	if !ok {
		// Used up, expired or revoked since admit read the link.
		a.done(ctx, UsedUp)
		return errLinkNotFound
	}
	return nil
}

// WriteLink writes data to the file at sub below an editor link's entry
// (creating missing folders), as the link: a viewer link is refused by the
// engine like any viewer. What it creates has no owner (access to it comes
// from the folder, as for everything below the link's entry) and is
// recorded as written by link:<id>.
// Each successful write uses one of the link's uses.
func (s *Service) WriteLink(ctx context.Context, cl Client, token, password, sub string, data []byte, expectedVersion int64) (files.Item, error) {
	a := &attempt{s: s, client: cl, action: "write"}
	l, err := s.admit(ctx, a, token, password)
	if err != nil {
		return files.Item{}, err
	}
	if l.Role != Editor {
		a.done(ctx, Denied)
		return files.Item{}, errs.E(errs.PermissionDenied, "this link may only view; writing takes an editor link")
	}
	c := access.Caller{User: l.CreatedBy, Zone: l.Zone, Link: string(l.ID)}
	full, rel, err := s.target(ctx, l, sub)
	if errors.Is(err, errEntryGone) {
		a.done(ctx, EntryGone)
		return files.Item{}, errLinkNotFound
	}
	if err != nil {
		a.done(ctx, PathNotFound)
		return files.Item{}, err
	}
	if rel == paths.Root && l.EntryKind == paths.Folder {
		a.done(ctx, PathNotFound)
		return files.Item{}, errs.Invalid("sub_path", "names a folder; give the path of a file below it")
	}
	root, _ := s.pathOf(ctx, l.Entry)
	if err := s.use(ctx, a, l); err != nil {
		return files.Item{}, err
	}
	it, _, err := s.files.Write(ctx, c, string(full), data, files.WriteOptions{ExpectedVersion: expectedVersion, CreateParents: true})
	if err != nil {
		a.done(ctx, outcomeOf(err))
		return files.Item{}, scrub(err, root.Path)
	}
	it.Path = relative(root.Path, it.Path)
	a.done(ctx, OK)
	return it, nil
}
