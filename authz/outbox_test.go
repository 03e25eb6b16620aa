package authz

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// The outbox's crash cases, on a real PostgreSQL: a write recorded with its
// rows but never applied (the process died between the two commits) is
// applied at the next start, by the next write of any node — before that
// write — or by the background replay; applying twice is harmless; a write
// SpiceDB refuses for good is set aside without stopping the others. The
// same is done to a real `nexus serve` with SIGKILL in cmd/nexus
// (TestPostgresCrashBetweenTheTwoCommits).

func outboxDatabaseTB(t testing.TB) (url string, db *sql.DB) {
	t.Helper()
	pgtest.Require(t)
	return outboxDatabaseOn(t, pgtest.StartCluster(t, pgtest.ClusterOptions{}))
}

func outboxDatabaseOn(t testing.TB, cluster *pgtest.Cluster) (url string, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	url = cluster.NewDatabase(t)
	db = pgtest.OpenURL(t, url, postgres.Domain{Name: "authz", Migrations: PostgresMigrations()})
	_, err := db.Exec(`CREATE SCHEMA ` + postgres.SpiceDBSchema + `; CREATE TABLE rows (id TEXT PRIMARY KEY)`)
	require.NoError(t, err)
	require.NoError(t, MigratePostgres(ctx, postgres.WithSearchPath(url, postgres.SpiceDBSchema)))
	return url, db
}

func outboxEngine(t *testing.T, url string, db *sql.DB) *Engine {
	t.Helper()
	return outboxEngineWith(t, url, db, nil)
}

func outboxEngineWith(t *testing.T, url string, db *sql.DB, reg prometheus.Registerer) *Engine {
	t.Helper()
	e, err := New(context.Background(), Config{
		Schema:     nexus.Schema,
		Postgres:   &PostgresConfig{URL: postgres.WithSearchPath(url, postgres.SpiceDBSchema), DB: db, MaxConns: 4},
		Registerer: reg,
	})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

// abandon records a write with a row of its own, as a writer that dies
// right after its first commit leaves it.
func abandon(t *testing.T, e *Engine, row string, updates ...Update) {
	t.Helper()
	_, _, err := e.outbox.record(context.Background(), func() []outboxOp { return updateOps(updates) }, func(ctx context.Context, tx *sql.Tx) error {
		if row == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rows (id) VALUES (?)`, row)
		return err
	})
	require.NoError(t, err)
}

// nodePending reports whether node's row in authz_node_writes is pending.
func nodePending(t *testing.T, db *sql.DB, node string) bool {
	t.Helper()
	var pending bool
	err := db.QueryRow(`SELECT pending FROM authz_node_writes WHERE node = ?`, node).Scan(&pending)
	if errors.Is(err, sql.ErrNoRows) {
		return false
	}
	require.NoError(t, err)
	return pending
}

func pendingRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM `+table).Scan(&n))
	return n
}

func TestPostgresOutbox(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL cluster test")
	}
	pgtest.Require(t)
	cluster := pgtest.StartCluster(t, pgtest.ClusterOptions{})
	bouncer := pgtest.StartPgBouncer(t, cluster.URL("postgres"))
	for _, via := range []string{"direct", "pgbouncer"} {
		t.Run(via, func(t *testing.T) {
			// Our pools (the outbox, its lock) directly or through PgBouncer
			// in transaction pooling; SpiceDB's directly.
			url, db := outboxDatabaseOn(t, cluster)
			open := func() *sql.DB { return pgtest.OpenURL(t, url) }
			if via == "pgbouncer" {
				open = func() *sql.DB { return pgtest.OpenURL(t, bouncer.URL(url)) }
				db = open()
			}
			testOutbox(t, url, db, open)
		})
	}
}

