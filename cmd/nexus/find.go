package main

import (
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
)

func (c *client) search() nexusv1connect.SearchServiceClient {
	return nexusv1connect.NewSearchServiceClient(c.httpClient(), c.base(), c.options()...)
}

// marked renders a snippet on one line with [brackets] around its matches.
func marked(s *nexusv1.Snippet) string {
	text := s.GetText()
	var b strings.Builder
	prev := 0
	for _, h := range s.GetHighlights() {
		start, end := int(h.GetStart()), int(h.GetEnd())
		if start < prev || end > len(text) || start > end {
			continue
		}
		b.WriteString(text[prev:start] + "[" + text[start:end] + "]")
		prev = end
	}
	b.WriteString(text[prev:])
	return strings.Join(strings.Fields(b.String()), " ")
}

func newGlobCmd(cl *client) *cobra.Command {
	return &cobra.Command{
		Use:   "glob PATTERN",
		Short: "List the readable paths matching a pattern (* ? ** [a-z] {a,b}), in path order; folders end with /",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			token := ""
			for {
				resp, err := cl.files().Glob(cmd.Context(), connect.NewRequest(&nexusv1.GlobRequest{Pattern: args[0], PageSize: 1000, PageToken: token}))
				if err != nil {
					return err
				}
				if !cl.printJSON(resp.Msg) {
					for _, e := range resp.Msg.GetEntries() {
						p := e.GetPath()
						if e.GetKind() == nexusv1.EntryKind_ENTRY_KIND_FOLDER {
							p += "/"
						}
						fmt.Fprintln(cl.out, p)
					}
				}
				if token = resp.Msg.GetNextPageToken(); token == "" {
					return nil
				}
			}
		},
	}
}

func newGrepCmd(cl *client) *cobra.Command {
	var insensitive bool
	var contextLines, maxMatches int32
	cmd := &cobra.Command{
		Use:   "grep [-i] REGEX [PATH]",
		Short: "Print the lines of readable files that match an RE2 regular expression (PATH:LINE:TEXT)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/"
			if len(args) == 2 {
				path = args[1]
			}
			if maxMatches < 1 {
				return fmt.Errorf("invalid_argument: --max %d must be at least 1", maxMatches)
			}
			token := ""
			total := int32(0)
			for {
				resp, err := cl.files().Grep(cmd.Context(), connect.NewRequest(&nexusv1.GrepRequest{Pattern: args[0], Path: path,
					CaseInsensitive: insensitive, ContextLines: contextLines, MaxMatches: min(maxMatches-total, 10_000), PageToken: token}))
				if err != nil {
					return err
				}
				m := resp.Msg
				if !cl.printJSON(m) {
					for _, mt := range m.GetMatches() {
						n := mt.GetLineNumber()
						for i, l := range mt.GetBefore() {
							fmt.Fprintf(cl.out, "%s-%d-%s\n", mt.GetPath(), n-int64(len(mt.GetBefore())-i), l)
						}
						fmt.Fprintf(cl.out, "%s:%d:%s\n", mt.GetPath(), n, mt.GetLine())
						for i, l := range mt.GetAfter() {
							fmt.Fprintf(cl.out, "%s-%d-%s\n", mt.GetPath(), n+int64(i)+1, l)
						}
						if contextLines > 0 {
							fmt.Fprintln(cl.out, "--")
						}
					}
				}
				total += int32(len(m.GetMatches()))
				token = m.GetNextPageToken()
				if !m.GetPartial() || token == "" {
					return nil
				}
				if total >= maxMatches {
					fmt.Fprintf(cl.errOut, "nexus: stopped after %d matches (--max raises the limit)\n", total)
					return nil
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&insensitive, "ignore-case", "i", false, "match case-insensitively")
	cmd.Flags().Int32VarP(&contextLines, "context", "C", 0, "lines of context around each match (0-10)")
	cmd.Flags().Int32Var(&maxMatches, "max", 100, "stop after this many matching lines")
	return cmd
}

func newSearchCmd(cl *client) *cobra.Command {
	var limit int32
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Full-text search of readable files, best first, with snippets ([matches] marked)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.search().Search(cmd.Context(), connect.NewRequest(&nexusv1.SearchRequest{Query: args[0], PageSize: limit}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			for _, h := range resp.Msg.GetHits() {
				fmt.Fprintf(cl.out, "%s  (%.2f)\n    %s\n", h.GetEntry().GetPath(), h.GetScore(), marked(h.GetSnippet()))
			}
			return nil
		},
	}
	cmd.Flags().Int32VarP(&limit, "limit", "n", 10, "how many hits (1-100)")
	return cmd
}
