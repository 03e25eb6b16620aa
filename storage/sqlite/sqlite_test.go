package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// The database and its WAL files are the owner's only, whatever the umask,
// and a file an earlier version left 0644 is narrowed on open.
func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	ctx := context.Background()
	modes := func(path string) map[string]os.FileMode {
		got := map[string]os.FileMode{}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			require.NoError(t, err)
			got[filepath.Base(p)] = st.Mode().Perm()
		}
		return got
	}
	want := func(path string) map[string]os.FileMode {
		b := filepath.Base(path)
		return map[string]os.FileMode{b: 0o600, b + "-wal": 0o600, b + "-shm": 0o600}
	}

	t.Run("a new database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nexus.db")
		db, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		defer db.Close()
		_, err = db.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`)
		require.NoError(t, err)
		require.Equal(t, want(path), modes(path))
	})
	t.Run("an existing database left 0644", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nexus.db")
		db, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`)
		require.NoError(t, err)
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			require.NoError(t, os.Chmod(p, 0o644))
		}
		require.NoError(t, db.Close())
		db, err = sqlite.Open(ctx, path)
		require.NoError(t, err)
		defer db.Close()
		_, err = db.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
		require.NoError(t, err)
		require.Equal(t, want(path), modes(path))
	})
}

// A taken unique or primary key is told by SQLite's extended result code,
// not by the message: it is errs.AlreadyExists; other constraints are not.
func TestUniqueViolationsByCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nexus.db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`)
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
	require.NotErrorIs(t, storage.Translate(notNull), errs.NotFound)
}
