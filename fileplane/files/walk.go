package files

import (
	"context"
	"errors"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// errStop ends a walk early; it is not an error of the walk.
var errStop = errors.New("stop walking")

// walkPage is how many children one query of a walk reads.
const walkPage = 256

// walker visits the entries below a folder in path order, segment by
// segment: each folder, then everything below it, then its next sibling
// (siblings ordered by name, bytewise). It reads the tree as stored and
// checks no permissions: its callers check what they return.
type walker struct {
	s *Service
	// enter reports whether to walk below a folder (nil: always).
	enter func(r paths.Resolved) bool
	// visit is called for each entry; errStop ends the walk.
	visit func(r paths.Resolved) error
}

// walk visits everything below dir that comes strictly after the entry at
// dir's path + after (segments), in path order; after's own subtree comes
// after it. A nil after visits everything below dir.
func (w *walker) walk(ctx context.Context, dir paths.Resolved, after []string) error {
	afterName := ""
	if len(after) > 0 {
		afterName = after[0]
		child, err := w.s.tree.Store().Child(ctx, w.s.db, dir.Entry().ID, after[0])
		switch {
		case errors.Is(err, errs.NotFound):
			// Gone since: carry on with its next sibling.
		case err != nil:
			return err
		case child.Kind == paths.Folder:
			if r := dir.Child(child); w.enter == nil || w.enter(r) {
				if err := w.walk(ctx, r, after[1:]); err != nil {
					return err
				}
			}
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		kids, err := w.s.tree.Store().Children(ctx, w.s.db, dir.Entry().ID, afterName, walkPage)
		if err != nil {
			return err
		}
		for _, k := range kids {
			r := dir.Child(k)
			if err := w.visit(r); err != nil {
				return err
			}
			if k.Kind == paths.Folder && (w.enter == nil || w.enter(r)) {
				if err := w.walk(ctx, r, nil); err != nil {
					return err
				}
			}
		}
		if len(kids) < walkPage {
			return nil
		}
		afterName = kids[len(kids)-1].Name
	}
}

// relSegments returns p's segments below base (p must be base or below it).
func relSegments(base, p paths.Path) []string {
	return p.Segments()[len(base.Segments()):]
}

// readable checks read on each entry with one bulk check, at least as fresh
// as every entry's chain.
func (s *Service) readable(ctx context.Context, c access.Caller, rs []paths.Resolved, cons authz.Consistency) ([]bool, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	var tokens []authz.Token
	objs := make([]authz.ObjectRef, len(rs))
	for i, r := range rs {
		tokens = append(tokens, r.Tokens()...)
		objs[i] = r.Entry().Object()
	}
	return s.gate.Filter(ctx, c, objs, nexus.PermRead, cons, tokens...)
}
