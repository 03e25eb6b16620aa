package files

import (
	"context"
	"errors"
	"io"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/versions"
)

// ReadResult is a range of a file's content.
type ReadResult struct {
	Item   Item
	Data   []byte
	Offset int64
	EOF    bool
}

// Read returns [offset, offset+length) of the file at path (length 0: to
// the end) at version (0: current). One response carries at most
// MaxUnaryBytes; larger reads are refused with a hint to read in ranges.
func (s *Service) Read(ctx context.Context, c access.Caller, path string, offset, length, version int64, cons authz.Consistency) (ReadResult, error) {
	p, _, err := paths.ParseField("path", path)
	if err != nil {
		return ReadResult{}, err
	}
	switch {
	case offset < 0:
		return ReadResult{}, errs.Invalid("offset", "must not be negative")
	case length < 0:
		return ReadResult{}, errs.Invalid("length", "must not be negative (0 reads to the end)")
	case version < 0:
		return ReadResult{}, errs.Invalid("version", "must not be negative (0 is the current version)")
	}
	r, err := s.open(ctx, c, p, nexus.PermRead, cons)
	if err != nil {
		return ReadResult{}, err
	}
	e := r.Entry()
	if e.Kind != paths.File {
		return ReadResult{}, errs.E(errs.FailedPrecondition, "%s is a folder; Read takes a file (use List)", p)
	}
	hash, size := e.ContentHash, e.Size
	if version != 0 && version != e.Version {
		v, err := s.versions.Get(ctx, s.db, string(e.ID), version)
		if errors.Is(err, errs.NotFound) {
			return ReadResult{}, errs.E(errs.NotFound, "version %d of %s not found (current is %d)", version, p, e.Version)
		}
		if err != nil {
			return ReadResult{}, err
		}
		hash, size = v.ContentHash, v.Size
	}
	if offset > size {
		return ReadResult{}, errs.Invalid("offset", "%d is past the end of %s (%d bytes)", offset, p, size)
	}
	n := size - offset
	if length > 0 && length < n {
		n = length
	}
	if n > s.limits.MaxUnaryBytes {
		return ReadResult{}, errs.E(errs.ResourceExhausted,
			"reading %d bytes of %s exceeds the %d-byte response limit; read it in ranges with offset and length", n, p, s.limits.MaxUnaryBytes)
	}
	obj, err := s.object(ctx, hash)
	if err != nil {
		return ReadResult{}, err
	}
	rc := s.content.NewReader(ctx, obj, offset, n)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return ReadResult{}, err
	}
	return ReadResult{Item: item(r), Data: data, Offset: offset, EOF: offset+n == size}, nil
}

func (s *Service) object(ctx context.Context, hexHash string) (content.Object, error) {
	h, err := content.ParseHash(hexHash)
	if err != nil {
		return content.Object{}, errs.Wrap(errs.DataLoss, err, "stored content hash is corrupt")
	}
	obj, err := s.content.Object(ctx, s.db, h)
	if errors.Is(err, errs.NotFound) {
		return content.Object{}, errs.Wrap(errs.DataLoss, err, "content %s is missing", hexHash)
	}
	return obj, err
}

// ListVersions returns the versions of the file at path, newest first.
func (s *Service) ListVersions(ctx context.Context, c access.Caller, path string, cons authz.Consistency) ([]versions.Version, error) {
	p, _, err := paths.ParseField("path", path)
	if err != nil {
		return nil, err
	}
	r, err := s.open(ctx, c, p, nexus.PermRead, cons)
	if err != nil {
		return nil, err
	}
	if r.Entry().Kind != paths.File {
		return nil, errs.E(errs.FailedPrecondition, "%s is a folder; folders have no versions", p)
	}
	return s.versions.List(ctx, s.db, string(r.Entry().ID))
}
