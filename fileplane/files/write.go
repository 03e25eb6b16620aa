package files

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/storage"
)

// MustNotExist as an expected version asks that the file not exist yet.
const MustNotExist = -1

// WriteOptions are Write's options.
type WriteOptions struct {
	// ExpectedVersion, if > 0, is the version the file must be at; MustNotExist
	// asks that it not exist. 0 writes whatever is there.
	ExpectedVersion int64
	CreateParents   bool
	MediaType       string
}

// Write creates or overwrites the file at path with data (at most
// MaxUnaryBytes; larger files go through an upload).
func (s *Service) Write(ctx context.Context, c access.Caller, pathStr string, data []byte, o WriteOptions) (Item, authz.Token, error) {
	p, slash, err := paths.ParseField("path", pathStr)
	if err != nil {
		return Item{}, "", err
	}
	if err := checkFilePath(p, slash); err != nil {
		return Item{}, "", err
	}
	if int64(len(data)) > s.limits.MaxUnaryBytes {
		return Item{}, "", errs.E(errs.ResourceExhausted,
			"%d bytes is over the %d-byte limit of one Write; use the chunked upload (BeginUpload, AppendUpload, CommitUpload; nexus fs put does this)",
			len(data), s.limits.MaxUnaryBytes)
	}
	if o.ExpectedVersion < MustNotExist {
		return Item{}, "", errs.Invalid("expected_version", "%d: use a version > 0, 0 for any, or -1 for must not exist", o.ExpectedVersion)
	}
	// Fail on permissions before storing any content.
	if err := s.preflight(ctx, c, p, o.CreateParents); err != nil {
		return Item{}, "", err
	}
	obj, err := s.content.Write(ctx, bytes.NewReader(data), s.limits.MaxFileBytes)
	if err != nil {
		return Item{}, "", err
	}
	mt := o.MediaType
	if mt == "" {
		mt = sniff(p, data)
	}
	return s.commit(ctx, c, p, obj, o.ExpectedVersion, o.CreateParents, mt)
}

func checkFilePath(p paths.Path, trailingSlash bool) error {
	if p == paths.Root {
		return errs.Invalid("path", "/ is the root folder; a file needs a name")
	}
	if trailingSlash {
		return errs.Invalid("path", "%s/ ends with /, which only a folder may; drop the slash", p)
	}
	return paths.CheckDepth("path", p)
}

// sniff guesses a media type from the name, else from the first bytes.
func sniff(p paths.Path, head []byte) string {
	if mt := mime.TypeByExtension(path.Ext(string(p))); mt != "" {
		return mt
	}
	return http.DetectContentType(head[:min(len(head), 512)])
}

// locate resolves p as the caller sees the tree: the deepest entry of p's
// chain the caller may read, and whether that entry is p itself. Whatever
// lies below it does not exist for the caller, so creating there answers
// exactly as it would if nothing were there.
func (s *Service) locate(ctx context.Context, c access.Caller, p paths.Path) (paths.Resolved, bool, error) {
	r, err := s.tree.Resolve(ctx, c.Zone, p)
	var nf *paths.NotFoundError
	full := err == nil
	switch {
	case full:
	case errors.As(err, &nf):
		r = nf.Partial
	default:
		return paths.Resolved{}, false, err
	}
	for n := len(r.Chain); n >= 1; n-- {
		pre := r.Prefix(n)
		ok, err := s.may(ctx, c, pre, nexus.PermRead, authz.MinimizeLatency())
		if err != nil {
			return paths.Resolved{}, false, err
		}
		if ok {
			return pre, full && n == len(r.Chain), nil
		}
	}
	return paths.Resolved{}, false, notFound(p)
}

// preflight checks that the caller could write p now: write on the file if
// it exists for the caller, else on the folder it would be created in.
func (s *Service) preflight(ctx context.Context, c access.Caller, p paths.Path, createParents bool) error {
	vis, exists, err := s.locate(ctx, c, p)
	if err != nil {
		return err
	}
	if exists {
		return s.mayOverwrite(ctx, c, vis)
	}
	return s.mayCreateBelow(ctx, c, vis, p, createParents, "parent folder %s not found (create it, or pass create_parents)")
}

