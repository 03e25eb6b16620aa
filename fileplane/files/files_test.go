package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/internal/errs"
	"github.com/nexus-authz/nexus/internal/storage/sqlite"
)

// world is a file plane with one zone (z1) and its people, and a second
// zone (z2) with an outsider.
type world struct {
	t       *testing.T
	svc     *files.Service
	engine  *authz.Engine
	tree    *paths.Tree
	content *content.Store
	fresh   atomic.Pointer[authz.Token]

	admin, owner, editor, viewer, member, outsider files.Caller
}

type worldOpts struct {
	limits       files.Limits
	quantization time.Duration
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "nexus.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, sqlite.Migrate(ctx, db, "authz", authz.SQLiteMigrations()))
	require.NoError(t, sqlite.Migrate(ctx, db, "content", content.SQLiteMigrations()))
	require.NoError(t, sqlite.Migrate(ctx, db, "paths", paths.SQLiteMigrations()))
	require.NoError(t, sqlite.Migrate(ctx, db, "versions", versions.SQLiteMigrations()))
	require.NoError(t, sqlite.Migrate(ctx, db, "files", files.SQLiteMigrations()))
	engine, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}, RevisionQuantization: o.quantization})
	require.NoError(t, err)
	t.Cleanup(func() { engine.Close() })
	chunks, err := content.NewDiskChunks(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &world{t: t, engine: engine, content: content.NewStore(db, chunks)}
	w.tree = paths.NewTree(db, paths.SQLStore{}, engine, quiet)
	w.svc, err = files.New(ctx, files.Config{
		DB: db, Tree: w.tree, Versions: versions.SQLStore{}, Content: w.content, Engine: engine,
		Fresh: func() authz.Token {
			if p := w.fresh.Load(); p != nil {
				return *p
			}
			return ""
		},
		Limits: o.limits, Log: quiet,
	})
	require.NoError(t, err)

	w.admin = files.Caller{User: "admin", Zone: "z1"}
	w.owner = files.Caller{User: "owner", Zone: "z1"}
	w.editor = files.Caller{User: "editor", Zone: "z1"}
	w.viewer = files.Caller{User: "viewer", Zone: "z1"}
	w.member = files.Caller{User: "member", Zone: "z1"}
	w.outsider = files.Caller{User: "eve", Zone: "z2"}
	updates := []authz.Update{
		authz.TouchRel(authz.Rel(authz.Obj("zone", "z1"), "admin", authz.Subject("user", "admin"))),
		authz.TouchRel(authz.Rel(authz.Obj("zone", "z2"), "member", authz.Subject("user", "eve"))),
	}
	for _, u := range []string{"owner", "editor", "viewer", "member"} {
		updates = append(updates, authz.TouchRel(authz.Rel(authz.Obj("zone", "z1"), "member", authz.Subject("user", u))))
	}
	_, err = engine.Write(ctx, updates)
	require.NoError(t, err)
	return w
}

// grant gives subject role on the entry at p and records the change on the
// entry, as sharing does.
func (w *world) grant(p, role, user string) authz.Token {
	return w.setRole(p, role, user, authz.Touch)
}

func (w *world) revoke(p, role, user string) authz.Token {
	return w.setRole(p, role, user, authz.Delete)
}

func (w *world) setRole(p, role, user string, op authz.Op) authz.Token {
	w.t.Helper()
	ctx := context.Background()
	r, err := w.tree.Resolve(ctx, "z1", paths.MustParse(p))
	require.NoError(w.t, err)
	e := r.Entry()
	tok, err := w.engine.Write(ctx, []authz.Update{{Op: op, Rel: authz.Rel(e.Object(), role, authz.Subject("user", user))}})
	require.NoError(w.t, err)
	require.NoError(w.t, w.tree.Touch(ctx, e.ID, tok))
	return tok
}

func (w *world) write(c files.Caller, p, data string) files.Item {
	w.t.Helper()
	it, _, err := w.svc.Write(context.Background(), c, p, []byte(data), files.WriteOptions{CreateParents: true})
	require.NoError(w.t, err)
	return it
}

