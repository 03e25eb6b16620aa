package authz_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// pgDatabase is a migrated database (SpiceDB's tables in their schema, plus
// a table for the hook tests) on a cluster of the test's own, with
// track_commit_timestamp on for SpiceDB's Watch.
func pgDatabase(t *testing.T) (url string, db *sql.DB) {
	t.Helper()
	pgtest.Require(t)
	ctx := context.Background()
	cluster := pgtest.StartCluster(t, pgtest.ClusterOptions{})
	url = cluster.NewDatabase(t)
	db = pgtest.OpenURL(t, url, postgres.Domain{Name: "authz", Migrations: authz.PostgresMigrations()})
	_, err := db.Exec(`CREATE SCHEMA ` + postgres.SpiceDBSchema + `; CREATE TABLE rows (id TEXT PRIMARY KEY)`)
	require.NoError(t, err)
	require.NoError(t, authz.MigratePostgres(ctx, postgres.WithSearchPath(url, postgres.SpiceDBSchema)))
	return url, db
}

func newPostgresEngine(t *testing.T, url string, db *sql.DB) *authz.Engine {
	t.Helper()
	e, err := authz.New(context.Background(), authz.Config{
		Schema:   nexus.Schema,
		Postgres: &authz.PostgresConfig{URL: postgres.WithSearchPath(url, postgres.SpiceDBSchema), DB: db, MaxConns: 4},
	})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

func TestPostgresEngine(t *testing.T) {
	ctx := context.Background()
	url, db := pgDatabase(t)
	a := newPostgresEngine(t, url, db)
	b := newPostgresEngine(t, url, pgtest.OpenURL(t, url)) // a second node
	access := authz.CheckItem{Resource: zoneA, Permission: "access", Subject: bob}

	t.Run("AWriteThroughOneNodeIsSeenByTheOther", func(t *testing.T) {
		tok, err := a.Write(ctx, []authz.Update{
			authz.TouchRel(authz.Rel(groupE, "member", bob)),
			authz.TouchRel(authz.Rel(zoneA, "member", authz.SubjectSet("group", "eng", "member"))),
		}, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO rows (id) VALUES (?)`, "r1")
			return err
		}))
		require.NoError(t, err)
		d, err := b.Check(ctx, access, authz.AtLeastAsFresh(tok))
		require.NoError(t, err)
		require.True(t, d.Allowed)
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM rows`).Scan(&n))
		require.Equal(t, 1, n, "the hook's row committed with the write")
	})

	t.Run("AFailedHookWritesNoRelationship", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := a.Write(ctx, []authz.Update{
			authz.TouchRel(authz.Rel(zoneA, "admin", alice)),
			authz.DeleteRel(authz.Rel(groupE, "member", bob)),
		}, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error { return boom }))
		require.ErrorIs(t, err, boom)
		d, err := b.Check(ctx, authz.CheckItem{Resource: zoneA, Permission: "manage", Subject: alice}, authz.FullyConsistent())
		require.NoError(t, err)
		require.False(t, d.Allowed, "the failed write's new relationship is not there")
		d, err = b.Check(ctx, access, authz.FullyConsistent())
		require.NoError(t, err)
		require.True(t, d.Allowed, "nor was the failed write's delete applied")
	})

	t.Run("ARevokeOnOneNodeReachesTheOthersCache", func(t *testing.T) {
		// Warm b's cache with an allow, then revoke through a. Without a
		// token b may answer from before the first subtest's grant (its
		// watch polls every 100 ms, the engine's minimize_latency revision
		// is quantized, and an answer within the staleness bound may still
		// come from before the grant after one from after it): wait until
		// it allows three times running, so the allow is held.
		require.Eventually(t, func() bool {
			for range 3 {
				d, err := b.Check(ctx, access, authz.MinimizeLatency())
				if err != nil || !d.Allowed {
					return false
				}
			}
			return true
		}, 30*time.Second, 10*time.Millisecond, "node b never held node a's grant")
		_, err := a.Write(ctx, []authz.Update{authz.DeleteRel(authz.Rel(groupE, "member", bob))})
		require.NoError(t, err)
		start := time.Now() // the revoke committed before this
		// The documented bound: the cache's staleness, plus the engine's own
		// quantization window (and SpiceDB's 10% beyond it) for answers the
		// cache does not give.
		bound := authz.DefaultCacheStaleness + authz.DefaultRevisionQuantization*11/10
		for {
			asked := time.Since(start) // a slow answer is judged by when it was asked
			d, err := b.Check(ctx, access, authz.MinimizeLatency())
			require.NoError(t, err)
			if !d.Allowed {
				t.Logf("revoke through node a denied by node b after %s", time.Since(start).Round(time.Millisecond))
				break
			}
			require.Less(t, asked, bound, "node b still allows after the cache's bound")
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("RelationshipsAreDurable", func(t *testing.T) {
		a.Close()
		c := newPostgresEngine(t, url, db)
		d, err := c.Check(ctx, authz.CheckItem{Resource: zoneA, Permission: "access", Subject: authz.SubjectSet("group", "eng", "member")}, authz.MinimizeLatency())
		require.NoError(t, err)
		require.True(t, d.Allowed, "a new engine on the same database sees the relationships")
	})
}
