package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// world is what TestExportImportAnswersAsBefore builds on the embedded
// default: the keys it made (by name), and the share links' tokens.
type world struct {
	keys  map[string]string
	links map[string]string
}

// buildWorld makes zones, users, an agent, a group, keys (one revoked),
// folders and files with several versions and a multi-chunk one, grants
// to a user and a group, share links, memories, and a service's schema
// with its relationships, through the CLI of the server at url.
func buildWorld(t *testing.T, url, admin string) world {
	t.Helper()
	w := world{keys: map[string]string{"admin": admin}, links: map[string]string{}}
	run := func(key string, args ...string) string {
		t.Helper()
		code, out, errOut := cli(url, key, args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		return strings.TrimSpace(out)
	}
	run(admin, "admin", "zone", "create", "acme")
	for _, u := range []string{"alice", "bob", "carol", "billing"} {
		run(admin, "admin", "user", "create", u)
	}
	run(admin, "admin", "user", "create", "dave", "--zone", "acme")
	run(admin, "admin", "user", "create", "bob-bot", "--agent-of", "bob")
	for _, u := range []string{"alice", "bob", "carol", "bob-bot", "acme/dave"} {
		w.keys[u] = run(admin, "admin", "key", "create", "--user", u)
	}
	w.keys["revoked"] = run(admin, "admin", "key", "create", "--user", "carol")
	run(admin, "admin", "key", "revoke", w.keys["revoked"])
	run(admin, "admin", "group", "create", "eng")
	run(admin, "admin", "group", "add", "eng", "alice")
	run(admin, "admin", "group", "add", "eng", "carol")

	local := t.TempDir()
	files := 0
	put := func(key, path, text string) {
		files++
		name := filepath.Join(local, fmt.Sprintf("f%d", files))
		require.NoError(t, os.WriteFile(name, []byte(text), 0o600))
		run(key, "fs", "put", name, path)
	}
	for v := 1; v <= 3; v++ {
		put(admin, "/docs/readme.md", fmt.Sprintf("# Readme, version %d\n%s", v, strings.Repeat("keys and groups\n", v)))
	}
	put(admin, "/docs/sub/deep.txt", "a deep note about quarterly forecasts\n")
	put(admin, "/private/secret.txt", "launch codes\n")
	put(admin, "/projects/plan.md", "# Plan\nRevenue forecast: up 12%.\n")
	var big strings.Builder
	for i := 0; big.Len() < 2<<20+12345; i++ {
		fmt.Fprintf(&big, "line %d of a file of several chunks\n", i)
	}
	put(admin, "/big.txt", big.String())
	run(admin, "share", "grant", "/docs", "group:eng", "viewer")
	run(admin, "share", "grant", "/projects", "user:bob", "editor")
	run(admin, "share", "grant", "/docs/sub", "user:bob", "owner")
	put(w.keys["bob"], "/projects/bob.md", "bob's own notes on tea\n")
	w.links["readme"] = run(admin, "share", "link", "create", "/docs/readme.md", "--password", "pw", "--max-uses", "100")
	w.links["projects"] = run(admin, "share", "link", "create", "/projects")
	w.links["revoked"] = run(admin, "share", "link", "create", "/private/secret.txt")
	run(admin, "share", "link", "revoke", w.links["revoked"])
	// Opened before the export: the access log has rows, whose ids go on
	// after the import's.
	run("", "share", "link", "open", w.links["readme"], "--password", "pw")
	code, _, _ := cli(url, "", "share", "link", "open", w.links["readme"], "--password", "nope")
	require.Equal(t, 1, code)
	run(w.keys["alice"], "memory", "remember", "alice likes green tea", "--tag", "prefs")
	run(w.keys["bob-bot"], "memory", "remember", "--scope", "agent", "bob likes dark mode")
	run(admin, "memory", "remember", "--scope", "zone", "standup moved to ten", "--importance", "0.9")

	// A service: its schema by an operator, its relationships by its key.
	operator := run(admin, "admin", "key", "create", "--user", "admin", "--scope", "write")
	w.keys["billing"] = run(admin, "admin", "key", "create", "--user", "billing", "--scope", "write:billing/")
	w.keys["checker"] = run(admin, "admin", "key", "create", "--user", "billing", "--scope", "check")
	schema := run(operator, "schema", "read") + "\n" + `definition billing/customer {}
definition billing/invoice {
    relation viewer: billing/customer | user
    permission view = viewer
}`
	file := filepath.Join(local, "schema.zed")
	require.NoError(t, os.WriteFile(file, []byte(schema), 0o600))
	run(operator, "schema", "write", file)
	run(w.keys["billing"], "relationship", "create", "billing/invoice:inv_1#viewer@billing/customer:acme",
		"billing/invoice:inv_2#viewer@billing/customer:globex")
	w.keys["operator"] = operator
	return w
}

// answers asks the server at url the same questions, in the same order,
// and returns each with its answer: decisions, listings, contents and
// versions, recall, links, search, the service's checks, and whether each
// key authenticates. Asking changes what links count.
func answers(t *testing.T, url string, w world) []string {
	t.Helper()
	var out []string
	ask := func(key string, args ...string) {
		code, stdout, stderr := cli(url, key, args...)
		out = append(out, fmt.Sprintf("%v => %d\n%s%s", args, code, stdout, stderr))
	}
	for _, name := range []string{"admin", "alice", "bob", "carol", "bob-bot", "acme/dave", "revoked", "billing", "checker"} {
		ask(w.keys[name], "whoami")
	}
	paths := []string{"/docs", "/docs/readme.md", "/docs/sub", "/docs/sub/deep.txt", "/private/secret.txt", "/projects", "/projects/plan.md", "/projects/bob.md", "/big.txt"}
	for _, user := range []string{"user:admin", "user:alice", "user:bob", "user:carol", "user:bob-bot", "user:acme/dave", "group:eng"} {
		for _, p := range paths {
			for _, perm := range []string{"read", "write", "share", "delete", "admin"} {
				ask(w.keys["admin"], "check", p, perm, user)
			}
		}
	}
	for _, name := range []string{"admin", "alice", "bob", "carol", "bob-bot", "acme/dave"} {
		ask(w.keys[name], "fs", "ls", "-R", "-l", "/")
		ask(w.keys[name], "share", "shared-with-me")
		ask(w.keys[name], "memory", "ls")
		ask(w.keys[name], "search", "forecast")
		ask(w.keys[name], "memory", "recall", "tea")
		ask(w.keys[name], "memory", "recall", "dark mode")
		ask(w.keys[name], "memory", "recall", "standup")
	}
	for _, p := range paths {
		ask(w.keys["admin"], "fs", "stat", p)
		ask(w.keys["admin"], "fs", "cat", p)
		ask(w.keys["admin"], "fs", "versions", p)
		ask(w.keys["admin"], "share", "ls", p)
		ask(w.keys["bob"], "fs", "cat", p)
	}
	ask(w.keys["admin"], "share", "link", "ls", "/docs/readme.md")
	ask("", "share", "link", "open", w.links["readme"], "--password", "pw")
	ask("", "share", "link", "open", w.links["readme"], "--password", "wrong")
	ask("", "share", "link", "open", w.links["projects"])
	ask("", "share", "link", "open", w.links["projects"], "--path", "plan.md")
	ask("", "share", "link", "open", w.links["revoked"])
	ask(w.keys["checker"], "permission", "check", "billing/invoice:inv_1", "view", "billing/customer:acme")
	ask(w.keys["checker"], "permission", "check", "billing/invoice:inv_1", "view", "billing/customer:globex")
	ask(w.keys["checker"], "permission", "lookup-resources", "billing/invoice", "view", "billing/customer:globex")
	ask(w.keys["operator"], "export", "--type", "billing/invoice")
	ask(w.keys["operator"], "schema", "read")
	// The access log's outcomes, in order, those of the opens above included (its times and addresses are
	// each run's own).
	code, log, errOut := cli(url, w.keys["admin"], "share", "link", "log", w.links["readme"], "--json")
	require.Equal(t, 0, code, errOut)
	out = append(out, "link log outcomes: "+strings.Join(regexp.MustCompile(`"outcome":\s*"[^"]*"`).FindAllString(log, -1), " "))
	return out
}

// withoutSnippets drops the snippets of search answers: FTS5 and
// PostgreSQL's ts_headline cut them differently.
func withoutSnippets(answers []string) []string {
	out := make([]string, len(answers))
	snippet := regexp.MustCompile(`(?m)^    .*\n`)
	for i, a := range answers {
		out[i] = a
		if strings.HasPrefix(a, "[search ") {
			out[i] = snippet.ReplaceAllString(a, "")
		}
	}
	return out
}

// TestExportImportAnswersAsBefore: a world built on the embedded default,
// exported with export --all while its server runs, and imported with
// import --all into a new data dir and into a new PostgreSQL database,
// answers every question on both as it did: decisions, listings, contents
// and versions, recall, search, links, the service's checks, and the same
// keys authenticate (and the revoked one does not).
func TestExportImportAnswersAsBefore(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	pgtest.Require(t)
	work := t.TempDir()
	src := filepath.Join(work, "source")
	p := serve(t, src)
	w := buildWorld(t, p.url, adminKey(t, src))

	dump := filepath.Join(work, "backup.jsonl.gz")
	code, out, errOut := nexus("export", "--all", "--data-dir", src, "--output", dump)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out, "the dump went to --output")
	require.Regexp(t, `^exported 15 tables \(\d+ rows\) and \d+ relationships, `, errOut)
	want := answers(t, p.url, w)
	for _, a := range want {
		if strings.HasPrefix(a, "link log outcomes: ") {
			require.GreaterOrEqual(t, strings.Count(a, `"outcome"`), 4, "the opens before the export and the test's own: %s", a)
		}
	}
	p.kill()

	dst := filepath.Join(work, "restored")
	code, out, errOut = nexus("import", "--all", dump, "--data-dir", dst)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "into data dir "+dst)
	pgURL := pgtest.NewDatabase(t)
	code, out, errOut = nexus("import", "--all", dump, "--postgres", pgURL)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "into the database")

	for _, target := range []struct {
		name, url string
		want      []string
	}{
		{"the data dir", serve(t, dst).url, want},
		{"PostgreSQL", serve(t, filepath.Join(work, "pg-node"), "--postgres", pgURL).url, withoutSnippets(want)},
	} {
		name, want := target.name, target.want
		got := answers(t, target.url, w)
		if name == "PostgreSQL" {
			got = withoutSnippets(got)
		}
		require.Equal(t, len(want), len(got))
		for i := range want {
			require.Equal(t, want[i], got[i], "%s answers otherwise", name)
		}
	}
	_, err := os.Stat(filepath.Join(dst, "admin.key"))
	require.ErrorIs(t, err, os.ErrNotExist, "the imported store has its zones: no first start, no new admin key")
}

// TestExportAllFlags: --all's flags are refused where they mean nothing,
// in one line.
func TestExportAllFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"export", "--all", "--type", "document"}, "--type and --all do not go together"},
		{[]string{"export", "--data-dir", "x"}, "--data-dir takes --all"},
		{[]string{"export", "--output", "x"}, "--output takes --all"},
		{[]string{"import", "--postgres", "postgres://h/db", "f"}, "--postgres takes --all"},
		{[]string{"import", "--all", "/nonexistent/dump.jsonl", "--data-dir", "x"}, "no such file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errOut := nexus(tc.args...)
			requireOneLine(t, code, errOut, tc.says)
		})
	}
}
