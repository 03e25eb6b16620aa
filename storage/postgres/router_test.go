package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

func TestLSN(t *testing.T) {
	t.Parallel()
	l, err := postgres.ParseLSN("16/B374D848")
	require.NoError(t, err)
	require.Equal(t, postgres.LSN(0x16B374D848), l)
	require.Equal(t, "16/B374D848", l.String())
	for _, bad := range []string{"", "16", "x/1", "1/x", "1/1/1"} {
		_, err := postgres.ParseLSN(bad)
		require.Error(t, err, bad)
	}
}

func TestRouterWithoutReplicasReadsThePrimary(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	db := pgtest.Open(t)
	r := postgres.NewRouter(db, nil, postgres.RouterConfig{})
	got, target := r.Read(0)
	require.Equal(t, db, got)
	require.Equal(t, postgres.ToPrimary, target)
}

type replicated struct {
	primary, replica  *pgtest.Cluster
	primaryDB, replDB *sql.DB
	router            *postgres.Router
	reg               *prometheus.Registry
}

func newReplicated(t *testing.T) *replicated {
	t.Helper()
	pgtest.Require(t)
	primary := pgtest.StartCluster(t, pgtest.ClusterOptions{})
	pdb := pgtest.OpenURL(t, primary.URL("postgres"))
	_, err := pdb.Exec(`CREATE TABLE rw (id BIGINT PRIMARY KEY, v TEXT NOT NULL)`)
	require.NoError(t, err)
	replica := pgtest.StartReplica(t, primary)
	rdb := pgtest.OpenURL(t, replica.URL("postgres"))
	reg := prometheus.NewRegistry()
	r := postgres.NewRouter(pdb, []postgres.Replica{{Name: "r1", DB: rdb}}, postgres.RouterConfig{
		ProbeInterval: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Registerer: reg,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	x := &replicated{primary: primary, replica: replica, primaryDB: pdb, replDB: rdb, router: r, reg: reg}
	x.eventually(t, "the replica is probed healthy", func() bool { return r.Status()[0].Healthy })
	return x
}

func (x *replicated) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting until %s; status %+v", what, x.router.Status())
		time.Sleep(10 * time.Millisecond)
	}
}

// Write-then-immediately-read pairs never read stale data, and reads do go
// to the replica once it has replayed the write.
func TestRouterReadYourWrites(t *testing.T) {
	t.Parallel()
	x := newReplicated(t)
	ctx := context.Background()
	const pairs = 1000
	toReplica := 0
	for i := range pairs {
		_, err := x.primaryDB.ExecContext(ctx, `INSERT INTO rw (id, v) VALUES (?, ?)`, i, fmt.Sprint("v", i))
		require.NoError(t, err)
		lsn, err := x.router.WriteLSN(ctx)
		require.NoError(t, err)
		db, target := x.router.Read(lsn)
		var v string
		require.NoError(t, db.QueryRowContext(ctx, `SELECT v FROM rw WHERE id = ?`, i).Scan(&v), "pair %d read from %s", i, target)
		require.Equal(t, fmt.Sprint("v", i), v)
		if target == postgres.ToReplica {
			toReplica++
		}
	}
	t.Logf("%d of %d immediate reads went to the replica", toReplica, pairs)
	// A read after the replica caught up goes to it.
	lsn, err := x.router.WriteLSN(ctx)
	require.NoError(t, err)
	x.eventually(t, "the replica replays the last write", func() bool { _, tg := x.router.Read(lsn); return tg == postgres.ToReplica })
	var m dto.Metric
	require.NoError(t, x.router.Metrics().Reads.WithLabelValues("replica").Write(&m))
	require.Greater(t, m.GetCounter().GetValue(), 0.0, "reads to the replica are counted")
}

// A lagging replica (replay paused) is skipped; resumed, it serves again.
func TestRouterSkipsALaggingReplica(t *testing.T) {
	t.Parallel()
	x := newReplicated(t)
	ctx := context.Background()
	_, err := x.replDB.ExecContext(ctx, `SELECT pg_wal_replay_pause()`)
	require.NoError(t, err)
	for i := range 20 {
		_, err := x.primaryDB.ExecContext(ctx, `INSERT INTO rw (id, v) VALUES (?, 'x')`, i)
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond)
	}
	lsn, err := x.router.WriteLSN(ctx)
	require.NoError(t, err)
	_, target := x.router.Read(lsn)
	require.Equal(t, postgres.ToPrimary, target, "the replica has not replayed the caller's write")
	x.eventually(t, "the paused replica's lag passes the bound", func() bool {
		return x.router.Status()[0].Lag > postgres.DefaultMaxReplicaLag
	})
	_, target = x.router.Read(0)
	require.Equal(t, postgres.ToPrimary, target, "a replica lagging past the bound serves no read at all")
	require.Greater(t, x.router.Status()[0].LagBytes, int64(0))

	_, err = x.replDB.ExecContext(ctx, `SELECT pg_wal_replay_resume()`)
	require.NoError(t, err)
	x.eventually(t, "the resumed replica serves again", func() bool { _, tg := x.router.Read(lsn); return tg == postgres.ToReplica })
}

// A replica down: reads continue on the primary; back up, it serves again.
func TestRouterSurvivesAReplicaDown(t *testing.T) {
	t.Parallel()
	x := newReplicated(t)
	ctx := context.Background()
	x.replica.Stop(t)
	x.eventually(t, "the stopped replica is unhealthy", func() bool { return !x.router.Status()[0].Healthy })
	for range 10 {
		db, target := x.router.Read(0)
		require.Equal(t, postgres.ToPrimary, target)
		var n int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM rw`).Scan(&n))
	}
	x.replica.Start(t)
	x.eventually(t, "the restarted replica serves again", func() bool { _, tg := x.router.Read(0); return tg == postgres.ToReplica })
}
