package paths

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

// Engine is what the tree needs of authz.
type Engine interface {
	authz.Writer
	Read(ctx context.Context, f authz.Filter, c authz.Consistency) ([]authz.Relationship, error)
	// ObjectIDs lists the objects of a type that have relationships, each
	// once (authz.Engine.ObjectIDs).
	ObjectIDs(ctx context.Context, typ string, fn func(id string) error) error
}

// settler is an Engine that can apply the relationship writes recorded but
// not yet applied (authz.Engine.Settle, on PostgreSQL).
type settler interface {
	Settle(ctx context.Context) (authz.Token, error)
}

// settle gives the entries with no PermToken yet one at which their
// relationships are there. On PostgreSQL an entry's row commits a few
// milliseconds before its relationships (authz/outbox.go), and its token is
// recorded once they are applied: an entry without one may still be
// without them, and a check on it (a folder another writer just created, a
// zone's new root) would be denied. settle applies what is pending first.
// If that fails (the primary down) the entries stay as they are: checks on
// them may deny, never allow more.
func (t *Tree) settle(ctx context.Context, es []Entry) {
	var tok authz.Token
	for i := range es {
		if es[i].PermToken != "" {
			continue
		}
		if tok == "" {
			s, ok := t.engine.(settler)
			if !ok {
				return
			}
			var err error
			if tok, err = s.Settle(ctx); err != nil || tok == "" {
				if err != nil {
					t.log.Warn("paths: cannot apply pending relationship writes; checks on an entry just written may deny", "err", err)
				}
				return
			}
		}
		es[i].PermToken = tok
	}
}

// Tree is the namespace of every zone: it resolves paths and creates, moves
// and deletes entries together with their relationships (zone, parent,
// owner), each in one logical step. It checks no permissions: callers do.
type Tree struct {
	db     storage.DB
	store  Store
	engine Engine
	log    *slog.Logger
	now    func() time.Time
}

// NewTree returns a Tree.
func NewTree(db storage.DB, store Store, engine Engine, log *slog.Logger) *Tree {
	if log == nil {
		log = slog.Default()
	}
	return &Tree{db: db, store: store, engine: engine, log: log, now: time.Now}
}

// Store returns the tree's store, for reads in a caller's transaction.
func (t *Tree) Store() Store { return t.store }

// Resolved is a path and the chain of entries from the root to it.
type Resolved struct {
	Path  Path
	Chain []Entry // Chain[0] is the root; the last is the entry
}

// Entry is the resolved entry.
func (r Resolved) Entry() Entry { return r.Chain[len(r.Chain)-1] }

// Tokens returns the permission tokens along the chain.
func (r Resolved) Tokens() []authz.Token {
	out := make([]authz.Token, 0, len(r.Chain))
	for _, e := range r.Chain {
		if e.PermToken != "" {
			out = append(out, e.PermToken)
		}
	}
	return out
}

// Child returns r extended by child e.
func (r Resolved) Child(e Entry) Resolved {
	chain := make([]Entry, len(r.Chain), len(r.Chain)+1)
	copy(chain, r.Chain)
	return Resolved{Path: r.Path.Join(e.Name), Chain: append(chain, e)}
}

// Contains reports whether id is on r's chain (r's entry or an ancestor).
func (r Resolved) Contains(id EntryID) bool {
	for _, e := range r.Chain {
		if e.ID == id {
			return true
		}
	}
	return false
}

// Root returns zone's root folder, creating it at first use.
func (t *Tree) Root(ctx context.Context, zone string) (Entry, error) {
	root, err := t.store.Root(ctx, t.db, zone)
	if err == nil {
		one := []Entry{root}
		t.settle(ctx, one)
		return one[0], nil
	}
	if !errors.Is(err, errs.NotFound) {
		return root, err
	}
	now := t.now()
	root = Entry{ID: EntryID(storage.NewID("fld")), Zone: zone, Kind: Folder, CreatedBy: "system", CreatedAt: now, ModifiedBy: "system", ModifiedAt: now}
	tok, err := t.engine.Write(ctx, []authz.Update{
		authz.TouchRel(authz.Rel(root.Object(), nexus.RelZone, authz.Subject(nexus.TypeZone, zone))),
	}, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		return t.store.Insert(ctx, tx, root)
	}), RecordToken(t.store, root.ID, &root))
	if errors.Is(err, errs.AlreadyExists) {
		return t.store.Root(ctx, t.db, zone) // created concurrently
	}
	if err != nil {
		return Entry{}, err
	}
	root.PermToken = tok
	return root, nil
}