func testOutbox(t *testing.T, url string, db *sql.DB, open func() *sql.DB) {
	ctx := context.Background()
	fileX := Obj("file", "x")
	viewer := func(id string) Relationship { return Rel(fileX, "viewer", Subject("user", id)) }
	may := func(e *Engine, user string) bool {
		t.Helper()
		d, err := e.Check(ctx, CheckItem{Resource: fileX, Permission: "read", Subject: Subject("user", user)}, FullyConsistent())
		require.NoError(t, err)
		return d.Allowed
	}

	// First, with no other node running whose background replay could
	// get there first: a write a crash left recorded is applied at start.
	c := outboxEngine(t, url, db)
	abandon(t, c, "r_eve", TouchRel(viewer("eve")))
	require.False(t, may(c, "eve"), "recorded, not applied: nobody gains access yet")
	c.Close() // the crash
	require.Equal(t, 1, pendingRows(t, db, "authz_outbox"))
	reg := prometheus.NewRegistry()
	d := outboxEngineWith(t, url, db, reg)
	require.True(t, may(d, "eve"), "applied at start, before New returned")
	require.Equal(t, 0, pendingRows(t, db, "authz_outbox"))
	require.Equal(t, 1.0, counterValue(t, reg, "nexus_authz_outbox_replayed_total"), "by the start-up replay")
	d.Close()
	require.False(t, nodePending(t, db, d.outbox.node), "a node that closes settles its row (pending, it sends every other node's cache to SpiceDB's newest revision for ten minutes)")

	a := outboxEngine(t, url, db)
	b := outboxEngine(t, url, open()) // a second node

	t.Run("AWriteIsRecordedAppliedAndGone", func(t *testing.T) {
		tok, err := a.Write(ctx, []Update{TouchRel(viewer("ann"))}, WithTx(func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO rows (id) VALUES ('r_ann')`)
			return err
		}))
		require.NoError(t, err)
		d, err := b.Check(ctx, CheckItem{Resource: fileX, Permission: "read", Subject: Subject("user", "ann")}, AtLeastAsFresh(tok))
		require.NoError(t, err)
		require.True(t, d.Allowed, "the returned token covers the write, on another node too")
		require.Equal(t, 0, pendingRows(t, db, "authz_outbox"))
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM rows WHERE id = 'r_ann'`).Scan(&n))
		require.Equal(t, 1, n, "the hook's row committed with the write")
	})

	t.Run("ACallerGoneUnderTheLockLosesNothing", func(t *testing.T) {
		// A write recorded and not applied (touch ivy) waits in the outbox;
		// a direct write (delete ivy) drains it under the lock, and its
		// caller goes away then. The drained row must commit as applied, or
		// it would be applied again after the delete and undo it; and the
		// caller gets its write, not "transaction has already been
		// committed or rolled back".
		abandon(t, a, "", TouchRel(viewer("ivy")))
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		tok, err := a.Write(cctx, []Update{DeleteRel(viewer("ivy"))}, WithPrecondition(func(context.Context) error {
			cancel()
			return nil
		}))
		require.NoError(t, err, "the caller was there when its write began")
		require.Equal(t, 0, pendingRows(t, db, "authz_outbox"), "the drained row committed as applied")
		_, err = a.Settle(ctx)
		require.NoError(t, err)
		d, err := b.Check(ctx, CheckItem{Resource: fileX, Permission: "read", Subject: Subject("user", "ivy")}, AtLeastAsFresh(tok))
		require.NoError(t, err)
		require.False(t, d.Allowed, "the delete came after the recorded touch and stands")

		// A caller gone before the lock is its own: nothing is written.
		gone, cancel2 := context.WithCancel(ctx)
		cancel2()
		_, err = a.Write(gone, []Update{TouchRel(viewer("ivy"))})
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, may(a, "ivy"))
	})

	t.Run("AFailedHookWritesNothing", func(t *testing.T) {
		_, err := a.Write(ctx, []Update{TouchRel(viewer("bea"))}, WithTx(func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO rows (id) VALUES ('r_ann')`) // taken
			return err
		}))
		require.Error(t, err)
		require.False(t, may(a, "bea"), "no relationship without its rows")
		require.Equal(t, 0, pendingRows(t, db, "authz_outbox"))
	})

	t.Run("AnAbandonedWriteIsAppliedBeforeTheNextWriteOfAnyNode", func(t *testing.T) {
		// Node a dies after recording a grant to cid; node b then revokes
		// it. The revoke was acknowledged after the grant was recorded: the
		// grant must not come back after it.
		abandon(t, a, "r_cid", TouchRel(viewer("cid")))
		require.False(t, may(b, "cid"), "recorded, not applied: nobody gains access yet")
		_, err := b.Write(ctx, []Update{DeleteRel(viewer("cid"))})
		require.NoError(t, err)
		require.Equal(t, 0, pendingRows(t, db, "authz_outbox"), "the revoke applied what was pending first")
		require.False(t, may(b, "cid"), "the grant was applied before the revoke, not after it")

		// And the other way round: an abandoned revoke, then a grant.
		_, err = a.Write(ctx, []Update{TouchRel(viewer("dot"))})
		require.NoError(t, err)
		abandon(t, a, "", DeleteRel(viewer("dot")))
		_, err = b.Write(ctx, []Update{TouchRel(viewer("dot"))})
		require.NoError(t, err)
		require.True(t, may(a, "dot"), "the later grant stands")
	})

	t.Run("AnAbandonedWriteIsAppliedInTheBackground", func(t *testing.T) {
		abandon(t, a, "r_fay", TouchRel(viewer("fay")))
		require.Eventually(t, func() bool { return may(b, "fay") }, pgLiveness, 50*time.Millisecond,
			"no node wrote, but the replay applied it")
		require.Eventually(t, func() bool { return pendingRows(t, db, "authz_outbox") == 0 }, 5*time.Second, 20*time.Millisecond)
	})

	t.Run("SettleAppliesWhatIsPending", func(t *testing.T) {
		// A reader that finds a row whose write is recorded but not yet
		// applied settles it, and checks at the token it gets see it.
		abandon(t, a, "r_kai", TouchRel(viewer("kai")))
		tok, err := b.Settle(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, tok)
		require.Equal(t, 0, pendingRows(t, db, "authz_outbox"))
		d, err := b.Check(ctx, CheckItem{Resource: fileX, Permission: "read", Subject: Subject("user", "kai")}, AtLeastAsFresh(tok))
		require.NoError(t, err)
		require.True(t, d.Allowed)
	})

	t.Run("SettleQueuesForTheLockOnlyWhenRowsArePending", func(t *testing.T) {
		// Readers settle entries whose token is not recorded yet. With
		// nothing pending they must not queue behind the writers for the
		// cluster's outbox lock; with a row pending they must apply it
		// under the lock first.
		_, err := b.Settle(ctx)
		require.NoError(t, err)
		require.Equal(t, 0, pendingRows(t, db, "authz_outbox"))
		holder, err := db.BeginTx(ctx, nil) // another node, draining
		require.NoError(t, err)
		defer func() { _ = holder.Rollback() }()
		_, err = holder.ExecContext(ctx, fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, outboxLock))
		require.NoError(t, err)

		free, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		tok, err := b.Settle(free)
		require.NoError(t, err, "nothing pending: no wait for the lock")
		require.NotEmpty(t, tok)

		abandon(t, a, "r_lea", TouchRel(viewer("lea")))
		held, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel2()
		_, err = b.Settle(held)
		require.ErrorIs(t, err, context.DeadlineExceeded, "a pending row is applied under the lock, so Settle waits for it")
		require.False(t, may(b, "lea"))

		require.NoError(t, holder.Rollback())
		tok, err = b.Settle(ctx)
		require.NoError(t, err)
		d, err := b.Check(ctx, CheckItem{Resource: fileX, Permission: "read", Subject: Subject("user", "lea")}, AtLeastAsFresh(tok))
		require.NoError(t, err)
		require.True(t, d.Allowed)
	})

	t.Run("ApplyingTwiceIsHarmless", func(t *testing.T) {
		// A row applied whose delete was lost is applied again.
		ops := updateOps([]Update{TouchRel(viewer("gus")), DeleteRel(viewer("ann"))})
		_, err := a.outbox.apply(ctx, ops)
		require.NoError(t, err)
		abandon(t, a, "", TouchRel(viewer("gus")), DeleteRel(viewer("ann")))
		_, err = a.Write(ctx, []Update{TouchRel(viewer("hal"))})
		require.NoError(t, err)
		require.True(t, may(a, "gus"))
		require.False(t, may(a, "ann"))
		require.True(t, may(a, "hal"))
	})

	t.Run("ARefusedWriteIsSetAsideAndTheOthersGoOn", func(t *testing.T) {
		abandon(t, a, "r_bad", TouchRel(Rel(fileX, "no_such_relation", Subject("user", "ivy"))))
		tok, err := b.Write(ctx, []Update{TouchRel(viewer("jon"))})
		require.NoError(t, err, "one bad row does not stop the writes of every node")
		d, err := a.Check(ctx, CheckItem{Resource: fileX, Permission: "read", Subject: Subject("user", "jon")}, AtLeastAsFresh(tok))
		require.NoError(t, err)
		require.True(t, d.Allowed)
		require.Equal(t, 0, pendingRows(t, db, "authz_outbox"))
		var ops, msg string
		require.NoError(t, db.QueryRow(`SELECT ops, error FROM authz_outbox_dead`).Scan(&ops, &msg))
		require.Contains(t, ops, "no_such_relation")
		require.Contains(t, msg, "no_such_relation", "the operator sees why")

		// The writer whose own write is refused hears of it: with rows, its
		// record is set aside too; without, nothing was recorded.
		bad := []Update{TouchRel(Rel(fileX, "viewer", Subject("zone", "z")))}
		_, err = a.Write(ctx, bad, WithTx(func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO rows (id) VALUES ('r_zone')`)
			return err
		}))
		require.ErrorIs(t, err, ErrInvalid, "zone is not a subject type viewer takes")
		require.Equal(t, 2, pendingRows(t, db, "authz_outbox_dead"))
		_, err = a.Write(ctx, bad)
		require.ErrorIs(t, err, ErrInvalid)
		require.Equal(t, 2, pendingRows(t, db, "authz_outbox_dead"))
		require.Equal(t, 0, pendingRows(t, db, "authz_outbox"))
	})

	t.Run("APreconditionHoldsAcrossNodes", func(t *testing.T) {
		// Sixteen CREATEs of one relationship, half through each node:
		// exactly one finds it missing.
		rel := viewer("once")
		exists := errors.New("exists")
		var wins, lost atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			e := a
			if i%2 == 1 {
				e = b
			}
			wg.Go(func() {
				_, err := e.Write(ctx, []Update{TouchRel(rel)}, WithPrecondition(func(ctx context.Context) error {
					if may(e, "once") {
						return exists
					}
					return nil
				}))
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, exists):
					lost.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "one CREATE wins, on either node")
		require.Equal(t, int32(15), lost.Load())
	})

	t.Run("TheCacheAnswersWhileAnotherNodeIsMidWrite", func(t *testing.T) {
		// A node that died mid-burst: the others' probes wait for
		// SpiceDB's every change, not for the other nodes' announced ones.
		_, err := db.ExecContext(ctx, `INSERT INTO authz_node_writes (node, pending) VALUES ('died-mid-burst', true)`)
		require.NoError(t, err)
		defer func() {
			_, err := db.ExecContext(ctx, `DELETE FROM authz_node_writes WHERE node = 'died-mid-burst'`)
			require.NoError(t, err)
		}()
		_, err = b.Write(ctx, []Update{TouchRel(viewer("mid"))})
		require.NoError(t, err)
		// Then a transaction that is not SpiceDB's: PostgreSQL's newest
		// snapshot moves on, SpiceDB's watch does not.
		_, err = db.ExecContext(ctx, `INSERT INTO rows (id) VALUES ('r_mid')`)
		require.NoError(t, err)
		after, heads := time.Now(), probeCount(a.cache, "head")
		if !assert.Eventually(t, func() bool {
			return a.cache.vouched.Load() > after.UnixNano() && probeCount(a.cache, "head") > heads
		}, 30*time.Second, 10*time.Millisecond, "the cache is vouched for after a write that was not SpiceDB's") {
			t.Fatalf("the cache: %s", cacheState(a))
		}
	})

	t.Run("AnImportIsAtomic", func(t *testing.T) {
		testImport(t, a, nil)
		rels, err := b.Read(ctx, Filter{Resource: Obj("group", "g"), Relation: "member"}, FullyConsistent())
		require.NoError(t, err)
		require.Len(t, rels, 2500, "the other node sees the import that succeeded and nothing of the others")
	})

	t.Run("ACascadeDeletesWithTheWrite", func(t *testing.T) {
		folder, f1, f2 := Obj("folder", "top"), Obj("file", "c1"), Obj("file", "c2")
		_, err := a.Write(ctx, []Update{
			TouchRel(Rel(folder, "zone", Subject("zone", "z"))),
			TouchRel(Rel(f1, "parent", folder.AsSubject())),
			TouchRel(Rel(f2, "parent", folder.AsSubject())),
			TouchRel(Rel(f2, "viewer", Subject("user", "kim"))),
		})
		require.NoError(t, err)
		_, err = a.DeleteMatching(ctx, Filter{Resource: folder}, WithTx(func(ctx context.Context, tx *sql.Tx) error {
			return nil
		}), WithCascade(func() []Filter { return []Filter{{Resource: f1}, {Resource: f2}} }))
		require.NoError(t, err)
		for _, o := range []ObjectRef{folder, f1, f2} {
			rels, err := b.Read(ctx, Filter{Resource: o}, FullyConsistent())
			require.NoError(t, err)
			require.Empty(t, rels, "%s has no relationships left", o)
		}
	})
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// The recorded form is the JSON of outboxOp: a change to it must keep
// reading rows an older build left behind.
func TestOutboxOpsReadAsWritten(t *testing.T) {
	rel := Rel(Obj("file", "f"), "parent", SubjectSet("folder", "d", ""))
	sub := Subject("user", "u")
	ops := append(updateOps([]Update{TouchRel(rel), DeleteRel(rel)}), filterOps([]Filter{{Resource: Obj("file", "f"), Relation: "viewer", Subject: &sub}})...)
	text, err := json.Marshal(ops)
	require.NoError(t, err)
	require.JSONEq(t, `[
		{"op":"touch","rel":{"Resource":{"Type":"file","ID":"f"},"Relation":"parent","Subject":{"Object":{"Type":"folder","ID":"d"},"Relation":""}}},
		{"op":"delete","rel":{"Resource":{"Type":"file","ID":"f"},"Relation":"parent","Subject":{"Object":{"Type":"folder","ID":"d"},"Relation":""}}},
		{"op":"delete_matching","filter":{"Resource":{"Type":"file","ID":"f"},"Relation":"viewer","Subject":{"Object":{"Type":"user","ID":"u"},"Relation":""}}}
	]`, string(text))
	var back []outboxOp
	require.NoError(t, json.Unmarshal(text, &back))
	require.Equal(t, ops, back)
}

