package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// nexus runs a command in-process: exit code, stdout, stderr.
func nexus(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func requireOneLine(t *testing.T, code int, errOut, want string) {
	t.Helper()
	require.NotEqual(t, 0, code)
	require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	require.True(t, strings.HasPrefix(errOut, "nexus: "), errOut)
	require.Contains(t, errOut, want)
}

func TestPostgresBadInputIsOneLineAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL test")
	}
	pgtest.Require(t)
	fresh := pgtest.NewDatabase(t)
	dir := t.TempDir()
	missing := strings.Replace(fresh, "/nexus_t_", "/nexus_missing_", 1)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"migrate without a URL", []string{"migrate"}, "--postgres URL is required"},
		{"migrate, bad URL", []string{"migrate", "--postgres", "postgres://h:port/db"}, "invalid PostgreSQL URL"},
		{"migrate, missing database", []string{"migrate", "--postgres", missing}, "does not exist"},
		{"serve, unmigrated database", []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--postgres", fresh},
			"the database is not migrated (no schema version for authz); run: nexus migrate --postgres URL"},
		{"serve, replica without primary", []string{"serve", "--data-dir", dir, "--postgres-replica", fresh}, "--postgres-replica and --spicedb-postgres need --postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := nexus(tc.args...)
			require.Empty(t, out)
			requireOneLine(t, code, errOut, tc.want)
		})
	}
}

// migratedDatabase starts a cluster of the test's own (track_commit_timestamp
// on, for SpiceDB's Watch) and migrates a new database on it with `nexus
// migrate`.
func migratedDatabase(t *testing.T) (*pgtest.Cluster, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("PostgreSQL subprocess test")
	}
	pgtest.Require(t)
	cluster := pgtest.StartCluster(t, pgtest.ClusterOptions{})
	url := cluster.NewDatabase(t)
	code, _, errOut := nexus("migrate", "--postgres", url)
	require.Equal(t, 0, code, errOut)
	return cluster, url
}

// Two nodes on one database behave as one service.
func TestPostgresTwoNodesAreOneService(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL subprocess test")
	}
	pgtest.Require(t)
	cluster := pgtest.StartCluster(t, pgtest.ClusterOptions{}) // track_commit_timestamp on, for Watch
	url := cluster.NewDatabase(t)
	code, out, errOut := nexus("migrate", "--postgres", url)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "migrated\n", out)
	code, _, errOut = nexus("migrate", "--postgres", url)
	require.Equal(t, 0, code, "migrating again is harmless: %s", errOut)

	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := serve(t, dirA, "--postgres", url)
	key := adminKey(t, dirA)
	b := serve(t, dirB, "--postgres", url)
	_, err := os.Stat(filepath.Join(dirB, "admin.key"))
	require.ErrorIs(t, err, os.ErrNotExist, "the second node finds the zone made by the first and makes no key")

	code, out, errOut = cli(b.url, key, "whoami")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "admin")

	readme, err := filepath.Abs("../../README.md")
	require.NoError(t, err)
	want, err := os.ReadFile(readme)
	require.NoError(t, err)
	code, _, errOut = cli(a.url, key, "fs", "put", readme, "/docs/readme.md")
	require.Equal(t, 0, code, errOut)
	code, out, errOut = cli(b.url, key, "fs", "cat", "/docs/readme.md")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, string(want), out, "a file written through one node is read through the other, byte for byte")

	code, _, errOut = cli(a.url, key, "admin", "user", "create", "bob")
	require.Equal(t, 0, code, errOut)
	code, bobKey, errOut := cli(b.url, key, "admin", "key", "create", "--user", "bob")
	require.Equal(t, 0, code, errOut)
	bobKey = strings.TrimSpace(bobKey)
	code, _, errOut = cli(a.url, bobKey, "fs", "cat", "/docs/readme.md")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "not_found", "no grant yet")

	code, _, errOut = cli(a.url, key, "share", "grant", "/docs", "user:bob", "viewer")
	require.Equal(t, 0, code, errOut)
	code, out, errOut = cli(b.url, bobKey, "fs", "cat", "/docs/readme.md")
	require.Equal(t, 0, code, "a grant through one node is honoured by the other: %s", errOut)
	require.Equal(t, string(want), out)

	code, _, errOut = cli(a.url, key, "share", "revoke", "/docs", "user:bob", "viewer")
	require.Equal(t, 0, code, errOut)
	start := time.Now()
	for {
		code, _, errOut = cli(b.url, bobKey, "fs", "cat", "/docs/readme.md")
		if code != 0 {
			require.Contains(t, errOut, "not_found")
			t.Logf("revoke through node a honoured by node b after %s", time.Since(start).Round(time.Millisecond))
			break
		}
		require.Less(t, time.Since(start), 2*time.Second, "node b still serves the file to bob after the revoke")
		time.Sleep(20 * time.Millisecond)
	}

	// Concurrent writes of one file through both nodes: each succeeds or is
	// aborted (retry), none is lost or fails otherwise, and the versions are
	// numbered without gaps.
	var wg sync.WaitGroup
	results := make([]string, 12)
	for i := range results {
		node := a
		if i%2 == 1 {
			node = b
		}
		wg.Go(func() {
			code, _, errOut := cli(node.url, key, "fs", "put", readme, "/docs/contended.md")
			if code == 0 {
				results[i] = "ok"
			} else {
				results[i] = errOut
			}
		})
	}
	wg.Wait()
	oks := 0
	for _, r := range results {
		if r == "ok" {
			oks++
			continue
		}
		if !strings.HasPrefix(r, "nexus: aborted: ") {
			t.Logf("node a:\n%s\nnode b:\n%s", a.stderr.String(), b.stderr.String())
		}
		require.True(t, strings.HasPrefix(r, "nexus: aborted: "), "a concurrent write either succeeds or is aborted: %q", r)
	}
	require.GreaterOrEqual(t, oks, 1)
	code, out, errOut = cli(b.url, key, "--json", "fs", "stat", "/docs/contended.md")
	require.Equal(t, 0, code, errOut)
	var st struct {
		Entry struct{ Version int64 }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, int64(oks), st.Entry.Version, "one version per successful write")

	// Restart node a: everything is in the database.
	a.kill()
	a = serve(t, dirA, "--postgres", url)
	code, out, errOut = cli(a.url, key, "fs", "cat", "/docs/readme.md")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, string(want), out)
}

