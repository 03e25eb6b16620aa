package content_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// env is a Store on a fresh SQLite file and chunk directory.
type env struct {
	db     *sql.DB
	disk   *content.DiskChunks
	dir    string
	store  *content.Store
	counts *countingChunks
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(root, "nexus.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, sqlite.Migrate(ctx, db, "content", content.SQLiteMigrations()))
	dir := filepath.Join(root, "chunks")
	disk, err := content.NewDiskChunks(dir)
	require.NoError(t, err)
	counts := &countingChunks{DiskChunks: disk, gets: map[content.Hash]int{}}
	return &env{db: db, disk: disk, dir: dir, store: content.NewStore(db, counts), counts: counts}
}

// countingChunks counts the Gets of each chunk.
type countingChunks struct {
	*content.DiskChunks
	mu   sync.Mutex
	gets map[content.Hash]int
}

func (c *countingChunks) Get(ctx context.Context, h content.Hash) ([]byte, error) {
	c.mu.Lock()
	c.gets[h]++
	c.mu.Unlock()
	return c.DiskChunks.Get(ctx, h)
}

func (c *countingChunks) reset() map[content.Hash]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.gets
	c.gets = map[content.Hash]int{}
	return old
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func (e *env) write(t *testing.T, data []byte) content.Object {
	t.Helper()
	obj, err := e.store.Write(context.Background(), bytes.NewReader(data), -1)
	require.NoError(t, err)
	return obj
}

func (e *env) read(t *testing.T, obj content.Object, off, n int64) ([]byte, error) {
	t.Helper()
	r := e.store.NewReader(context.Background(), obj, off, n)
	defer r.Close()
	return io.ReadAll(r)
}

// chunkFiles lists the chunk files on disk.
func (e *env) chunkFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	require.NoError(t, filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "tmp" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	}))
	return files
}

// corrupt flips one byte of chunk h on disk.
func corrupt(t *testing.T, d *content.DiskChunks, h content.Hash) {
	t.Helper()
	path := d.Path(h)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// age sets the modification time of chunks to d ago, as if last put then.
func age(t *testing.T, disk *content.DiskChunks, d time.Duration, hs ...content.Hash) {
	t.Helper()
	old := time.Now().Add(-d)
	for _, h := range hs {
		require.NoError(t, os.Chtimes(disk.Path(h), old, old))
	}
}
