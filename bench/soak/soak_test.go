package soak

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// TestSoak is the soak run (make soak): it skips unless NEXUS_SOAK_BIN
// names a nexus binary. SOAK_SECONDS (default 120) is the load's length in
// each mode; SOAK_MODES (default embedded,postgres) the modes.
func TestSoak(t *testing.T) {
	bin := os.Getenv("NEXUS_SOAK_BIN")
	if bin == "" {
		t.Skip("the soak run: make soak (NEXUS_SOAK_BIN names a nexus binary)")
	}
	secs := 120
	if s := os.Getenv("SOAK_SECONDS"); s != "" {
		var err error
		secs, err = strconv.Atoi(s)
		require.NoError(t, err, "SOAK_SECONDS")
	}
	modes := "embedded,postgres"
	if s := os.Getenv("SOAK_MODES"); s != "" {
		modes = s
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SOAK_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "SOAK_SEED")
	}
	t.Logf("seed %d (SOAK_SEED=%d repeats the load's choices, not its timing)", seed, seed)
	for _, mode := range strings.Split(modes, ",") {
		t.Run(mode, func(t *testing.T) {
			var r *Report
			var err error
			switch mode {
			case "embedded":
				r, err = soakEmbedded(t, bin, time.Duration(secs)*time.Second, seed)
			case "postgres":
				r, err = soakPostgres(t, bin, time.Duration(secs)*time.Second, seed)
			default:
				t.Fatalf("SOAK_MODES: unknown mode %q (embedded, postgres)", mode)
			}
			if r != nil {
				fmt.Println(r)
				for _, p := range r.Problems {
					fmt.Println("  problem:", p)
				}
				for _, e := range r.ServerErrors {
					fmt.Println("  server error:", e)
				}
			}
			require.NoError(t, err)
			require.Zero(t, r.LostWrites, "lost acknowledged writes")
			require.Zero(t, r.Divergences, "divergences")
			require.Positive(t, r.AckedWritesChecked)
			require.Positive(t, r.DecisionsCompared)
		})
	}
}

func logf(t *testing.T) func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "soak %s: "+format+"\n", append([]any{t.Name()}, args...)...)
	}
}

// soakEmbedded: one node on the embedded default, killed (-9), or stopped
// cleanly, and restarted at random moments; the fresh process is one more
// clean stop and start, which loads the datastore's snapshot the stop
// wrote: every acknowledged write must be in it.
func soakEmbedded(t *testing.T, bin string, d time.Duration, seed uint64) (*Report, error) {
	n, err := StartNode(bin, t.TempDir())
	require.NoError(t, err)
	t.Cleanup(n.Kill)
	restart := func(context.Context) error { n.Stop(); return n.Start() }
	return Run(context.Background(), Config{
		Mode: "embedded", Node: n, Workers: 4, Duration: d, Seed: seed,
		Chaos:  NodeKills(n, seed),
		MinGap: 3 * time.Second, MaxGap: 12 * time.Second,
		Fresh:   func(ctx context.Context) (*Node, error) { return n, restart(ctx) },
		FreshIs: "one more clean stop and start on the same data dir (from the datastore's snapshot)",
		Log:     logf(t),
	})
}

// soakPostgres: a primary with a synchronous replica (remote_apply), one
// node on a multi-host URL (target_session_attrs=read-write); the node
// and the primary are killed (-9) and restarted at random moments, and
// once, at 60% of the run, the primary is killed and the replica promoted
// (the failover of deploy/failover-drill.sh); the later primary kills hit
// the promoted one. The fresh process is a second node on the database.
func soakPostgres(t *testing.T, bin string, d time.Duration, seed uint64) (*Report, error) {
	pgtest.Require(t)
	primary := pgtest.StartCluster(t, pgtest.ClusterOptions{Settings: map[string]string{
		"synchronous_standby_names": "'*'",
		"synchronous_commit":        "remote_apply",
	}})
	replica := pgtest.StartReplica(t, primary)
	url := primary.NewDatabase(t)
	out, err := exec.Command(bin, "migrate", "--postgres", url).CombinedOutput()
	require.NoError(t, err, "%s", out)
	dbname := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	multi := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable&target_session_attrs=read-write",
		primary.Port, replica.Port, dbname)
	n, err := StartNode(bin, t.TempDir(), "--postgres", multi)
	require.NoError(t, err)
	t.Cleanup(n.Kill)

	current := primary
	return Run(context.Background(), Config{
		Mode: "postgres", Node: n, Workers: 4, Duration: d, Seed: seed,
		Chaos: append(NodeKills(n, seed), Chaos{
			Name: "postgres primary kill -9", Weight: 4, Do: func(context.Context) error {
				if err := killCluster(current); err != nil {
					return err
				}
				current.Start(t)
				return nil
			}}),
		Once: &Chaos{Name: "postgres primary kill -9 and failover", Do: func(context.Context) error {
			if err := killCluster(primary); err != nil {
				return err
			}
			replica.Promote(t)
			current = replica
			return nil
		}},
		OnceAt: 0.6,
		MinGap: 3 * time.Second, MaxGap: 12 * time.Second,
		FreshIs: "a second node started on the same database",
		Fresh: func(ctx context.Context) (*Node, error) {
			f, err := StartNode(bin, t.TempDir(), "--postgres", multi)
			if err == nil {
				t.Cleanup(f.Kill)
			}
			return f, err
		},
		Log: logf(t),
	})
}