// Production through PgBouncer in transaction pooling mode (Debian's 1.18):
// our pool through it, and SpiceDB's through a PgBouncer database whose
// connect_query selects SpiceDB's schema, as deploy/pgbouncer.ini does.
func TestPostgresThroughPgBouncer(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL subprocess test")
	}
	pgtest.Require(t)
	cluster := pgtest.StartCluster(t, pgtest.ClusterOptions{})
	url := cluster.NewDatabase(t)
	code, _, errOut := nexus("migrate", "--postgres", url) // migrations go direct
	require.Equal(t, 0, code, errOut)
	dbname := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	bouncer := pgtest.StartPgBouncer(t, cluster.URL("postgres"), fmt.Sprintf(
		"spicedb = host=127.0.0.1 port=%d dbname=%s connect_query='SET search_path TO spicedb'", cluster.Port, dbname))
	viaBouncer := bouncer.URL(url)
	spicedb := bouncer.URL(cluster.URL("spicedb"))

	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := serve(t, dirA, "--postgres", viaBouncer, "--spicedb-postgres", spicedb)
	key := adminKey(t, dirA)
	b := serve(t, dirB, "--postgres", viaBouncer, "--spicedb-postgres", spicedb)
	readme, err := filepath.Abs("../../README.md")
	require.NoError(t, err)
	want, err := os.ReadFile(readme)
	require.NoError(t, err)
	for i := range 5 {
		p := fmt.Sprintf("/docs/%d.md", i)
		code, _, errOut = cli(a.url, key, "fs", "put", readme, p)
		require.Equal(t, 0, code, errOut)
		code, out, errOut := cli(b.url, key, "fs", "cat", p)
		require.Equal(t, 0, code, errOut)
		require.Equal(t, string(want), out)
	}
	code, out, errOut := cli(b.url, key, "fs", "ls", "/docs")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "0.md\n1.md\n2.md\n3.md\n4.md\n", out)
}

