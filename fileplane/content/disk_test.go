package content_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/content/contenttest"
)

// corruptibleDisk lets the conformance suite damage a chunk file.
type corruptibleDisk struct{ *content.DiskChunks }

func (d corruptibleDisk) Corrupt(t *testing.T, h content.Hash) { corrupt(t, d.DiskChunks, h) }

func TestDiskChunksConformance(t *testing.T) {
	t.Parallel()
	contenttest.RunChunkStore(t, func(t *testing.T) content.ChunkStore {
		d, err := content.NewDiskChunks(t.TempDir())
		require.NoError(t, err)
		return corruptibleDisk{d}
	})
}

func TestDiskChunksLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := content.NewDiskChunks(dir)
	require.NoError(t, err)
	data := []byte("hello, chunks")
	h := content.Sum(data)
	require.NoError(t, d.Put(context.Background(), h, data))
	hex := h.String()
	path := filepath.Join(dir, hex[0:2], hex[2:4], hex)
	require.Equal(t, path, d.Path(h))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, data, got, "a chunk is stored as its plain bytes at DIR/ab/cd/<hex>")
	tmps, err := os.ReadDir(filepath.Join(dir, "tmp"))
	require.NoError(t, err)
	require.Empty(t, tmps, "no temporary file is left behind")
}

func TestDiskChunksSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := content.NewDiskChunks(dir)
	require.NoError(t, err)
	data := []byte("kept across restarts")
	h := content.Sum(data)
	require.NoError(t, d.Put(ctx, h, data))

	d2, err := content.NewDiskChunks(dir)
	require.NoError(t, err)
	got, err := d2.Get(ctx, h)
	require.NoError(t, err)
	require.Equal(t, data, got)
}

func TestDiskChunksCleansStaleTempFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := content.NewDiskChunks(dir)
	require.NoError(t, err)
	stale := filepath.Join(dir, "tmp", "chunk-stale")
	fresh := filepath.Join(dir, "tmp", "chunk-fresh")
	require.NoError(t, os.WriteFile(stale, []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(fresh, []byte("x"), 0o600))
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))

	_, err = content.NewDiskChunks(dir)
	require.NoError(t, err)
	_, err = os.Stat(stale)
	require.ErrorIs(t, err, os.ErrNotExist, "a temporary file left by a crash is removed")
	_, err = os.Stat(fresh)
	require.NoError(t, err, "a recent temporary file may be an in-flight write and is kept")
}

func TestDiskChunksReplacesATruncatedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := content.NewDiskChunks(t.TempDir())
	require.NoError(t, err)
	data := []byte("a chunk whose file gets truncated")
	h := content.Sum(data)
	require.NoError(t, d.Put(ctx, h, data))
	require.NoError(t, os.WriteFile(d.Path(h), data[:5], 0o600))
	require.NoError(t, d.Put(ctx, h, data), "a Put of a chunk whose file has the wrong size rewrites it")
	got, err := d.Get(ctx, h)
	require.NoError(t, err)
	require.Equal(t, data, got)
}

func TestDiskChunksWalkSkipsForeignFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := content.NewDiskChunks(dir)
	require.NoError(t, err)
	data := []byte("real")
	h := content.Sum(data)
	require.NoError(t, d.Put(ctx, h, data))
	hex := h.String()
	require.NoError(t, os.WriteFile(filepath.Join(dir, hex[0:2], hex[2:4], "notes.txt"), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tmp", "chunk-123"), []byte("x"), 0o600))
	var got []content.Hash
	require.NoError(t, d.Walk(ctx, func(h content.Hash, _ time.Time) error { got = append(got, h); return nil }))
	require.Equal(t, []content.Hash{h}, got)
}