// killCluster kills a cluster's postmaster and its children (the
// backends and auxiliary processes) with SIGKILL: the postmaster is
// stopped first so it forks no more, then its children are killed, then
// it. Once they are gone it removes the lock files: the postmaster, whose
// parent is PID 1, stays a zombie where PID 1 does not reap, and a zombie
// looks alive to the next start.
func killCluster(c *pgtest.Cluster) error {
	pidFile := filepath.Join(c.Dir, "data", "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("the primary is not running: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return fmt.Errorf("%s: %w", pidFile, err)
	}
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	children := childrenOf(pid)
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range append(children, pid) {
		for alive(p) {
			if time.Now().After(deadline) {
				return fmt.Errorf("postgres process %d outlives SIGKILL", p)
			}
			_ = syscall.Kill(p, syscall.SIGKILL)
			time.Sleep(20 * time.Millisecond)
		}
	}
	locks, _ := filepath.Glob(filepath.Join(c.Dir, ".s.PGSQL.*"))
	for _, f := range append(locks, pidFile) {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// procStat returns the fields of /proc/PID/stat after the command name:
// state, ppid, pgrp, ...
func procStat(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	s := string(b) // pid (comm) state ppid ...; comm may hold spaces
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// alive reports whether pid is a process that is not a zombie.
func alive(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(p); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// TestLedger: the harness's judgement of an end state, on denials as on
// grants.
func TestLedger(t *testing.T) {
	t.Parallel()
	l := NewLedger()
	l.Wrote("/a", "h1", 1, true)
	l.Wrote("/a", "h2", 2, true)
	l.Wrote("/a", "h3", 0, false) // failed: maybe written
	all := Observed{Versions: map[int64]string{1: "h1", 2: "h2", 3: "h3"}, Current: "h3"}

	checked, bad := l.CheckFile("/a", all)
	require.Equal(t, 2, checked)
	require.Empty(t, bad, "a failed write that happened is allowed")
	_, bad = l.CheckFile("/a", Observed{Versions: map[int64]string{1: "h1", 2: "h2"}, Current: "h2"})
	require.Empty(t, bad, "so is one that did not")
	_, bad = l.CheckFile("/a", Observed{Versions: map[int64]string{1: "h1"}, Current: "h1"})
	require.Len(t, bad, 2, "a lost acknowledged version, and the current content rolled back")
	_, bad = l.CheckFile("/a", Observed{Versions: map[int64]string{1: "h1", 2: "hX"}, Current: "h2"})
	require.Len(t, bad, 1, "an acknowledged version with other content")
	_, bad = l.CheckFile("/a", Observed{Versions: map[int64]string{}, Current: ""})
	require.Len(t, bad, 3, "the file gone")

	l.Wrote("/b", "h1", 0, false)
	_, bad = l.CheckFile("/b", Observed{Current: ""})
	require.Empty(t, bad, "only failed writes: it may not exist")
	require.False(t, l.Exists("/b"))
	require.True(t, l.Exists("/a"))

	l.Wrote("/a", "h4", 5, true) // acknowledged after the failed one
	_, bad = l.CheckFile("/a", Observed{Versions: map[int64]string{1: "h1", 2: "h2", 3: "h3", 5: "h4"}, Current: "h3"})
	require.Len(t, bad, 1, "once a later write is acknowledged, the failed one is no longer a possible end")

	k := GrantKey{Folder: "/d", User: "u"}
	granted, definite := l.Grant(k)
	require.False(t, granted)
	require.True(t, definite, "never granted")
	l.Granted(k, true, true, "")
	l.Granted(k, false, false, "") // a revoke that failed
	granted, definite = l.Grant(k)
	require.True(t, granted)
	require.False(t, definite)
	require.True(t, l.ResolveGrant(k, false), "the failed revoke may have happened")
	granted, definite = l.Grant(k)
	require.False(t, granted)
	require.True(t, definite, "resolved")
	require.False(t, l.ResolveGrant(k, true), "now a grant is a lost revoke")

	k2 := GrantKey{Folder: "/d", User: "v"}
	l.Granted(k2, true, true, "")
	require.False(t, l.ResolveGrant(k2, false), "an acknowledged grant that is gone")

	files, paths, grants := l.Counts()
	require.Equal(t, 3, files)
	require.Equal(t, 1, paths)
	require.Equal(t, 2, grants)
}
