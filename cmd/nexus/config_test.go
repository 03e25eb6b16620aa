package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Named contexts pick the server and the key file; flags and the
// environment still win; bad names and missing files say what to do; the
// key never enters the config file.
func TestNamedContexts(t *testing.T) {
	p, key, _ := asAdmin(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "config.json")
	t.Setenv("NEXUS_CONFIG", config)
	t.Setenv("NEXUS_TOKEN", "")
	t.Setenv("NEXUS_URL", "")
	t.Setenv("NEXUS_CONTEXT", "")
	t.Setenv("NEXUS_DATA_DIR", filepath.Join(dir, "none")) // no admin.key to fall back on
	keyFile := filepath.Join(dir, "local.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o600))

	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := nexus(args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		return out
	}
	fails := func(want string, args ...string) {
		t.Helper()
		code, _, errOut := nexus(args...)
		require.NotEqual(t, 0, code, "%v should fail", args)
		require.Contains(t, errOut, want, "%v", args)
	}

	fails("unauthenticated", "--url", p.url, "whoami") // no key anywhere yet
	require.Equal(t, "context local: "+p.url+"\n", ok("config", "set-context", "local", "--url", p.url, "--key-file", keyFile))
	require.Contains(t, ok("whoami"), "admin", "the first context made is current")
	ok("config", "set-context", "elsewhere", "--url", "http://127.0.0.1:1", "--key-file", keyFile)
	require.Regexp(t, `(?m)^\*\s+local\s+`+p.url+`\s+`+keyFile+`$`, ok("config", "get-contexts"))
	fails("cannot reach the server", "--context", "elsewhere", "whoami")
	t.Setenv("NEXUS_CONTEXT", "elsewhere")
	fails("cannot reach the server", "whoami")
	t.Setenv("NEXUS_URL", p.url)
	require.Contains(t, ok("whoami"), "admin", "NEXUS_URL wins over the context's URL")
	t.Setenv("NEXUS_URL", "")
	t.Setenv("NEXUS_CONTEXT", "")
	require.Contains(t, ok("--url", p.url, "--context", "elsewhere", "whoami"), "admin", "--url wins too")

	ok("config", "use-context", "elsewhere")
	fails("cannot reach the server", "whoami")
	ok("config", "use-context", "local")
	require.Contains(t, ok("whoami"), "admin")

	fails(`no context "nope"; known: elsewhere, local`, "--context", "nope", "whoami")
	fails(`no context "nope"; known: elsewhere, local`, "config", "use-context", "nope")
	fails("needs --url", "config", "set-context", "bare")
	fails("--key-file "+filepath.Join(dir, "missing.key"), "config", "set-context", "x", "--url", p.url, "--key-file", filepath.Join(dir, "missing.key"))
	fails("invalid context name", "config", "set-context", "a/b", "--url", p.url)

	b, err := os.ReadFile(config)
	require.NoError(t, err)
	require.NotContains(t, string(b), key, "the key stays in its own file")
	fi, err := os.Stat(config)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	require.Equal(t, "deleted context local\n", ok("config", "delete-context", "local"))
	fails("unauthenticated", "--url", p.url, "whoami")
	require.NoError(t, os.WriteFile(config, []byte("{not json"), 0o600))
	fails("is not a Nexus client config", "whoami")
}

// admin user ls says who administers the zone and whom each agent acts for.
func TestUserListShowsRoles(t *testing.T) {
	_, _, ok := asAdmin(t)
	ok("admin", "user", "create", "bob")
	ok("admin", "user", "create", "carol", "--admin")
	ok("admin", "user", "create", "bob-bot", "--agent-of", "bob")
	out := ok("admin", "user", "ls")
	require.Regexp(t, `(?m)^admin\s+default\s+zone admin\s+user_`, out)
	require.Regexp(t, `(?m)^bob\s+default\s+member\s+user_`, out)
	require.Regexp(t, `(?m)^carol\s+default\s+zone admin\s+user_`, out)
	require.Regexp(t, `(?m)^bob-bot\s+default\s+agent of bob\s+user_`, out)
	js := ok("--json", "admin", "user", "ls")
	require.Contains(t, js, `"agentOf": "bob"`)
	require.Contains(t, js, `"zoneAdmin": true`)
}
