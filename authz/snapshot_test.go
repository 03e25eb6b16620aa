package authz_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
)

// lockedBuffer is a log destination the engine's goroutines share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// snapshotEngine opens an engine on db whose log keeps a snapshot in dir,
// and returns what it logged at start.
func snapshotEngine(t *testing.T, db *sql.DB, dir string) (*authz.Engine, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	e, err := authz.New(context.Background(), authz.Config{Schema: nexus.Schema,
		Log:    &authz.SQLLog{DB: db, Snapshot: filepath.Join(dir, "relationships.snapshot")},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e, logs
}

const (
	fromSnapshot = "relationships loaded from the datastore's snapshot"
	fromLog      = "relationships loaded from the log"
)

func marks(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM authz_snapshot`).Scan(&n))
	return n
}

// decide asks what the writes in TestACleanCloseLeavesASnapshot decided.
func decide(t *testing.T, e *authz.Engine) (bobAccess, aliceManage, carolAccess bool) {
	t.Helper()
	ask := func(perm string, who authz.SubjectRef) bool {
		d, err := e.Check(context.Background(), authz.CheckItem{Resource: zoneA, Permission: perm, Subject: who}, authz.FullyConsistent())
		require.NoError(t, err)
		return d.Allowed
	}
	return ask("access", bob), ask("manage", alice), ask("access", authz.Subject("user", "carol"))
}

// A clean close writes a snapshot that the next start loads instead of the
// log, with the same decisions, grants and denials; any write after it
// makes the log the one to read again (a crash then loses nothing).
func TestACleanCloseLeavesASnapshotTheNextStartLoads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openLog(t, dir)
	defer db.Close()
	e, logs := snapshotEngine(t, db, dir)
	require.Contains(t, logs.String(), fromLog, "no snapshot yet")
	_, err := e.Write(ctx, []authz.Update{
		authz.TouchRel(authz.Rel(zoneA, "admin", alice)),
		authz.TouchRel(authz.Rel(groupE, "member", bob)),
		authz.TouchRel(authz.Rel(zoneA, "member", authz.SubjectSet("group", "eng", "member"))),
	})
	require.NoError(t, err)
	_, err = e.Write(ctx, []authz.Update{authz.DeleteRel(authz.Rel(zoneA, "admin", alice))})
	require.NoError(t, err)
	e.Close()
	require.Equal(t, 1, marks(t, db), "the close marked its snapshot current")

	e, logs = snapshotEngine(t, db, dir)
	require.Contains(t, logs.String(), fromSnapshot)
	require.Contains(t, logs.String(), "count=2")
	bobAccess, aliceManage, carolAccess := decide(t, e)
	require.True(t, bobAccess, "bob is a member through group eng")
	require.False(t, aliceManage, "alice's admin grant was deleted before the snapshot")
	require.False(t, carolAccess)

	// A write deletes the mark in its own transaction: a start from now
	// on (as after a crash: this engine is still open) reads the log.
	_, err = e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(zoneA, "member", authz.Subject("user", "carol")))})
	require.NoError(t, err)
	require.Zero(t, marks(t, db))
	after, logs := snapshotEngine(t, db, dir)
	require.Contains(t, logs.String(), fromLog)
	_, _, carolAccess = decide(t, after)
	require.True(t, carolAccess, "the write after the snapshot is read from the log")
	after.Close()
	e.Close()
}

// A snapshot the log does not record as current, or that is not whole,
// is not loaded: the start reads the log, and says why.
func TestASnapshotThatDoesNotMatchTheLogIsNotLoaded(t *testing.T) {
	ctx := context.Background()
	for name, spoil := range map[string]func(t *testing.T, db *sql.DB, path string){
		"missing": func(t *testing.T, _ *sql.DB, path string) { require.NoError(t, os.Remove(path)) },
		"cut short": func(t *testing.T, _ *sql.DB, path string) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, b[:len(b)-10], 0o600))
		},
		"a byte wrong": func(t *testing.T, _ *sql.DB, path string) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b[len(b)/2] ^= 0x20
			require.NoError(t, os.WriteFile(path, b, 0o600))
		},
		"written under another schema": func(t *testing.T, db *sql.DB, _ string) {
			// As another version's definitions, or another service's.
			_, err := db.Exec(`INSERT INTO authz_schema (id, schema_text, updated_at) VALUES (1, 'definition other {}', '2026-12-05T00:00:00Z')`)
			require.NoError(t, err)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			db := openLog(t, dir)
			defer db.Close()
			e, _ := snapshotEngine(t, db, dir)
			_, err := e.Write(ctx, []authz.Update{
				authz.TouchRel(authz.Rel(groupE, "member", bob)),
				authz.TouchRel(authz.Rel(zoneA, "member", authz.SubjectSet("group", "eng", "member"))),
			})
			require.NoError(t, err)
			e.Close()
			require.Equal(t, 1, marks(t, db))
			spoil(t, db, filepath.Join(dir, "relationships.snapshot"))

			e, logs := snapshotEngine(t, db, dir)
			require.Contains(t, logs.String(), fromLog)
			require.NotContains(t, logs.String(), fromSnapshot)
			if name != "written under another schema" {
				require.Contains(t, logs.String(), "not loading the datastore's snapshot")
			}
			bobAccess, aliceManage, _ := decide(t, e)
			require.True(t, bobAccess)
			require.False(t, aliceManage)
		})
	}
}
