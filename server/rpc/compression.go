package rpc

import (
	"compress/gzip"
	"fmt"
	"io"

	"connectrpc.com/connect"
)

// WithBoundedGzip replaces Connect's gzip for handlers with one that stops
// inflating a message as soon as it passes limit bytes.
//
// Connect applies WithReadMaxBytes to the inflated size, but to report the
// size of a message over the limit it inflates the rest of it
// (compressionPool.Decompress drains the decompressor): a 1 MB body of
// concatenated gzip members costs a gigabyte of inflation before the
// ResourceExhausted answer, without a key on the anonymous procedures. This
// decompressor fails the read at limit+1 bytes instead, so the drain stops
// at once; pass the same limit as WithReadMaxBytes.
func WithBoundedGzip(limit int64) connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &boundedGzip{limit: limit} },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) },
	)
}

// boundedGzip is a gzip reader that refuses to inflate past limit bytes.
type boundedGzip struct {
	gzip.Reader
	limit int64
	n     int64 // inflated since the last Reset
}

func (d *boundedGzip) Reset(r io.Reader) error {
	d.n = 0
	return d.Reader.Reset(r)
}

func (d *boundedGzip) Read(p []byte) (int, error) {
	if d.n > d.limit {
		return 0, d.tooLarge()
	}
	// Never inflate more than one byte past the limit.
	if room := d.limit + 1 - d.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := d.Reader.Read(p)
	d.n += int64(n)
	if d.n > d.limit {
		return n, d.tooLarge()
	}
	return n, err
}

func (d *boundedGzip) tooLarge() error {
	return connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("the message inflates to more than the limit of %d bytes; send less, or uncompressed", d.limit))
}
