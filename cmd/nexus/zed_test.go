package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The SpiceDB API from the command line, as zed speaks it: a service's
// schema written from a file, relationships created, read and deleted,
// checks that print true or false (and gate a script with
// --error-on-no-permission), lookups; and bad input said in one line.
func TestZedLikeCommands(t *testing.T) {
	p, admin, _ := asAdmin(t)
	code, w, errOut := cli(p.url, admin, "admin", "key", "create", "--user", "admin", "--scope", "write")
	require.Equal(t, 0, code, errOut)
	writer := strings.TrimSpace(w)
	call := func(args ...string) (int, string, string) { return cli(p.url, writer, args...) }
	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := call(args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		return out
	}

	cur := ok("schema", "read")
	require.Contains(t, cur, "definition file {", "Nexus's own definitions are in it")
	schema := filepath.Join(t.TempDir(), "schema.zed")
	require.NoError(t, os.WriteFile(schema, []byte(cur+`
definition billing/customer {}
definition billing/invoice {
    relation viewer: billing/customer
    permission view = viewer
}
`), 0o600))
	written := ok("schema", "write", schema)
	require.Contains(t, written, "schema written; token ")
	schemaToken := strings.TrimSpace(strings.TrimPrefix(written, "schema written; token "))
	require.Contains(t, ok("schema", "read"), "definition billing/invoice {")

	// A watch from the schema's token, in the background, sees the create below.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	var watched lockedWriter
	watchDone := make(chan int, 1)
	go func() {
		watchDone <- run(watchCtx, []string{"--url", p.url, "--token", writer, "relationship", "watch", "billing/invoice", "--since", schemaToken}, &watched, io.Discard)
	}()
	tok := strings.TrimSpace(ok("relationship", "create", "billing/invoice:inv_42#viewer@billing/customer:acme"))
	require.Eventually(t, func() bool {
		return strings.Contains(watched.String(), "TOUCH billing/invoice:inv_42#viewer@billing/customer:acme\n")
	}, 10*time.Second, 10*time.Millisecond, "the watch printed the change")
	stopWatch()
	require.Equal(t, 0, <-watchDone, "an interrupted watch ends cleanly")
	require.NotEmpty(t, tok, "the write's token is printed")
	require.Equal(t, "billing/invoice:inv_42#viewer@billing/customer:acme\n", ok("relationship", "read", "billing/invoice", "--consistency-at-least", tok))
	require.Equal(t, "true\n", ok("permission", "check", "billing/invoice:inv_42", "view", "billing/customer:acme", "--consistency-at-least", tok))
	require.Equal(t, "false\n", ok("permission", "check", "billing/invoice:inv_42", "view", "billing/customer:globex", "--consistency-at-least", tok),
		"a denial is an answer: exit 0 without the flag")
	code, out, _ := call("permission", "check", "billing/invoice:inv_42", "view", "billing/customer:globex", "--error-on-no-permission", "--consistency-full")
	require.Equal(t, 1, code, "with --error-on-no-permission a denial exits 1")
	require.Equal(t, "false\n", out)
	require.Equal(t, "inv_42\n", ok("permission", "lookup-resources", "billing/invoice", "view", "billing/customer:acme", "--consistency-full"))
	require.Equal(t, "acme\n", ok("permission", "lookup-subjects", "billing/invoice:inv_42", "view", "billing/customer", "--consistency-full"))

	code, _, errOut = call("relationship", "create", "billing/invoice:inv_42#viewer@billing/customer:acme")
	require.NotEqual(t, 0, code, "create of an existing relationship fails, as SpiceDB's does")
	require.Contains(t, errOut, "already_exists")
	tok = strings.TrimSpace(ok("relationship", "delete", "billing/invoice:inv_42#viewer@billing/customer:acme"))
	require.Equal(t, "false\n", ok("permission", "check", "billing/invoice:inv_42", "view", "billing/customer:acme", "--consistency-at-least", tok))

	// bulk-delete asks first (and without a terminal refuses, naming
	// --force); --limit deletes part and says more are left.
	ok("relationship", "touch", "billing/invoice:inv_1#viewer@billing/customer:acme",
		"billing/invoice:inv_2#viewer@billing/customer:acme", "billing/invoice:inv_3#viewer@billing/customer:acme",
		"billing/invoice:inv_3#viewer@billing/customer:globex")
	code, _, errOut = call("relationship", "bulk-delete", "billing/invoice", "--subject", "billing/customer:acme")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "delete 3 relationships of billing/invoice: not asked without a terminal; pass --force")
	code, _, errOut = call("relationship", "bulk-delete", "billing/invoice", "--subject", "billing/customer:acme", "--force", "--limit", "2")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "deleted 2 relationships (more match: run it again)\n", errOut)
	code, _, errOut = call("relationship", "bulk-delete", "billing/invoice", "--subject", "billing/customer:acme", "--force")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "deleted 1 relationships\n", errOut)
	require.Equal(t, "billing/invoice:inv_3#viewer@billing/customer:globex\n", ok("relationship", "read", "billing/invoice", "--consistency-full"),
		"only acme's went")
	code, _, errOut = call("relationship", "bulk-delete", "file", "--force")
	require.NotEqual(t, 0, code, "Nexus's own relationships are not a service's to delete")
	require.Contains(t, errOut, "permission_denied")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"relationship", "touch", "not a relationship"}, `"not a relationship" is not a relationship`},
		{[]string{"permission", "check", "inv_42", "view", "billing/customer:acme"}, "resource \"inv_42\" must be TYPE:ID"},
		{[]string{"permission", "check", "billing/invoice:inv_42", "view", "acme"}, "subject \"acme\" must be TYPE:ID"},
		{[]string{"relationship", "touch", "billing/invoice:inv_1#nope@billing/customer:acme"}, "relation/permission `nope` not found under definition `billing/invoice`"},
		{[]string{"schema", "write", filepath.Join(t.TempDir(), "missing.zed")}, "no such file"},
	} {
		code, _, errOut := call(c.args...)
		require.NotEqual(t, 0, code, "%v", c.args)
		require.Contains(t, errOut, c.want, "%v", c.args)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	}
	// Nexus's own definitions stay: a schema without them is refused.
	bad := filepath.Join(t.TempDir(), "bad.zed")
	require.NoError(t, os.WriteFile(bad, []byte("definition billing/customer {}\n"), 0o600))
	code, _, errOut = call("schema", "write", bad)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "Nexus's own definitions")
	// A user's own key is not a service key.
	code, _, errOut = cli(p.url, admin, "schema", "read")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "permission_denied")
}
