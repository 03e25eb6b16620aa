package memory

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/search"
)

// Recall and List sizes.
const (
	DefaultRecallLimit = 10
	MaxRecallLimit     = 100
	DefaultPageSize    = 100
	MaxPageSize        = 1000
	// maxCandidates bounds the text matches one Recall ranks.
	maxCandidates = 4096
	// RecencyHalfLife is the age at which recency counts half.
	RecencyHalfLife = 30 * 24 * time.Hour
)

// Weights of a recall score: text relevance (relative to the best match),
// recency (halving every RecencyHalfLife) and importance.
const (
	weightRelevance  = 0.6
	weightRecency    = 0.25
	weightImportance = 0.15
)

// Recalled is a memory Recall found, with its score and snippet.
type Recalled struct {
	Memory Memory
	// Score is search.RankScore of the memory's position in the answer:
	// higher is better. The ranking's own score is not returned, since its
	// text relevance (BM25, with the zone's statistics) depends on memories
	// of the zone the caller cannot read.
	Score   float64
	Snippet search.Snippet
}

// Recall returns up to limit readable memories that match query (any of
// its words, stemmed) and carry every tag in tags, best first by
// 0.6 x relevance + 0.25 x recency + 0.15 x importance (each one's Score
// tells its position only). Text matches are
// taken most relevant first, checked with one bulk check per batch, and
// re-ranked. Unknown tags match nothing; that is no error.
func (s *Service) Recall(ctx context.Context, c access.Caller, query string, tags []string, limit int, cons authz.Consistency) ([]Recalled, error) {
	switch {
	case limit == 0:
		limit = DefaultRecallLimit
	case limit < 0 || limit > MaxRecallLimit:
		return nil, errs.Invalid("limit", "%d is out of range; use 1-%d (0 means %d)", limit, MaxRecallLimit, DefaultRecallLimit)
	}
	if err := validTags("tags", tags); err != nil {
		return nil, err
	}
	terms, err := search.Terms("query", query)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for k := max(4*limit, 64); ; k = min(4*k, maxCandidates) {
		cands, err := s.store.Match(ctx, s.db, c.Zone, terms, tags, now, k)
		if err != nil {
			return nil, err
		}
		ms := make([]Memory, len(cands))
		for i, cd := range cands {
			ms[i] = cd.Memory
		}
		ok, err := s.readable(ctx, c, ms, cons)
		if err != nil {
			return nil, err
		}
		var out []Recalled
		var blend []float64
		best := 0.0
		for i, cd := range cands {
			if ok[i] {
				best = math.Max(best, cd.Relevance)
			}
		}
		for i, cd := range cands {
			if !ok[i] {
				continue
			}
			out = append(out, Recalled{Memory: cd.Memory, Snippet: cd.Snippet})
			blend = append(blend, score(cd, best, now))
		}
		if len(out) >= limit || len(cands) < k || k == maxCandidates {
			order := make([]int, len(out))
			for i := range order {
				order[i] = i
			}
			sort.SliceStable(order, func(i, j int) bool { return blend[order[i]] > blend[order[j]] })
			ranked := make([]Recalled, 0, min(limit, len(out)))
			for _, i := range order[:min(limit, len(out))] {
				r := out[i]
				r.Score = search.RankScore(len(ranked))
				ranked = append(ranked, r)
			}
			return ranked, nil
		}
	}
}

func score(cd Candidate, best float64, now time.Time) float64 {
	rel := 0.0
	if best > 0 {
		rel = cd.Relevance / best
	}
	age := max(now.Sub(cd.Memory.CreatedAt), 0)
	recency := math.Exp2(-float64(age) / float64(RecencyHalfLife))
	return weightRelevance*rel + weightRecency*recency + weightImportance*cd.Memory.Importance
}

// readable checks read on each memory with one bulk check, at least as
// fresh as each memory's own token, the caller's and the last membership
// change.
func (s *Service) readable(ctx context.Context, c access.Caller, ms []Memory, cons authz.Consistency) ([]bool, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	objs := make([]authz.ObjectRef, len(ms))
	tokens := make([]authz.Token, 0, len(ms))
	for i, m := range ms {
		objs[i] = object(m.ID)
		tokens = append(tokens, m.PermToken)
	}
	return s.gate.Filter(ctx, c, objs, nexus.PermRead, cons, tokens...)
}

type listCursor struct {
	At time.Time `json:"t"`
	ID ID        `json:"i"`
}

var errBadCursor = errs.Invalid("page_token", "is not a token from a memory List (or is from before a restart); start again without it")

// List returns a page of the readable memories with every tag in tags,
// newest first, and a token for the next page ("" at the end; a full page
// always has one, though the next may be empty, so that whether one is
// returned tells nothing of memories the caller cannot read). Each batch
// is filtered with one bulk check, so a page is full even when most
// memories of the zone are hidden.
func (s *Service) List(ctx context.Context, c access.Caller, tags []string, pageSize int, pageToken string, cons authz.Consistency) ([]Memory, string, error) {
	switch {
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize < 0 || pageSize > MaxPageSize:
		return nil, "", errs.Invalid("page_size", "%d is out of range; use 1-%d (0 means %d)", pageSize, MaxPageSize, DefaultPageSize)
	}
	if err := validTags("tags", tags); err != nil {
		return nil, "", err
	}
	var cur listCursor
	if pageToken != "" {
		if !s.tokens.Open(pageToken, &cur) || cur.ID == "" {
			return nil, "", errBadCursor
		}
	}
	now := s.now()
	var out []Memory
	batch := max(pageSize, 64)
	for scanned := 0; scanned < 20*batch; {
		ms, err := s.store.List(ctx, s.db, c.Zone, tags, now, cur.At, cur.ID, batch)
		if err != nil {
			return nil, "", err
		}
		ok, err := s.readable(ctx, c, ms, cons)
		if err != nil {
			return nil, "", err
		}
		for i, m := range ms {
			cur = listCursor{At: m.CreatedAt, ID: m.ID}
			if !ok[i] {
				continue
			}
			out = append(out, m)
			if len(out) == pageSize {
				return out, s.tokens.Seal(cur), nil
			}
		}
		if len(ms) < batch {
			return out, "", nil
		}
		scanned += len(ms)
	}
	return out, s.tokens.Seal(cur), nil
}
