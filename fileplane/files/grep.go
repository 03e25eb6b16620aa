package files

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// Grep's limits.
const (
	DefaultGrepMaxBytes   = 256 << 20
	DefaultGrepMaxTime    = 10 * time.Second
	DefaultGrepMaxVisit   = 100_000
	DefaultGrepMaxMatches = 100
	MaxGrepMatches        = 10_000
	MaxGrepContext        = 10
	MaxGrepPatternBytes   = 4096
	// MaxGrepProgram bounds a pattern's compiled size, in RE2
	// instructions: matching costs time in proportion to it for every byte
	// searched, and `a{1000}` or a 2000-way alternation cost seconds per
	// call. 500 is Go's own bound for its backtracking matcher.
	MaxGrepProgram = 500
	// DefaultGrepConcurrency is how many Grep calls run at once on a node;
	// beyond it a call is ResourceExhausted.
	DefaultGrepConcurrency = 4
	// maxGrepLine is the longest line Grep reads; a file with a longer one
	// is searched up to it.
	maxGrepLine = 1 << 20
	grepBatch   = 64
)

// GrepOptions are Grep's parameters.
type GrepOptions struct {
	Pattern         string
	Path            string // "" means /
	CaseInsensitive bool
	ContextLines    int
	MaxMatches      int // 0 means DefaultGrepMaxMatches
	PageToken       string
}

// GrepMatch is one matching line.
type GrepMatch struct {
	Path   paths.Path
	Line   int64 // 1-based
	Text   string
	Ranges [][2]int // byte ranges of the matches in Text
	Before []string
	After  []string
}

// GrepResult is one Grep call's answer.
type GrepResult struct {
	Matches []GrepMatch
	// Partial is set when the call stopped before searching everything:
	// StoppedBy says why ("max_matches", "bytes", "time", or "visits": the
	// walk examined GrepMaxVisit entries), NextPageToken continues.
	Partial       bool
	StoppedBy     string
	FilesScanned  int64
	BytesScanned  int64
	NextPageToken string
}

type grepCursor struct {
	Key  string `json:"k"` // the request's pattern, flags and path
	Path string `json:"p"` // the file to resume in
	Line int64  `json:"l"` // the last line reported in it
	// Done: the entry at Path is finished (a file searched or not
	// readable, a folder whose subtree is still to come); go on after it.
	Done bool `json:"d,omitempty"`
}

// CompileGrep compiles pattern as Grep does: RE2 syntax; a pattern that
// does not compile is InvalidArgument naming the byte offset and the reason.
func CompileGrep(pattern string, caseInsensitive bool) (*regexp.Regexp, error) {
	switch {
	case pattern == "":
		return nil, errs.Invalid("pattern", "must not be empty")
	case len(pattern) > MaxGrepPatternBytes:
		return nil, errs.Invalid("pattern", "is %d bytes; at most %d", len(pattern), MaxGrepPatternBytes)
	}
	expr := pattern
	if caseInsensitive {
		expr = "(?i)" + pattern
	}
	re, err := regexp.Compile(expr)
	var se *syntax.Error
	if errors.As(err, &se) {
		pos := strings.Index(pattern, se.Expr)
		if pos < 0 {
			pos = 0
		}
		if se.Code == syntax.ErrMissingParen {
			if p := unclosedParen(pattern); p >= 0 {
				pos, se.Expr = p, pattern[p:]
			}
		}
		return nil, errs.Invalid("pattern", "at byte %d (%q): %s", pos, se.Expr, se.Code)
	}
	if err != nil {
		return nil, errs.Invalid("pattern", "%s", err)
	}
	if n := programSize(expr); n > MaxGrepProgram {
		return nil, errs.Invalid("pattern", "compiles to %d instructions; at most %d (use fewer repetitions or alternatives)", n, MaxGrepProgram)
	}
	return re, nil
}

// programSize is the number of instructions expr compiles to, as regexp
// compiles it (expr has compiled already).
func programSize(expr string) int {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}

// unclosedParen returns the offset of the last "(" of pattern that is never
// closed (RE2 names the whole pattern for this error), or -1.
func unclosedParen(pattern string) int {
	var open []int
	inClass := false
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\':
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
			if i+1 < len(pattern) && pattern[i+1] == ']' {
				i++ // a literal ] first in a class
			}
		case c == '(':
			open = append(open, i)
		case c == ')' && len(open) > 0:
			open = open[:len(open)-1]
		}
	}
	if len(open) == 0 {
		return -1
	}
	return open[len(open)-1]
}

