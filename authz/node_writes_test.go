package authz

import (
	"context"
	"database/sql"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// On PostgreSQL a node's decision cache is fresh once its watch has
// processed the other nodes' announced writes (node_writes.go): its own
// writes, evicted as they are made, never make it wait on its watch; the
// others' still do; and a node that may be mid-write sends the probe back
// to SpiceDB's newest revision.

// pgLiveness bounds the waits of the PostgreSQL tests for what must come
// (a cache serving again, a probe sent): liveness, not timing. Under make
// test, with -race beside the whole suite on two cores, a watch through
// PgBouncer has lagged past 10 s.
const pgLiveness = 45 * time.Second

func TestPostgresCacheFreshFromAnnouncedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL cluster test")
	}
	ctx := context.Background()
	url, db := outboxDatabaseTB(t)
	const staleness = 300 * time.Millisecond
	node := func(db *sql.DB, fw *faultyWatch) *Engine {
		cfg := Config{
			Schema:   nexus.Schema,
			Postgres: &PostgresConfig{URL: postgres.WithSearchPath(url, postgres.SpiceDBSchema), DB: db, MaxConns: 4},
			Cache:    CacheConfig{Staleness: staleness},
		}
		if fw != nil {
			cfg.testClients = func(p v1.PermissionsServiceClient, w v1.WatchServiceClient) (v1.PermissionsServiceClient, v1.WatchServiceClient) {
				fw.WatchServiceClient = w // the side's, which the cache watches with, comes last
				return p, fw
			}
		}
		e, err := New(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { e.Close() })
		return e
	}
	fw := &faultyWatch{}
	a := node(db, fw)
	b := node(pgtest.OpenURL(t, url), nil)
	probes := func(source string) float64 {
		var m dto.Metric
		require.NoError(t, a.cache.m.probes.WithLabelValues(source).Write(&m))
		return m.GetCounter().GetValue()
	}
	grant := func(e *Engine) Token {
		t.Helper()
		tok, err := e.Write(ctx, []Update{TouchRel(Rel(docA, "viewer", Subject("user", "alice")))})
		require.NoError(t, err)
		return tok
	}
	allowed := func(cons Consistency) bool {
		t.Helper()
		d, err := a.Check(ctx, aliceR, cons)
		require.NoError(t, err)
		return d.Allowed
	}

	t.Run("OwnWritesKeepTheCacheServingWithItsWatchStalled", func(t *testing.T) {
		tok := grant(a)
		caughtUp(t, a, tok)
		require.Eventually(t, a.cache.serving, pgLiveness, time.Millisecond)
		fw.stall.Store(true)
		for range 3 {
			tok := revoke(t, a)
			require.False(t, allowed(AtLeastAsFresh(tok)), "a revoke through this node was not in force when it returned")
			tok = grant(a)
			require.True(t, allowed(AtLeastAsFresh(tok)))
		}
		// Several staleness bounds with the watch stalled and only this
		// node writing: the probe vouches from the announced writes (none
		// but this node's), not from the watch.
		time.Sleep(4 * staleness)
		require.Eventually(t, a.cache.serving, pgLiveness, time.Millisecond,
			"the cache stopped answering although every change was its own")
		a.cache.decisions.Wait()
		hits := a.CacheStats().Hits
		require.True(t, allowed(MinimizeLatency()))
		require.Equal(t, hits+1, a.CacheStats().Hits, "answered from the cache")
		require.Positive(t, probes("announced"))
	})

	t.Run("AnotherNodesWriteWaitsForTheWatch", func(t *testing.T) {
		// The watch is still stalled; b revokes. a's cache holds the allow
		// and must stop answering within the bound, not serve it.
		tok := revoke(t, b)
		require.Eventually(t, func() bool { return !a.cache.serving() }, pgLiveness, time.Millisecond,
			"another node's write went unnoticed with the watch stalled")
		require.False(t, allowed(AtLeastAsFresh(tok)))
		// The watch delivers again (restarted from the newest revision):
		// the cache answers again, denying.
		fw.stall.Store(false)
		fw.breakAll()
		require.Eventually(t, a.cache.serving, pgLiveness, time.Millisecond)
		require.False(t, allowed(MinimizeLatency()))

		// While b's burst lasts its row is pending; once b has been idle
		// its row is settled with its newest token, and a's probe reads
		// the announced writes again.
		var pending bool
		var token string
		require.NoError(t, db.QueryRow(`SELECT pending FROM authz_node_writes WHERE node = ?`, b.outbox.node).Scan(&pending))
		require.Eventually(t, func() bool {
			require.NoError(t, db.QueryRow(`SELECT pending, token FROM authz_node_writes WHERE node = ?`, b.outbox.node).Scan(&pending, &token))
			return !pending
		}, pgLiveness, 10*time.Millisecond, "b's row was never settled")
		settled, ok := b.revision(Token(token))
		require.True(t, ok)
		revoked, _ := b.revision(tok)
		require.True(t, atLeast(settled, revoked), "the settled token covers b's write")
		announced := probes("announced")
		require.Eventually(t, func() bool { return probes("announced") > announced }, pgLiveness, time.Millisecond)
	})

	t.Run("ANodeMidWriteSendsTheProbeToTheNewestRevision", func(t *testing.T) {
		// A node that announced a write and died before settling it.
		_, err := db.Exec(`INSERT INTO authz_node_writes (node, pending) VALUES ('gone', true)`)
		require.NoError(t, err)
		head := probes("head")
		require.Eventually(t, func() bool { return probes("head") > head }, pgLiveness, time.Millisecond)
		fw.stall.Store(true)
		grant(a)
		require.Eventually(t, func() bool { return !a.cache.serving() }, pgLiveness, time.Millisecond,
			"with a node mid-write, the cache must wait for its watch to pass the newest revision")
		fw.stall.Store(false)
		fw.breakAll()
		require.Eventually(t, a.cache.serving, pgLiveness, time.Millisecond)

		// Its row is pruned by a start an hour after it last wrote, not
		// before.
		node(db, nil).Close()
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM authz_node_writes WHERE node = 'gone'`).Scan(&n))
		require.Equal(t, 1, n)
		_, err = db.Exec(`UPDATE authz_node_writes SET at = now() - interval '2 hours' WHERE node = 'gone'`)
		require.NoError(t, err)
		node(db, nil).Close()
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM authz_node_writes WHERE node = 'gone'`).Scan(&n))
		require.Zero(t, n)
	})
}
