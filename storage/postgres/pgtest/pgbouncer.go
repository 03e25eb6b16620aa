package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PgBouncer is a PgBouncer of a test's own in transaction pooling mode (the
// mode production uses), in front of one PostgreSQL server.
type PgBouncer struct {
	Port int
	dir  string
}

// URL rewrites a URL of the server behind b to go through b.
func (b *PgBouncer) URL(serverURL string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		panic(err)
	}
	u.Host = "127.0.0.1:" + strconv.Itoa(b.Port)
	return u.String()
}

// findPgBouncer returns the pgbouncer binary's path, or "".
func findPgBouncer() string {
	if bin, err := exec.LookPath("pgbouncer"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	return ""
}

func havePgBouncer() bool { return findPgBouncer() != "" }

// pgbouncerBin returns the pgbouncer binary's path. Without one it fails
// tb under CI and skips it, loudly, otherwise.
func pgbouncerBin(tb testing.TB) string {
	tb.Helper()
	if bin := findPgBouncer(); bin != "" {
		return bin
	}
	msg := "pgbouncer not found (apt-get install pgbouncer)"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip("SKIPPING PGBOUNCER TESTS: " + msg)
	return ""
}

// StartPgBouncer starts PgBouncer in transaction pooling mode in front of
// the server of serverURL (trust auth, user postgres), stopped when the test
// ends. Without the pgbouncer binary it fails under CI and skips, loudly,
// otherwise.
//
// databases are extra lines for its [databases] section, before the
// catch-all that sends every other database name to the server, e.g.
// `nexus_spicedb = host=127.0.0.1 port=5432 dbname=nexus connect_query='SET search_path TO spicedb'`.
func StartPgBouncer(tb testing.TB, serverURL string, databases ...string) *PgBouncer {
	tb.Helper()
	bin := pgbouncerBin(tb)
	su, err := url.Parse(serverURL)
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "nexus-pgbouncer-*")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	b := &PgBouncer{Port: freePort(tb), dir: dir}
	pidfile := filepath.Join(dir, "pgbouncer.pid")
	ini := fmt.Sprintf(`[databases]
%s
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
pidfile = %s
logfile = %s
`, strings.Join(databases, "\n"), su.Hostname(), su.Port(), b.Port, filepath.Join(dir, "users.txt"), pidfile, filepath.Join(dir, "log"))
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o644))
	must(os.WriteFile(filepath.Join(dir, "users.txt"), []byte(`"postgres" ""`+"\n"), 0o644))
	args := []string{bin, filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 { // PgBouncer refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("pgtest: running as root, and there is no user postgres to run PgBouncer as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		must(os.Chown(dir, uid, gid))
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	must(cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		if pid, err := os.ReadFile(pidfile); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
				_ = syscall.Kill(n, syscall.SIGINT)
			}
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	probe := b.URL(serverURL)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, probe)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return b
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			tb.Fatalf("pgtest: pgbouncer exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			tb.Fatalf("pgtest: pgbouncer does not answer: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
