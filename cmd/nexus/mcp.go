package main

import (
	"net/http"
	"time"

	"connectrpc.com/connect"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/server/mcp"
)

// newMcpCmd serves MCP over stdio: a local agent's host starts `nexus mcp`
// and speaks JSON-RPC on its stdin and stdout; every tool is a call to the
// server at --url with the key, so the agent sees what the key may.
func newMcpCmd(cl *client) *cobra.Command {
	var opts mcp.Options
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve the Model Context Protocol over stdio, for a local agent, as the key's user or agent",
		Long: `Serve the Model Context Protocol (MCP) on stdin and stdout, for an agent's host
to start as a local server. Its tools (list, read, write, grep, search,
remember, recall, share_grant, ...) and its nexus://ZONE/PATH resources call
the Nexus server at --url (NEXUS_URL) with the API key in --token
(NEXUS_TOKEN): give the agent a key of its own (nexus admin user create NAME
--agent-of USER, then nexus admin key create --user NAME), and it sees and
does exactly what that key may. Nothing but MCP is written to stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key := cl.key()
			if key == "" {
				return &exitError{code: 1, msg: "unauthenticated: no API key (set NEXUS_TOKEN in the MCP server's environment, or pass --token)"}
			}
			b := mcp.NewBackend(&http.Client{Timeout: 60 * time.Second}, cl.base(), mcp.WithKey(key))
			// Fail at once, on stderr (which hosts show), if the server or
			// the key is wrong, rather than on the agent's first call.
			if _, err := b.Identity.WhoAmI(cmd.Context(), connect.NewRequest(&nexusv1.WhoAmIRequest{})); err != nil {
				return err
			}
			err := mcp.NewServer(b, opts).Run(cmd.Context(), &sdk.StdioTransport{})
			if cmd.Context().Err() != nil {
				return nil // interrupted: a normal end
			}
			return err
		},
	}
	cmd.Flags().Int64Var(&opts.MaxReadBytes, "max-read-bytes", mcp.DefaultMaxReadBytes, "the most one read returns")
	cmd.Flags().DurationVar(&opts.PollInterval, "poll-interval", mcp.DefaultPollInterval, "how often subscribed resources are checked for changes")
	return cmd
}
