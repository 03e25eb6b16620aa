package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClusterOptions configure a throwaway cluster.
type ClusterOptions struct {
	// Settings are written to postgresql.conf (track_commit_timestamp is on
	// unless set here: SpiceDB's Watch needs it).
	Settings map[string]string
	// Password, if set, is the superuser's, and TCP connections must give it
	// (scram-sha-256); otherwise they are trusted.
	Password string
}

// Cluster is a PostgreSQL server of a test's own, on a free port of
// 127.0.0.1, run by an unprivileged user (PostgreSQL refuses root: under
// root, as in CI, the cluster runs as user postgres through runuser).
type Cluster struct {
	Dir  string // the cluster's directory (data, log, socket)
	Port int
	pass string
	bin  string
	as   []string // command prefix that runs as the cluster's user
}

// URL is the superuser's URL for database db.
func (c *Cluster) URL(db string) string {
	auth := "postgres"
	if c.pass != "" {
		auth += ":" + c.pass
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", auth, c.Port, db)
}

// NewDatabase creates a database on c, dropped when the test ends, and
// returns its URL.
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabaseOn(tb, c.URL("postgres"))
}

func binDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("initdb not found (install PostgreSQL's server package, e.g. postgresql-15)")
}

// StartCluster initdb's and starts a cluster, stopped and removed when the
// test ends. Without PostgreSQL's binaries it fails under CI and skips,
// loudly, otherwise.
func StartCluster(tb testing.TB, opts ClusterOptions) *Cluster {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal(err)
		}
		tb.Skip("SKIPPING POSTGRESQL CLUSTER TESTS: " + err.Error())
	}
	c := &Cluster{bin: bin, pass: opts.Password}
	var uid, gid int = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("pgtest: running as root, and there is no user postgres to run the cluster as: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.as = []string{"runuser", "-u", "postgres", "--"}
	}
	dir, err := os.MkdirTemp("", "nexus-pgtest-*")
	if err != nil {
		tb.Fatal(err)
	}
	c.Dir = dir
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	args := []string{"-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C", "--auth-local=trust"}
	if opts.Password != "" {
		pwfile := filepath.Join(dir, "pw")
		if err := os.WriteFile(pwfile, []byte(opts.Password+"\n"), 0o600); err != nil {
			tb.Fatal(err)
		}
		if uid >= 0 {
			_ = os.Chown(pwfile, uid, gid)
		}
		args = append(args, "--auth-host=scram-sha-256", "--pwfile="+pwfile)
	} else {
		args = append(args, "--auth-host=trust")
	}
	c.run(tb, "initdb", args...)

	c.Port = freePort(tb)
	settings := map[string]string{
		"listen_addresses":        "'127.0.0.1'",
		"port":                    strconv.Itoa(c.Port),
		"unix_socket_directories": "'" + dir + "'",
		"track_commit_timestamp":  "on",
		"fsync":                   "off", // a test's cluster need not survive a power cut
		"max_connections":         "200",
		"wal_level":               "replica",
		"max_wal_senders":         "10",
		"hot_standby":             "on",
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	var conf strings.Builder
	for k, v := range settings {
		fmt.Fprintf(&conf, "%s = %s\n", k, v)
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = f.WriteString(conf.String())
	f.Close()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Stop(tb) })
	c.Start(tb)
	return c
}

// Start starts the cluster (again, after Stop) and waits until it answers.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	c.run(tb, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-l", filepath.Join(c.Dir, "log"), "-w", "-t", "60", "start")
	c.waitReady(tb)
}

// Stop stops the cluster at once (pg_ctl -m immediate); stopping a stopped
// cluster does nothing.
func (c *Cluster) Stop(tb testing.TB) {
	data := filepath.Join(c.Dir, "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err != nil {
		return
	}
	cmd := c.command("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Logf("pgtest: stopping the cluster in %s: %v\n%s", c.Dir, err, out)
	}
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	full := append(append([]string{}, c.as...), append([]string{filepath.Join(c.bin, name)}, args...)...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Dir = c.Dir
	return cmd
}

func (c *Cluster) run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := c.command(name, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
		tb.Fatalf("pgtest: %s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out, log)
	}
}

func (c *Cluster) waitReady(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pgtest: the cluster in %s does not answer: %v", c.Dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// StartReplica makes a streaming replica of primary (pg_basebackup -R) on a
// free port and starts it; it is stopped and removed when the test ends.
func StartReplica(tb testing.TB, primary *Cluster) *Cluster {
	tb.Helper()
	c := &Cluster{bin: primary.bin, pass: primary.pass, as: primary.as}
	dir, err := os.MkdirTemp("", "nexus-pgtest-*")
	if err != nil {
		tb.Fatal(err)
	}
	c.Dir = dir
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if len(c.as) > 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	c.run(tb, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port), "-U", "postgres",
		"-D", data, "-R", "-X", "stream", "-c", "fast")
	c.Port = freePort(tb)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	// Not the primary's synchronous_standby_names: promoted, this cluster
	// has no standby to wait for.
	_, err = fmt.Fprintf(f, "port = %d\nunix_socket_directories = '%s'\nsynchronous_standby_names = ''\n", c.Port, dir)
	f.Close()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Stop(tb) })
	c.Start(tb)
	return c
}

// Promote promotes a replica to primary (pg_ctl promote) and waits until it
// accepts writes.
func (c *Cluster) Promote(tb testing.TB) {
	tb.Helper()
	c.run(tb, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-w", "promote")
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		var inRecovery bool
		if err == nil {
			err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery)
			conn.Close(context.Background())
		}
		cancel()
		if err == nil && !inRecovery {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pgtest: the promoted cluster in %s does not accept writes: %v", c.Dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CaughtUp waits until replica c has replayed everything primary had
// written when it was called (a database created and migrated since the
// replica started, say), so that what reads there next finds it.
func (c *Cluster) CaughtUp(tb testing.TB, primary *Cluster) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var target string
	if err := queryOne(ctx, primary.URL("postgres"), `SELECT pg_current_wal_lsn()::text`, &target); err != nil {
		tb.Fatalf("pgtest: the primary's WAL position: %v", err)
	}
	for {
		var replayed bool
		err := queryOne(ctx, c.URL("postgres"), `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, &replayed, target)
		if err == nil && replayed {
			return
		}
		if ctx.Err() != nil {
			tb.Fatalf("pgtest: replica on port %d has not replayed the primary's WAL up to %s in 30 s (last error: %v)", c.Port, target, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func queryOne(ctx context.Context, url, query string, dest any, args ...any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, query, args...).Scan(dest)
}
