package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

func migrations(n int) postgres.Domain {
	fs := fstest.MapFS{}
	for i := 1; i <= n; i++ {
		fs[strings.Repeat("0", 4)+string(rune('0'+i))+"_step.sql"] = &fstest.MapFile{Data: []byte(
			"-- +goose Up\nCREATE TABLE demo_t" + string(rune('0'+i)) + " (id TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE demo_t" + string(rune('0'+i)) + ";\n")}
	}
	return postgres.Domain{Name: "demo", Migrations: fs}
}

func TestCheckSaysWhatToRun(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db := pgtest.OpenURL(t, url) // nothing migrated

	err := postgres.Check(ctx, db, migrations(2))
	require.ErrorIs(t, err, postgres.ErrSchema)
	require.Contains(t, err.Error(), "not migrated")
	require.Contains(t, err.Error(), "run: nexus migrate --postgres URL")
	require.NotContains(t, err.Error(), "\n")

	require.NoError(t, postgres.Migrate(ctx, db, migrations(1)))
	err = postgres.Check(ctx, db, migrations(2))
	require.ErrorIs(t, err, postgres.ErrSchema)
	require.Contains(t, err.Error(), "demo is at schema version 1, this nexus needs 2; run: nexus migrate --postgres URL")

	require.NoError(t, postgres.Migrate(ctx, db, migrations(2)))
	require.NoError(t, postgres.Check(ctx, db, migrations(2)))
	require.NoError(t, postgres.Migrate(ctx, db, migrations(2)), "migrating again changes nothing")

	err = postgres.Check(ctx, db, migrations(1))
	require.ErrorIs(t, err, postgres.ErrSchema)
	require.Contains(t, err.Error(), "demo is at schema version 2, newer than this nexus knows (1); run a newer nexus")
}

func TestConcurrentMigrationsWaitForEachOther(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			errs[i] = postgres.Migrate(ctx, db, migrations(3))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	db := pgtest.OpenURL(t, url)
	require.NoError(t, postgres.Check(ctx, db, migrations(3)))
}

func TestOpenExplainsBadInputInOneLine(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	cluster := pgtest.StartCluster(t, pgtest.ClusterOptions{Password: "right"})
	closed := "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"
	wrongPass := strings.Replace(cluster.URL("postgres"), ":right@", ":wrong@", 1)
	missingDB := cluster.URL("no_such_db")
	for _, tc := range []struct{ name, url, want string }{
		{"empty", "", "no PostgreSQL URL given"},
		{"not a URL", "postgres://host:notaport/db", "invalid PostgreSQL URL"},
		{"nothing listening", closed, "cannot reach PostgreSQL at 127.0.0.1:1"},
		{"wrong password", wrongPass, `refused the password of user "postgres" (fix the password in --postgres)`},
		{"database missing", missingDB, `database "no_such_db" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := postgres.Open(ctx, tc.url, postgres.Options{})
			if db != nil {
				db.Close()
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n")
			require.NotContains(t, err.Error(), "wrong", "the password never appears")
		})
	}
	db, err := postgres.Open(ctx, cluster.URL("postgres"), postgres.Options{})
	require.NoError(t, err, "the right password opens")
	db.Close()
}

func TestWithSearchPath(t *testing.T) {
	t.Parallel()
	require.Equal(t, "postgres://h/db?search_path=spicedb", postgres.WithSearchPath("postgres://h/db", "spicedb"))
	require.Equal(t, "postgres://h1,h2/db?sslmode=disable&search_path=spicedb", postgres.WithSearchPath("postgres://h1,h2/db?sslmode=disable", "spicedb"))
	require.Equal(t, "host=h dbname=db search_path=spicedb", postgres.WithSearchPath("host=h dbname=db ", "spicedb"))
}

// A taken unique or primary key is SQLSTATE 23505: errs.AlreadyExists;
// other constraints are not.
func TestUniqueViolationsByCode(t *testing.T) {
	pgtest.Require(t)
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t)
	_, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO t (id, name) VALUES (1, 'a')`)
	require.NoError(t, err)

	_, unique := db.ExecContext(ctx, `INSERT INTO t (id, name) VALUES (2, 'a')`)
	_, primary := db.ExecContext(ctx, `INSERT INTO t (id, name) VALUES (1, 'b')`)
	_, notNull := db.ExecContext(ctx, `INSERT INTO t (id, name) VALUES (3, NULL)`)
	for _, err := range []error{unique, primary} {
		require.True(t, storage.IsUniqueViolation(err), "%v", err)
		require.ErrorIs(t, storage.Translate(err), errs.AlreadyExists)
	}
	require.Error(t, notNull)
	require.False(t, storage.IsUniqueViolation(notNull), "%v", notNull)
	require.NotErrorIs(t, storage.Translate(notNull), errs.AlreadyExists)
}
