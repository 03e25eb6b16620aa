package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
)

// exitError carries an exit status and a message already fit for stderr.
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
	fmt.Fprintln(stderr, "nexus: "+describe(err))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// describe renders an error as one line naming its code and what to do.
func describe(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err.Error()
	}
	msg := ce.Message()
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

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "nexus",
		Short:         "Nexus: ReBAC authorization with a file plane",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long: `Nexus is a Zanzibar-style authorization service (embedded SpiceDB) with a
file plane. "nexus serve" runs the server; the other commands are its client.

Client commands talk to --url (NEXUS_URL, default http://127.0.0.1:8080) with
the API key in --token (NEXUS_TOKEN); without one, ./nexus-data/admin.key is
used if it exists.`,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	cl := &client{out: stdout, errOut: stderr}
	root.PersistentFlags().StringVar(&cl.url, "url", envOr("NEXUS_URL", "http://127.0.0.1:8080"), "server URL (env NEXUS_URL)")
	// No default from the environment: cobra prints a flag's default in
	// every --help, and the key is a secret (client.key reads NEXUS_TOKEN).
	root.PersistentFlags().StringVar(&cl.token, "token", "", "API key (env NEXUS_TOKEN)")
	root.PersistentFlags().BoolVar(&cl.json, "json", false, "print responses as JSON")

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
	)
	return root
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