// While the primary is down, writes fail fast with unavailable, never
// hanging; once it is back, they succeed again without a restart.
func TestPostgresPrimaryDownWritesFailFast(t *testing.T) {
	cluster, url := migratedDatabase(t)
	dir := filepath.Join(t.TempDir(), "a")
	a := serve(t, dir, "--postgres", url)
	key := adminKey(t, dir)
	readme, err := filepath.Abs("../../README.md")
	require.NoError(t, err)
	code, _, errOut := cli(a.url, key, "fs", "put", readme, "/docs/before.md")
	require.Equal(t, 0, code, errOut)

	cluster.Stop(t)
	for i := range 3 {
		start := time.Now()
		code, out, errOut := cli(a.url, key, "fs", "put", readme, fmt.Sprintf("/docs/down%d.md", i))
		took := time.Since(start)
		require.Empty(t, out)
		if !strings.Contains(errOut, "unavailable: ") {
			t.Logf("server log:\n%s", a.stderr.String())
		}
		requireOneLine(t, code, errOut, "unavailable: ")
		require.Less(t, took, 2*time.Second, "a write while the primary is down fails within 2 s: %s", errOut)
		require.NotContains(t, errOut, "SQLSTATE", "nothing internal reaches the client")
	}

	cluster.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, errOut = cli(a.url, key, "fs", "put", readme, "/docs/after.md")
		if code == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "writes do not resume after the primary is back: %s", errOut)
		time.Sleep(100 * time.Millisecond)
	}
	code, out, errOut := cli(a.url, key, "fs", "ls", "/docs")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "after.md\nbefore.md\n", out)
}

// Failover: a multi-host URL with target_session_attrs=read-write. With the
// primary down, writes fail fast; once the replica is promoted, writes go to
// it, and nothing acknowledged is lost (synchronous_commit = remote_apply).
func TestPostgresFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL subprocess test")
	}
	pgtest.Require(t)
	primary := pgtest.StartCluster(t, pgtest.ClusterOptions{Settings: map[string]string{
		"synchronous_standby_names": "'*'",
		"synchronous_commit":        "remote_apply",
	}})
	replica := pgtest.StartReplica(t, primary)
	url := primary.NewDatabase(t)
	code, _, errOut := nexus("migrate", "--postgres", url)
	require.Equal(t, 0, code, errOut)
	dbname := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	multi := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable&target_session_attrs=read-write",
		primary.Port, replica.Port, dbname)

	dir := filepath.Join(t.TempDir(), "a")
	a := serve(t, dir, "--postgres", multi)
	key := adminKey(t, dir)
	readme, err := filepath.Abs("../../README.md")
	require.NoError(t, err)
	want, err := os.ReadFile(readme)
	require.NoError(t, err)
	const n = 10
	for i := range n {
		code, _, errOut := cli(a.url, key, "fs", "put", readme, fmt.Sprintf("/docs/%d.md", i))
		require.Equal(t, 0, code, errOut)
	}

	primary.Stop(t)
	start := time.Now()
	code, _, errOut = cli(a.url, key, "fs", "put", readme, "/docs/down.md")
	took := time.Since(start)
	if !strings.Contains(errOut, "unavailable: ") {
		t.Logf("server log:\n%s", a.stderr.String())
	}
	requireOneLine(t, code, errOut, "unavailable: ")
	require.Less(t, took, 2*time.Second)

	replica.Promote(t)
	start = time.Now()
	for {
		code, _, errOut = cli(a.url, key, "fs", "put", readme, "/docs/after.md")
		if code == 0 {
			break
		}
		require.Less(t, time.Since(start), 15*time.Second, "writes do not resume on the promoted replica: %s", errOut)
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("writes resumed %s after the promotion", time.Since(start).Round(time.Millisecond))
	for i := range n {
		code, out, errOut := cli(a.url, key, "fs", "cat", fmt.Sprintf("/docs/%d.md", i))
		require.Equal(t, 0, code, "acknowledged before the failover: %s", errOut)
		require.Equal(t, string(want), out)
	}
}