func (w *world) read(c files.Caller, p string, cons authz.Consistency) (string, error) {
	r, err := w.svc.Read(context.Background(), c, p, 0, 0, 0, cons)
	return string(r.Data), err
}

var ml = authz.MinimizeLatency()

func TestWriteReadRoundTripAndVersions(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	it := w.write(w.admin, "/docs/readme.md", "hello")
	require.Equal(t, int64(1), it.Entry.Version)
	require.Equal(t, "text/markdown; charset=utf-8", it.Entry.MediaType)
	got, err := w.read(w.admin, "/docs/readme.md", ml)
	require.NoError(t, err)
	require.Equal(t, "hello", got)

	w.write(w.admin, "/docs/readme.md", "hello, world")
	r, err := w.svc.Read(ctx, w.admin, "/docs/readme.md", 7, 5, 0, ml)
	require.NoError(t, err)
	require.Equal(t, "world", string(r.Data))
	require.True(t, r.EOF)
	r, err = w.svc.Read(ctx, w.admin, "/docs/readme.md", 0, 0, 1, ml)
	require.NoError(t, err)
	require.Equal(t, "hello", string(r.Data), "read at an old version")

	vs, err := w.svc.ListVersions(ctx, w.admin, "/docs/readme.md", ml)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	require.Equal(t, int64(2), vs[0].Number, "newest first")

	it, err = w.svc.RestoreVersion(ctx, w.admin, "/docs/readme.md", 1)
	require.NoError(t, err)
	require.Equal(t, int64(3), it.Entry.Version, "a restore is a new version")
	got, err = w.read(w.admin, "/docs/readme.md", ml)
	require.NoError(t, err)
	require.Equal(t, "hello", got)
	_, err = w.svc.RestoreVersion(ctx, w.admin, "/docs/readme.md", 9)
	require.ErrorIs(t, err, errs.NotFound)
}

func TestCopySharesContent(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	data := make([]byte, 3*content.ChunkSize/2)
	_, _ = rand.Read(data)
	_, _, err := w.svc.Write(ctx, w.admin, "/src/a.bin", data, files.WriteOptions{CreateParents: true})
	require.NoError(t, err)
	w.write(w.admin, "/src/sub/b.txt", "b")
	countChunks := func() int {
		n := 0
		require.NoError(t, w.content.Chunks().Walk(ctx, func(content.Hash, time.Time) error { n++; return nil }))
		return n
	}
	before := countChunks()
	it, _, err := w.svc.Copy(ctx, w.admin, "/src", "/dst")
	require.NoError(t, err)
	require.Equal(t, paths.Folder, it.Entry.Kind)
	require.Equal(t, before, countChunks(), "a copy stores no new chunks")
	r, err := w.svc.Read(ctx, w.admin, "/dst/a.bin", 0, 0, 0, ml)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, r.Data))
	got, err := w.read(w.admin, "/dst/sub/b.txt", ml)
	require.NoError(t, err)
	require.Equal(t, "b", got)
	_, _, err = w.svc.Copy(ctx, w.admin, "/src", "/src/sub/inner")
	require.ErrorIs(t, err, errs.InvalidArgument)
}

