package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// glob, grep, search and memory from the command line, as the README's
// tour shows them; then a SIGKILL right after writing, and the index has
// every acknowledged write after the restart.
func TestFindAndMemoryCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
	local := t.TempDir()
	put := func(path, content string) {
		t.Helper()
		src := filepath.Join(local, strings.ReplaceAll(path, "/", "_"))
		require.NoError(t, os.WriteFile(src, []byte(content), 0o600))
		code, _, errOut := cli(p.url, key, "fs", "put", src, path)
		require.Equal(t, 0, code, errOut)
	}
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(p.url, key, args...)
		require.Equal(t, 0, code, errOut)
		return out
	}
	put("/projects/q3/plan.md", "# Q3 plan\nQuarterly revenue forecast: up 12%.\nTODO: confirm with finance\n")
	put("/projects/q4/plan.md", "# Q4 plan\nRevenue flat.\n")
	put("/src/main.go", "package main\n\n// FIXME: handle errors\nfunc main() {}\n")

	require.Equal(t, "/projects/q3/plan.md\n/projects/q4/plan.md\n", run("glob", "/projects/**/*.md"))
	require.Equal(t, "/projects/q3/plan.md:3:TODO: confirm with finance\n/src/main.go:3:// FIXME: handle errors\n",
		run("grep", "-i", "todo|fixme"))
	require.Equal(t, "/src/main.go:3:// FIXME: handle errors\n", run("grep", "-i", "todo|fixme", "/src"))
	out := run("search", "quarterly revenue forecast")
	require.True(t, strings.HasPrefix(out, "/projects/q3/plan.md"), out)
	require.Contains(t, out, "[Quarterly] [revenue] [forecast]")
	require.Contains(t, out, "/projects/q4/plan.md")

	code, _, errOut := cli(p.url, key, "grep", "a(b")
	require.Equal(t, 1, code)
	require.Equal(t, "nexus: invalid_argument: invalid pattern: at byte 1 (\"(b\"): missing closing )\n", errOut)
	code, _, errOut = cli(p.url, key, "search", "the of")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "invalid_argument: invalid query: has only stopwords")

	id := strings.TrimSpace(run("memory", "remember", "bob prefers CSV exports", "--tag", "prefs"))
	require.True(t, strings.HasPrefix(id, "mem_"), id)
	out = run("memory", "recall", "export format")
	require.Contains(t, out, id)
	require.Contains(t, out, "bob prefers CSV [exports]")
	require.Contains(t, run("memory", "get", id), "bob prefers CSV exports")
	require.Contains(t, run("memory", "ls", "--tag", "prefs"), id)
	require.Equal(t, "", run("memory", "recall", "export", "--tag", "nosuchtag")[len("ID  SCORE  TAGS  TEXT\n"):])
	run("memory", "forget", id)
	code, _, errOut = cli(p.url, key, "memory", "get", id)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "not_found")

	// An agent of bob's: bob reads what it remembers; alice does not.
	for _, args := range [][]string{{"admin", "user", "create", "bob"}, {"admin", "user", "create", "alice"},
		{"admin", "user", "create", "bob-bot", "--agent-of", "bob"}} {
		run(args...)
	}
	keyOf := func(user string) string { return strings.TrimSpace(run("admin", "key", "create", "--user", user)) }
	botKey, bobKey, aliceKey := keyOf("bob-bot"), keyOf("bob"), keyOf("alice")
	code, out, errOut = cli(p.url, botKey, "memory", "remember", "--scope", "agent", "--tag", "prefs", "bob likes dark mode")
	require.Equal(t, 0, code, errOut)
	botMem := strings.TrimSpace(out)
	code, out, errOut = cli(p.url, bobKey, "memory", "recall", "dark mode")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, botMem)
	code, out, errOut = cli(p.url, aliceKey, "memory", "recall", "dark mode")
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, out, botMem)
	code, _, errOut = cli(p.url, bobKey, "memory", "remember", "--scope", "agent", "x")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "invalid_argument")

	// Write, then kill -9 at once: the index catches up after the restart.
	for i := 0; i < 20; i++ {
		put(fmt.Sprintf("/bulk/f%02d.txt", i), fmt.Sprintf("narwhal sighting number %d", i))
	}
	p.kill()
	p = serve(t, dir)
	code, out, errOut = cli(p.url, key, "search", "-n", "100", "narwhal")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, 20, strings.Count(out, "/bulk/f"), out)
}
