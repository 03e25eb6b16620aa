package backup_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/server/backup"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// The world these tests dump is a first start's (zone "default", its
// admin, the admin's key, their relationships, the page-token secret) and a
// service's definitions with a relationship.
// TestExportImportAnswersAsBefore (cmd/nexus) dumps a whole world.

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// firstStart returns a data dir a server has started on once.
func firstStart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "source")
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: dir, Logger: quiet()})
	require.NoError(t, err)
	_, err = srv.Engine().WriteSchema(ctx, nexus.Schema+"\ndefinition svcuser {}\ndefinition svcdoc {\n relation viewer: svcuser\n}\n")
	require.NoError(t, err)
	_, err = srv.Engine().Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(authz.Obj("svcdoc", "d1"), "viewer", authz.Subject("svcuser", "u1")))})
	require.NoError(t, err)
	require.NoError(t, srv.Close())
	return dir
}

func export(t *testing.T, st backup.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	p, err := backup.Export(context.Background(), st, &buf, backup.Options{})
	require.NoError(t, err)
	require.Positive(t, p.Relationships)
	require.Positive(t, p.Rows)
	return buf.Bytes()
}

// lines splits a dump into its lines, each with its newline.
func lines(b []byte) []string { return strings.SplitAfter(string(b), "\n") }

// lineIndex is the index of the first line of dump that starts with prefix.
func lineIndex(t *testing.T, dump []string, prefix string) int {
	t.Helper()
	for i, l := range dump {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	t.Fatalf("no line starts with %q", prefix)
	return -1
}

// badDumps are ways a dump goes wrong, each made from a good one.
func badDumps(t *testing.T, good []byte) []struct {
	name, says string
	dump       []byte
} {
	ls := lines(good)
	join := func(parts ...[]string) []byte {
		var b strings.Builder
		for _, p := range parts {
			for _, l := range p {
				b.WriteString(l)
			}
		}
		return []byte(b.String())
	}
	rels := lineIndex(t, ls, `{"relationships"`)
	users := lineIndex(t, ls, `{"table":"identity_users"`)
	end := len(ls) - 2 // the end line; ls[len-1] is "" after its newline
	require.True(t, strings.HasPrefix(ls[end], `{"end"`))
	altered := strings.Replace(ls[users+1], `"admin"`, `"root"`, 1)
	require.NotEqual(t, ls[users+1], altered)
	return []struct {
		name, says string
		dump       []byte
	}{
		{"cut within the tables", `is cut short`, []byte(strings.Join(ls[:users+1], "") + ls[users+1][:10])},
		{"cut between two tables", `without its end line`, join(ls[:users])},
		{"cut within the relationships", `without its end line`, join(ls[:rels+2])},
		{"without its end line", `without its end line`, join(ls[:end])},
		{"a row altered", `checksum does not match`, join(ls[:users+1], []string{altered}, ls[users+2:])},
		{"a relationship left out", `checksum does not match`, join(ls[:rels+1], ls[rels+2:])},
		{"a newer format", `format version 2`, []byte(strings.Replace(string(good), `"version":1`, `"version":2`, 1))},
		{"relationships one a line", `not a nexus export --all header`, []byte("document:d1#viewer@user:alice\n")},
		{"empty", `without its end line`, nil},
		{"an unknown table", `table "widgets" is not one this nexus knows`,
			join(ls[:rels], []string{`{"table":"widgets","columns":["id"]}` + "\n", `["w1"]` + "\n"}, ls[rels:])},
		{"an unknown column", `has no column "colour"`,
			[]byte(strings.Replace(string(good), `"columns":["id","zone_id","name","created_at"]`, `"columns":["id","zone_id","name","colour"]`, 1))},
		{"a row of the wrong width", `has 3 values; its header names 4 columns`,
			join(ls[:users+1], []string{`["a","b","c"]` + "\n"}, ls[users+1:])},
		{"a row that is not JSON", `not a JSON array`, join(ls[:users+1], []string{"[oops\n"}, ls[users+1:])},
		{"a value of the wrong type", `column created_at`,
			join(ls[:users+1], []string{`["user_x","zone_y","x",12]` + "\n"}, ls[users+1:])},
		{"more after the end line", `more after the end line`, join(ls, []string{"\"zone:z#member@user:u\"\n"})},
	}
}

// TestImportRefusesBadDumpsAndLeavesNothing: every bad dump is refused
// with ErrFormat and a message that says what is wrong, and the target
// data dir is not made (nor is anything left beside it).
func TestImportRefusesBadDumpsAndLeavesNothing(t *testing.T) {
	good := export(t, backup.Store{DataDir: firstStart(t)})
	for _, tc := range badDumps(t, good) {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			target := filepath.Join(parent, "target")
			_, err := backup.Import(context.Background(), backup.Store{DataDir: target}, bytes.NewReader(tc.dump), backup.Options{})
			require.ErrorIs(t, err, backup.ErrFormat)
			require.Contains(t, err.Error(), tc.says)
			left, err := os.ReadDir(parent)
			require.NoError(t, err)
			require.Empty(t, left, "a failed import leaves nothing behind")
		})
	}
	t.Run("the good dump imports, gzipped too", func(t *testing.T) {
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		_, err := zw.Write(good)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		_, err = backup.Import(context.Background(), backup.Store{DataDir: filepath.Join(t.TempDir(), "target")}, &zipped, backup.Options{})
		require.NoError(t, err)
	})
}