// TestPermissionMatrix runs every FileService operation as each role.
func TestPermissionMatrix(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/proj/doc.txt", "v1")
	w.write(w.admin, "/proj/sub/inner.txt", "inner")
	w.grant("/proj", "owner", "owner")
	w.grant("/proj", "editor", "editor")
	w.grant("/proj", "viewer", "viewer")

	type outcome int
	const (
		ok outcome = iota
		denied
		hidden
	)
	roles := []struct {
		name  string
		c     files.Caller
		read  outcome
		write outcome
	}{
		{"zone admin", w.admin, ok, ok},
		{"owner", w.owner, ok, ok},
		{"editor", w.editor, ok, ok},
		{"viewer", w.viewer, ok, denied},
		{"member without grant", w.member, hidden, hidden},
		{"other zone", w.outsider, hidden, hidden},
	}
	for _, role := range roles {
		c := role.c
		n := strings.ReplaceAll(role.name, " ", "-")
		// Scratch entries for the destructive operations, made by the admin.
		w.write(w.admin, "/proj/del-"+n+".txt", "x")
		w.write(w.admin, "/proj/mv-"+n+".txt", "x")
		ops := []struct {
			op   string
			want outcome
			call func() error
		}{
			{"Stat", role.read, func() error { _, err := w.svc.Stat(ctx, c, "/proj/doc.txt", ml); return err }},
			{"List", role.read, func() error { _, _, err := w.svc.List(ctx, c, "/proj", 0, "", ml); return err }},
			{"Read", role.read, func() error { _, err := w.svc.Read(ctx, c, "/proj/doc.txt", 0, 0, 0, ml); return err }},
			{"ListVersions", role.read, func() error { _, err := w.svc.ListVersions(ctx, c, "/proj/doc.txt", ml); return err }},
			{"Write overwrite", role.write, func() error {
				_, _, err := w.svc.Write(ctx, c, "/proj/doc.txt", []byte("by "+n), files.WriteOptions{})
				return err
			}},
			{"Write create", role.write, func() error {
				_, _, err := w.svc.Write(ctx, c, "/proj/new-"+n+".txt", []byte("x"), files.WriteOptions{})
				return err
			}},
			{"Mkdir", role.write, func() error { _, _, err := w.svc.Mkdir(ctx, c, "/proj/dir-"+n, false); return err }},
			{"Move", role.write, func() error {
				_, _, err := w.svc.Move(ctx, c, "/proj/mv-"+n+".txt", "/proj/moved-"+n+".txt")
				return err
			}},
			{"Copy", role.write, func() error {
				_, _, err := w.svc.Copy(ctx, c, "/proj/doc.txt", "/proj/copy-"+n+".txt")
				return err
			}},
			{"Delete", role.write, func() error { _, err := w.svc.Delete(ctx, c, "/proj/del-"+n+".txt", false); return err }},
			{"RestoreVersion", role.write, func() error { _, err := w.svc.RestoreVersion(ctx, c, "/proj/doc.txt", 1); return err }},
			{"BeginUpload", role.write, func() error {
				_, err := w.svc.BeginUpload(ctx, c, "/proj/up-"+n+".bin", 10, files.WriteOptions{})
				return err
			}},
		}
		for _, op := range ops {
			t.Run(role.name+"/"+op.op, func(t *testing.T) {
				err := op.call()
				switch op.want {
				case ok:
					require.NoError(t, err)
				case denied:
					require.ErrorIs(t, err, errs.PermissionDenied, "%v", err)
				case hidden:
					require.ErrorIs(t, err, errs.NotFound, "%v", err)
				}
			})
		}
	}
	t.Run("a member lists the root and sees nothing of /proj", func(t *testing.T) {
		items, _, err := w.svc.List(ctx, w.member, "/", 0, "", ml)
		require.NoError(t, err)
		require.Empty(t, items)
		items, _, err = w.svc.List(ctx, w.viewer, "/", 0, "", ml)
		require.NoError(t, err)
		require.Len(t, items, 1)
		require.Equal(t, paths.Path("/proj"), items[0].Path)
	})
}

