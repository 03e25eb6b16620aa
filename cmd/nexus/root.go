package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/nexus-authz/nexus/server"
)

// exitError carries an exit status and a message already fit for stderr
// (none: the command has said all it had to, as check's "denied").
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code, msg := 1, describe(err)
	var ee *exitError
	if errors.As(err, &ee) {
		code, msg = ee.code, ee.msg
	}
	if msg == "" {
		return code
	}
	if asJSON, _ := root.PersistentFlags().GetBool("json"); asJSON {
		// {"error": {"code": "not_found", "message": "..."}}, one line.
		kind, text := "error", msg
		if k, rest, ok := strings.Cut(msg, ": "); ok && !strings.Contains(k, " ") {
			kind, text = k, rest
		}
		b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": kind, "message": text}})
		fmt.Fprintln(stderr, string(b))
		return code
	}
	fmt.Fprintln(stderr, "nexus: "+msg)
	return code
}

// describe renders an error as one line naming its code and what to do.
func describe(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err.Error()
	}
	msg := inCLIWords(ce.Message())
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		return "unauthenticated: " + msg + " (set NEXUS_TOKEN or pass --token)"
	case connect.CodeUnavailable:
		if strings.Contains(msg, "connection refused") || strings.Contains(msg, "dial") {
			return "unavailable: cannot reach the server (" + msg + "); is `nexus serve` running, and is --url right?"
		}
	case connect.CodePermissionDenied:
		if msg == "password required" || msg == "wrong password" {
			return "permission_denied: " + msg + " (pass the link's --password)"
		}
		return "permission_denied: " + msg + " (ask an admin of the zone)"
	}
	return ce.Code().String() + ": " + msg
}

// cliWords turn the hints of the API's messages, which name request
// fields, into the commands and flags a CLI user types.
var cliWords = strings.NewReplacer(
	"; delete with recursive", "; delete it with nexus fs rm -r",
	"(create it, or pass create_parents)", "(create it with nexus fs mkdir -p, or leave out --no-parents)",
	"(create it, or pass parents)", "(create it first: nexus fs mkdir -p)",
	"Read takes a file (use List)", "list it with nexus fs ls",
)

func inCLIWords(msg string) string { return cliWords.Replace(msg) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "nexus",
		Short:         "Nexus: ReBAC authorization with a file plane",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long: `Nexus is a Zanzibar-style authorization service (embedded SpiceDB) with a
file plane. "nexus serve" runs the server; the other commands are its client.

Client commands talk to --url (NEXUS_URL, default http://127.0.0.1:8080) with
the API key in --token (NEXUS_TOKEN); without them, a named context's URL and
key file (nexus config; --context or NEXUS_CONTEXT picks one); without one,
./nexus-data/admin.key is used if it exists.`,
	}
	root.Version = server.Version()
	root.SetVersionTemplate("nexus {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	cl := &client{out: stdout, errOut: stderr}
	root.PersistentFlags().StringVar(&cl.url, "url", envOr("NEXUS_URL", "http://127.0.0.1:8080"), "server URL (env NEXUS_URL)")
	// No default from the environment: cobra prints a flag's default in
	// every --help, and the key is a secret (client.key reads NEXUS_TOKEN).
	root.PersistentFlags().StringVar(&cl.token, "token", "", "API key (env NEXUS_TOKEN)")
	root.PersistentFlags().BoolVar(&cl.json, "json", false, "print responses as JSON")
	root.PersistentFlags().StringVar(&cl.context, "context", "", "named context to use (env NEXUS_CONTEXT; see nexus config)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if cmd.Name() == "serve" || cmd.Name() == "migrate" || (cmd.Parent() != nil && cmd.Parent().Name() == "config") {
			return nil
		}
		return cl.applyContext(cmd)
	}

	root.AddCommand(
		newServeCmd(stderr),
		newMigrateCmd(),
		newWhoamiCmd(cl),
		newAdminCmd(cl),
		newCheckCmd(cl),
		newImportCmd(cl),
		newExportCmd(cl),
		newFsCmd(cl),
		newShareCmd(cl),
		newGlobCmd(cl),
		newGrepCmd(cl),
		newSearchCmd(cl),
		newMemoryCmd(cl),
		newConfigCmd(cl),
		newSchemaCmd(cl),
		newRelationshipCmd(cl),
		newPermissionCmd(cl),
		newMcpCmd(cl),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (nexus, nexus fs, nexus admin user, ...) fail on a word that is none of
// them, with a suggestion, instead of printing its help and exiting 0 —
// which a script would take for success. Alone, it prints its help.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.SuggestionsMinimumDistance = 2
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return &exitError{code: 1, msg: msg + " (" + cmd.CommandPath() + " --help lists them)"}
	}
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
