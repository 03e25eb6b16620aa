package content_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

const mib = content.ChunkSize

func TestWriteSizes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		size   int
		chunks []int64
	}{
		{"empty", 0, nil},
		{"one byte", 1, []int64{1}},
		{"chunk minus one", mib - 1, []int64{mib - 1}},
		{"exactly one chunk", mib, []int64{mib}},
		{"chunk plus one", mib + 1, []int64{mib, 1}},
		{"several MiB", 5*mib + 12345, []int64{mib, mib, mib, mib, mib, 12345}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t)
			data := randomBytes(t, tc.size)
			obj := e.write(t, data)
			// A bytes.Reader tells its length and gets a buffer of that
			// size; a plain stream gets ChunkSize: the chunks are alike.
			streamed, err := e.store.Write(ctx, struct{ io.Reader }{bytes.NewReader(data)}, -1)
			require.NoError(t, err)
			require.Equal(t, obj, streamed, "a reader that does not tell its length is chunked alike")
			require.Equal(t, content.Sum(data), obj.Hash, "the object's hash is the BLAKE3 of the whole content")
			require.Equal(t, int64(tc.size), obj.Size)
			require.Equal(t, tc.chunks, obj.ChunkSizes)
			require.Len(t, obj.Chunks, len(tc.chunks))
			for i, h := range obj.Chunks {
				start := int64(i) * mib
				require.Equal(t, content.Sum(data[start:start+obj.ChunkSizes[i]]), h, "chunk %d", i)
			}
			require.Len(t, e.chunkFiles(t), len(tc.chunks))

			require.NoError(t, e.store.Save(ctx, e.db, obj))
			loaded, err := e.store.Object(ctx, e.db, obj.Hash)
			require.NoError(t, err)
			require.Equal(t, obj, loaded)

			got, err := e.read(t, loaded, 0, -1)
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, got), "read back %d bytes, want %d identical", len(got), len(data))
		})
	}
}

func TestIdenticalContentIsStoredOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	a, b := randomBytes(t, mib), randomBytes(t, mib)
	// Chunk 0 and chunk 2 are the same bytes.
	data := bytes.Join([][]byte{a, b, a, []byte("tail")}, nil)

	first := e.write(t, data)
	require.Equal(t, first.Chunks[0], first.Chunks[2])
	require.Len(t, e.chunkFiles(t), 3, "a chunk that repeats within a content is one file")

	second := e.write(t, data)
	require.Equal(t, first, second, "identical content gives the identical object")
	require.Len(t, e.chunkFiles(t), 3, "identical content adds no file")

	require.NoError(t, e.store.Save(ctx, e.db, first))
	require.NoError(t, e.store.Save(ctx, e.db, second), "saving an existing object is a no-op")
	var n int
	require.NoError(t, e.db.QueryRow(`SELECT count(*) FROM content_objects`).Scan(&n))
	require.Equal(t, 1, n)
	got, err := e.read(t, first, 0, -1)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got))
}

func TestRangeReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := randomBytes(t, 3*mib+mib/2)
	size := int64(len(data))
	obj := e.write(t, data)
	for _, tc := range []struct {
		off, n int64
		chunks []int // the chunks the read must fetch
	}{
		{0, -1, []int{0, 1, 2, 3}},
		{0, 0, nil},
		{0, 10, []int{0}},
		{mib - 1, 1, []int{0}},
		{mib - 1, 2, []int{0, 1}},
		{mib, mib, []int{1}},
		{mib, 1, []int{1}},
		{mib - 10, mib + 20, []int{0, 1, 2}},
		{2 * mib, -1, []int{2, 3}},
		{3 * mib, -1, []int{3}},
		{size - 5, 100, []int{3}},     // n past the end is clipped
		{size - 5, 1 << 40, []int{3}}, // far past
		{size, -1, nil},               // the end: empty, not an error
		{size, 10, nil},
	} {
		t.Run(fmt.Sprintf("off=%d,n=%d", tc.off, tc.n), func(t *testing.T) {
			e.counts.reset()
			got, err := e.read(t, obj, tc.off, tc.n)
			require.NoError(t, err)
			end := size
			if tc.n >= 0 && tc.off+tc.n < size {
				end = tc.off + tc.n
			}
			require.True(t, bytes.Equal(data[tc.off:end], got), "got %d bytes, want %d matching", len(got), end-tc.off)
			want := map[content.Hash]int{}
			for _, i := range tc.chunks {
				want[obj.Chunks[i]] = 1
			}
			require.Equal(t, want, e.counts.reset(), "a range read fetches each chunk it touches once, and no other")
		})
	}

	t.Run("OutOfRange", func(t *testing.T) {
		for _, off := range []int64{-1, size + 1, size + mib} {
			_, err := e.read(t, obj, off, 10)
			require.ErrorIs(t, err, errs.InvalidArgument, "offset %d", off)
		}
	})
}

