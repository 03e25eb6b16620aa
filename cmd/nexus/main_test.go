package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/internal/server"
)

// The test binary doubles as the nexus binary: with NEXUS_TEST_MAIN=1 it
// runs main, so subprocess tests need no separate build.
func TestMain(m *testing.M) {
	if os.Getenv("NEXUS_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type proc struct {
	cmd    *exec.Cmd
	stderr *lockedWriter
	url    string
}

// serve starts `nexus serve` as a subprocess, with extra flags if any, and
// waits until it is ready.
func serve(t *testing.T, dir string, extra ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--data-dir", dir, "--addr", addr}, extra...)...)
	cmd.Env = append(os.Environ(), "NEXUS_TEST_MAIN=1")
	stderr := &lockedWriter{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, stderr: stderr, url: "http://" + addr}
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nexus serve did not become ready; stderr:\n%s", stderr.String())
	return nil
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

// lockedWriter is a buffer a subprocess writes to while the test reads it.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// writeUntilKilled runs step in workers goroutines, step(w, i) returning an
// acknowledged write or false when the server stops answering, until at
// least want writes are acknowledged; then it SIGKILLs p while the writers
// are still going, and returns every acknowledged write.
func writeUntilKilled[T any](t *testing.T, p *proc, workers, want int, step func(w, i int) (T, bool)) []T {
	t.Helper()
	var (
		mu   sync.Mutex
		done []T
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a, ok := step(w, i)
				if !ok {
					return
				}
				mu.Lock()
				done = append(done, a)
				mu.Unlock()
			}
		}(w)
	}
	for {
		mu.Lock()
		n := len(done)
		mu.Unlock()
		if n >= want {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	_ = p.cmd.Wait()
	close(stop)
	wg.Wait()
	return done
}

// cli runs a client command in-process and returns its exit code and output.
func cli(url, token string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	full := append([]string{"--url", url, "--token", token}, args...)
	code := run(context.Background(), full, &out, &errOut)
	return code, out.String(), errOut.String()
}

func adminKey(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, "admin.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "admin.key is private")
	return strings.TrimSpace(string(b))
}

func TestCrashKeepsEveryAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
	// The server logs the key's file before it is ready, but its stderr
	// reaches p.stderr through a pipe another goroutine copies: wait for it.
	keyFile := filepath.Join(dir, "admin.key")
	require.Eventually(t, func() bool { return strings.Contains(p.stderr.String(), keyFile) }, 30*time.Second, 10*time.Millisecond,
		"the log names the key's file")
	require.NotContains(t, p.stderr.String(), key, "the log names the key's file, never the key")

	code, _, errOut := cli(p.url, key, "admin", "group", "create", "crew")
	require.Equal(t, 0, code, errOut)

	// Write users, keys and memberships until well after the kill; keep what
	// was acknowledged.
	type acked struct{ user, key string }
	done := writeUntilKilled(t, p, 4, 40, func(w, i int) (acked, bool) {
		user := fmt.Sprintf("u%d-%d", w, i)
		if code, _, _ := cli(p.url, key, "admin", "user", "create", user); code != 0 {
			return acked{}, false
		}
		if code, _, _ := cli(p.url, key, "admin", "group", "add", "crew", user); code != 0 {
			return acked{}, false
		}
		code, k, _ := cli(p.url, key, "admin", "key", "create", "--user", user)
		return acked{user, strings.TrimSpace(k)}, code == 0
	})

	p = serve(t, dir)
	require.Equal(t, key, adminKey(t, dir), "the admin key is not replaced after a crash")
	for _, a := range done {
		code, out, errOut := cli(p.url, key, "check", "--consistency", "full", "group:crew", "membership", "user:"+a.user)
		require.Equal(t, 0, code, errOut)
		require.Equal(t, "allowed\n", out, "membership of %s survived", a.user)
		code, out, errOut = cli(p.url, a.key, "whoami")
		require.Equal(t, 0, code, "key of %s survived: %s", a.user, errOut)
		require.Contains(t, out, a.user)
	}
	t.Logf("%d acknowledged users, memberships and keys survived SIGKILL", len(done))
}

func TestCLIErrorsAreOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)

	cases := []struct {
		name  string
		token string
		args  []string
		code  string
	}{
		{"no key", "nx_bogus", []string{"whoami"}, "unauthenticated"},
		{"bad name", key, []string{"admin", "user", "create", "bad name"}, "invalid_argument"},
		{"unknown group", key, []string{"admin", "group", "add", "nope", "admin"}, "not_found"},
		{"duplicate", key, []string{"admin", "zone", "create", "default"}, "already_exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := cli(p.url, c.token, c.args...)
			require.NotEqual(t, 0, code)
			require.Empty(t, out)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			require.True(t, strings.HasPrefix(errOut, "nexus: "+c.code+": "), errOut)
		})
	}

	t.Run("a member is denied admin commands", func(t *testing.T) {
		code, _, errOut := cli(p.url, key, "admin", "user", "create", "bob")
		require.Equal(t, 0, code, errOut)
		code, bobKey, errOut := cli(p.url, key, "admin", "key", "create", "--user", "bob", "--expires", "1h")
		require.Equal(t, 0, code, errOut)
		bobKey = strings.TrimSpace(bobKey)
		require.True(t, strings.HasPrefix(bobKey, "nx_"), "stdout has only the key: %q", bobKey)
		code, _, errOut = cli(p.url, bobKey, "admin", "user", "create", "eve")
		require.NotEqual(t, 0, code)
		require.True(t, strings.HasPrefix(errOut, "nexus: permission_denied: "), errOut)
		code, out, _ := cli(p.url, bobKey, "check", "--consistency", "full", "zone:default", "access")
		require.Equal(t, 0, code)
		require.Equal(t, "allowed\n", out)
		code, out, _ = cli(p.url, bobKey, "check", "--consistency", "full", "zone:default", "manage")
		require.Equal(t, 1, code, "denied")
		require.Equal(t, "denied\n", out)
	})

	t.Run("service keys", func(t *testing.T) {
		code, svcKey, errOut := cli(p.url, key, "admin", "key", "create", "--user", "bob", "--scope", "check")
		require.Equal(t, 0, code, errOut)
		svcKey = strings.TrimSpace(svcKey)
		require.True(t, strings.HasPrefix(svcKey, "nx_"), "stdout has only the key: %q", svcKey)
		code, out, errOut := cli(p.url, key, "admin", "key", "ls", "--user", "bob")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "SCOPE")
		require.Contains(t, out, " check ")
		code, _, errOut = cli(p.url, svcKey, "fs", "ls", "/")
		require.NotEqual(t, 0, code)
		require.True(t, strings.HasPrefix(errOut, "nexus: permission_denied: a service key"), errOut)
		code, _, errOut = cli(p.url, key, "admin", "key", "create", "--user", "bob", "--scope", "admin")
		require.NotEqual(t, 0, code)
		require.True(t, strings.HasPrefix(errOut, "nexus: invalid_argument: "), errOut)
		for _, bad := range []string{"write:", "write:Billing", "write:../", "read:billing/"} {
			code, _, errOut = cli(p.url, key, "admin", "key", "create", "--user", "bob", "--scope", bad)
			require.NotEqual(t, 0, code, bad)
			require.True(t, strings.HasPrefix(errOut, "nexus: invalid_argument: "), errOut)
			require.Contains(t, errOut, "accepted: check, write, or write:PREFIX", "the error says the accepted form")
		}
		code, _, errOut = cli(p.url, key, "admin", "key", "create", "--user", "bob", "--scope", "write:crm/", "--scope", "write:billing/")
		require.Equal(t, 0, code, errOut)
		code, out, errOut = cli(p.url, key, "admin", "key", "ls", "--user", "bob")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, " write:billing/,write:crm/ ", "repeated --scope flags make one key of both prefixes")
		code, bobKey, _ := cli(p.url, key, "admin", "key", "create", "--user", "bob")
		require.Equal(t, 0, code)
		code, _, errOut = cli(p.url, strings.TrimSpace(bobKey), "admin", "key", "create", "--scope", "write")
		require.NotEqual(t, 0, code)
		require.True(t, strings.HasPrefix(errOut, "nexus: permission_denied: only an operator"), errOut)
	})

	t.Run("server unreachable", func(t *testing.T) {
		code, _, errOut := cli("http://"+freeAddr(t), key, "whoami")
		require.NotEqual(t, 0, code)
		require.Contains(t, errOut, "is `nexus serve` running")
	})

	t.Run("second serve on the same data dir", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "serve", "--data-dir", dir, "--addr", freeAddr(t))
		cmd.Env = append(os.Environ(), "NEXUS_TEST_MAIN=1")
		out, err := cmd.CombinedOutput()
		require.Error(t, err)
		require.Equal(t, 1, strings.Count(string(out), "\n"), "%s", out)
		require.Contains(t, string(out), "nexus.lock")
	})

	t.Run("port in use", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "serve", "--data-dir", t.TempDir(), "--addr", strings.TrimPrefix(p.url, "http://"))
		cmd.Env = append(os.Environ(), "NEXUS_TEST_MAIN=1")
		out, err := cmd.CombinedOutput()
		require.Error(t, err)
		require.Equal(t, 1, strings.Count(string(out), "\n"), "%s", out)
		require.Contains(t, string(out), "already in use")
	})

	t.Run("bad cache flags", func(t *testing.T) {
		for _, c := range []struct{ flag, says string }{
			{"--cache-size-mib=-1", "give a size in MiB"},
			{"--cache-staleness=-1s", "give a positive duration"},
			{"--trusted-proxies=10.0.0.0/33", "CIDR prefix"},
			{"--engine-concurrency=-2", "give positive numbers"},
			{"--engine-queue-wait=-1ms", "give positive numbers"},
		} {
			cmd := exec.Command(os.Args[0], "serve", "--data-dir", t.TempDir(), "--addr", freeAddr(t), c.flag)
			cmd.Env = append(os.Environ(), "NEXUS_TEST_MAIN=1")
			out, err := cmd.CombinedOutput()
			require.Error(t, err, c.flag)
			require.Equal(t, 1, strings.Count(string(out), "\n"), "%s", out)
			require.Contains(t, string(out), c.says)
		}
	})

	t.Run("SIGTERM stops cleanly", func(t *testing.T) {
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, p.cmd.Wait())
		require.Contains(t, p.stderr.String(), "stopped cleanly")
	})
}

