// Package search is ranked full-text search over the files of a zone: an
// index (Store: SQLite FTS5 with BM25 here, one conformance suite in
// searchtest for every implementation) kept up to date by an Indexer from
// a durable queue written in the same transaction as each change, and a
// Service that answers queries with only the hits the caller may read. It
// knows nothing of HTTP, and nothing of how files are written.
package search

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/internal/pagetoken"
	"github.com/nexus-authz/nexus/storage"
)

// Page sizes of Search.
const (
	DefaultPageSize = 10
	MaxPageSize     = 100
	// maxScan bounds the candidates one call examines when most hits are
	// hidden from the caller; the page then ends early with a token.
	maxScan = 5000
	// catchUpBudget bounds the indexing a search does before it queries.
	catchUpBudget = 250 * time.Millisecond
)

// Engine is what search needs of authz: the gate's.
type Engine = access.Engine

// Result is a hit the caller may read, with the file's current path.
type Result struct {
	Path  paths.Path
	Entry paths.Entry
	// Score is RankScore of the hit's position among the caller's results
	// of the query (over all pages): higher is better. It is not the
	// index's relevance, which depends on the zone's documents the caller
	// cannot read as well (though on no other zone's: bm25.go).
	Score   float64
	Snippet Snippet
}

// RankScore is the score of the result at position (0 the best) of the
// caller's results: 1/(position+1). It depends on nothing but the position,
// so it tells nothing of documents the caller cannot see.
func RankScore(position int) float64 { return 1 / float64(position+1) }

// Service answers searches.
type Service struct {
	db      storage.DB
	store   Store
	indexer *Indexer
	tree    *paths.Tree
	gate    *access.Gate
	// tokens seals page tokens: an offset would tell how many hidden files
	// match. They last as long as the process.
	tokens *pagetoken.Sealer
}

// NewService returns a Service. fresh returns a token every check must be
// at least as fresh as (the last group membership change), or nil.
func NewService(db storage.DB, store Store, indexer *Indexer, tree *paths.Tree, engine Engine, fresh func() authz.Token) *Service {
	return &Service{db: db, store: store, indexer: indexer, tree: tree, gate: access.New(engine, fresh), tokens: pagetoken.New(nil)}
}

type cursor struct {
	Query  string `json:"q"` // hash of the terms
	Offset int    `json:"o"`
	Seen   int    `json:"n"` // results returned on earlier pages
}

func queryKey(terms []string) string {
	h := sha256.Sum256([]byte(strings.Join(terms, " ")))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

var errBadCursor = errs.Invalid("page_token", "is not a token from a search for this query (or is from before a restart); start again without it")

// Search returns up to pageSize hits for query that the caller may read,
// best first, and a token for the next page ("" at the end; a full page
// always has one, though the next may be empty, so that whether one is
// returned tells nothing of hits the caller cannot read). Candidates
// are checked a batch at a time with one bulk check each, at least as
// fresh as the newest permission change on each candidate and its folders,
// the caller's token and the last membership change: a page is full even
// when most hits are hidden, and a revoke is honoured at once by a caller
// that passes its token.
func (s *Service) Search(ctx context.Context, c access.Caller, query string, pageSize int, pageToken string, cons authz.Consistency) ([]Result, string, error) {
	switch {
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize < 0 || pageSize > MaxPageSize:
		return nil, "", errs.Invalid("page_size", "%d is out of range; use 1-%d (0 means %d)", pageSize, MaxPageSize, DefaultPageSize)
	}
	terms, err := Terms("query", query)
	if err != nil {
		return nil, "", err
	}
	offset, seen := 0, 0
	if pageToken != "" {
		var cur cursor
		if !s.tokens.Open(pageToken, &cur) || cur.Query != queryKey(terms) || cur.Offset < 0 || cur.Seen < 0 {
			return nil, "", errBadCursor
		}
		offset, seen = cur.Offset, cur.Seen
	}
	if s.indexer != nil {
		if _, err := s.indexer.CatchUp(ctx, catchUpBudget); err != nil {
			return nil, "", err
		}
	}
	var out []Result
	// Ranking the matches costs the same whatever the batch, and each batch
	// ranks them again: take enough for a page at once even when most are
	// hidden, and more each time.
	batch := max(4*pageSize, 50)
	for scanned := 0; scanned < maxScan; {
		hits, err := s.store.Query(ctx, s.db, c.Zone, terms, offset, batch)
		if err != nil {
			return nil, "", err
		}
		readable, err := s.filter(ctx, c, hits, cons)
		if err != nil {
			return nil, "", err
		}
		for i, h := range hits {
			r, ok := readable[h.Entry]
			if !ok {
				continue
			}
			// h.Score (BM25) depends on documents of the zone the caller
			// cannot read: only the position goes out.
			out = append(out, Result{Path: r.Path, Entry: r.Entry(), Score: RankScore(seen + len(out)), Snippet: h.Snippet})
			if len(out) == pageSize {
				// Always a token: whether more candidates follow, visible
				// or not, must not show.
				return out, s.tokens.Seal(cursor{Query: queryKey(terms), Offset: offset + i + 1, Seen: seen + len(out)}), nil
			}
		}
		offset += len(hits)
		scanned += len(hits)
		if len(hits) < batch {
			return out, "", nil
		}
		batch = min(batch*4, 1000)
	}
	return out, s.tokens.Seal(cursor{Query: queryKey(terms), Offset: offset, Seen: seen + len(out)}), nil
}

// filter returns the hits the caller may read, resolved to their current
// paths. Hits whose files are gone are dropped.
func (s *Service) filter(ctx context.Context, c access.Caller, hits []Hit, cons authz.Consistency) (map[string]paths.Resolved, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	ids := make([]paths.EntryID, len(hits))
	for i, h := range hits {
		ids[i] = paths.EntryID(h.Entry)
	}
	located, err := s.tree.Locate(ctx, ids)
	if err != nil {
		return nil, err
	}
	var tokens []authz.Token
	var objs []authz.ObjectRef
	var cands []paths.Resolved
	for _, id := range ids {
		r, ok := located[id]
		if !ok || r.Entry().Zone != c.Zone {
			continue
		}
		tokens = append(tokens, r.Tokens()...)
		objs = append(objs, r.Entry().Object())
		cands = append(cands, r)
	}
	allowed, err := s.gate.Filter(ctx, c, objs, nexus.PermRead, cons, tokens...)
	if err != nil || len(allowed) == 0 {
		return nil, err
	}
	out := make(map[string]paths.Resolved, len(allowed))
	for i, ok := range allowed {
		if ok {
			out[string(cands[i].Entry().ID)] = cands[i]
		}
	}
	return out, nil
}