func TestSmallReadsAcrossChunks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := randomBytes(t, 2*mib+333)
	obj := e.write(t, data)
	r := e.store.NewReader(context.Background(), obj, 100, -1)
	defer r.Close()
	var got []byte
	buf := make([]byte, 4093) // not a divisor of the chunk size
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.True(t, bytes.Equal(data[100:], got))
	gets := e.counts.reset()
	for _, h := range obj.Chunks {
		require.Equal(t, 1, gets[h], "each chunk is fetched once however small the reads")
	}
}

func TestCorruptChunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := randomBytes(t, 3*mib)
	obj := e.write(t, data)
	corrupt(t, e.disk, obj.Chunks[1])

	got, err := e.read(t, obj, 10, 1000)
	require.NoError(t, err, "a range that does not touch the damaged chunk reads")
	require.Equal(t, data[10:1010], got)
	got, err = e.read(t, obj, 2*mib, -1)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data[2*mib:], got))

	for _, rng := range [][2]int64{{mib, 10}, {mib - 5, 10}, {2*mib - 1, 2}, {0, -1}} {
		got, err := e.read(t, obj, rng[0], rng[1])
		require.ErrorIs(t, err, errs.DataLoss, "range %v touches the damaged chunk", rng)
		// Whatever came before the error is the true prefix, never damaged bytes.
		require.True(t, bytes.Equal(data[rng[0]:rng[0]+int64(len(got))], got))
		require.LessOrEqual(t, rng[0]+int64(len(got)), max(rng[0], int64(mib)), "no byte of the damaged chunk is returned")
	}

	_, err = e.store.Concat(context.Background(), []content.Object{obj})
	require.ErrorIs(t, err, errs.DataLoss, "Concat verifies the chunks it streams")
}

func TestMissingChunkIsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := randomBytes(t, 2*mib)
	obj := e.write(t, data)
	require.NoError(t, e.disk.Delete(context.Background(), obj.Chunks[1]))
	_, err := e.read(t, obj, 0, -1)
	require.ErrorIs(t, err, errs.NotFound)
}

func TestMaxSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	for _, tc := range []struct {
		name      string
		size, max int64
		ok        bool
	}{
		{"at the limit", 1000, 1000, true},
		{"one over", 1001, 1000, false},
		{"empty under a zero limit", 0, 0, true},
		{"one byte over a zero limit", 1, 0, false},
		{"over by a chunk", 2*mib + 1, 2 * mib, false},
		{"at a multi-chunk limit", 2 * mib, 2 * mib, true},
		{"no limit", mib + 1, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(t, int(tc.size))
			obj, err := e.store.Write(ctx, bytes.NewReader(data), tc.max)
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, tc.size, obj.Size)
				return
			}
			require.ErrorIs(t, err, errs.ResourceExhausted)
			require.Contains(t, err.Error(), fmt.Sprint(tc.max), "the error names the limit")
		})
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestWriteReportsReadErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.store.Write(context.Background(), &failingReader{n: mib + 10}, -1)
	require.ErrorContains(t, err, "connection reset")
}

func TestConcat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	parts := [][]byte{
		randomBytes(t, 100),
		randomBytes(t, mib+7),
		{},
		randomBytes(t, 3*mib/2),
		randomBytes(t, mib),
	}
	var objs []content.Object
	var wantChunks []content.Hash
	for _, p := range parts {
		o := e.write(t, p)
		objs = append(objs, o)
		wantChunks = append(wantChunks, o.Chunks...)
	}
	files := len(e.chunkFiles(t))

	got, err := e.store.Concat(ctx, objs)
	require.NoError(t, err)
	whole := bytes.Join(parts, nil)
	require.Equal(t, content.Sum(whole), got.Hash)
	require.Equal(t, int64(len(whole)), got.Size)
	require.Equal(t, wantChunks, got.Chunks, "Concat reuses the parts' chunks")
	require.Len(t, e.chunkFiles(t), files, "Concat copies no chunk")

	written := e.write(t, whole)
	require.Equal(t, written.Hash, got.Hash, "Concat equals Write of the concatenated bytes")
	require.Equal(t, written.Size, got.Size)

	// Uneven chunks read back whole and by range, before and after Save.
	require.NoError(t, e.store.Save(ctx, e.db, got))
	loaded, err := e.store.Object(ctx, e.db, got.Hash)
	require.NoError(t, err)
	require.Equal(t, got, loaded)
	all, err := e.read(t, loaded, 0, -1)
	require.NoError(t, err)
	require.True(t, bytes.Equal(whole, all))
	for _, rng := range [][2]int64{{99, 2}, {100, mib + 7}, {100 + mib + 6, 3}, {int64(len(whole)) - mib - 1, 2}} {
		b, err := e.read(t, loaded, rng[0], rng[1])
		require.NoError(t, err)
		require.True(t, bytes.Equal(whole[rng[0]:rng[0]+rng[1]], b), "range %v", rng)
	}

	// The Written object was saved second: a no-op, the first chunk list stays.
	require.NoError(t, e.store.Save(ctx, e.db, written))
	loaded, err = e.store.Object(ctx, e.db, got.Hash)
	require.NoError(t, err)
	require.Equal(t, got.Chunks, loaded.Chunks)

	empty, err := e.store.Concat(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, content.Sum(nil), empty.Hash)
	require.Zero(t, empty.Size)
	require.Empty(t, empty.Chunks)
}