// mayOverwrite checks that the caller may write a new version of r.
func (s *Service) mayOverwrite(ctx context.Context, c access.Caller, r paths.Resolved) error {
	if r.Entry().Kind != paths.File {
		return errs.E(errs.FailedPrecondition, "%s is a folder; write a file below it", r.Path)
	}
	ok, err := s.may(ctx, c, r, nexus.PermWrite, authz.MinimizeLatency())
	if err != nil {
		return err
	}
	if !ok {
		return errs.E(errs.PermissionDenied, "you may read %s but not write it", r.Path)
	}
	return nil
}

// mayCreateBelow checks that the caller may create p given vis, the deepest
// entry of p's chain it may read: vis must be p's parent unless parents are
// created, a folder, and writable. notFoundMsg names the missing parent.
func (s *Service) mayCreateBelow(ctx context.Context, c access.Caller, vis paths.Resolved, p paths.Path, createParents bool, notFoundMsg string) error {
	parentPath, _ := p.Split()
	if vis.Path != parentPath && !createParents {
		return errs.E(errs.NotFound, notFoundMsg, parentPath)
	}
	return s.mayCreateIn(ctx, c, vis)
}

// mayCreateIn checks that the caller may create entries in r, which it may
// read.
func (s *Service) mayCreateIn(ctx context.Context, c access.Caller, r paths.Resolved) error {
	if r.Entry().Kind != paths.Folder {
		return errs.E(errs.FailedPrecondition, "%s is a file; files cannot contain entries", r.Path)
	}
	ok, err := s.may(ctx, c, r, nexus.PermWrite, authz.MinimizeLatency())
	if err != nil {
		return err
	}
	if !ok {
		return errs.E(errs.PermissionDenied, "you may read %s but not create entries in it", r.Path)
	}
	return nil
}