type grepRun struct {
	s        *Service
	c        access.Caller
	re       *regexp.Regexp
	o        GrepOptions
	cons     authz.Consistency
	deadline time.Time
	res      GrepResult
	resume   *grepCursor
	key      string
	visited  int // entries the walk examined
}

// Grep searches the content of the readable files at or below o.Path, in
// path order, for lines matching o.Pattern (RE2). Binary files (a NUL byte
// in their first 8 KiB) are skipped. A call stops after MaxMatches
// matching lines, GrepMaxBytes of content or GrepMaxTime, whichever comes
// first, and then says so (Partial, StoppedBy) with a token to continue.
func (s *Service) Grep(ctx context.Context, c access.Caller, o GrepOptions, cons authz.Consistency) (GrepResult, error) {
	switch {
	case o.MaxMatches == 0:
		o.MaxMatches = DefaultGrepMaxMatches
	case o.MaxMatches < 0 || o.MaxMatches > MaxGrepMatches:
		return GrepResult{}, errs.Invalid("max_matches", "%d is out of range; use 1-%d (0 means %d)", o.MaxMatches, MaxGrepMatches, DefaultGrepMaxMatches)
	}
	if o.ContextLines < 0 || o.ContextLines > MaxGrepContext {
		return GrepResult{}, errs.Invalid("context_lines", "%d is out of range; use 0-%d", o.ContextLines, MaxGrepContext)
	}
	re, err := CompileGrep(o.Pattern, o.CaseInsensitive)
	if err != nil {
		return GrepResult{}, err
	}
	select {
	case s.grepSlots <- struct{}{}:
		defer func() { <-s.grepSlots }()
	default:
		return GrepResult{}, errs.E(errs.ResourceExhausted, "%d Grep calls are already running on this server; retry shortly", cap(s.grepSlots))
	}
	if o.Path == "" {
		o.Path = "/"
	}
	p, _, err := paths.ParseField("path", o.Path)
	if err != nil {
		return GrepResult{}, err
	}
	g := &grepRun{s: s, c: c, re: re, o: o, cons: cons, deadline: time.Now().Add(s.limits.GrepMaxTime),
		key: string(p) + "\x00" + o.Pattern + map[bool]string{true: "\x00i"}[o.CaseInsensitive]}
	if o.PageToken != "" {
		var cur grepCursor
		if !s.tokens.Open(o.PageToken, &cur) || cur.Key != g.key {
			return GrepResult{}, errs.Invalid("page_token", "is not a token from a Grep with this pattern and path; start again without it")
		}
		g.resume = &cur
	}
	start, err := s.open(ctx, c, p, nexus.PermRead, cons)
	if err != nil {
		return GrepResult{}, err
	}
	err = g.run(ctx, start)
	if err != nil && !errors.Is(err, errStop) {
		return GrepResult{}, err
	}
	return g.res, nil
}

func (g *grepRun) run(ctx context.Context, start paths.Resolved) error {
	if start.Entry().Kind == paths.File {
		from := int64(0)
		if g.resume != nil {
			from = g.resume.Line
		}
		return g.scan(ctx, start, from)
	}
	var after []string
	if g.resume != nil {
		rp, _, err := paths.Parse(g.resume.Path)
		if err != nil || !rp.IsWithin(start.Path) || rp == start.Path {
			return errs.Invalid("page_token", "is not a token from a Grep with this pattern and path; start again without it")
		}
		// Finish the file the last call stopped in, then go on after it.
		if r, err := g.s.tree.Resolve(ctx, g.c.Zone, rp); err == nil && r.Entry().Kind == paths.File && !g.resume.Done {
			if err := g.checkAndScan(ctx, []paths.Resolved{r}, g.resume.Line); err != nil {
				return err
			}
		}
		after = relSegments(start.Path, rp)
	}
	var pending []paths.Resolved
	// The budget covers the walk too, over entries the caller may not
	// read: each visit and each batch checked counts against it. A stop
	// there checks and scans what is pending first, then continues after
	// the last entry visited (whose token, sealed, names it unread).
	w := &walker{s: g.s, visit: func(r paths.Resolved) error {
		g.visited++
		if r.Entry().Kind == paths.File {
			pending = append(pending, r)
		}
		if why := g.spent(); why != "" || len(pending) >= grepBatch {
			err := g.checkAndScan(ctx, pending, 0)
			pending = pending[:0]
			if err != nil {
				return err
			}
			if why := g.spent(); why != "" {
				return g.stopAfter(why, r.Path)
			}
		}
		return nil
	}}
	if err := w.walk(ctx, start, after); err != nil {
		return err
	}
	return g.checkAndScan(ctx, pending, 0)
}

