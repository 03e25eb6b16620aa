package files_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/files"
)

func TestBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 1024, MaxFileBytes: 1 << 20, UploadTTL: time.Hour}})
	ctx := context.Background()
	w.write(w.admin, "/f.txt", "file")
	w.write(w.admin, "/dir/a.txt", "a")
	w.write(w.admin, "/other/b.txt", "b")

	pathRules := []struct{ path, rule string }{
		{"", "must not be empty"},
		{"relative/x", "must be absolute"},
		{"/a//b", "empty segments"},
		{"/a/../b", ". or .. segments"},
		{"/a/./b", ". or .. segments"},
		{"/a\x00b", "NUL or control"},
		{"/a\nb", "NUL or control"},
		{"/" + strings.Repeat("s", 256), "at most 255"},
		{strings.Repeat("/abcdefgh", 460), "at most 4096"},
		{"/\xff", "not valid UTF-8"},
	}
	for _, pr := range pathRules {
		t.Run("path rule "+pr.rule, func(t *testing.T) {
			_, _, err := w.svc.Write(ctx, w.admin, pr.path, []byte("x"), files.WriteOptions{CreateParents: true})
			require.ErrorIs(t, err, errs.InvalidArgument)
			require.Contains(t, err.Error(), pr.rule)
			_, err = w.svc.Stat(ctx, w.admin, pr.path, ml)
			require.ErrorIs(t, err, errs.InvalidArgument)
		})
	}
	cases := []struct {
		name string
		kind error
		text string
		call func() error
	}{
		{"writing below a file", errs.FailedPrecondition, "is a file", func() error {
			_, _, err := w.svc.Write(ctx, w.admin, "/f.txt/x", []byte("x"), files.WriteOptions{CreateParents: true})
			return err
		}},
		{"mkdir below a file", errs.FailedPrecondition, "is a file", func() error {
			_, _, err := w.svc.Mkdir(ctx, w.admin, "/f.txt/d", true)
			return err
		}},
		{"a file path ending in /", errs.InvalidArgument, "ends with /", func() error {
			_, _, err := w.svc.Write(ctx, w.admin, "/g.txt/", []byte("x"), files.WriteOptions{})
			return err
		}},
		{"moving a folder into itself", errs.InvalidArgument, "cannot move into itself", func() error {
			_, _, err := w.svc.Move(ctx, w.admin, "/dir", "/dir/sub")
			return err
		}},
		{"deleting /", errs.InvalidArgument, "cannot be deleted", func() error {
			_, err := w.svc.Delete(ctx, w.admin, "/", true)
			return err
		}},
		{"non-recursive delete of a non-empty folder", errs.FailedPrecondition, "recursive", func() error {
			_, err := w.svc.Delete(ctx, w.admin, "/dir", false)
			return err
		}},
		{"an expected version that no longer matches", errs.Aborted, "is at version 1, not the expected 7", func() error {
			_, _, err := w.svc.Write(ctx, w.admin, "/f.txt", []byte("x"), files.WriteOptions{ExpectedVersion: 7})
			return err
		}},
		{"must not exist, but exists", errs.Aborted, "expected it not to exist", func() error {
			_, _, err := w.svc.Write(ctx, w.admin, "/f.txt", []byte("x"), files.WriteOptions{ExpectedVersion: files.MustNotExist})
			return err
		}},
		{"a unary write over the limit", errs.ResourceExhausted, "1024-byte limit of one Write; use the chunked upload", func() error {
			_, _, err := w.svc.Write(ctx, w.admin, "/big.bin", make([]byte, 1025), files.WriteOptions{})
			return err
		}},
		{"a read over the limit", errs.ResourceExhausted, "read it in ranges", func() error {
			w.uploadFile(t, "/large.bin", 3000)
			_, err := w.svc.Read(ctx, w.admin, "/large.bin", 0, 0, 0, ml)
			return err
		}},
		{"a read past the end", errs.InvalidArgument, "past the end", func() error {
			_, err := w.svc.Read(ctx, w.admin, "/f.txt", 99, 0, 0, ml)
			return err
		}},
		{"a page size out of range", errs.InvalidArgument, "1-1000", func() error {
			_, _, err := w.svc.List(ctx, w.admin, "/", 1001, "", ml)
			return err
		}},
		{"a missing parent", errs.NotFound, "parent folder /nope not found", func() error {
			_, _, err := w.svc.Write(ctx, w.admin, "/nope/x", []byte("x"), files.WriteOptions{})
			return err
		}},
		{"a forged page token", errs.InvalidArgument, "page_token", func() error {
			_, next, err := w.svc.List(ctx, w.admin, "/", 1, "", ml)
			require.NoError(t, err)
			require.NotEmpty(t, next)
			// Tokens are sealed: a tampered one does not open.
			b := []byte(next)
			b[len(b)/2] ^= 1
			forged := string(b)
			_, _, err = w.svc.List(ctx, w.admin, "/", 1, forged, ml)
			return err
		}},
		{"a page token of another folder", errs.InvalidArgument, "page_token", func() error {
			w.write(w.admin, "/dir/b.txt", "b")
			_, next, err := w.svc.List(ctx, w.admin, "/dir", 1, "", ml)
			require.NoError(t, err)
			require.NotEmpty(t, next)
			_, _, err = w.svc.List(ctx, w.admin, "/other", 1, next, ml)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			require.ErrorIs(t, err, c.kind, "%v", err)
			require.Contains(t, err.Error(), c.text)
		})
	}

	t.Run("upload commit with a missing chunk", func(t *testing.T) {
		u, err := w.svc.BeginUpload(ctx, w.admin, "/up1.bin", 300, files.WriteOptions{})
		require.NoError(t, err)
		_, err = w.svc.AppendUpload(ctx, w.admin, u.ID, 0, make([]byte, 100))
		require.NoError(t, err)
		_, err = w.svc.AppendUpload(ctx, w.admin, u.ID, 200, make([]byte, 100))
		require.NoError(t, err)
		_, _, err = w.svc.CommitUpload(ctx, w.admin, u.ID)
		require.ErrorIs(t, err, errs.FailedPrecondition)
		require.Contains(t, err.Error(), "bytes [100, 200) are missing")
	})
	t.Run("upload commit with overlapping chunks", func(t *testing.T) {
		u, err := w.svc.BeginUpload(ctx, w.admin, "/up2.bin", 0, files.WriteOptions{})
		require.NoError(t, err)
		_, err = w.svc.AppendUpload(ctx, w.admin, u.ID, 0, make([]byte, 100))
		require.NoError(t, err)
		_, err = w.svc.AppendUpload(ctx, w.admin, u.ID, 50, make([]byte, 100))
		require.NoError(t, err)
		_, _, err = w.svc.CommitUpload(ctx, w.admin, u.ID)
		require.ErrorIs(t, err, errs.FailedPrecondition)
		require.Contains(t, err.Error(), "overlap")
	})
	t.Run("an upload chunk whose end overflows is refused", func(t *testing.T) {
		for _, size := range []int64{0, 300} { // no declared size, and a declared one
			u, err := w.svc.BeginUpload(ctx, w.admin, fmt.Sprintf("/up-overflow-%d.bin", size), size, files.WriteOptions{})
			require.NoError(t, err)
			for _, offset := range []int64{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 - 99} {
				_, err = w.svc.AppendUpload(ctx, w.admin, u.ID, offset, make([]byte, 100))
				require.ErrorIs(t, err, errs.ResourceExhausted, "size %d, offset %d", size, offset)
			}
			_, err = w.svc.AppendUpload(ctx, w.admin, u.ID, 0, make([]byte, 100))
			require.NoError(t, err, "a chunk in range is still taken")
		}
	})
	t.Run("someone else's upload is not found", func(t *testing.T) {
		u, err := w.svc.BeginUpload(ctx, w.admin, "/up3.bin", 0, files.WriteOptions{})
		require.NoError(t, err)
		_, err = w.svc.AppendUpload(ctx, w.member, u.ID, 0, []byte("x"))
		require.ErrorIs(t, err, errs.NotFound)
		_, _, err = w.svc.CommitUpload(ctx, w.member, u.ID)
		require.ErrorIs(t, err, errs.NotFound)
	})
}

// uploadFile writes n random bytes through the chunked upload, in chunks
// sent out of order.
func (w *world) uploadFile(t *testing.T, p string, n int) []byte {
	ctx := context.Background()
	data := make([]byte, n)
	_, _ = rand.Read(data)
	u, err := w.svc.BeginUpload(ctx, w.admin, p, int64(n), files.WriteOptions{CreateParents: true})
	require.NoError(t, err)
	chunk := 1000
	var offs []int
	for off := 0; off < n; off += chunk {
		offs = append([]int{off}, offs...) // last first
	}
	for _, off := range offs {
		_, err := w.svc.AppendUpload(ctx, w.admin, u.ID, int64(off), data[off:min(off+chunk, n)])
		require.NoError(t, err)
	}
	it, _, err := w.svc.CommitUpload(ctx, w.admin, u.ID)
	require.NoError(t, err)
	require.Equal(t, int64(n), it.Entry.Size)
	return data
}