// BenchmarkPostgresWrite: a relationship write with rows of ours through
// the outbox (record, then apply under the lock, delete the record), one
// without rows (applied under the lock), and the same write sent to SpiceDB
// alone, side by side on one cluster:
//
//	CI=true go test -run XXX -bench PostgresWrite -benchtime 2s ./authz/
func BenchmarkPostgresWrite(b *testing.B) {
	url, db := outboxDatabaseTB(b)
	e, err := New(context.Background(), Config{
		Schema:   nexus.Schema,
		Postgres: &PostgresConfig{URL: postgres.WithSearchPath(url, postgres.SpiceDBSchema), DB: db, MaxConns: 8},
	})
	require.NoError(b, err)
	defer e.Close()
	ctx := context.Background()
	rel := func(i int) Relationship {
		return Rel(Obj("file", fmt.Sprintf("f%d", i)), "viewer", Subject("user", "u"))
	}
	row := 0 // across runs (-count)
	b.Run("with_rows", func(b *testing.B) {
		// A row of ours with it: recorded, then applied (two commits of
		// ours and SpiceDB's).
		for i := 0; b.Loop(); i++ {
			row++
			if _, err := e.Write(ctx, []Update{TouchRel(rel(i))}, WithTx(func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO rows (id) VALUES (?)`, fmt.Sprint("b", row))
				return err
			})); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("relationships_only", func(b *testing.B) {
		// No rows: applied under the lock after what is pending, no record.
		for i := 0; b.Loop(); i++ {
			if _, err := e.Write(ctx, []Update{TouchRel(rel(1_000_000 + i))}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("spicedb_alone", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := e.perms.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{TouchRel(rel(i)).proto()}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
