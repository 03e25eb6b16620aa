package content

import (
	"context"
	"io"
	"sort"

	"github.com/nexus-authz/nexus/errs"
)

// NewReader streams bytes [off, off+n) of obj (n < 0: to the end), reading
// and verifying only the chunks it touches, one at a time. A damaged chunk
// surfaces as an errs.DataLoss error from Read, never as wrong bytes; a
// missing one as errs.NotFound. off < 0 or off > obj.Size is
// errs.InvalidArgument, from the first Read; n past the end is clipped.
func (s *Store) NewReader(ctx context.Context, obj Object, off, n int64) io.ReadCloser {
	r := &reader{ctx: ctx, chunks: s.chunks, obj: obj, idx: -1}
	if off < 0 || off > obj.Size {
		r.err = errs.Invalid("offset", "%d is outside the content's %d bytes", off, obj.Size)
		return r
	}
	if err := obj.check(); err != nil {
		r.err = err
		return r
	}
	r.pos, r.end = off, obj.Size
	if n >= 0 && n < obj.Size-off {
		r.end = off + n
	}
	r.starts = make([]int64, len(obj.ChunkSizes))
	var at int64
	for i, size := range obj.ChunkSizes {
		r.starts[i] = at
		at += size
	}
	return r
}

type reader struct {
	ctx    context.Context
	chunks ChunkStore
	obj    Object
	starts []int64 // offset of each chunk in the content
	pos    int64   // next byte to return
	end    int64   // one past the last byte to return
	idx    int     // index of the chunk in data, -1 if none
	data   []byte
	err    error // sticky
}

func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	// The chunk holding pos: the last one starting at or before it.
	i := sort.Search(len(r.starts), func(i int) bool { return r.starts[i] > r.pos }) - 1
	if i != r.idx {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			return 0, err
		}
		h := r.obj.Chunks[i]
		data, err := r.chunks.Get(r.ctx, h)
		if err == nil && int64(len(data)) != r.obj.ChunkSizes[i] {
			err = errs.E(errs.DataLoss, "chunk %s has %d bytes, its object says %d", h, len(data), r.obj.ChunkSizes[i])
		}
		if err != nil {
			r.err, r.data, r.idx = err, nil, -1
			return 0, err
		}
		r.idx, r.data = i, data
	}
	from := r.pos - r.starts[i]
	to := min(int64(len(r.data)), r.end-r.starts[i])
	n := copy(p, r.data[from:to])
	r.pos += int64(n)
	return n, nil
}

// Close releases the chunk held in memory.
func (r *reader) Close() error {
	r.data, r.idx = nil, -1
	if r.err == nil {
		r.err = errClosed
	}
	return nil
}

var errClosed = errs.E(errs.FailedPrecondition, "read of a closed content reader")
