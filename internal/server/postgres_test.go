package server_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/internal/server"
	"github.com/nexus-authz/nexus/internal/storage/postgres"
	"github.com/nexus-authz/nexus/internal/storage/postgres/pgtest"
)

// Open refuses a database whose schema is not this build's, ours or
// SpiceDB's, with one line that says what to run.
func TestOpenPostgresRefusesAnotherSchema(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	require.NoError(t, server.MigratePostgres(ctx, url))
	db := pgtest.OpenURL(t, url)
	spicedb := postgres.WithSearchPath(url, postgres.SpiceDBSchema)
	require.NoError(t, server.CheckPostgres(ctx, db, spicedb))

	names, err := authz.PostgresMigrationNames()
	require.NoError(t, err)
	require.Greater(t, len(names), 1)
	head := names[len(names)-1]
	setSpiceDB := func(rev string) {
		_, err := db.Exec(`UPDATE `+postgres.SpiceDBSchema+`.alembic_version SET version_num = ?`, rev)
		require.NoError(t, err)
	}
	refuses := func(want string) {
		t.Helper()
		err := server.CheckPostgres(ctx, db, spicedb)
		require.ErrorIs(t, err, postgres.ErrSchema)
		require.Contains(t, err.Error(), want)
		_, err = server.Open(ctx, server.Config{
			DataDir: filepath.Join(t.TempDir(), "data"), Postgres: url,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		require.ErrorIs(t, err, postgres.ErrSchema, "serve refuses to start")
	}

	setSpiceDB(names[len(names)-2])
	refuses("SpiceDB's tables are at revision " + names[len(names)-2] + ", this nexus needs " + head + "; run: nexus migrate --postgres URL")
	setSpiceDB("from-a-newer-spicedb")
	refuses("which this nexus does not know (newer); run a newer nexus")
	setSpiceDB(head)

	bump := func(db *sql.DB, v int) {
		_, err := db.Exec(`INSERT INTO goose_paths (version_id, is_applied) VALUES (?, true)`, v)
		require.NoError(t, err)
	}
	bump(db, 99)
	refuses("paths is at schema version 99, newer than this nexus knows (1); run a newer nexus")
	_, err = db.Exec(`DELETE FROM goose_paths WHERE version_id > 0`)
	require.NoError(t, err)
	refuses("the database is not migrated (no schema version for paths); run: nexus migrate --postgres URL")
}