func TestCrashKeepsEveryAcknowledgedFileWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
	local := t.TempDir()

	type acked struct{ path, local string }
	done := writeUntilKilled(t, p, 3, 40, func(w, i int) (acked, bool) {
		// Each file is new content; some overwrite an earlier path.
		path := fmt.Sprintf("/w%d/dir%d/f%d.bin", w, i%3, i%7)
		src := filepath.Join(local, fmt.Sprintf("%d-%d", w, i))
		data := make([]byte, 1000+i*997%50000)
		_, _ = rand.Read(data)
		if err := os.WriteFile(src, data, 0o600); err != nil {
			return acked{}, false
		}
		code, _, _ := cli(p.url, key, "fs", "put", src, path)
		return acked{path, src}, code == 0
	})

	// The last acknowledged write of each path is what it must read back.
	last := map[string]string{}
	for _, a := range done {
		last[a.path] = a.local
	}
	p = serve(t, dir)
	code, _, errOut := cli(p.url, key, "admin", "user", "create", "bob")
	require.Equal(t, 0, code, errOut)
	code, bobKey, errOut := cli(p.url, key, "admin", "key", "create", "--user", "bob")
	require.Equal(t, 0, code, errOut)
	bobKey = strings.TrimSpace(bobKey)
	for path, src := range last {
		want, err := os.ReadFile(src)
		require.NoError(t, err)
		code, out, errOut := cli(p.url, key, "fs", "cat", path)
		require.Equal(t, 0, code, "%s: %s", path, errOut)
		require.True(t, bytes.Equal(want, []byte(out)), "%s reads back byte for byte", path)
		// The entry kept its relationships: the admin reads it through its
		// zone, and a member without a grant does not.
		code, out, errOut = cli(p.url, key, "check", "--consistency", "full", path, "read", "user:admin")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, "allowed\n", out)
		code, _, errOut = cli(p.url, bobKey, "fs", "cat", path)
		require.NotEqual(t, 0, code)
		require.Contains(t, errOut, "not_found")
	}
	t.Logf("%d acknowledged file writes (%d paths) survived SIGKILL", len(done), len(last))
}

