package content_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/storage"
)

var errInjected = errors.New("injected fault")

// faultyChunks is the disk store with single methods failing on demand.
type faultyChunks struct {
	*content.DiskChunks
	put   func(n int) error // called with the number of the Put (1, 2, ...)
	puts  int
	sweep error
	walk  func(ctx context.Context, fn func(content.Hash, time.Time) error) error
}

func (f *faultyChunks) Put(ctx context.Context, h content.Hash, data []byte) error {
	f.puts++
	if f.put != nil {
		if err := f.put(f.puts); err != nil {
			return err
		}
	}
	return f.DiskChunks.Put(ctx, h, data)
}

func (f *faultyChunks) Sweep(ctx context.Context, h content.Hash, cutoff time.Time) (bool, int64, error) {
	if f.sweep != nil {
		return false, 0, f.sweep
	}
	return f.DiskChunks.Sweep(ctx, h, cutoff)
}

func (f *faultyChunks) Walk(ctx context.Context, fn func(content.Hash, time.Time) error) error {
	if f.walk != nil {
		return f.walk(ctx, fn)
	}
	return f.DiskChunks.Walk(ctx, fn)
}

func newFaultyEnv(t *testing.T) (*env, *faultyChunks) {
	e := newEnv(t)
	f := &faultyChunks{DiskChunks: e.disk}
	e.store = content.NewStore(e.db, f)
	return e, f
}

func TestWriteStopsAtAFailedPut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, f := newFaultyEnv(t)
	f.put = func(n int) error {
		if n == 2 {
			return errInjected
		}
		return nil
	}
	_, err := e.store.Write(ctx, bytes.NewReader(randomBytes(t, 3*content.ChunkSize)), -1)
	require.ErrorIs(t, err, errInjected)
	require.Equal(t, 2, f.puts, "no chunk is put after the failed one")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = e.store.Write(cctx, bytes.NewReader([]byte("x")), -1)
	require.ErrorIs(t, err, context.Canceled)
}

func TestConcatRefusesBadParts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, f := newFaultyEnv(t)
	a := e.write(t, []byte("abc"))
	b := e.write(t, []byte("defgh"))

	// A part whose fields disagree.
	bad := a
	bad.Size = 4
	_, err := e.store.Concat(ctx, []content.Object{b, bad})
	require.ErrorIs(t, err, errs.InvalidArgument)
	require.Contains(t, err.Error(), "part 1")

	// A part whose sizes add up but do not match its chunks.
	swapped := content.Object{Size: 8, Chunks: []content.Hash{a.Chunks[0], b.Chunks[0]}, ChunkSizes: []int64{5, 3}}
	_, err = e.store.Concat(ctx, []content.Object{swapped})
	require.ErrorIs(t, err, errs.DataLoss)

	// A chunk that cannot be refreshed.
	f.put = func(int) error { return errInjected }
	_, err = e.store.Concat(ctx, []content.Object{a, b})
	require.ErrorIs(t, err, errInjected)
	require.Contains(t, err.Error(), "part 0")
}

func TestReaderRefusesAnInconsistentObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.write(t, []byte("abc"))
	b := e.write(t, []byte("defgh"))

	bad := a
	bad.ChunkSizes = []int64{3, 1}
	_, err := e.read(t, bad, 0, -1)
	require.ErrorIs(t, err, errs.InvalidArgument)

	// Sizes that add up, on the wrong chunks: DataLoss, never wrong bytes.
	swapped := content.Object{Size: 8, Chunks: []content.Hash{a.Chunks[0], b.Chunks[0]}, ChunkSizes: []int64{5, 3}}
	got, err := e.read(t, swapped, 0, -1)
	require.ErrorIs(t, err, errs.DataLoss)
	require.Empty(t, got)

	r := e.store.NewReader(context.Background(), b, 0, -1)
	defer r.Close()
	n, err := r.Read(nil)
	require.NoError(t, err)
	require.Zero(t, n)
	all, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "defgh", string(all))
}

