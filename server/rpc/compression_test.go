package rpc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
)

// gzipBomb is n concatenated gzip members, each inflating to size zeros.
func gzipBomb(t testing.TB, n, size int) []byte {
	t.Helper()
	var member bytes.Buffer
	w, err := gzip.NewWriterLevel(&member, gzip.BestCompression)
	require.NoError(t, err)
	_, err = w.Write(make([]byte, size))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return bytes.Repeat(member.Bytes(), n)
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// The decompressor stops at the limit: read the way Connect reads (to the
// limit, then a drain to learn the size), a bomb is refused after a small
// part of it is inflated.
func TestBoundedGzipStopsInflatingAtTheLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	bomb := gzipBomb(t, 256, 1<<20) // 256 MiB inflated
	src := &countingReader{r: bytes.NewReader(bomb)}
	d := &boundedGzip{limit: limit}
	require.NoError(t, d.Reset(src))

	got, err := io.ReadAll(io.LimitReader(d, limit+1))
	var ce *connect.Error
	require.True(t, errors.As(err, &ce), "over the limit is an error: %v", err)
	require.Equal(t, connect.CodeResourceExhausted, ce.Code())
	require.LessOrEqual(t, len(got), limit+1)
	_, err = io.Copy(io.Discard, d)
	require.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err), "the drain stops at once")
	require.Less(t, src.n, len(bomb)/10, "read %d of the bomb's %d compressed bytes", src.n, len(bomb))

	t.Run("a message within the limit inflates whole, and the decompressor is reusable", func(t *testing.T) {
		msg := gzipBomb(t, 1, limit)
		require.NoError(t, d.Reset(bytes.NewReader(msg)))
		got, err := io.ReadAll(d)
		require.NoError(t, err)
		require.Len(t, got, limit)
	})
}