// TestImportRefusesTargetsThatHoldData: an import makes a new store; one
// with data is refused, saying what it holds, and left as it was.
func TestImportRefusesTargetsThatHoldData(t *testing.T) {
	source := firstStart(t)
	good := export(t, backup.Store{DataDir: source})
	before, err := os.ReadDir(source)
	require.NoError(t, err)
	_, err = backup.Import(context.Background(), backup.Store{DataDir: source}, bytes.NewReader(good), backup.Options{})
	require.ErrorIs(t, err, backup.ErrNotEmpty)
	require.Contains(t, err.Error(), "is not empty (it holds ")
	after, err := os.ReadDir(source)
	require.NoError(t, err)
	require.Equal(t, len(before), len(after))

	empty := t.TempDir()
	_, err = backup.Import(context.Background(), backup.Store{DataDir: empty}, bytes.NewReader(good), backup.Options{})
	require.NoError(t, err, "an empty data dir is a good target")
	_, err = os.Stat(filepath.Join(empty, server.SQLiteFile))
	require.NoError(t, err)
}

// TestExportNamesAMissingStore: a data dir or database that is not there
// is said to be missing, and nothing is made in its place.
func TestExportNamesAMissingStore(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := backup.Export(context.Background(), backup.Store{DataDir: missing}, io.Discard, backup.Options{})
	require.ErrorContains(t, err, "data dir "+missing+" does not exist")
	_, err = os.Stat(missing)
	require.ErrorIs(t, err, os.ErrNotExist)

	notData := t.TempDir()
	_, err = backup.Export(context.Background(), backup.Store{DataDir: notData}, io.Discard, backup.Options{})
	require.ErrorContains(t, err, "it is not a Nexus data dir")
}

// TestPostgresImportIsAllOrNothing: on PostgreSQL a bad dump leaves the
// database empty (the whole dump imports into it afterwards), a second
// import is refused, and a missing database is named.
func TestPostgresImportIsAllOrNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL test")
	}
	pgtest.Require(t)
	ctx := context.Background()
	good := export(t, backup.Store{DataDir: firstStart(t)})
	url := pgtest.NewDatabase(t)
	for _, tc := range badDumps(t, good) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := backup.Import(ctx, backup.Store{Postgres: url}, bytes.NewReader(tc.dump), backup.Options{})
			require.ErrorIs(t, err, backup.ErrFormat)
			require.Contains(t, err.Error(), tc.says)
		})
	}
	p, err := backup.Import(ctx, backup.Store{Postgres: url}, bytes.NewReader(good), backup.Options{})
	require.NoError(t, err, "the failed imports left the database empty")
	require.Positive(t, p.Relationships)

	_, err = backup.Import(ctx, backup.Store{Postgres: url}, bytes.NewReader(good), backup.Options{})
	require.ErrorIs(t, err, backup.ErrNotEmpty)
	require.Contains(t, err.Error(), "identity_zones 1")

	again := export(t, backup.Store{Postgres: url})
	require.Equal(t, strings.Count(string(good), "\n"), strings.Count(string(again), "\n"),
		"what PostgreSQL exports is what it imported, line for line")
	require.Contains(t, string(again), `"svcdoc:d1#viewer@svcuser:u1"`)
	_, err = backup.Import(ctx, backup.Store{DataDir: filepath.Join(t.TempDir(), "back")}, bytes.NewReader(again), backup.Options{})
	require.NoError(t, err, "a dump of PostgreSQL imports into a data dir")

	missing := strings.Replace(url, "/nexus_t_", "/nexus_missing_", 1)
	_, err = backup.Export(ctx, backup.Store{Postgres: missing}, io.Discard, backup.Options{})
	require.ErrorContains(t, err, "does not exist")
	_, err = backup.Import(ctx, backup.Store{Postgres: missing}, bytes.NewReader(good), backup.Options{})
	require.ErrorContains(t, err, "does not exist")
}
