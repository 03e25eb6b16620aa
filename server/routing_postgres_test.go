package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

type pgNode struct {
	srv *server.Server
	url string
}

func startPGNode(t *testing.T, dir, url string, replicas ...string) *pgNode {
	t.Helper()
	ctx := context.Background()
	logs := &syncWriter{w: &strings.Builder{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node %s log:\n%s", filepath.Base(dir), logs.w)
		}
	})
	srv, err := server.Open(ctx, server.Config{
		DataDir: dir, Postgres: url, PostgresReplicas: replicas,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	ln, err := server.Listen("127.0.0.1:0")
	require.NoError(t, err)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return &pgNode{srv: srv, url: "http://" + ln.Addr().String()}
}

func (n *pgNode) reads(t *testing.T, target postgres.Target) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, n.srv.Router().Metrics().Reads.WithLabelValues(string(target)).Write(&m))
	return m.GetCounter().GetValue()
}

func atLeast(tok string) *nexusv1.Consistency {
	return &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}}
}

// Two nodes on one primary and one replica, each routing its reads (issue
// 7, items 3 and 6), in order on the same clusters:
//   - 10,000 write-then-immediately-read pairs, written through node A and
//     read through node B with the write's token, never read stale data,
//     and a good share of B's reads is served by the replica;
//   - a read served by the replica is still permission-checked;
//   - a token with a bad WAL position is refused;
//   - with the replica's replay paused, reads at newer writes go to the
//     primary; resumed, back to the replica;
//   - with the primary stopped, reads and checks are answered from the
//     replica, and writes fail with Unavailable within 2 s.
func TestPostgresReadRouting(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	primary := pgtest.StartCluster(t, pgtest.ClusterOptions{})
	replica := pgtest.StartReplica(t, primary)
	url := primary.NewDatabase(t)
	require.NoError(t, server.MigratePostgres(ctx, url))
	replica.CaughtUp(t, primary)
	replicaURL := strings.Replace(url, fmt.Sprintf(":%d/", primary.Port), fmt.Sprintf(":%d/", replica.Port), 1)
	dirA := filepath.Join(t.TempDir(), "a")
	a := startPGNode(t, dirA, url, replicaURL)
	b := startPGNode(t, filepath.Join(t.TempDir(), "b"), url, replicaURL)
	adminKey := readAdminKey(t, dirA)

	idA := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, a.url, bearer(adminKey))
	_, err := idA.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "eve"}))
	require.NoError(t, err)
	eveKey, err := idA.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: "eve"}))
	require.NoError(t, err)
	fsA := nexusv1connect.NewFileServiceClient(http.DefaultClient, a.url, bearer(adminKey))
	fsB := nexusv1connect.NewFileServiceClient(http.DefaultClient, b.url, bearer(adminKey))
	eveB := nexusv1connect.NewFileServiceClient(http.DefaultClient, b.url, bearer(eveKey.Msg.GetSecret()))
	idB := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, b.url, bearer(adminKey))
	eveIDB := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, b.url, bearer(eveKey.Msg.GetSecret()))

	const workers = 16
	var lastToken atomic.Value
	t.Run("read_your_writes_across_nodes", func(t *testing.T) {
		// The issue asks for 10,000 pairs; through two whole nodes on two
		// shared cores that takes minutes (2,000 took 97 s at load 12), so
		// make test runs 300 here, and storage/postgres runs
		// 10,000 through the router alone (TestRoutedReadYourWritesUnderLoad).
		// NEXUS_TEST_RYW_PAIRS=10000 runs the number here (it passed
		// in 7m39s at load 12-15, 59,534 of node B's reads on the replica).
		pairs := 300
		if testing.Short() {
			pairs = 200
		}
		if n, err := strconv.Atoi(os.Getenv("NEXUS_TEST_RYW_PAIRS")); err == nil && n > 0 {
			pairs = n
		}
		before := b.reads(t, postgres.ToReplica)
		start := time.Now()
		var next, writeNanos, readNanos atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				p := fmt.Sprintf("/rw/w%d.txt", w)
				for {
					i := next.Add(1)
					if i > int64(pairs) {
						return
					}
					want := fmt.Sprint("content ", i)
					t0 := time.Now()
					wr, err := fsA.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: p, Data: []byte(want), CreateParents: true}))
					if err != nil {
						errs <- fmt.Errorf("pair %d: write: %w", i, err)
						return
					}
					tok := wr.Msg.GetConsistencyToken()
					if authz.Token(tok).LSN() == 0 {
						errs <- fmt.Errorf("pair %d: the write's token %q carries no WAL position", i, tok)
						return
					}
					lastToken.Store(tok)
					t1 := time.Now()
					writeNanos.Add(int64(t1.Sub(t0)))
					rd, err := fsB.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: p, Consistency: atLeast(tok)}))
					readNanos.Add(int64(time.Since(t1)))
					if err != nil {
						errs <- fmt.Errorf("pair %d: read: %w", i, err)
						return
					}
					if got := string(rd.Msg.GetData()); got != want {
						errs <- fmt.Errorf("pair %d read stale data through node B: %q, want %q", i, got, want)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		toReplica := b.reads(t, postgres.ToReplica) - before
		t.Logf("%d pairs in %s (mean write %s, read %s); node B's reads served by the replica: %.0f", pairs, time.Since(start).Round(time.Millisecond),
			time.Duration(writeNanos.Load()/int64(pairs)), time.Duration(readNanos.Load()/int64(pairs)), toReplica)
		// The counter counts queries; a Read is about six (path, entry,
		// content, chunks). Measured: 5.5-6 replica queries per pair, so
		// nearly every read call is served by the replica; more than one
		// per pair cannot happen if most calls go to the primary.
		require.Greater(t, toReplica, float64(pairs), "most of node B's reads are served by the replica")
	})

	tok := lastToken.Load().(string)
	t.Run("replica_reads_are_permission_checked", func(t *testing.T) {
		before := b.reads(t, postgres.ToReplica)
		for w := range workers {
			_, err := eveB.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: fmt.Sprintf("/rw/w%d.txt", w), Consistency: atLeast(tok)}))
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "eve may not read what admin wrote: %v", err)
		}
		require.Greater(t, b.reads(t, postgres.ToReplica), before, "the denied reads were served by the replica")
	})

	t.Run("bad_token_refused", func(t *testing.T) {
		for _, bad := range []string{tok + "x", string(authz.Token(tok).Zed()) + ".zz", "abc.1.2"} {
			_, err := fsB.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: "/rw/w0.txt", Consistency: atLeast(bad)}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%q: %v", bad, err)
		}
	})

	t.Run("lagging_replica", func(t *testing.T) {
		rdb := pgtest.OpenURL(t, replica.URL("postgres"))
		_, err := rdb.ExecContext(ctx, `SELECT pg_wal_replay_pause()`)
		require.NoError(t, err)
		resumed := false
		defer func() {
			if !resumed {
				_, _ = rdb.ExecContext(ctx, `SELECT pg_wal_replay_resume()`)
			}
		}()
		toReplica, toPrimary := b.reads(t, postgres.ToReplica), b.reads(t, postgres.ToPrimary)
		for i := range 10 {
			want := fmt.Sprint("paused ", i)
			wr, err := fsA.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/rw/paused.txt", Data: []byte(want), CreateParents: true}))
			require.NoError(t, err)
			rd, err := fsB.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: "/rw/paused.txt", Consistency: atLeast(wr.Msg.GetConsistencyToken())}))
			require.NoError(t, err)
			require.Equal(t, want, string(rd.Msg.GetData()))
		}
		require.Equal(t, toReplica, b.reads(t, postgres.ToReplica), "no read at a write the paused replica lacks went to it")
		require.Greater(t, b.reads(t, postgres.ToPrimary), toPrimary)

		_, err = rdb.ExecContext(ctx, `SELECT pg_wal_replay_resume()`)
		require.NoError(t, err)
		resumed = true
		wr, err := fsA.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/rw/paused.txt", Data: []byte("resumed")}))
		require.NoError(t, err)
		deadline := time.Now().Add(10 * time.Second)
		for {
			before := b.reads(t, postgres.ToReplica)
			rd, err := fsB.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: "/rw/paused.txt", Consistency: atLeast(wr.Msg.GetConsistencyToken())}))
			require.NoError(t, err)
			require.Equal(t, "resumed", string(rd.Msg.GetData()))
			if b.reads(t, postgres.ToReplica) > before {
				break
			}
			require.True(t, time.Now().Before(deadline), "reads did not go back to the resumed replica; status %+v", b.srv.Router().Status())
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("primary_down", func(t *testing.T) {
		primary.Stop(t)
		// Once node B's decision cache has stopped answering (its watch on
		// the primary broke or fell behind the staleness bound), nothing is
		// answered from its decisions of before the stop: checks must reach
		// SpiceDB, whose revision comes from the replica (once SpiceDB's own
		// optimized revision, one quantization window, has expired).
		require.Eventually(t, func() bool { return !b.srv.Engine().CacheStats().Serving },
			30*time.Second, 10*time.Millisecond, "node B's decision cache kept answering with the primary down")
		ck, err := eveIDB.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "/rw/paused.txt", Permission: "read", Subject: "user:eve"}))
		require.NoError(t, err, "a check never asked before, with the primary down")
		require.False(t, ck.Msg.GetAllowed())
		before := b.reads(t, postgres.ToReplica)
		for w := range 4 {
			p := fmt.Sprintf("/rw/w%d.txt", w)
			rd, err := fsB.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: p}))
			require.NoError(t, err, "a read through node B with the primary down")
			require.True(t, strings.HasPrefix(string(rd.Msg.GetData()), "content "))
			_, err = fsB.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: p, Consistency: atLeast(tok)}))
			require.NoError(t, err, "a read at the last token, which the replica has replayed")
			_, err = eveB.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: p}))
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "still denied: %v", err)
			// (A check about another subject takes a fully consistent
			// check of the asker's zone admin, which needs the primary.)
			ck, err := eveIDB.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: p, Permission: "read", Subject: "user:eve"}))
			require.NoError(t, err, "a check with the primary down")
			require.False(t, ck.Msg.GetAllowed())
			ck, err = idB.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: p, Permission: "read", Subject: "user:admin"}))
			require.NoError(t, err, "a check with the primary down")
			require.True(t, ck.Msg.GetAllowed())
		}
		require.Greater(t, b.reads(t, postgres.ToReplica), before)

		start := time.Now()
		_, err = fsA.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/rw/down.txt", Data: []byte("x")}))
		require.Equal(t, connect.CodeUnavailable, connect.CodeOf(err), "%v", err)
		require.Less(t, time.Since(start), 2*time.Second, "writes fail fast")
	})
}

func readAdminKey(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, server.AdminKeyFile))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}