// RecordToken stores a relationship write's token as the PermToken of
// entry id once the write is applied (see authz.WithTokenTx), and in *e if
// e is not nil: checks on the entry and below are then at least as fresh
// as the change.
func RecordToken(store Store, id EntryID, e *Entry) authz.WriteOption {
	return authz.WithTokenTx(func(ctx context.Context, tx *sql.Tx, token authz.Token) error {
		if e != nil {
			e.PermToken = token
		}
		return store.SetPermToken(ctx, tx, id, token)
	})
}

// ErrNotFound is returned by Resolve with the longest chain that exists.
type NotFoundError struct {
	Path    Path
	Partial Resolved // the deepest existing ancestor
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s not found", e.Path) }

// Is makes errors.Is(err, errs.NotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == errs.NotFound }

// Resolve walks p from zone's root. A missing entry is a *NotFoundError
// (errs.NotFound) carrying the deepest ancestor found. Walking through a
// file is also NotFound.
func (t *Tree) Resolve(ctx context.Context, zone string, p Path) (Resolved, error) {
	root, err := t.Root(ctx, zone)
	if err != nil {
		return Resolved{}, err
	}
	r := Resolved{Path: Root, Chain: []Entry{root}}
	for _, name := range p.Segments() {
		cur := r.Entry()
		if cur.Kind != Folder {
			return Resolved{}, &NotFoundError{Path: p, Partial: r}
		}
		child, err := t.store.Child(ctx, t.db, cur.ID, name)
		if errors.Is(err, errs.NotFound) {
			return Resolved{}, &NotFoundError{Path: p, Partial: r}
		}
		if err != nil {
			return Resolved{}, err
		}
		r = r.Child(child)
	}
	t.settle(ctx, r.Chain)
	return r, nil
}

// entryRels are the relationships every entry has.
func entryRels(e Entry) []authz.Relationship {
	rels := []authz.Relationship{authz.Rel(e.Object(), nexus.RelZone, authz.Subject(nexus.TypeZone, e.Zone))}
	if e.Parent != "" {
		rels = append(rels, authz.Rel(e.Object(), nexus.RelParent, Folder.Object(e.Parent).AsSubject()))
	}
	if e.CreatedBy != "" && e.CreatedBy != "system" && !IsLinkAuthor(e.CreatedBy) {
		rels = append(rels, authz.Rel(e.Object(), nexus.RelOwner, authz.Subject(nexus.TypeUser, e.CreatedBy)))
	}
	return rels
}

// LinkAuthor is the author recorded for what a share link writes. An entry
// a link creates has no owner: its access comes from the folder it is in,
// so it is gone for everyone the link's folder is gone for (its creator
// included, once they lose the folder).
func LinkAuthor(link string) string { return "link:" + link }

// IsLinkAuthor reports whether author is a LinkAuthor.
func IsLinkAuthor(author string) bool { return strings.HasPrefix(author, "link:") }

// Create adds e (its ID, Zone and Parent are set here) under parent with
// name, with its relationships: zone, parent and its creator as owner. An
// entry deeper than MaxDepth is refused (InvalidArgument). hook
// runs in the same transaction with the entry as inserted (to record content
// or a first version). The
// entry and its relationships commit together or not at all.
func (t *Tree) Create(ctx context.Context, parent Resolved, name string, e Entry, hook func(ctx context.Context, tx *sql.Tx, e Entry) error) (Resolved, authz.Token, error) {
	p := parent.Entry()
	if p.Kind != Folder {
		return Resolved{}, "", errs.E(errs.FailedPrecondition, "%s is a file; files cannot contain entries", parent.Path)
	}
	prefix := "fil"
	if e.Kind == Folder {
		prefix = "fld"
	}
	now := t.now()
	e.ID = EntryID(storage.NewID(prefix))
	e.Zone, e.Parent, e.Name = p.Zone, p.ID, name
	e.CreatedAt, e.ModifiedAt = now, now
	e.ModifiedBy = e.CreatedBy
	var updates []authz.Update
	for _, r := range entryRels(e) {
		updates = append(updates, authz.TouchRel(r))
	}
	tok, err := t.engine.Write(ctx, updates, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		if err := t.fits(ctx, tx, p.ID, 0, parent.Path.Join(name)); err != nil {
			return err
		}
		if err := t.store.Insert(ctx, tx, e); err != nil {
			return err
		}
		if hook != nil {
			return hook(ctx, tx, e)
		}
		return nil
	}), RecordToken(t.store, e.ID, &e))
	if errors.Is(err, errs.AlreadyExists) {
		return Resolved{}, "", errs.E(errs.AlreadyExists, "%s already exists", parent.Path.Join(name))
	}
	if err != nil {
		return Resolved{}, "", err
	}
	return parent.Child(e), tok, nil
}