// TestObjectReportsDamagedLists: a recorded object whose chunk rows were
// lost or altered is DataLoss, not a shorter content.
func TestObjectReportsDamagedLists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	obj := e.write(t, randomBytes(t, 2*content.ChunkSize+10))
	require.NoError(t, e.store.Save(ctx, e.db, obj))

	_, err := e.db.Exec(`UPDATE content_object_chunks SET size = size - 1 WHERE object_hash = ? AND seq = 2`, obj.Hash)
	require.NoError(t, err)
	_, err = e.store.Object(ctx, e.db, obj.Hash)
	require.ErrorIs(t, err, errs.DataLoss)

	_, err = e.db.Exec(`DELETE FROM content_object_chunks WHERE object_hash = ? AND seq = 1`, obj.Hash)
	require.NoError(t, err)
	_, err = e.store.Object(ctx, e.db, obj.Hash)
	require.ErrorIs(t, err, errs.DataLoss)
	require.Contains(t, err.Error(), "chunk 1 missing")

	_, err = e.db.Exec(`DELETE FROM content_object_chunks WHERE object_hash = ? AND seq = 2`, obj.Hash)
	require.NoError(t, err)
	_, err = e.store.Object(ctx, e.db, obj.Hash)
	require.ErrorIs(t, err, errs.DataLoss, "a list cut short")

	// A row that is not a hash.
	_, err = e.db.Exec(`UPDATE content_object_chunks SET chunk_hash = 'short' WHERE object_hash = ?`, obj.Hash)
	require.NoError(t, err)
	_, err = e.store.Object(ctx, e.db, obj.Hash)
	require.Error(t, err)
	require.Contains(t, err.Error(), "cannot scan string of length 5")

	// The database is gone.
	require.NoError(t, e.db.Close())
	_, err = e.store.Object(ctx, e.db, obj.Hash)
	require.Error(t, err)
	require.NotErrorIs(t, err, errs.NotFound)
	require.ErrorContains(t, e.store.Save(ctx, e.db, e.write(t, []byte("new"))), "saving content object")
}

// TestSaveFailsAsAWhole: a Save whose chunk list cannot be written leaves
// no object behind in the transaction's database.
func TestSaveFailsAsAWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	obj := e.write(t, []byte("some content"))
	_, err := e.db.Exec(`CREATE TRIGGER fail_chunks BEFORE INSERT ON content_object_chunks BEGIN SELECT RAISE(ABORT, 'injected'); END`)
	require.NoError(t, err)
	err = storage.InTx(ctx, e.db, func(tx *sql.Tx) error { return e.store.Save(ctx, tx, obj) })
	require.ErrorContains(t, err, "injected")
	_, err = e.store.Object(ctx, e.db, obj.Hash)
	require.ErrorIs(t, err, errs.NotFound)
}

func TestGCFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	setup := func(t *testing.T) (*env, *faultyChunks, content.Object) {
		e, f := newFaultyEnv(t)
		obj := e.write(t, randomBytes(t, 100))
		require.NoError(t, e.store.Save(ctx, e.db, obj))
		age(t, e.disk, time.Hour, obj.Chunks...)
		return e, f, obj
	}
	t.Run("deleting an object fails: nothing is deleted", func(t *testing.T) {
		for _, table := range []string{"content_objects", "content_object_chunks"} {
			e, _, obj := setup(t)
			_, err := e.db.Exec(`CREATE TRIGGER fail_delete BEFORE DELETE ON ` + table + ` BEGIN SELECT RAISE(ABORT, 'injected'); END`)
			require.NoError(t, err)
			stats, err := e.store.GC(ctx, grace)
			require.ErrorContains(t, err, "injected")
			require.Zero(t, stats.Objects)
			got, err := e.store.Object(ctx, e.db, obj.Hash)
			require.NoError(t, err, table)
			require.Equal(t, obj, got)
			require.True(t, e.hasChunk(t, obj.Chunks[0]))
		}
	})
	t.Run("an object row that is not a hash", func(t *testing.T) {
		e, _, obj := setup(t)
		_, err := e.db.Exec(`INSERT INTO content_objects (hash, size, chunk_count, created_at) VALUES ('bad', 0, 0, '2020-01-01T00:00:00.000000000Z')`)
		require.NoError(t, err)
		_, err = e.store.GC(ctx, grace)
		require.ErrorContains(t, err, "content GC")
		_, err = e.store.Object(ctx, e.db, obj.Hash)
		require.NoError(t, err, "nothing deleted")
	})
	t.Run("a sweep fails", func(t *testing.T) {
		e, f, obj := setup(t)
		f.sweep = errInjected
		stats, err := e.store.GC(ctx, grace)
		require.ErrorIs(t, err, errInjected)
		require.Equal(t, 1, stats.Objects, "the unreferenced object went first")
		require.Zero(t, stats.Chunks)
		require.True(t, e.hasChunk(t, obj.Chunks[0]))
	})
	t.Run("cancelled during the walk", func(t *testing.T) {
		e, f, obj := setup(t)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		f.walk = func(ctx context.Context, fn func(content.Hash, time.Time) error) error {
			cancel()
			return e.disk.Walk(context.Background(), fn)
		}
		stats, err := e.store.GC(cctx, grace)
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, stats.Chunks)
		require.True(t, e.hasChunk(t, obj.Chunks[0]))
	})
}

func TestHashScanAndParse(t *testing.T) {
	t.Parallel()
	var h content.Hash
	require.ErrorContains(t, h.Scan("not bytes"), "cannot scan string of length 9")
	require.ErrorContains(t, h.Scan([]byte{1, 2}), "cannot scan []uint8 of length 2")
	require.ErrorContains(t, h.Scan(42), "cannot scan int of length -1")
	good := content.Sum([]byte("x"))
	require.NoError(t, h.Scan(good[:]))
	require.Equal(t, good, h)
}

