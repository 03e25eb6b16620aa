package authz_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

func openLog(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "nexus.db"))
	require.NoError(t, err)
	require.NoError(t, sqlite.Migrate(context.Background(), db, "authz", authz.SQLiteMigrations()))
	return db
}

func newEngine(t *testing.T, db *sql.DB) *authz.Engine {
	t.Helper()
	cfg := authz.Config{Schema: nexus.Schema}
	if db != nil {
		cfg.Log = &authz.SQLLog{DB: db}
	}
	e, err := authz.New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

var (
	zoneA  = authz.Obj("zone", "za")
	alice  = authz.Subject("user", "alice")
	bob    = authz.Subject("user", "bob")
	groupE = authz.Obj("group", "eng")
)

func TestRelationshipsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openLog(t, dir)
	e := newEngine(t, db)

	tok, err := e.Write(ctx, []authz.Update{
		authz.TouchRel(authz.Rel(zoneA, "admin", alice)),
		authz.TouchRel(authz.Rel(groupE, "member", bob)),
		authz.TouchRel(authz.Rel(zoneA, "member", authz.SubjectSet("group", "eng", "member"))),
	})
	require.NoError(t, err)
	require.NotEmpty(t, tok)
	_, err = e.Write(ctx, []authz.Update{authz.DeleteRel(authz.Rel(zoneA, "admin", alice))})
	require.NoError(t, err)
	e.Close()
	db.Close()

	db = openLog(t, dir)
	defer db.Close()
	e = newEngine(t, db)
	// minimize_latency right after start must already see the rebuilt
	// relationships and the schema, not the empty datastore of a moment ago.
	d, err := e.Check(ctx, authz.CheckItem{Resource: zoneA, Permission: "access", Subject: bob}, authz.MinimizeLatency())
	require.NoError(t, err)
	require.True(t, d.Allowed, "bob is a zone member through group eng after restart")
	d, err = e.Check(ctx, authz.CheckItem{Resource: zoneA, Permission: "manage", Subject: alice}, authz.FullyConsistent())
	require.NoError(t, err)
	require.False(t, d.Allowed, "alice's admin grant was deleted before restart")
}

// The log is loaded without judging its rows' formats again (they were
// judged when written), but against the schema as it is now: a row the
// schema no longer allows stops the start with SpiceDB's own words, and
// nothing of the log is lost by that.
func TestARebuildRefusesWhatTheSchemaNoLongerAllows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openLog(t, dir)
	e := newEngine(t, db)
	_, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))})
	require.NoError(t, err)
	e.Close()
	// As if an older schema had allowed zone#owner.
	_, err = db.Exec(`INSERT INTO authz_relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
		VALUES ('zone', 'za', 'owner', 'user', 'alice', '')`)
	require.NoError(t, err)

	_, err = authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}})
	require.ErrorContains(t, err, "rebuilding from the relationship log")
	require.ErrorContains(t, err, "owner", "the error names what the schema refuses")

	_, err = db.Exec(`DELETE FROM authz_relationships WHERE relation = 'owner'`)
	require.NoError(t, err)
	e = newEngine(t, db)
	d, err := e.Check(ctx, authz.CheckItem{Resource: groupE, Permission: "membership", Subject: bob}, authz.FullyConsistent())
	require.NoError(t, err)
	require.True(t, d.Allowed, "the rest of the log is still there")
}

func TestHookFailureWritesNothing(t *testing.T) {
	ctx := context.Background()
	db := openLog(t, t.TempDir())
	defer db.Close()
	e := newEngine(t, db)
	boom := errors.New("boom")
	_, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(zoneA, "admin", alice))},
		authz.WithTx(func(ctx context.Context, tx *sql.Tx) error { return boom }))
	require.ErrorIs(t, err, boom)
	d, err := e.Check(ctx, authz.CheckItem{Resource: zoneA, Permission: "manage", Subject: alice}, authz.FullyConsistent())
	require.NoError(t, err)
	require.False(t, d.Allowed)
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM authz_relationships`).Scan(&n))
	require.Zero(t, n)
}

func TestEngineRejectsWriteTheSchemaForbids(t *testing.T) {
	ctx := context.Background()
	db := openLog(t, t.TempDir())
	defer db.Close()
	e := newEngine(t, db)
	_, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(zoneA, "owner", alice))})
	require.ErrorIs(t, err, authz.ErrInvalid)
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM authz_relationships`).Scan(&n))
	require.Zero(t, n, "a rejected write leaves nothing in the log")
}