// TestNewEnemy: revoke bob on /a, then write new content to /a/x; bob never
// reads the new content, whatever consistency he asks for. The engine is
// given a 5 s quantization window so that, without the entry tokens, a
// minimize_latency check would still see the old grant.
func TestNewEnemy(t *testing.T) {
	w := newWorld(t, worldOpts{quantization: 5 * time.Second})
	w.write(w.admin, "/a/x", "old")
	grantTok := w.grant("/a", "viewer", "viewer")
	got, err := w.read(w.viewer, "/a/x", authz.AtLeastAsFresh(grantTok))
	require.NoError(t, err)
	require.Equal(t, "old", got)

	w.revoke("/a", "viewer", "viewer")
	w.write(w.admin, "/a/x", "secret plans")
	for name, cons := range map[string]authz.Consistency{
		"minimize_latency":         authz.MinimizeLatency(),
		"at_least_as_fresh(grant)": authz.AtLeastAsFresh(grantTok),
		"fully_consistent":         authz.FullyConsistent(),
	} {
		t.Run(name, func(t *testing.T) {
			data, err := w.read(w.viewer, "/a/x", cons)
			require.ErrorIs(t, err, errs.NotFound)
			require.NotContains(t, data, "secret")
			_, _, err = w.svc.List(w.t.Context(), w.viewer, "/a", 0, "", cons)
			require.ErrorIs(t, err, errs.NotFound)
		})
	}

	t.Run("group membership removal", func(t *testing.T) {
		ctx := context.Background()
		w.write(w.admin, "/g/x", "old")
		r, err := w.tree.Resolve(ctx, "z1", paths.MustParse("/g"))
		require.NoError(t, err)
		_, err = w.engine.Write(ctx, []authz.Update{
			authz.TouchRel(authz.Rel(authz.Obj("group", "team"), "member", authz.Subject("user", "member"))),
			authz.TouchRel(authz.Rel(r.Entry().Object(), "viewer", authz.SubjectSet("group", "team", "member"))),
		})
		require.NoError(t, err)
		tok, err := w.engine.Write(ctx, []authz.Update{
			authz.DeleteRel(authz.Rel(authz.Obj("group", "team"), "member", authz.Subject("user", "member"))),
		})
		require.NoError(t, err)
		w.fresh.Store(&tok) // what identity reports after a membership change
		w.write(w.admin, "/g/x", "after removal")
		_, err = w.read(w.member, "/g/x", authz.MinimizeLatency())
		require.ErrorIs(t, err, errs.NotFound)
	})
}

func TestRacingWritersExactlyOneWins(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		p := fmt.Sprintf("/race/%d", round)
		it := w.write(w.admin, p, "v1")
		var wg sync.WaitGroup
		results := make([]error, 4)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, _, results[i] = w.svc.Write(ctx, w.admin, p, []byte(fmt.Sprintf("writer %d", i)), files.WriteOptions{ExpectedVersion: it.Entry.Version})
			}(i)
		}
		wg.Wait()
		wins := 0
		for _, err := range results {
			if err == nil {
				wins++
			} else {
				require.ErrorIs(t, err, errs.Aborted)
				require.Contains(t, err.Error(), "is at version 2, not the expected 1")
			}
		}
		require.Equal(t, 1, wins, "round %d", round)
	}
}

func TestBadInput(t *testing.T) {
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
			forged := "eyJmIjoiZmxkX3h4eCIsImEiOiJ6In0" + next[strings.Index(next, "."):]
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

func TestChunkedUpload(t *testing.T) {
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 1024, MaxFileBytes: 1 << 20, UploadTTL: time.Hour}})
	data := w.uploadFile(t, "/up/file.bin", 5500)
	var got []byte
	for off := int64(0); off < int64(len(data)); off += 1000 {
		r, err := w.svc.Read(context.Background(), w.admin, "/up/file.bin", off, 1000, 0, ml)
		require.NoError(t, err)
		got = append(got, r.Data...)
	}
	require.True(t, bytes.Equal(data, got))
	_, err := w.svc.AppendUpload(context.Background(), w.admin, "upl_gone", 0, []byte("x"))
	require.ErrorIs(t, err, errs.NotFound)
}