// fits refuses to put an entry, with below levels under it, into parent
// when its deepest entry would be deeper than MaxDepth. It reads parent's
// depth in the transaction q that writes the entry, not the path resolved
// before it: a concurrent move of a folder above cannot slip past it.
func (t *Tree) fits(ctx context.Context, q storage.DBTX, parent EntryID, below int, p Path) error {
	d, err := t.store.Depth(ctx, q, parent)
	if errors.Is(err, errs.NotFound) {
		return errs.E(errs.NotFound, "the folder of %s was deleted meanwhile", p)
	}
	if err != nil {
		return err
	}
	if deepest := d + 1 + below; deepest > MaxDepth {
		if below == 0 {
			return errs.E(errs.InvalidArgument, "%s would be %d levels deep; entries may be at most %d levels below the root", p, deepest, MaxDepth)
		}
		return errs.E(errs.InvalidArgument, "%s would put entries %d levels deep (%d below it); entries may be at most %d levels below the root", p, deepest, below, MaxDepth)
	}
	return nil
}

// Move moves src under dstParent as name: one parent relationship changes,
// whatever the size of the subtree. Moving a folder into its own subtree,
// or the root, is refused, and so is a move that would put the deepest
// entry below src deeper than MaxDepth.
func (t *Tree) Move(ctx context.Context, src, dstParent Resolved, name string) (Resolved, authz.Token, error) {
	e := src.Entry()
	if e.IsRoot() {
		return Resolved{}, "", errs.E(errs.InvalidArgument, "the root folder cannot be moved")
	}
	if dstParent.Entry().Kind != Folder {
		return Resolved{}, "", errs.E(errs.FailedPrecondition, "%s is a file; files cannot contain entries", dstParent.Path)
	}
	if dstParent.Contains(e.ID) {
		return Resolved{}, "", errs.E(errs.InvalidArgument, "cannot move %s into its own subtree (%s)", src.Path, dstParent.Path.Join(name))
	}
	newParent := dstParent.Entry().ID
	updates := []authz.Update{
		authz.DeleteRel(authz.Rel(e.Object(), nexus.RelParent, Folder.Object(e.Parent).AsSubject())),
		authz.TouchRel(authz.Rel(e.Object(), nexus.RelParent, Folder.Object(newParent).AsSubject())),
	}
	if newParent == e.Parent {
		updates = nil // a rename changes no relationship
	}
	var tok authz.Token
	var err error
	if updates == nil {
		err = storage.InTx(ctx, t.db, func(tx *sql.Tx) error {
			return t.store.Move(ctx, tx, e.ID, newParent, name, e.PermToken)
		})
	} else {
		// The row moves with the write's record; its token once the engine
		// has applied the new parent.
		tok, err = t.engine.Write(ctx, updates, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
			// The deepest entry below e, after the move, must fit too.
			below, err := t.store.Height(ctx, tx, e.ID)
			if err != nil {
				return err
			}
			if err := t.fits(ctx, tx, newParent, below, dstParent.Path.Join(name)); err != nil {
				return err
			}
			return t.store.Move(ctx, tx, e.ID, newParent, name, e.PermToken)
		}), RecordToken(t.store, e.ID, nil))
	}
	if errors.Is(err, errs.AlreadyExists) {
		return Resolved{}, "", errs.E(errs.AlreadyExists, "%s already exists", dstParent.Path.Join(name))
	}
	if err != nil {
		return Resolved{}, "", err
	}
	e.Parent, e.Name = newParent, name
	if tok != "" {
		e.PermToken = tok
	}
	return dstParent.Child(e), tok, nil
}