func TestFsRoundTripAndNotFound(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
	readme, err := filepath.Abs("../../README.md")
	require.NoError(t, err)
	code, _, errOut := cli(p.url, key, "fs", "put", readme, "/docs/readme.md")
	require.Equal(t, 0, code, errOut)
	code, out, errOut := cli(p.url, key, "fs", "cat", "/docs/readme.md")
	require.Equal(t, 0, code, errOut)
	want, err := os.ReadFile(readme)
	require.NoError(t, err)
	require.Equal(t, string(want), out, "byte for byte")

	code, _, errOut = cli(p.url, key, "admin", "user", "create", "nogrant")
	require.Equal(t, 0, code, errOut)
	code, k, errOut := cli(p.url, key, "admin", "key", "create", "--user", "nogrant")
	require.Equal(t, 0, code, errOut)
	code, out, errOut = cli(p.url, strings.TrimSpace(k), "fs", "cat", "/docs/readme.md")
	require.NotEqual(t, 0, code)
	require.Empty(t, out)
	require.True(t, strings.HasPrefix(errOut, "nexus: not_found: "), errOut)
	code, out, errOut = cli(p.url, strings.TrimSpace(k), "check", "/docs/readme.md", "read")
	require.Equal(t, 1, code, "denied: %s", errOut)
	require.Equal(t, "denied\n", out)
	require.Empty(t, errOut)
	code, out, errOut = cli(p.url, strings.TrimSpace(k), "check", "/no/such/file", "read")
	require.Equal(t, 1, code, "asking about oneself tells nothing of what exists, in the exit status too: %s", errOut)
	require.Equal(t, "denied\n", out)
	require.Empty(t, errOut)

	local := filepath.Join(t.TempDir(), "copy.md")
	code, _, errOut = cli(p.url, key, "fs", "get", "/docs/readme.md", local)
	require.Equal(t, 0, code, errOut)
	got, err := os.ReadFile(local)
	require.NoError(t, err)
	require.Equal(t, want, got)

	code, out, errOut = cli(p.url, key, "fs", "ls", "/docs")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "readme.md\n", out)
	code, _, errOut = cli(p.url, key, "fs", "rm", "/docs")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "failed_precondition")
	code, _, errOut = cli(p.url, key, "fs", "rm", "-r", "/docs")
	require.Equal(t, 0, code, errOut)
	code, _, errOut = cli(p.url, key, "fs", "stat", "/docs/readme.md")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "not_found")
}

// TestHelpNeverShowsTheKey: a key in NEXUS_TOKEN is used by every command
// but never printed by --help (cobra prints flag defaults there, and
// help output ends up in terminals, screenshots and CI logs).
func TestHelpNeverShowsTheKey(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
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
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
	code, _, errOut := cli(p.url, key, "admin", "user", "create", "bob")
	require.Equal(t, 0, code, errOut)

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
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
	local := t.TempDir()
	notes := filepath.Join(local, "notes.md")
	require.NoError(t, os.WriteFile(notes, []byte("hello\n"), 0o644))
	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(p.url, key, args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		return out
	}

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
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
	code, _, errOut := cli(p.url, key, "fs", "mkdir", "-p", "/a/b")
	require.Equal(t, 0, code, errOut)
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
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	key := adminKey(t, dir)
	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(p.url, key, args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		return out
	}
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
