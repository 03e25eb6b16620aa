package files

import (
	"context"
	"database/sql"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/versions"
)

// Move moves (or renames) source to destination. The destination must not
// exist; its parent must. A folder cannot move into its own subtree.
func (s *Service) Move(ctx context.Context, c access.Caller, source, destination string) (Item, authz.Token, error) {
	src, _, err := paths.ParseField("source", source)
	if err != nil {
		return Item{}, "", err
	}
	dst, _, err := paths.ParseField("destination", destination)
	if err != nil {
		return Item{}, "", err
	}
	switch {
	case src == paths.Root:
		return Item{}, "", errs.Invalid("source", "/ is the root folder and cannot be moved")
	case dst == src:
		return Item{}, "", errs.Invalid("destination", "is the same as the source")
	case dst.IsWithin(src):
		return Item{}, "", errs.Invalid("destination", "%s is inside %s; a folder cannot move into itself", dst, src)
	}
	// The tree also checks the deepest entry below the source, in the
	// move's own transaction.
	if err := paths.CheckDepth("destination", dst); err != nil {
		return Item{}, "", err
	}
	rs, err := s.open(ctx, c, src, nexus.PermDelete, authz.MinimizeLatency())
	if err != nil {
		return Item{}, "", err
	}
	parent, name, err := s.destination(ctx, c, dst)
	if err != nil {
		return Item{}, "", err
	}
	if from := rs.Prefix(len(rs.Chain) - 1); parent.Entry().ID != from.Entry().ID {
		// Taking an entry out of a folder changes who may reach it (and
		// what its new folder's owners may do with it): it takes write on
		// the folder it leaves, not just on the entry.
		ok, err := s.may(ctx, c, from, nexus.PermWrite, authz.MinimizeLatency())
		if err != nil {
			return Item{}, "", err
		}
		if !ok {
			return Item{}, "", errs.E(errs.PermissionDenied, "moving %s out of %s takes write on %s", src, from.Path, from.Path)
		}
	}
	r, tok, err := s.tree.Move(ctx, rs, parent, name)
	if err != nil {
		return Item{}, "", err
	}
	return item(r), tok, nil
}

// destination resolves the folder a move or copy goes into, as the caller
// sees the tree, and checks the caller may create entries in it.
func (s *Service) destination(ctx context.Context, c access.Caller, dst paths.Path) (paths.Resolved, string, error) {
	if dst == paths.Root {
		return paths.Resolved{}, "", errs.Invalid("destination", "/ is the root folder; name the new entry, such as /name")
	}
	vis, exists, err := s.locate(ctx, c, dst)
	if err != nil {
		return paths.Resolved{}, "", err
	}
	if exists {
		return paths.Resolved{}, "", errs.E(errs.AlreadyExists, "%s already exists", dst)
	}
	if err := s.mayCreateBelow(ctx, c, vis, dst, false, "destination folder %s not found"); err != nil {
		return paths.Resolved{}, "", err
	}
	_, name := dst.Split()
	return vis, name, nil
}

// MaxCopyEntries bounds a folder copy.
const MaxCopyEntries = 10_000

// Copy copies source to destination: a file's content is shared, not
// duplicated; a folder is copied with everything below it that the caller
// may read. The copies belong to the caller.
func (s *Service) Copy(ctx context.Context, c access.Caller, source, destination string) (Item, authz.Token, error) {
	src, _, err := paths.ParseField("source", source)
	if err != nil {
		return Item{}, "", err
	}
	dst, _, err := paths.ParseField("destination", destination)
	if err != nil {
		return Item{}, "", err
	}
	if dst.IsWithin(src) {
		return Item{}, "", errs.Invalid("destination", "%s is inside %s; copy it somewhere else", dst, src)
	}
	if err := paths.CheckDepth("destination", dst); err != nil {
		return Item{}, "", err
	}
	rs, err := s.open(ctx, c, src, nexus.PermRead, authz.MinimizeLatency())
	if err != nil {
		return Item{}, "", err
	}
	parent, name, err := s.destination(ctx, c, dst)
	if err != nil {
		return Item{}, "", err
	}
	sub, err := s.tree.Store().Subtree(ctx, s.db, rs.Entry().ID)
	if err != nil {
		return Item{}, "", err
	}
	if len(sub) > MaxCopyEntries {
		return Item{}, "", errs.E(errs.ResourceExhausted, "%s has %d entries; a copy takes at most %d", src, len(sub), MaxCopyEntries)
	}
	readable, err := s.filterReadable(ctx, c, sub, authz.MinimizeLatency(), rs.Tokens())
	if err != nil {
		return Item{}, "", err
	}
	if err := copyFits(sub, readable, dst); err != nil {
		return Item{}, "", err // before anything is copied
	}
	copied := map[paths.EntryID]paths.Resolved{} // source id -> its copy
	var tok authz.Token
	var top paths.Resolved
	for i, e := range sub {
		if !readable[i] {
			continue
		}
		into, newName := parent, name
		if i > 0 {
			var ok bool
			if into, ok = copied[e.Parent]; !ok {
				continue // below a folder that was not copied
			}
			newName = e.Name
		}
		n := paths.Entry{Kind: e.Kind, Size: e.Size, ContentHash: e.ContentHash, MediaType: e.MediaType, CreatedBy: c.Author()}
		var hook func(context.Context, *sql.Tx, paths.Entry) error
		if e.Kind == paths.File {
			n.Version = 1
			hook = func(ctx context.Context, tx *sql.Tx, ne paths.Entry) error {
				if err := s.versions.Add(ctx, tx, versions.Version{Entry: string(ne.ID), Number: 1, ContentHash: ne.ContentHash,
					Size: ne.Size, MediaType: ne.MediaType, CreatedBy: c.Author(), CreatedAt: ne.CreatedAt}); err != nil {
					return err
				}
				return s.changed(ctx, tx, ne.ID)
			}
		}
		r, t, err := s.tree.Create(ctx, into, newName, n, hook)
		if err != nil {
			return Item{}, "", err
		}
		copied[e.ID] = r
		tok = s.engine.Newest(tok, t)
		if i == 0 {
			top = r
		}
	}
	return item(top), tok, nil
}

// copyFits refuses a copy whose deepest copied entry would be deeper than
// paths.MaxDepth (each Create checks again, in its transaction). sub is
// the source's subtree, parents before children; readable says which are
// copied.
func copyFits(sub []paths.Entry, readable []bool, dst paths.Path) error {
	level := make(map[paths.EntryID]int, len(sub)) // below the source, of what is copied
	deepest := 0
	for i, e := range sub {
		if !readable[i] {
			continue
		}
		if i > 0 {
			up, ok := level[e.Parent]
			if !ok {
				continue // below a folder that is not copied
			}
			level[e.ID] = up + 1
			deepest = max(deepest, up+1)
		} else {
			level[e.ID] = 0
		}
	}
	if d := dst.Depth() + deepest; d > paths.MaxDepth {
		return errs.Invalid("destination", "copying there would put entries %d levels deep (%d below %s); entries may be at most %d levels below the root", d, deepest, dst, paths.MaxDepth)
	}
	return nil
}