// Delete removes r's entry; a folder with children only when recursive. The
// entry's rows and its relationships, and those of the entries below it, go
// in one write (authz.WithCascade: on the embedded default the entries
// below lose theirs right after, and SweepOrphans at start removes what a
// crash left; on PostgreSQL they are in the write's outbox record).
//
// onDelete, if not nil, runs in the same transaction with the ids deleted
// (to delete what other domains keep about them).
func (t *Tree) Delete(ctx context.Context, r Resolved, recursive bool, onDelete func(ctx context.Context, tx *sql.Tx, ids []EntryID) error) (authz.Token, error) {
	e := r.Entry()
	if e.IsRoot() {
		return "", errs.E(errs.InvalidArgument, "the root folder cannot be deleted")
	}
	sub, err := t.store.Subtree(ctx, t.db, e.ID)
	if errors.Is(err, errs.NotFound) {
		return "", errs.E(errs.NotFound, "%s not found", r.Path) // deleted concurrently
	}
	if err != nil {
		return "", err
	}
	if len(sub) > 1 && !recursive {
		return "", errs.E(errs.FailedPrecondition, "%s is a folder with %d entries below it; delete with recursive", r.Path, len(sub)-1)
	}
	var ids []EntryID
	below := func() []authz.Filter {
		// What the hook deleted, but the entry itself (the write's filter).
		fs := make([]authz.Filter, 0, len(sub))
		for _, s := range sub[1:] {
			fs = append(fs, authz.Filter{Resource: s.Object()})
		}
		return fs
	}
	tok, err := t.engine.DeleteMatching(ctx, authz.Filter{Resource: e.Object()}, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		// The subtree may have changed since it was read; read it again
		// inside the transaction.
		now, err := t.store.Subtree(ctx, tx, e.ID)
		if errors.Is(err, errs.NotFound) {
			return errs.E(errs.NotFound, "%s not found", r.Path)
		}
		if err != nil {
			return err
		}
		sub = now
		if len(sub) > 1 && !recursive {
			return errs.E(errs.FailedPrecondition, "%s is not empty; delete with recursive", r.Path)
		}
		ids = ids[:0]
		for i := len(sub) - 1; i >= 0; i-- {
			ids = append(ids, sub[i].ID)
		}
		if err := t.store.Delete(ctx, tx, ids); err != nil {
			return err
		}
		if onDelete != nil {
			return onDelete(ctx, tx, ids)
		}
		return nil
	}), authz.WithCascade(below))
	if err != nil {
		return "", err
	}
	return tok, nil
}

var errLive = errors.New("entry is live")

// SweepOrphans deletes the relationships of entries that no longer exist
// (left by a crash during a recursive delete). It returns how many entries'
// relationships it removed.
func (t *Tree) SweepOrphans(ctx context.Context) (int, error) {
	n := 0
	for _, kind := range []Kind{Folder, File} {
		live := map[EntryID]bool{}
		if err := t.store.IDs(ctx, t.db, kind, func(id EntryID) error { live[id] = true; return nil }); err != nil {
			return n, err
		}
		dead := map[EntryID]bool{}
		note := func(id string) error {
			if !live[EntryID(id)] {
				dead[EntryID(id)] = true
			}
			return nil
		}
		if err := t.engine.ObjectIDs(ctx, string(kind), note); err != nil {
			return n, err
		}
		for id := range dead {
			// The row may have appeared since the reads above: check again
			// inside the write's transaction, under the engine's write lock.
			_, err := t.engine.DeleteMatching(ctx, authz.Filter{Resource: kind.Object(id)},
				authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
					if _, err := t.store.Get(ctx, tx, id); err == nil {
						return errLive
					}
					return nil
				}))
			if errors.Is(err, errLive) {
				continue
			}
			if err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Touch records token as e's last permission-relevant change (a grant or a
// revoke on it): checks on e and below are then at least that fresh.
func (t *Tree) Touch(ctx context.Context, id EntryID, token authz.Token) error {
	return t.store.SetPermToken(ctx, t.db, id, token)
}

// Prefix returns the first n entries of r's chain (n >= 1) as a Resolved.
func (r Resolved) Prefix(n int) Resolved {
	p := Root
	for _, e := range r.Chain[1:n] {
		p = p.Join(e.Name)
	}
	return Resolved{Path: p, Chain: r.Chain[:n:n]}
}

// Locate resolves entries by id: for each id that exists, its path and
// chain from the root (whose tokens are what a check on it must be at least
// as fresh as). Ids that do not exist are left out. Ancestors shared by
// several ids are read once.
func (t *Tree) Locate(ctx context.Context, ids []EntryID) (map[EntryID]Resolved, error) {
	seen := map[EntryID]*Entry{}
	get := func(id EntryID) (*Entry, error) {
		if e, ok := seen[id]; ok {
			return e, nil
		}
		e, err := t.store.Get(ctx, t.db, id)
		if errors.Is(err, errs.NotFound) {
			seen[id] = nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		seen[id] = &e
		return &e, nil
	}
	out := make(map[EntryID]Resolved, len(ids))
	for _, id := range ids {
		var chain []Entry
		missing := false
		for cur := id; ; {
			e, err := get(cur)
			if err != nil {
				return nil, err
			}
			if e == nil || len(chain) > MaxPathBytes/2 {
				missing = true // deleted meanwhile, or a loop (never written)
				break
			}
			chain = append(chain, *e)
			if e.IsRoot() {
				break
			}
			cur = e.Parent
		}
		if missing {
			continue
		}
		slices.Reverse(chain)
		t.settle(ctx, chain)
		p := Root
		for _, e := range chain[1:] {
			p = p.Join(e.Name)
		}
		out[id] = Resolved{Path: p, Chain: chain}
	}
	return out, nil
}
