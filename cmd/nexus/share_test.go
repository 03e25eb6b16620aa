package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShareTour is the README's sharing tour: a folder shared with a user,
// and with a password-protected, expiring link; a revoked link's token
// fails with not_found.
func TestShareTour(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
	ok := func(token string, args ...string) string {
		t.Helper()
		code, out, errOut := cli(p.url, token, args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		return out
	}
	fails := func(token, code string, args ...string) string {
		t.Helper()
		c, out, errOut := cli(p.url, token, args...)
		require.NotEqual(t, 0, c, "%v", args)
		require.Empty(t, out)
		require.True(t, strings.HasPrefix(errOut, "nexus: "+code+": "), "%v: %s", args, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
		return errOut
	}

	readme, err := filepath.Abs("../../README.md")
	require.NoError(t, err)
	want, err := os.ReadFile(readme)
	require.NoError(t, err)
	ok(key, "fs", "put", readme, "/docs/readme.md")
	ok(key, "admin", "user", "create", "bob")
	bob := strings.TrimSpace(ok(key, "admin", "key", "create", "--user", "bob"))

	fails(bob, "not_found", "fs", "cat", "/docs/readme.md")
	require.Equal(t, "user:bob is viewer of /docs\n", ok(key, "share", "grant", "/docs", "user:bob", "viewer"))
	require.Equal(t, string(want), ok(bob, "fs", "cat", "/docs/readme.md"))
	require.Contains(t, ok(bob, "share", "shared-with-me"), "/docs")
	ls := ok(key, "share", "ls", "/docs")
	require.Contains(t, ls, "user:bob")
	require.Contains(t, ls, "viewer on /docs")
	fails(bob, "permission_denied", "share", "grant", "/docs", "user:bob", "owner")
	fails(key, "invalid_argument", "share", "grant", "/docs", "user:ghost", "viewer")
	fails(key, "invalid_argument", "share", "grant", "/docs", "user:bob", "boss")

	token := ok(key, "share", "link", "create", "/docs", "--password", "s3cret", "--expires", "24h", "--max-uses", "10")
	require.Equal(t, 1, strings.Count(token, "\n"), "only the token on stdout")
	token = strings.TrimSpace(token)
	require.True(t, strings.HasPrefix(token, "nxl_"), token)

	// Opening needs no API key.
	require.Equal(t, "readme.md\n", ok("", "share", "link", "open", token, "--password", "s3cret"))
	require.Equal(t, string(want), ok("", "share", "link", "open", token, "--password", "s3cret", "--path", "readme.md"), "byte for byte")
	require.Contains(t, fails("", "permission_denied", "share", "link", "open", token), "password required")
	require.Contains(t, fails("", "permission_denied", "share", "link", "open", token, "--password", "guess"), "wrong password")
	fails("", "not_found", "share", "link", "open", token, "--password", "s3cret", "--path", "../etc")

	links := ok(key, "share", "link", "ls", "/docs")
	require.Contains(t, links, "2/10", "two opens of ten")
	require.NotContains(t, links, token)
	log := ok(key, "share", "link", "log", token)
	for _, o := range []string{"ok", "password_required", "wrong_password", "not_found"} {
		require.Contains(t, log, o)
	}

	require.Equal(t, "revoked\n", ok(key, "share", "link", "revoke", token))
	fails("", "not_found", "share", "link", "open", token, "--password", "s3cret")
	require.Contains(t, ok(key, "share", "link", "log", token), "revoked")

	ok(key, "share", "revoke", "/docs", "user:bob", "viewer")
	fails(bob, "not_found", "fs", "cat", "/docs/readme.md")
}

// TestLinkPasswordsStayOffTheCommandLine: a link's password can come from
// stdin (--password -) or NEXUS_LINK_PASSWORD instead of the command line,
// where shell history and ps show it; the wrong one is still refused.
func TestLinkPasswordsStayOffTheCommandLine(t *testing.T) {
	p, key, ok := asAdmin(t)
	ok("fs", "mkdir", "/docs")

	withStdin := func(input string, args ...string) (int, string, string) {
		t.Helper()
		r, w, err := os.Pipe()
		require.NoError(t, err)
		_, err = w.WriteString(input)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		old := os.Stdin
		os.Stdin = r
		defer func() { os.Stdin = old; r.Close() }()
		return cli(p.url, key, args...)
	}
	code, token, errOut := withStdin("from-stdin\n", "share", "link", "create", "/docs", "--password", "-")
	require.Equal(t, 0, code, errOut)
	token = strings.TrimSpace(token)

	// The right password from the environment opens it; none, or a wrong
	// one from stdin, does not.
	code, _, errOut = cli(p.url, "", "share", "link", "open", token)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "password required")
	t.Setenv("NEXUS_LINK_PASSWORD", "from-stdin")
	code, _, errOut = cli(p.url, "", "share", "link", "open", token)
	require.Equal(t, 0, code, errOut)
	code, _, errOut = withStdin("guess\n", "share", "link", "open", token, "--password", "-")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "wrong password")
	code, _, errOut = withStdin("", "share", "link", "open", token, "--password", "-")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "stdin gave no password")
}