// TestDiskChunksFaults: what the disk refuses comes back as an error and
// leaves no temporary file, and a chunk that cannot be read is neither
// NotFound nor damaged. (Tests run as root here, so faults come from
// entries of the wrong kind, not from permissions.)
func TestDiskChunksFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := []byte("chunk data")
	h := content.Sum(data)
	hex := h.String()
	open := func(t *testing.T) (*content.DiskChunks, string) {
		dir := t.TempDir()
		d, err := content.NewDiskChunks(dir)
		require.NoError(t, err)
		return d, dir
	}
	tmpFiles := func(t *testing.T, dir string) []os.DirEntry {
		es, err := os.ReadDir(filepath.Join(dir, "tmp"))
		require.NoError(t, err)
		return es
	}

	t.Run("a directory that is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, err := content.NewDiskChunks(file)
		require.ErrorContains(t, err, "chunk directory")
	})
	t.Run("a shard that is a file", func(t *testing.T) {
		d, dir := open(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, hex[0:2]), nil, 0o600))
		err := d.Put(ctx, h, data)
		require.Error(t, err)
		_, err = d.Get(ctx, h)
		require.Error(t, err)
		require.NotErrorIs(t, err, errs.NotFound)
		_, _, err = d.Sweep(ctx, h, time.Now().Add(time.Hour))
		require.Error(t, err)
		require.Empty(t, tmpFiles(t, dir))
	})
	t.Run("a shard whose second level is a file", func(t *testing.T) {
		d, dir := open(t)
		require.NoError(t, os.Mkdir(filepath.Join(dir, hex[0:2]), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, hex[0:2], hex[2:4]), nil, 0o600))
		require.ErrorContains(t, d.Put(ctx, h, data), "chunk")
	})
	t.Run("a chunk path that is a directory", func(t *testing.T) {
		d, dir := open(t)
		path := d.Path(h)
		require.NoError(t, os.MkdirAll(filepath.Join(path, "inside"), 0o700))
		err := d.Put(ctx, h, data)
		require.ErrorContains(t, err, "writing chunk")
		require.Empty(t, tmpFiles(t, dir), "the temporary file is removed")
		_, err = d.Get(ctx, h)
		require.ErrorContains(t, err, "reading chunk")
		require.NotErrorIs(t, err, errs.NotFound)
		require.NotErrorIs(t, err, errs.DataLoss)
		require.ErrorContains(t, d.Delete(ctx, h), "deleting chunk")
		old := time.Now().Add(-time.Hour)
		require.NoError(t, os.Chtimes(path, old, old))
		deleted, _, err := d.Sweep(ctx, h, time.Now())
		require.ErrorContains(t, err, "deleting chunk")
		require.False(t, deleted)
		var walked []content.Hash
		require.NoError(t, d.Walk(ctx, func(h content.Hash, _ time.Time) error { walked = append(walked, h); return nil }))
		require.Empty(t, walked, "a directory is not a chunk")
	})
	t.Run("no room for temporary files", func(t *testing.T) {
		d, dir := open(t)
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "tmp")))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "tmp"), nil, 0o600))
		require.ErrorContains(t, d.Put(ctx, h, data), "writing chunk")
		_, err := d.Get(ctx, h)
		require.ErrorIs(t, err, errs.NotFound, "nothing was stored")
	})
	t.Run("a wrong hash", func(t *testing.T) {
		d, dir := open(t)
		require.ErrorIs(t, d.Put(ctx, content.Sum([]byte("other")), data), errs.InvalidArgument)
		require.Empty(t, tmpFiles(t, dir))
	})
	t.Run("a cancelled context", func(t *testing.T) {
		d, _ := open(t)
		require.NoError(t, d.Put(ctx, h, data))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		require.ErrorIs(t, d.Put(cctx, h, data), context.Canceled)
		_, err := d.Get(cctx, h)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, d.Delete(cctx, h), context.Canceled)
		_, _, err = d.Sweep(cctx, h, time.Now().Add(time.Hour))
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, d.Walk(cctx, func(content.Hash, time.Time) error { return nil }), context.Canceled)
		got, err := d.Get(ctx, h)
		require.NoError(t, err, "the chunk is still there")
		require.Equal(t, data, got)
	})
	t.Run("a sweep of a missing chunk", func(t *testing.T) {
		d, _ := open(t)
		deleted, freed, err := d.Sweep(ctx, h, time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.False(t, deleted)
		require.Zero(t, freed)
	})
	t.Run("walk", func(t *testing.T) {
		d, dir := open(t)
		require.NoError(t, d.Put(ctx, h, data))
		// Directories that are not shards, and a chunk-like name that is
		// not a hash, are skipped.
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "ZZ", "00"), 0o700))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "0g"), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, hex[0:2], hex[2:4], hex[0:4]+"zz"), nil, 0o600))
		var walked []content.Hash
		require.NoError(t, d.Walk(ctx, func(h content.Hash, _ time.Time) error { walked = append(walked, h); return nil }))
		require.Equal(t, []content.Hash{h}, walked)
		// fn's error stops the walk and is returned.
		require.ErrorIs(t, d.Walk(ctx, func(content.Hash, time.Time) error { return errInjected }), errInjected)
		// The directory went away: nothing to walk. Replaced by a file:
		// an error.
		require.NoError(t, os.RemoveAll(dir))
		require.NoError(t, d.Walk(ctx, func(content.Hash, time.Time) error { return errInjected }))
		require.NoError(t, os.WriteFile(dir, nil, 0o600))
		require.ErrorContains(t, d.Walk(ctx, func(content.Hash, time.Time) error { return nil }), "walking chunks")
	})
}
