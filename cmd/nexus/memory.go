package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
)

func (c *client) memory() nexusv1connect.MemoryServiceClient {
	return nexusv1connect.NewMemoryServiceClient(c.httpClient(), c.base(), c.options()...)
}

var memoryScopes = map[string]nexusv1.MemoryScope{
	"user": nexusv1.MemoryScope_MEMORY_SCOPE_USER, "agent": nexusv1.MemoryScope_MEMORY_SCOPE_AGENT, "zone": nexusv1.MemoryScope_MEMORY_SCOPE_ZONE,
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func newMemoryCmd(cl *client) *cobra.Command {
	mem := &cobra.Command{Use: "memory", Short: "Remember and recall notes: remember, recall, get, forget, ls"}

	var tags, meta []string
	var scope string
	var importance float64
	var ttl time.Duration
	remember := &cobra.Command{
		Use:   "remember TEXT",
		Short: "Store a memory; prints only its id on stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, ok := memoryScopes[scope]
			if !ok {
				return fmt.Errorf("invalid_argument: --scope %q: use user, agent or zone", scope)
			}
			req := &nexusv1.RememberRequest{Text: args[0], Tags: tags, Scope: sc, TtlSeconds: int64(ttl / time.Second),
				Metadata: map[string]string{}}
			if ttl > 0 && ttl < time.Second {
				return fmt.Errorf("invalid_argument: --ttl %s: use at least 1s", ttl)
			}
			for _, kv := range meta {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("invalid_argument: --meta %q: use KEY=VALUE", kv)
				}
				req.Metadata[k] = v
			}
			if cmd.Flags().Changed("importance") {
				req.Importance = &importance
			}
			resp, err := cl.memory().Remember(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				fmt.Fprintln(cl.out, resp.Msg.GetMemory().GetId())
			}
			return nil
		},
	}
	remember.Flags().StringArrayVar(&tags, "tag", nil, "a tag (repeatable)")
	remember.Flags().StringArrayVar(&meta, "meta", nil, "metadata KEY=VALUE (repeatable)")
	remember.Flags().StringVar(&scope, "scope", "user", "user, agent or zone")
	remember.Flags().Float64Var(&importance, "importance", 0.5, "0-1")
	remember.Flags().DurationVar(&ttl, "ttl", 0, "forget after this long (0: never)")

	var recallTags []string
	var limit int32
	recall := &cobra.Command{
		Use:   "recall QUERY",
		Short: "The memories that best match a query (relevance, recency, importance)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.memory().Recall(cmd.Context(), connect.NewRequest(&nexusv1.RecallRequest{Query: args[0], Tags: recallTags, Limit: limit}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			tw := cl.table("ID", "SCORE", "TAGS", "TEXT")
			for _, r := range resp.Msg.GetMemories() {
				m := r.GetMemory()
				fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\n", m.GetId(), r.GetScore(), strings.Join(m.GetTags(), ","), oneLine(marked(r.GetSnippet()), 80))
			}
			return tw.Flush()
		},
	}
	recall.Flags().StringArrayVar(&recallTags, "tag", nil, "only memories with this tag (repeatable: all of them)")
	recall.Flags().Int32VarP(&limit, "limit", "n", 10, "how many (1-100)")

	get := &cobra.Command{
		Use:   "get ID",
		Short: "Show a memory",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.memory().Get(cmd.Context(), connect.NewRequest(&nexusv1.MemoryServiceGetRequest{Id: args[0]}))
			if err != nil {
				return err
			}
			if cl.printJSON(resp.Msg) {
				return nil
			}
			m := resp.Msg.GetMemory()
			fmt.Fprintf(cl.out, "id:          %s\nowner:       %s\nscope:       %s\ntags:        %s\nimportance:  %.2f\ncreated:     %s\nexpires:     %s\n",
				m.GetId(), m.GetOwner(), strings.ToLower(strings.TrimPrefix(m.GetScope().String(), "MEMORY_SCOPE_")),
				strings.Join(m.GetTags(), ","), m.GetImportance(), fmtTime(m.GetCreatedAt()), fmtTime(m.GetExpiresAt()))
			for k, v := range m.GetMetadata() {
				fmt.Fprintf(cl.out, "meta:        %s=%s\n", k, v)
			}
			fmt.Fprintf(cl.out, "\n%s\n", m.GetText())
			return nil
		},
	}

	forget := &cobra.Command{
		Use:   "forget ID",
		Short: "Delete a memory",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := cl.memory().Forget(cmd.Context(), connect.NewRequest(&nexusv1.ForgetRequest{Id: args[0]}))
			if err != nil {
				return err
			}
			if !cl.printJSON(resp.Msg) {
				fmt.Fprintf(cl.errOut, "forgot %s\n", args[0])
			}
			return nil
		},
	}

	var lsTags []string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List readable memories, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var tw *tabwriter.Writer
			if !cl.json {
				tw = cl.table("ID", "CREATED", "OWNER", "TAGS", "TEXT")
			}
			token := ""
			for {
				resp, err := cl.memory().List(cmd.Context(), connect.NewRequest(&nexusv1.MemoryServiceListRequest{Tags: lsTags, PageSize: 1000, PageToken: token}))
				if err != nil {
					return err
				}
				cl.printJSON(resp.Msg)
				for _, m := range resp.Msg.GetMemories() {
					if tw != nil {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.GetId(), fmtTime(m.GetCreatedAt()), m.GetOwner(), strings.Join(m.GetTags(), ","), oneLine(m.GetText(), 60))
					}
				}
				if token = resp.Msg.GetNextPageToken(); token == "" {
					break
				}
			}
			if tw != nil {
				return tw.Flush()
			}
			return nil
		},
	}
	ls.Flags().StringArrayVar(&lsTags, "tag", nil, "only memories with this tag (repeatable: all of them)")

	mem.AddCommand(remember, recall, get, forget, ls)
	return mem
}