func TestBadSchemaStopsStartWithLine(t *testing.T) {
	_, err := authz.New(context.Background(), authz.Config{Schema: "definition user {}\n\ndefinition zone {\n  relation admin: usr\n}\n"})
	require.ErrorIs(t, err, authz.ErrSchema)
	require.Contains(t, err.Error(), "line 4")
}

func TestCheckBulkSplitsPastLimit(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	tok, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))})
	require.NoError(t, err)
	items := make([]authz.CheckItem, 12_345)
	for i := range items {
		g := groupE
		if i%3 == 1 {
			g = authz.Obj("group", "other")
		}
		items[i] = authz.CheckItem{Resource: g, Permission: "membership", Subject: bob}
	}
	ds, err := e.CheckBulk(ctx, items, authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.Len(t, ds, len(items))
	for i, d := range ds {
		require.Equal(t, i%3 != 1, d.Allowed, "item %d", i)
	}
}

func TestLookupResourcesPagesPastOnePage(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	var tok authz.Token
	want := map[string]bool{}
	for batch := 0; batch < 3; batch++ {
		var updates []authz.Update
		for i := 0; i < 900; i++ {
			id := fmt.Sprintf("f%d_%d", batch, i)
			rel := "viewer"
			if i%3 == 0 {
				rel = "owner"
			}
			if i%10 == 9 {
				// someone else's
				updates = append(updates, authz.TouchRel(authz.Rel(authz.Obj("file", id), "viewer", alice)))
				continue
			}
			updates = append(updates, authz.TouchRel(authz.Rel(authz.Obj("file", id), rel, bob)))
			want[id] = true
		}
		var err error
		tok, err = e.Write(ctx, updates)
		require.NoError(t, err)
	}
	for _, c := range []authz.Consistency{authz.MinimizeLatency(), authz.AtLeastAsFresh(tok), authz.FullyConsistent()} {
		ids, err := e.LookupResources(ctx, "file", "read", bob, c)
		require.NoError(t, err, c.String())
		if c.Token() == "" && !c.IsFullyConsistent() {
			continue // minimize_latency may not see the last write yet
		}
		require.Len(t, ids, len(want), c.String())
		for _, id := range ids {
			require.True(t, want[id], id)
		}
	}
}

func TestTokenHookSeesTheTokenAndItsFailureUndoesTheWrite(t *testing.T) {
	ctx := context.Background()
	db := openLog(t, t.TempDir())
	defer db.Close()
	e := newEngine(t, db)
	var seen authz.Token
	tok, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(zoneA, "admin", alice))},
		authz.WithTokenTx(func(ctx context.Context, tx *sql.Tx, token authz.Token) error { seen = token; return nil }))
	require.NoError(t, err)
	require.Equal(t, tok, seen, "the hook gets the write's own token")

	boom := errors.New("boom")
	_, err = e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(zoneA, "admin", bob))},
		authz.WithTokenTx(func(context.Context, *sql.Tx, authz.Token) error { return boom }))
	require.ErrorIs(t, err, boom)
	d, err := e.Check(ctx, authz.CheckItem{Resource: zoneA, Permission: "manage", Subject: bob}, authz.FullyConsistent())
	require.NoError(t, err)
	require.False(t, d.Allowed, "the engine's write was taken back")
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM authz_relationships`).Scan(&n))
	require.Equal(t, 1, n, "only alice's grant is in the log")
}
