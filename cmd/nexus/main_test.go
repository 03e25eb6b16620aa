package main

import (
	"bytes"
	"context"
	"crypto/rand"
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
