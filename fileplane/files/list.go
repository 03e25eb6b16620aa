package files

import (
	"context"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// Page sizes of List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// maxScanBatches bounds the candidates one List call examines (in
	// batches of at least a page) when most of a folder is hidden; the
	// page then ends early with a next token.
	maxScanBatches = 20
	// maxBatch bounds one batch of candidates (one bulk check).
	maxBatch = 5000
)

type cursor struct {
	Folder string `json:"f"`
	After  string `json:"a"`
}

// encodeCursor seals c: a cursor may name a candidate the caller may not
// read (the last one a scan examined), so the client can neither read nor
// forge it.
func (s *Service) encodeCursor(c cursor) string { return s.tokens.Seal(c) }

var errBadCursor = errs.Invalid("page_token", "is not a token this server issued for this folder; start again without it")

func (s *Service) decodeCursor(tok string, folder paths.EntryID) (string, error) {
	var c cursor
	if !s.tokens.Open(tok, &c) || c.Folder != string(folder) {
		return "", errBadCursor
	}
	return c.After, nil
}

// List returns up to pageSize readable children of the folder at path,
// ordered by name, and a token for the next page ("" at the end; a full
// page always has one, though the next may be empty, so that whether one
// is returned tells nothing of entries the caller cannot read). Each
// batch of candidates is filtered with one bulk check; the page is full
// even when many entries are hidden. Tokens are keyset cursors (the last
// name returned), so pages stay correct under concurrent inserts and
// deletes.
func (s *Service) List(ctx context.Context, c access.Caller, path string, pageSize int, pageToken string, cons authz.Consistency) ([]Item, string, error) {
	_, items, next, err := s.list(ctx, c, path, pageSize, pageToken, cons)
	return items, next, err
}

// ListWithPermissions is List that also says what c may do with the folder
// and with each entry listed (PermissionsOf), opening the folder once.
func (s *Service) ListWithPermissions(ctx context.Context, c access.Caller, path string, pageSize int, pageToken string, cons authz.Consistency) ([]Item, string, Permissions, []Permissions, error) {
	r, items, next, err := s.list(ctx, c, path, pageSize, pageToken, cons)
	if err != nil {
		return nil, "", Permissions{}, nil, err
	}
	folder, each, err := s.permissionsIn(ctx, c, r, items, cons)
	return items, next, folder, each, err
}

// list is List, also returning the folder it opened.
func (s *Service) list(ctx context.Context, c access.Caller, path string, pageSize int, pageToken string, cons authz.Consistency) (paths.Resolved, []Item, string, error) {
	switch {
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize < 0 || pageSize > MaxPageSize:
		return paths.Resolved{}, nil, "", errs.Invalid("page_size", "%d is out of range; use 1-%d (0 means %d)", pageSize, MaxPageSize, DefaultPageSize)
	}
	p, _, err := paths.ParseField("path", path)
	if err != nil {
		return paths.Resolved{}, nil, "", err
	}
	r, err := s.open(ctx, c, p, nexus.PermRead, cons)
	if err != nil {
		return paths.Resolved{}, nil, "", err
	}
	folder := r.Entry()
	if folder.Kind != paths.Folder {
		return paths.Resolved{}, nil, "", errs.E(errs.FailedPrecondition, "%s is a file; List takes a folder (use Stat)", p)
	}
	after := ""
	if pageToken != "" {
		if after, err = s.decodeCursor(pageToken, folder.ID); err != nil {
			return paths.Resolved{}, nil, "", err
		}
	}
	// The first batch is one page of candidates; later batches are sized
	// from the share of readable entries seen so far, so a page that is
	// half hidden costs about two pages of checks, not three.
	batch := max(pageSize, 100)
	var out []Item
	chainTokens := r.Tokens()
	scanned, hits := 0, 0
	for i := 0; i < maxScanBatches; i++ {
		cands, err := s.tree.Store().Children(ctx, s.db, folder.ID, after, batch)
		if err != nil {
			return paths.Resolved{}, nil, "", err
		}
		if len(cands) == 0 {
			return r, out, "", nil
		}
		readable, err := s.filterReadable(ctx, c, cands, cons, chainTokens)
		if err != nil {
			return paths.Resolved{}, nil, "", err
		}
		for j, e := range cands {
			if !readable[j] {
				continue
			}
			out = append(out, Item{Path: p.Join(e.Name), Entry: e})
			if len(out) == pageSize {
				// Always a token, as Glob does: whether more candidates
				// follow, readable or not, must not show.
				return r, out, s.encodeCursor(cursor{Folder: string(folder.ID), After: e.Name}), nil
			}
		}
		after = cands[len(cands)-1].Name
		if len(cands) < batch {
			return r, out, "", nil
		}
		scanned += len(cands)
		for _, ok := range readable {
			if ok {
				hits++
			}
		}
		need := pageSize - len(out)
		ratio := float64(hits+1) / float64(scanned+1)
		batch = min(max(int(float64(need)/ratio*1.2)+16, 64), maxBatch)
	}
	// Scanned enough for one call; the caller continues from here.
	return r, out, s.encodeCursor(cursor{Folder: string(folder.ID), After: after}), nil
}

// filterReadable checks read on each entry with one bulk check, at least as
// fresh as the folder's chain and every candidate's own token.
func (s *Service) filterReadable(ctx context.Context, c access.Caller, es []paths.Entry, cons authz.Consistency, chain []authz.Token) ([]bool, error) {
	tokens := append([]authz.Token(nil), chain...)
	objs := make([]authz.ObjectRef, len(es))
	for i, e := range es {
		objs[i] = e.Object()
		if e.PermToken != "" {
			tokens = append(tokens, e.PermToken)
		}
	}
	return s.gate.Filter(ctx, c, objs, nexus.PermRead, cons, tokens...)
}
