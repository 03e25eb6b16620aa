package files

import (
	"context"
	"errors"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// DefaultGlobMaxVisit bounds the entries one Glob call examines; past it
// the call returns what it found with a next token.
const DefaultGlobMaxVisit = 20_000

// globBatch is how many matches one bulk check takes.
const globBatch = 256

type globCursor struct {
	Pattern string `json:"p"`
	After   string `json:"a"` // the last path examined
}

// globPattern is a parsed Glob pattern: where its walk starts, and what
// can prune it.
type globPattern struct {
	text string
	base paths.Path // the longest leading path without wildcards
	// segs are the pattern's segments below base, if the pattern has no **
	// and its segments split cleanly at "/" (nil: no pruning but base).
	segs []string
}

func parseGlob(pattern string) (globPattern, error) {
	if pattern == "" {
		return globPattern{}, errs.Invalid("pattern", "must not be empty; use /** for everything")
	}
	if !strings.HasPrefix(pattern, "/") {
		return globPattern{}, errs.Invalid("pattern", "%q must be absolute (start with /), such as /docs/**/*.md", pattern)
	}
	if !doublestar.ValidatePattern(pattern) {
		return globPattern{}, errs.Invalid("pattern", "%q is not a valid pattern (an unclosed [ or {, or a trailing \\?)", pattern)
	}
	g := globPattern{text: pattern, base: paths.Root}
	segs := strings.Split(strings.Trim(pattern, "/"), "/")
	i := 0
	for ; i < len(segs)-1; i++ {
		if strings.ContainsAny(segs[i], `*?[{\`) {
			break
		}
		p, _, err := paths.Parse(string(g.base.Join(segs[i])))
		if err != nil {
			return globPattern{}, errs.Invalid("pattern", "%q: %v", pattern, err)
		}
		g.base = p
	}
	rest := segs[i:]
	if !strings.Contains(pattern, "**") && balancedBraces(rest) {
		g.segs = rest
	}
	return g, nil
}

// balancedBraces reports whether no {...} group spans a "/".
func balancedBraces(segs []string) bool {
	for _, s := range segs {
		if strings.Count(s, "{") != strings.Count(s, "}") {
			return false
		}
	}
	return true
}

// enter reports whether anything below folder r can match.
func (g globPattern) enter(r paths.Resolved) bool {
	if g.segs == nil {
		return true
	}
	rel := relSegments(g.base, r.Path)
	if len(rel) >= len(g.segs) {
		return false
	}
	for i, name := range rel {
		if !doublestar.MatchUnvalidated(g.segs[i], name) {
			return false
		}
	}
	return true
}

// Glob returns up to pageSize readable entries whose paths match pattern,
// in path order, and a token for the next page ("" at the end). The walk
// starts at the pattern's leading fixed folders, skips folders that cannot
// contain a match (when the pattern has no **), and examines at most
// MaxGlobVisit entries per call: a pattern that would examine a whole
// zone is allowed, and answered a bounded page at a time. Matches are
// checked a batch at a time with one bulk check each.
func (s *Service) Glob(ctx context.Context, c access.Caller, pattern string, pageSize int, pageToken string, cons authz.Consistency) ([]Item, string, error) {
	switch {
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize < 0 || pageSize > MaxPageSize:
		return nil, "", errs.Invalid("page_size", "%d is out of range; use 1-%d (0 means %d)", pageSize, MaxPageSize, DefaultPageSize)
	}
	g, err := parseGlob(pattern)
	if err != nil {
		return nil, "", err
	}
	var after []string
	if pageToken != "" {
		var cur globCursor
		if !s.tokens.Open(pageToken, &cur) || cur.Pattern != pattern {
			return nil, "", errs.Invalid("page_token", "is not a token from a Glob of this pattern; start again without it")
		}
		p, _, err := paths.Parse(cur.After)
		if err != nil || !p.IsWithin(g.base) {
			return nil, "", errs.Invalid("page_token", "is not a token from a Glob of this pattern; start again without it")
		}
		after = relSegments(g.base, p)
	}
	base, err := s.tree.Resolve(ctx, c.Zone, g.base)
	if errors.Is(err, errs.NotFound) {
		return nil, "", nil // nothing can match
	}
	if err != nil {
		return nil, "", err
	}
	var out []Item
	var pending []paths.Resolved
	var last paths.Path // the last path examined or returned
	visited := 0
	flush := func() error {
		ok, err := s.readable(ctx, c, pending, cons)
		if err != nil {
			return err
		}
		for i, r := range pending {
			if !ok[i] {
				continue
			}
			out = append(out, item(r))
			if len(out) == pageSize {
				last = r.Path
				return errStop
			}
		}
		pending = pending[:0]
		return nil
	}
	w := &walker{s: s, enter: g.enter, visit: func(r paths.Resolved) error {
		if visited == s.limits.GlobMaxVisit {
			if err := flush(); err != nil {
				return err
			}
			return errStop // last is the entry before r
		}
		visited++
		if doublestar.MatchUnvalidated(g.text, string(r.Path)) {
			pending = append(pending, r)
			if len(pending) >= min(globBatch, pageSize-len(out)+16) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		last = r.Path
		return nil
	}}
	err = w.walk(ctx, base, after)
	if err == nil {
		err = flush()
		if err == nil {
			return out, "", nil
		}
	}
	if !errors.Is(err, errStop) {
		return nil, "", err
	}
	return out, s.tokens.Seal(globCursor{Pattern: pattern, After: string(last)}), nil
}
