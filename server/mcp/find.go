package mcp

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
)

type globIn struct {
	Pattern          string `json:"pattern" jsonschema:"absolute pattern: * within a name, ? one character, ** any folders, [a-z], {a,b}; such as /projects/**/*.md"`
	PageSize         int    `json:"page_size,omitempty" jsonschema:"matches per page, 1-200 (default 50)"`
	PageToken        string `json:"page_token,omitempty" jsonschema:"next_page_token of the previous page"`
	ConsistencyToken string `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

type grepIn struct {
	Pattern          string `json:"pattern" jsonschema:"a regular expression (RE2 syntax), matched against each line"`
	Path             string `json:"path,omitempty" jsonschema:"folder or file to search (default /)"`
	CaseInsensitive  bool   `json:"case_insensitive,omitempty"`
	ContextLines     int    `json:"context_lines,omitempty" jsonschema:"lines of context before and after each match, 0-5"`
	MaxMatches       int    `json:"max_matches,omitempty" jsonschema:"matching lines per call, 1-200 (default 50)"`
	PageToken        string `json:"page_token,omitempty" jsonschema:"next_page_token of the previous call, to go on"`
	ConsistencyToken string `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

// GrepMatch is one matching line.
type GrepMatch struct {
	Path       string   `json:"path"`
	LineNumber int64    `json:"line_number"`
	Line       string   `json:"line"`
	Before     []string `json:"before,omitempty"`
	After      []string `json:"after,omitempty"`
}

// GrepOut is a page of matching lines.
type GrepOut struct {
	Matches       []GrepMatch `json:"matches"`
	Partial       bool        `json:"partial" jsonschema:"true when the search stopped before the end: continue with next_page_token"`
	StoppedBy     string      `json:"stopped_by,omitempty" jsonschema:"why it stopped early: max_matches, bytes, time or visits"`
	NextPageToken string      `json:"next_page_token,omitempty"`
}

type searchIn struct {
	Query            string `json:"query" jsonschema:"words to look for in the content of files"`
	PageSize         int    `json:"page_size,omitempty" jsonschema:"hits per page, 1-100 (default 10)"`
	PageToken        string `json:"page_token,omitempty" jsonschema:"next_page_token of the previous page"`
	ConsistencyToken string `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

// SearchHit is one file that matches, best first.
type SearchHit struct {
	Path    string  `json:"path"`
	Score   float64 `json:"score" jsonschema:"from the rank only: 1/(n+1) for the n-th hit"`
	Snippet string  `json:"snippet,omitempty" jsonschema:"text around the best match, matched words in [brackets]"`
}

// SearchOut is a page of hits.
type SearchOut struct {
	Hits          []SearchHit `json:"hits"`
	NextPageToken string      `json:"next_page_token,omitempty"`
}

// maxLine bounds a line grep returns; longer ones are cut and marked.
const maxLine = 500

func (s *Server) addFindTools() {
	addTool(s, &sdk.Tool{Name: "glob", Annotations: readOnly("Find files by name"),
		Description: "Find the files and folders you may read whose paths match a pattern, in path order, a page at a time."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in globIn) (*sdk.CallToolResult, Page, error) {
			if err := checkPath("pattern", in.Pattern); err != nil {
				return nil, Page{}, err
			}
			r, err := s.b.Files.Glob(ctx, connect.NewRequest(&nexusv1.GlobRequest{Pattern: in.Pattern, PageSize: pageSize(in.PageSize),
				PageToken: in.PageToken, Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, Page{}, toolError("pattern "+in.Pattern, err)
			}
			return nil, Page{Entries: entriesOf(r.Msg.GetEntries()), NextPageToken: r.Msg.GetNextPageToken()}, nil
		})
	addTool(s, &sdk.Tool{Name: "grep", Annotations: readOnly("Search file contents by pattern"),
		Description: "Search the lines of the text files you may read, below a path, for a regular expression (RE2). " +
			"Bounded per call: when partial is true, call again with next_page_token."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in grepIn) (*sdk.CallToolResult, GrepOut, error) {
			if in.Pattern == "" {
				return nil, GrepOut{}, fmt.Errorf("pattern is required: a regular expression such as TODO|FIXME")
			}
			if in.Path != "" {
				if err := checkPath("path", in.Path); err != nil {
					return nil, GrepOut{}, err
				}
			}
			if in.ContextLines < 0 || in.ContextLines > 5 {
				return nil, GrepOut{}, fmt.Errorf("context_lines %d is out of range: give 0 to 5", in.ContextLines)
			}
			r, err := s.b.Files.Grep(ctx, connect.NewRequest(&nexusv1.GrepRequest{Pattern: in.Pattern, Path: in.Path,
				CaseInsensitive: in.CaseInsensitive, ContextLines: int32(in.ContextLines), MaxMatches: pageSize(in.MaxMatches),
				PageToken: in.PageToken, Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, GrepOut{}, toolError(orRoot(in.Path), err)
			}
			out := GrepOut{Matches: []GrepMatch{}, Partial: r.Msg.GetPartial(), StoppedBy: r.Msg.GetStoppedBy(), NextPageToken: r.Msg.GetNextPageToken()}
			for _, m := range r.Msg.GetMatches() {
				out.Matches = append(out.Matches, GrepMatch{Path: m.GetPath(), LineNumber: m.GetLineNumber(), Line: cut(m.GetLine()),
					Before: cutAll(m.GetBefore()), After: cutAll(m.GetAfter())})
			}
			return nil, out, nil
		})
	addTool(s, &sdk.Tool{Name: "search", Annotations: readOnly("Full-text search"),
		Description: "Ranked full-text search of the content of the files you may read: a file matches with any of the words, " +
			"and ranks higher with more, and rarer, of them."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in searchIn) (*sdk.CallToolResult, SearchOut, error) {
			n := in.PageSize
			if n <= 0 {
				n = 10
			}
			r, err := s.b.Search.Search(ctx, connect.NewRequest(&nexusv1.SearchRequest{Query: in.Query, PageSize: int32(min(n, 100)),
				PageToken: in.PageToken, Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, SearchOut{}, toolError("query "+quote(in.Query), err)
			}
			out := SearchOut{Hits: []SearchHit{}, NextPageToken: r.Msg.GetNextPageToken()}
			for _, h := range r.Msg.GetHits() {
				out.Hits = append(out.Hits, SearchHit{Path: h.GetEntry().GetPath(), Score: h.GetScore(), Snippet: marked(h.GetSnippet())})
			}
			return nil, out, nil
		})
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// cut shortens a line past maxLine bytes (at a character), marking it.
func cut(line string) string {
	if len(line) <= maxLine {
		return line
	}
	i := maxLine
	for i > 0 && line[i]&0xC0 == 0x80 {
		i--
	}
	return line[:i] + fmt.Sprintf("… [line cut: %d bytes]", len(line))
}

func cutAll(lines []string) []string {
	if len(lines) == 0 {
		return nil
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = cut(l)
	}
	return out
}

// marked writes a snippet with its highlighted ranges in [brackets], as
// the CLI shows them.
func marked(sn *nexusv1.Snippet) string {
	text := sn.GetText()
	var b []byte
	at := 0
	for _, h := range sn.GetHighlights() {
		start, end := int(h.GetStart()), int(h.GetEnd())
		if start < at || end > len(text) || start > end {
			continue
		}
		b = append(b, text[at:start]...)
		b = append(b, '[')
		b = append(b, text[start:end]...)
		b = append(b, ']')
		at = end
	}
	return string(append(b, text[at:]...))
}
