package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/server"
)

// The command line as a user meets it: help, typos, exit statuses, errors,
// and file commands that behave as cp, ls and mkdir do.

// asAdmin starts a server for a test that needs one (skipped with -short)
// and returns it, the admin's key, and ok, which runs a client command as
// the admin and fails the test unless it exits 0.
func asAdmin(t *testing.T) (p *proc, key string, ok func(args ...string) string) {
	t.Helper()
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p = serve(t, dir)
	key = adminKey(t, dir)
	ok = func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(p.url, key, args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		return out
	}
	return p, key, ok
}

// TestHelpNeverShowsTheKey: a key in NEXUS_TOKEN is used by every command
// but never printed by --help (cobra prints flag defaults there, and
// help output ends up in terminals, screenshots and CI logs).
func TestHelpNeverShowsTheKey(t *testing.T) {
	p, key, _ := asAdmin(t)
	t.Setenv("NEXUS_TOKEN", key)
	for _, args := range [][]string{{"--help"}, {"fs", "ls", "--help"}, {"admin", "user", "create", "--help"}} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, &out, &errOut)
		require.Equal(t, 0, code, "%v: %s", args, errOut.String())
		require.Contains(t, out.String(), "--token", "%v shows the flag", args)
		require.NotContains(t, out.String()+errOut.String(), key, "%v printed the key", args)
	}
	// The key from the environment is still the one used.
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--url", p.url, "whoami"}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	require.Contains(t, out.String(), "admin")
}

// TestUnknownSubcommandsFail: a typo in a command name is an error with a
// suggestion, not a help page and status 0 that a script takes for success.
func TestUnknownSubcommandsFail(t *testing.T) {
	for _, c := range []struct {
		args    []string
		unknown string
		suggest string
	}{
		{[]string{"fs", "lss", "/"}, "lss", `did you mean ls?`},
		{[]string{"admin", "usr", "ls"}, "usr", `did you mean user?`},
		{[]string{"share", "grnt"}, "grnt", `did you mean grant?`},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), c.args, &out, &errOut)
		require.Equal(t, 1, code, "%v", c.args)
		require.Empty(t, out.String(), "%v", c.args)
		require.Contains(t, errOut.String(), fmt.Sprintf("unknown command %q", c.unknown), "%v", c.args)
		require.Contains(t, errOut.String(), c.suggest, "%v", c.args)
	}
	// --version says which build this is, as /metrics and the start log do.
	var vout, verr bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"--version"}, &vout, &verr), verr.String())
	require.Equal(t, "nexus "+server.Version()+"\n", vout.String())

	// Shell completion, as cobra generates it.
	var cout, cerr bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"completion", "bash"}, &cout, &cerr), cerr.String())
	require.Contains(t, cout.String(), "bash completion")

	// A group alone still shows its help.
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"fs"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "Available Commands")
}

// TestCheckExitStatus: nexus check can gate a script — 0 allowed, 1 denied
// (the answer on stdout, nothing on stderr), 2 when it could not tell; and
// its JSON always says "allowed".
func TestCheckExitStatus(t *testing.T) {
	p, key, ok := asAdmin(t)
	ok("admin", "user", "create", "bob")

	code, out, errOut := cli(p.url, key, "check", "zone:default", "manage")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "allowed\n", out)

	code, out, errOut = cli(p.url, key, "check", "zone:default", "manage", "user:bob")
	require.Equal(t, 1, code, "denied")
	require.Equal(t, "denied\n", out)
	require.Empty(t, errOut)

	code, out, _ = cli(p.url, key, "--json", "check", "zone:default", "manage", "user:bob")
	require.Equal(t, 1, code)
	var answer map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &answer), out)
	require.Equal(t, false, answer["allowed"], "the JSON of a denial says so: %s", out)

	code, out, errOut = cli(p.url, key, "check", "/no/such/file", "read")
	require.Equal(t, 2, code, "an error is neither allowed nor denied: %s", out)
	require.Empty(t, out)
	require.True(t, strings.HasPrefix(errOut, "nexus: "), errOut)

	code, _, errOut = cli(p.url, "nx_bogus", "check", "zone:default", "manage")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "unauthenticated")
}

// TestFsCommandsBehaveLikeCp: the file commands take what cp, gsutil and
// aws s3 users type — a folder as the destination of put and get, ls with
// no argument, mkdir -p of several folders, a server URL without a scheme —
// and downloads are created as cp creates files, not private.
func TestFsCommandsBehaveLikeCp(t *testing.T) {
	p, key, ok := asAdmin(t)
	local := t.TempDir()
	notes := filepath.Join(local, "notes.md")
	require.NoError(t, os.WriteFile(notes, []byte("hello\n"), 0o644))

	ok("fs", "mkdir", "-p", "/docs", "/team/a", "/team/b")
	require.Equal(t, "docs/\nteam/\n", ok("fs", "ls"), "ls alone lists /")
	require.Equal(t, "a/\nb/\n", ok("fs", "ls", "/team"))

	ok("fs", "put", notes, "/docs/")  // into a folder, by its trailing /
	ok("fs", "put", notes, "/team/a") // into a folder that exists
	require.Equal(t, "notes.md\n", ok("fs", "ls", "/docs"))
	require.Equal(t, "notes.md\n", ok("fs", "ls", "/team/a"))
	ok("fs", "put", notes, "/docs/renamed.md") // a file path stays a file path
	require.Equal(t, "notes.md\nrenamed.md\n", ok("fs", "ls", "/docs"))
	code, _, errOut := cli(p.url, key, "fs", "put", "-", "/docs/")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "give the file's name")

	dl := filepath.Join(t.TempDir(), "dl")
	require.NoError(t, os.Mkdir(dl, 0o755))
	ok("fs", "get", "/docs/notes.md", dl) // into a directory
	got, err := os.ReadFile(filepath.Join(dl, "notes.md"))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(got))
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	fi, err := os.Stat(filepath.Join(dl, "notes.md"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o666&^umask), fi.Mode().Perm(), "created as cp creates files")
	entries, err := os.ReadDir(dl)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no .part file left behind")

	// A URL without a scheme is http.
	code, out, errOut := cli(strings.TrimPrefix(p.url, "http://"), key, "fs", "ls", "/docs")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "notes.md\nrenamed.md\n", out)
}

