package content_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/content/contenttest"
	"github.com/nexus-authz/nexus/storage/postgres"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// corruptibleDB lets the conformance suite damage a chunk row.
type corruptibleDB struct {
	*content.DBChunks
	db *sql.DB
}

func (d corruptibleDB) Corrupt(t *testing.T, h content.Hash) {
	_, err := d.db.Exec(`UPDATE content_chunks SET data = set_byte(data, 0, get_byte(data, 0) # 1) WHERE hash = ?`, h)
	require.NoError(t, err)
}

// Directly and through PgBouncer in transaction pooling mode.
func TestDBChunksConformancePostgres(t *testing.T) {
	t.Parallel()
	for _, target := range pgtest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			contenttest.RunChunkStore(t, func(t *testing.T) content.ChunkStore {
				db := target.Open(t, postgres.Domain{Name: "content", Migrations: content.PostgresMigrations()})
				return corruptibleDB{content.NewDBChunks(db), db}
			})
		})
	}
}

// A Store on PostgreSQL alone: objects and chunks in the database, read
// back through a second pool (another node).
func TestStoreOnPostgres(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db := pgtest.OpenURL(t, url, postgres.Domain{Name: "content", Migrations: content.PostgresMigrations()})
	s := content.NewStore(db, content.NewDBChunks(db))
	data := bytes.Repeat([]byte("0123456789abcdef"), (3*content.ChunkSize)/16+7)
	obj, err := s.Write(ctx, bytes.NewReader(data), -1)
	require.NoError(t, err)
	require.Len(t, obj.Chunks, 4)
	require.NoError(t, s.Save(ctx, db, obj))
	require.NoError(t, s.Save(ctx, db, obj), "saving twice is a no-op")

	other := pgtest.OpenURL(t, url)
	s2 := content.NewStore(other, content.NewDBChunks(other))
	got, err := s2.Object(ctx, other, obj.Hash)
	require.NoError(t, err)
	require.Equal(t, obj, got)
	r := s2.NewReader(ctx, got, 0, got.Size)
	defer r.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(r)
	require.NoError(t, err)
	require.Equal(t, data, buf.Bytes())
}

// blobType is the binary column type of db's dialect.
func blobType(db *sql.DB) string {
	if strings.Contains(fmt.Sprintf("%T", db.Driver()), "sqlite") {
		return "BLOB"
	}
	return "BYTEA"
}

// GC while writers run, on PostgreSQL with chunks in the database and the
// advisory GC lock: no referenced content is lost. (The race the lock
// closes, a reference committed between GC's reads and its deletes, is too
// narrow for this run to hit without the lock; it passes either way.)
func TestGCConcurrentWithWritersPostgres(t *testing.T) {
	pgtest.Require(t)
	db := pgtest.Open(t, postgres.Domain{Name: "content", Migrations: content.PostgresMigrations()})
	runGCConcurrentWithWriters(t, &env{db: db, store: content.NewStore(db, content.NewDBChunks(db)).WithGCLock(content.PostgresGCLock)})
}