// TestListFiltersInBatchesAndPagesStayCorrect lists a zone's root, which
// every member may list and where each entry is filtered on its own (below
// the root, read on a folder is read on everything in it).
func TestListFiltersInBatchesAndPagesStayCorrect(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	visible := map[string]bool{}
	for i := 0; i < 250; i++ {
		name := fmt.Sprintf("f%03d", i)
		w.write(w.admin, "/"+name, name)
		if i%3 == 0 {
			w.grant("/"+name, "viewer", "member")
			visible[name] = true
		}
	}
	_, _, err := w.svc.Mkdir(ctx, w.admin, "/shared", false)
	require.NoError(t, err)
	w.grant("/shared", "viewer", "member")
	visible["shared"] = true

	var seen []string
	token := ""
	for pages := 1; ; pages++ {
		items, next, err := w.svc.List(ctx, w.member, "/", 10, token, ml)
		require.NoError(t, err)
		if next != "" {
			require.Len(t, items, 10, "every page but the last is full, however many entries are hidden")
		}
		for _, it := range items {
			seen = append(seen, it.Entry.Name)
		}
		if pages == 2 {
			// Changes between pages: an insert after the cursor appears, a
			// delete after the cursor disappears, an insert before it does
			// not disturb the paging.
			w.write(w.admin, "/f999", "late")
			w.grant("/f999", "viewer", "member")
			visible["f999"] = true
			w.write(w.admin, "/a-early", "early") // sorts before the cursor
			_, err := w.svc.Delete(ctx, w.admin, "/f246", false)
			require.NoError(t, err)
			delete(visible, "f246")
		}
		if next == "" {
			break
		}
		token = next
	}
	want := make([]string, 0, len(visible))
	for name := range visible {
		want = append(want, name)
	}
	require.ElementsMatch(t, want, seen, "exactly the readable entries, each once")
	for i := 1; i < len(seen); i++ {
		require.Less(t, seen[i-1], seen[i], "ordered by name")
	}

	t.Run("the outsider lists its own zone's root, not this one", func(t *testing.T) {
		items, _, err := w.svc.List(ctx, w.outsider, "/", 0, "", ml)
		require.NoError(t, err)
		require.Empty(t, items)
	})
	t.Run("below the root, read on the folder reads everything in it", func(t *testing.T) {
		w.write(w.admin, "/shared/a", "a")
		w.write(w.admin, "/shared/b", "b")
		items, _, err := w.svc.List(ctx, w.member, "/shared", 0, "", ml)
		require.NoError(t, err)
		require.Len(t, items, 2)
	})
}

// TestContentGCKeepsWhatVersionsAndUploadsReference collects with no grace
// after deletes and overwrites: every version still listed reads back, an
// open upload's chunks survive, and the content of a deleted file is gone.
func TestContentGCKeepsWhatVersionsAndUploadsReference(t *testing.T) {
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 1 << 20, MaxFileBytes: 8 << 20, UploadTTL: time.Hour}})
	ctx := context.Background()
	w.write(w.admin, "/keep.txt", "version one")
	w.write(w.admin, "/keep.txt", "version two")
	w.write(w.admin, "/gone.txt", "only here")
	_, err := w.svc.Delete(ctx, w.admin, "/gone.txt", false)
	require.NoError(t, err)
	u, err := w.svc.BeginUpload(ctx, w.admin, "/pending.bin", 0, files.WriteOptions{})
	require.NoError(t, err)
	_, err = w.svc.AppendUpload(ctx, w.admin, u.ID, 0, []byte("pending part"))
	require.NoError(t, err)

	st, err := w.content.GC(ctx, 0, w.svc.Referencers()...)
	require.NoError(t, err)
	require.Equal(t, 1, st.Objects, "only the deleted file's content is collected: %+v", st)

	for v, want := range map[int64]string{1: "version one", 2: "version two"} {
		r, err := w.svc.Read(ctx, w.admin, "/keep.txt", 0, 0, v, ml)
		require.NoError(t, err)
		require.Equal(t, want, string(r.Data))
	}
	it, _, err := w.svc.CommitUpload(ctx, w.admin, u.ID)
	require.NoError(t, err, "the open upload's part survived the collection")
	got, err := w.read(w.admin, it.Path.String(), ml)
	require.NoError(t, err)
	require.Equal(t, "pending part", got)
}