// checkAndScan scans the readable files of rs; the first from line from.
func (g *grepRun) checkAndScan(ctx context.Context, rs []paths.Resolved, from int64) error {
	ok, err := g.s.readable(ctx, g.c, rs, g.cons)
	if err != nil {
		return err
	}
	for i, r := range rs {
		if !ok[i] {
			continue
		}
		if err := g.scan(ctx, r, from); err != nil {
			return err
		}
		from = 0
	}
	return nil
}

// spent says which of the call's budgets is used up ("" if none).
func (g *grepRun) spent() string {
	switch {
	case time.Now().After(g.deadline):
		return "time"
	case g.res.BytesScanned >= g.s.limits.GrepMaxBytes:
		return "bytes"
	case g.visited >= g.s.limits.GrepMaxVisit:
		return "visits"
	}
	return ""
}

// stopAfter ends the call early, continuing after the entry at p.
func (g *grepRun) stopAfter(why string, p paths.Path) error {
	g.res.Partial, g.res.StoppedBy = true, why
	g.res.NextPageToken = g.s.tokens.Seal(grepCursor{Key: g.key, Path: string(p), Done: true})
	return errStop
}

// stop ends the call early, continuing at line `line` of file p.
func (g *grepRun) stop(why string, p paths.Path, line int64) error {
	g.res.Partial, g.res.StoppedBy = true, why
	g.res.NextPageToken = g.s.tokens.Seal(grepCursor{Key: g.key, Path: string(p), Line: line})
	return errStop
}

// scan searches one readable file, reporting matches after line from.
func (g *grepRun) scan(ctx context.Context, r paths.Resolved, from int64) error {
	e := r.Entry()
	if time.Now().After(g.deadline) {
		return g.stop("time", r.Path, from)
	}
	if g.res.BytesScanned >= g.s.limits.GrepMaxBytes {
		return g.stop("bytes", r.Path, from)
	}
	if e.Size == 0 {
		return nil
	}
	obj, err := g.s.object(ctx, e.ContentHash)
	if err != nil {
		return err
	}
	rc := g.s.content.NewReader(ctx, obj, 0, obj.Size)
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	if head, _ := br.Peek(8 << 10); bytes.IndexByte(head, 0) >= 0 {
		return nil // binary
	}
	g.res.FilesScanned++
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), maxGrepLine)
	n := g.o.ContextLines
	var before []string
	var open []int // indexes of matches still collecting after-context
	var line int64
	for sc.Scan() {
		line++
		text := sc.Text()
		g.res.BytesScanned += int64(len(text)) + 1
		for _, m := range open {
			g.res.Matches[m].After = append(g.res.Matches[m].After, text)
		}
		if len(open) > 0 && len(g.res.Matches[open[0]].After) == n {
			open = open[1:]
		}
		if len(g.res.Matches) >= g.o.MaxMatches && len(open) == 0 {
			return g.stop("max_matches", r.Path, line-1)
		}
		if line > from && len(g.res.Matches) < g.o.MaxMatches {
			if locs := g.re.FindAllStringIndex(text, -1); locs != nil {
				m := GrepMatch{Path: r.Path, Line: line, Text: text, Before: append([]string(nil), before...)}
				for _, l := range locs {
					m.Ranges = append(m.Ranges, [2]int{l[0], l[1]})
				}
				g.res.Matches = append(g.res.Matches, m)
				if n > 0 {
					open = append(open, len(g.res.Matches)-1)
				}
			}
		}
		if n > 0 {
			before = append(before, text)
			if len(before) > n {
				before = before[1:]
			}
		}
		if line%1024 == 0 {
			if time.Now().After(g.deadline) {
				return g.stop("time", r.Path, line)
			}
			if g.res.BytesScanned >= g.s.limits.GrepMaxBytes {
				return g.stop("bytes", r.Path, line)
			}
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return err
	}
	if len(g.res.Matches) >= g.o.MaxMatches {
		return g.stop("max_matches", r.Path, line)
	}
	return nil
}