// commit makes obj the new content of the file at p: a new version of an
// existing file, or version 1 of a new one.
func (s *Service) commit(ctx context.Context, c access.Caller, p paths.Path, obj content.Object, expected int64, createParents bool, mediaType string) (Item, authz.Token, error) {
	for attempt := 0; ; attempt++ {
		it, tok, err := s.commitOnce(ctx, c, p, obj, expected, createParents, mediaType)
		if !errors.Is(err, errs.AlreadyExists) || expected == MustNotExist {
			return it, tok, err
		}
		// Created concurrently: overwrite it instead. On PostgreSQL the new
		// entry can be there for a few milliseconds before its
		// relationships (authz/outbox.go), hidden from us, so we may find
		// it missing again: wait a little, then give up as a conflict.
		if attempt == 2 {
			return Item{}, "", errs.Wrap(errs.Aborted, err, "%s was created by another write while this one ran; retry", p)
		}
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return Item{}, "", ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func (s *Service) commitOnce(ctx context.Context, c access.Caller, p paths.Path, obj content.Object, expected int64, createParents bool, mediaType string) (Item, authz.Token, error) {
	r, exists, err := s.locate(ctx, c, p)
	if err != nil {
		return Item{}, "", err
	}
	if !exists {
		return s.create(ctx, c, p, r, obj, expected, createParents, mediaType)
	}
	if err := s.mayOverwrite(ctx, c, r); err != nil {
		return Item{}, "", err
	}
	e := r.Entry()
	if expected == MustNotExist {
		return Item{}, "", errs.E(errs.Aborted, "%s already exists at version %d; expected it not to exist", p, e.Version)
	}
	err = storage.InTx(ctx, s.db, func(tx *sql.Tx) error {
		cur, err := s.tree.Store().Get(ctx, tx, e.ID)
		if err != nil {
			return err
		}
		if expected > 0 && cur.Version != expected {
			return errs.E(errs.Aborted, "%s is at version %d, not the expected %d; read it again and retry", p, cur.Version, expected)
		}
		now := s.now()
		e = cur
		e.Version, e.Size, e.ContentHash, e.MediaType = cur.Version+1, obj.Size, obj.Hash.String(), mediaType
		e.ModifiedBy, e.ModifiedAt = c.Author(), now
		if err := s.content.Save(ctx, tx, obj); err != nil {
			return err
		}
		if err := s.versions.Add(ctx, tx, versions.Version{Entry: string(e.ID), Number: e.Version, ContentHash: e.ContentHash,
			Size: e.Size, MediaType: mediaType, CreatedBy: c.Author(), CreatedAt: now}); err != nil {
			return err
		}
		if err := s.tree.Store().Update(ctx, tx, e); err != nil {
			return err
		}
		return s.changed(ctx, tx, e.ID)
	})
	if errors.Is(err, errs.AlreadyExists) {
		// Another write made version e.Version first (on PostgreSQL two
		// writers can read the same version; the versions' key keeps one).
		return Item{}, "", errs.Wrap(errs.Aborted, err, "%s changed while it was written; read it again and retry", p)
	}
	if err != nil {
		return Item{}, "", err
	}
	r.Chain[len(r.Chain)-1] = e
	return item(r), "", nil
}

func (s *Service) create(ctx context.Context, c access.Caller, p paths.Path, vis paths.Resolved, obj content.Object, expected int64, createParents bool, mediaType string) (Item, authz.Token, error) {
	if expected > 0 {
		return Item{}, "", errs.E(errs.Aborted, "%s does not exist; expected version %d", p, expected)
	}
	if err := s.mayCreateBelow(ctx, c, vis, p, createParents, "parent folder %s not found (create it, or pass create_parents)"); err != nil {
		return Item{}, "", err
	}
	parentPath, name := p.Split()
	var tok authz.Token
	parent := vis
	if vis.Path != parentPath {
		var err error
		if parent, tok, err = s.mkdirAll(ctx, c, parentPath); err != nil {
			return Item{}, "", err
		}
		// The folder may have appeared meanwhile, made by someone else:
		// creating in it takes write on it like anywhere else.
		if err := s.mayCreateIn(ctx, c, parent); err != nil {
			return Item{}, "", err
		}
	}
	e := paths.Entry{Kind: paths.File, Size: obj.Size, ContentHash: obj.Hash.String(), Version: 1, MediaType: mediaType, CreatedBy: c.Author()}
	r, ctok, err := s.tree.Create(ctx, parent, name, e, func(ctx context.Context, tx *sql.Tx, e paths.Entry) error {
		if err := s.content.Save(ctx, tx, obj); err != nil {
			return err
		}
		if err := s.versions.Add(ctx, tx, versions.Version{Entry: string(e.ID), Number: 1, ContentHash: e.ContentHash,
			Size: e.Size, MediaType: mediaType, CreatedBy: c.Author(), CreatedAt: e.CreatedAt}); err != nil {
			return err
		}
		return s.changed(ctx, tx, e.ID)
	})
	if err != nil {
		return Item{}, "", err
	}
	return item(r), s.engine.Newest(tok, ctok), nil
}

// mkdirAll makes sure the folder p exists, creating what is missing; each
// folder created needs write on its parent. It returns p resolved and the
// token of the last creation ("" if nothing was created).
func (s *Service) mkdirAll(ctx context.Context, c access.Caller, p paths.Path) (paths.Resolved, authz.Token, error) {
	cur, exists, err := s.locate(ctx, c, p)
	if err != nil {
		return paths.Resolved{}, "", err
	}
	if exists {
		if cur.Entry().Kind != paths.Folder {
			return paths.Resolved{}, "", errs.E(errs.FailedPrecondition, "%s is a file, not a folder", p)
		}
		return cur, "", nil
	}
	if err := s.mayCreateIn(ctx, c, cur); err != nil {
		return paths.Resolved{}, "", err
	}
	var tok authz.Token
	for _, name := range p.Segments()[len(cur.Chain)-1:] {
		next, t, err := s.tree.Create(ctx, cur, name, paths.Entry{Kind: paths.Folder, CreatedBy: c.Author()}, nil)
		if errors.Is(err, errs.AlreadyExists) {
			// Created concurrently: use it, if the caller may write in it.
			next, err = s.tree.Resolve(ctx, c.Zone, cur.Path.Join(name))
			if err == nil && next.Entry().Kind != paths.Folder {
				err = errs.E(errs.FailedPrecondition, "%s is a file, not a folder", next.Path)
			}
			if err == nil {
				err = s.mayCreateIn(ctx, c, next)
			}
		}
		if err != nil {
			return paths.Resolved{}, "", err
		}
		cur, tok = next, s.engine.Newest(tok, t)
	}
	return cur, tok, nil
}

// Mkdir creates the folder at path; with parents, missing parents too, and
// an existing folder is fine.
func (s *Service) Mkdir(ctx context.Context, c access.Caller, pathStr string, parents bool) (Item, authz.Token, error) {
	p, _, err := paths.ParseField("path", pathStr)
	if err != nil {
		return Item{}, "", err
	}
	if err := paths.CheckDepth("path", p); err != nil {
		return Item{}, "", err // before any parent is made
	}
	if parents {
		r, tok, err := s.mkdirAll(ctx, c, p)
		if err != nil {
			return Item{}, "", err
		}
		return item(r), tok, nil
	}
	vis, exists, err := s.locate(ctx, c, p)
	if err != nil {
		return Item{}, "", err
	}
	if exists {
		return Item{}, "", errs.E(errs.AlreadyExists, "%s already exists", p)
	}
	if err := s.mayCreateBelow(ctx, c, vis, p, false, "parent folder %s not found (create it, or pass parents)"); err != nil {
		return Item{}, "", err
	}
	_, name := p.Split()
	r, tok, err := s.tree.Create(ctx, vis, name, paths.Entry{Kind: paths.Folder, CreatedBy: c.Author()}, nil)
	if err != nil {
		return Item{}, "", err
	}
	return item(r), tok, nil
}

// Delete removes the entry at path; a folder that is not empty only with
// recursive. The root cannot be deleted.
//
// It takes delete on the entry and write on the folder it is in: an
// entry's name lives in its parent, so removing it, like creating it
// (mayCreateBelow) or moving it out (Move), changes the parent. An editor
// of a shared folder may delete what is inside it, not the folder itself.
func (s *Service) Delete(ctx context.Context, c access.Caller, pathStr string, recursive bool) (authz.Token, error) {
	p, _, err := paths.ParseField("path", pathStr)
	if err != nil {
		return "", err
	}
	if p == paths.Root {
		return "", errs.Invalid("path", "/ is the root folder and cannot be deleted")
	}
	r, err := s.open(ctx, c, p, nexus.PermDelete, authz.MinimizeLatency())
	if err != nil {
		return "", err
	}
	from := r.Prefix(len(r.Chain) - 1)
	ok, err := s.may(ctx, c, from, nexus.PermWrite, authz.MinimizeLatency())
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errs.E(errs.PermissionDenied, "deleting %s takes write on the folder it is in, %s", p, from.Path)
	}
	return s.tree.Delete(ctx, r, recursive, func(ctx context.Context, tx *sql.Tx, ids []paths.EntryID) error {
		ss := make([]string, len(ids))
		for i, id := range ids {
			ss[i] = string(id)
		}
		if err := s.versions.DeleteEntries(ctx, tx, ss); err != nil {
			return err
		}
		return s.changed(ctx, tx, ids...)
	})
}

// RestoreVersion makes a new version of the file at path with the content
// of an older version.
func (s *Service) RestoreVersion(ctx context.Context, c access.Caller, pathStr string, version int64) (Item, error) {
	p, _, err := paths.ParseField("path", pathStr)
	if err != nil {
		return Item{}, err
	}
	if version <= 0 {
		return Item{}, errs.Invalid("version", "%d: versions start at 1", version)
	}
	r, err := s.open(ctx, c, p, nexus.PermWrite, authz.MinimizeLatency())
	if err != nil {
		return Item{}, err
	}
	e := r.Entry()
	if e.Kind != paths.File {
		return Item{}, errs.E(errs.FailedPrecondition, "%s is a folder; folders have no versions", p)
	}
	v, err := s.versions.Get(ctx, s.db, string(e.ID), version)
	if errors.Is(err, errs.NotFound) {
		return Item{}, errs.E(errs.NotFound, "version %d of %s not found (current is %d)", version, p, e.Version)
	}
	if err != nil {
		return Item{}, err
	}
	obj, err := s.object(ctx, v.ContentHash)
	if err != nil {
		return Item{}, err
	}
	it, _, err := s.commit(ctx, c, p, obj, e.Version, false, v.MediaType)
	return it, err
}