func TestSaveAndObject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)

	_, err := e.store.Object(ctx, e.db, content.Sum([]byte("unknown")))
	require.ErrorIs(t, err, errs.NotFound)

	obj := e.write(t, randomBytes(t, mib+1))
	// A Save in a transaction that rolls back records nothing.
	err = storage.InTx(ctx, e.db, func(tx *sql.Tx) error {
		require.NoError(t, e.store.Save(ctx, tx, obj))
		_, err := e.store.Object(ctx, tx, obj.Hash)
		require.NoError(t, err, "the object is visible inside its transaction")
		return errors.New("the reference failed")
	})
	require.Error(t, err)
	_, err = e.store.Object(ctx, e.db, obj.Hash)
	require.ErrorIs(t, err, errs.NotFound)

	require.NoError(t, storage.InTx(ctx, e.db, func(tx *sql.Tx) error { return e.store.Save(ctx, tx, obj) }))
	got, err := e.store.Object(ctx, e.db, obj.Hash)
	require.NoError(t, err)
	require.Equal(t, obj, got)

	for name, bad := range map[string]content.Object{
		"sizes missing":      {Hash: obj.Hash, Size: obj.Size, Chunks: obj.Chunks},
		"sizes do not add":   {Hash: obj.Hash, Size: obj.Size + 1, Chunks: obj.Chunks, ChunkSizes: obj.ChunkSizes},
		"chunk too large":    {Hash: obj.Hash, Size: mib + 1, Chunks: obj.Chunks[:1], ChunkSizes: []int64{mib + 1}},
		"chunk of zero size": {Hash: obj.Hash, Size: 0, Chunks: obj.Chunks[:1], ChunkSizes: []int64{0}},
	} {
		require.ErrorIs(t, e.store.Save(ctx, e.db, bad), errs.InvalidArgument, name)
	}
}

func TestStoreSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := t.TempDir()
	open := func() (*sql.DB, *content.Store) {
		db, err := sqlite.Open(ctx, filepath.Join(root, "nexus.db"))
		require.NoError(t, err)
		require.NoError(t, sqlite.Migrate(ctx, db, "content", content.SQLiteMigrations()))
		disk, err := content.NewDiskChunks(filepath.Join(root, "chunks"))
		require.NoError(t, err)
		return db, content.NewStore(db, disk)
	}
	db, s := open()
	data := randomBytes(t, mib+100)
	obj, err := s.Write(ctx, bytes.NewReader(data), -1)
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, db, obj))
	require.NoError(t, db.Close())

	db, s = open()
	defer db.Close()
	got, err := s.Object(ctx, db, obj.Hash)
	require.NoError(t, err)
	r := s.NewReader(ctx, got, 0, -1)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, b))
}

func TestReaderHonoursContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	obj := e.write(t, randomBytes(t, 2*mib))
	ctx, cancel := context.WithCancel(context.Background())
	r := e.store.NewReader(ctx, obj, 0, -1)
	defer r.Close()
	buf := make([]byte, 10)
	_, err := r.Read(buf)
	require.NoError(t, err)
	cancel()
	_, err = io.ReadAll(r)
	require.ErrorIs(t, err, context.Canceled)
}

func TestReadAfterClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	obj := e.write(t, []byte(strings.Repeat("x", 100)))
	r := e.store.NewReader(context.Background(), obj, 0, -1)
	require.NoError(t, r.Close())
	_, err := r.Read(make([]byte, 10))
	require.Error(t, err)
	require.NotErrorIs(t, err, io.EOF)
}