// TestErrorsNameTheCommandToUse: errors whose API message names a request
// field tell a CLI user the command or flag instead.
func TestErrorsNameTheCommandToUse(t *testing.T) {
	p, key, ok := asAdmin(t)
	ok("fs", "mkdir", "-p", "/a/b")
	for _, c := range []struct {
		args []string
		hint string
	}{
		{[]string{"fs", "rm", "/a"}, "nexus fs rm -r"},
		{[]string{"fs", "cat", "/a"}, "nexus fs ls"},
		{[]string{"fs", "mkdir", "/x/y"}, "nexus fs mkdir -p"},
		{[]string{"fs", "put", "--no-parents", "-", "/x/y.txt"}, "leave out --no-parents"},
	} {
		code, _, errOut := cli(p.url, key, c.args...)
		require.NotEqual(t, 0, code, "%v", c.args)
		require.Contains(t, errOut, c.hint, "%v", c.args)
		require.NotContains(t, errOut, "recursive\n", "%v", c.args)
		require.NotContains(t, errOut, "create_parents", "%v", c.args)
	}

	// With --json, an error is JSON too, on stderr, and the status stays.
	code, out, errOut := cli(p.url, key, "--json", "fs", "cat", "/nope")
	require.Equal(t, 1, code)
	require.Empty(t, out)
	var e struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(errOut), &e), errOut)
	require.Equal(t, "not_found", e.Error.Code)
	require.Contains(t, e.Error.Message, "/nope")
}

// TestRecursiveFsCommands: put -r, ls -R and get -r copy a tree as cp -r
// does, byte for byte, into a folder that exists or as a new one.
func TestRecursiveFsCommands(t *testing.T) {
	p, key, ok := asAdmin(t)
	src := filepath.Join(t.TempDir(), "proj")
	files := map[string]string{"a.txt": "a\n", "sub/b.txt": "b\n", "sub/deep/c.txt": "c\n"}
	for rel, body := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(src, rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(src, rel), []byte(body), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(src, "empty"), 0o755))

	code, _, errOut := cli(p.url, key, "fs", "put", src, "/")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "put -r")

	ok("fs", "mkdir", "/backup")
	ok("fs", "put", "-r", src, "/backup") // a folder that exists: into it
	ok("fs", "put", "-r", src, "/copy")   // a new name: the tree becomes it
	tree := "a.txt\nempty/\nsub/\nsub/b.txt\nsub/deep/\nsub/deep/c.txt\n"
	require.Equal(t, tree, ok("fs", "ls", "-R", "/backup/proj"))
	require.Equal(t, tree, ok("fs", "ls", "-R", "/copy"))
	require.Equal(t, "proj/\nproj/a.txt\nproj/empty/\nproj/sub/\nproj/sub/b.txt\nproj/sub/deep/\nproj/sub/deep/c.txt\n", ok("fs", "ls", "-R", "/backup"))

	out := filepath.Join(t.TempDir(), "out")
	ok("fs", "get", "-r", "/copy", out) // a new directory
	for rel, body := range files {
		got, err := os.ReadFile(filepath.Join(out, rel))
		require.NoError(t, err, rel)
		require.Equal(t, body, string(got), rel)
	}
	fi, err := os.Stat(filepath.Join(out, "empty"))
	require.NoError(t, err)
	require.True(t, fi.IsDir(), "empty folders come too")
	ok("fs", "get", "-r", "/copy", out) // it exists now: into it
	got, err := os.ReadFile(filepath.Join(out, "copy", "sub", "deep", "c.txt"))
	require.NoError(t, err)
	require.Equal(t, "c\n", string(got))
}

// TestRevokeAKeyByTheKeyItself: the key a script holds names itself for
// revoke (its id is part of it); the output never repeats the secret, the
// key stops working, and text that is not a whole key is refused.
func TestRevokeAKeyByTheKeyItself(t *testing.T) {
	p, key, ok := asAdmin(t)
	ok("admin", "user", "create", "bob")
	bob := strings.TrimSpace(ok("admin", "key", "create", "--user", "bob"))
	ok("admin", "user", "create", "carol")
	carol := strings.TrimSpace(ok("admin", "key", "create", "--user", "carol"))
	out := ok("admin", "key", "revoke", bob)
	require.True(t, strings.HasPrefix(out, "revoked key_"), out)
	require.NotContains(t, out, bob, "the secret is not printed back")
	code, _, errOut := cli(p.url, bob, "whoami")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "unauthenticated")
	code, _, errOut = cli(p.url, carol, "whoami")
	require.Equal(t, 0, code, "only that key: %s", errOut)
	code, _, errOut = cli(p.url, key, "admin", "key", "revoke", "nx_short")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "not a whole Nexus key")
}