// A node killed (SIGKILL) between the two commits of a write on PostgreSQL
// — its rows and outbox record committed, SpiceDB not yet written; or
// SpiceDB written, the record not yet deleted — leaves no entry without its
// relationships and no relationship naming an entry that is gone, once the
// next node starts (authz/outbox.go).
func TestPostgresCrashBetweenTheTwoCommits(t *testing.T) {
	_, url := migratedDatabase(t)
	db := pgtest.OpenURL(t, url)
	dir := filepath.Join(t.TempDir(), "a")
	a := serve(t, dir, "--postgres", url)
	key := adminKey(t, dir)
	readme, err := filepath.Abs("../../README.md")
	require.NoError(t, err)
	want, err := os.ReadFile(readme)
	require.NoError(t, err)
	for _, args := range [][]string{
		{"fs", "put", readme, "/docs/a.md"},
		{"admin", "user", "create", "bob"},
		{"share", "grant", "/docs", "user:bob", "viewer"},
	} {
		code, _, errOut := cli(a.url, key, args...)
		require.Equal(t, 0, code, errOut)
	}
	code, bobKey, errOut := cli(a.url, key, "admin", "key", "create", "--user", "bob")
	require.Equal(t, 0, code, errOut)
	bobKey = strings.TrimSpace(bobKey)

	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRow(q, args...).Scan(&n))
		return n
	}
	entryID := func(name string) string {
		t.Helper()
		var id string
		require.NoError(t, db.QueryRow(`SELECT id FROM paths_entries WHERE name = $1`, name).Scan(&id))
		return id
	}
	liveTuples := func(objectID string) int {
		return count(`SELECT count(*) FROM spicedb.relation_tuple WHERE object_id = $1 AND deleted_xid = '9223372036854775807'::xid8`, objectID)
	}
	// crash restarts node a to die at point, runs the command that gets
	// it there, and waits for the death.
	crash := func(point string, args ...string) {
		t.Helper()
		a.kill()
		t.Setenv("NEXUS_TEST_CRASH_AT", point)
		a = serve(t, dir, "--postgres", url)
		require.NoError(t, os.Unsetenv("NEXUS_TEST_CRASH_AT"))
		code, _, _ := cli(a.url, key, args...)
		require.NotEqual(t, 0, code, "the node died before answering")
		_ = a.cmd.Wait()
		require.Equal(t, "signal: killed", a.cmd.ProcessState.String(), "killed at %s; log:\n%s", point, a.stderr.String())
	}

	// 1. A new file: its row and content committed, its relationships not.
	crash(`outbox-recorded:"Type":"file"`, "fs", "put", readme, "/docs/crash.md")
	id := entryID("crash.md")
	require.Equal(t, 1, count(`SELECT count(*) FROM authz_outbox`), "the write is recorded")
	require.Equal(t, 0, liveTuples(id), "and not applied: nobody can open the entry yet")
	a = serve(t, dir, "--postgres", url)
	require.Equal(t, 0, count(`SELECT count(*) FROM authz_outbox`), "applied at start")
	require.Equal(t, 3, liveTuples(id), "zone, parent and owner")
	for _, k := range []string{key, bobKey} {
		code, out, errOut := cli(a.url, k, "fs", "cat", "/docs/crash.md")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, string(want), out, "the owner, and bob through the folder's grant, read the whole file")
	}

	// 2. The same, but SpiceDB written and the record not yet deleted:
	// applied again, harmlessly.
	crash(`outbox-applied:"Type":"file"`, "fs", "put", readme, "/docs/twice.md")
	twice := entryID("twice.md")
	require.Equal(t, 1, count(`SELECT count(*) FROM authz_outbox`))
	require.Equal(t, 3, liveTuples(twice))
	a = serve(t, dir, "--postgres", url)
	require.Equal(t, 0, count(`SELECT count(*) FROM authz_outbox`))
	require.Equal(t, 3, liveTuples(twice))
	code, _, errOut = cli(a.url, bobKey, "fs", "cat", "/docs/twice.md")
	require.Equal(t, 0, code, errOut)

	// 3. A recursive delete: the rows gone, every relationship below still
	// there until the record is applied — then none left, and nothing
	// names a deleted entry.
	below := []string{entryID("docs"), entryID("a.md"), id, twice}
	crash(`outbox-recorded:delete_matching`, "fs", "rm", "-r", "/docs")
	require.Equal(t, 0, count(`SELECT count(*) FROM paths_entries WHERE id = ANY($1)`, below))
	require.Greater(t, liveTuples(below[0]), 0, "the folder's relationships (bob's grant) are still there")
	a = serve(t, dir, "--postgres", url)
	for _, e := range below {
		require.Equal(t, 0, liveTuples(e), "no relationship names deleted entry %s", e)
	}
	code, _, errOut = cli(a.url, bobKey, "fs", "ls", "/")
	require.Equal(t, 0, code, errOut)
	code, out, errOut := cli(a.url, key, "fs", "ls", "/")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out)
	// A new /docs is a new folder: bob's grant on the old one is gone.
	code, _, errOut = cli(a.url, key, "fs", "put", readme, "/docs/new.md")
	require.Equal(t, 0, code, errOut)
	code, _, errOut = cli(a.url, bobKey, "fs", "cat", "/docs/new.md")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "not_found")
}
