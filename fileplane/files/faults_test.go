package files_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

var errInjected = errors.New("injected fault")

// faultEngine is the engine with its checks failing on demand, and a hook
// that runs once, before the nth check of write permission after it is
// armed (to make a concurrent writer act between a write's last check and
// its insert).
type faultEngine struct {
	files.Engine
	fail   atomic.Bool
	mu     sync.Mutex
	hook   func()
	writes int // write checks left before the hook runs
}

func (f *faultEngine) arm(nthWrite int, hook func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook, f.writes = hook, nthWrite
}

func (f *faultEngine) before(permission string) error {
	f.mu.Lock()
	var hook func()
	if f.hook != nil && permission == "write" {
		if f.writes--; f.writes == 0 {
			hook, f.hook = f.hook, nil
		}
	}
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if f.fail.Load() {
		return errInjected
	}
	return nil
}

func (f *faultEngine) Check(ctx context.Context, it authz.CheckItem, c authz.Consistency) (authz.Decision, error) {
	if err := f.before(it.Permission); err != nil {
		return authz.Decision{}, err
	}
	return f.Engine.Check(ctx, it, c)
}

func (f *faultEngine) CheckBulk(ctx context.Context, items []authz.CheckItem, c authz.Consistency) ([]authz.Decision, error) {
	if err := f.before(""); err != nil {
		return nil, err
	}
	return f.Engine.CheckBulk(ctx, items, c)
}

func newFaultWorld(t *testing.T, limits files.Limits) (*world, *faultEngine) {
	var fe *faultEngine
	w := newWorld(t, worldOpts{limits: limits, wrap: func(e files.Engine) files.Engine {
		fe = &faultEngine{Engine: e}
		return fe
	}})
	return w, fe
}

// failOn makes every statement op (INSERT, UPDATE or DELETE) on table fail
// until the returned func is called.
func (w *world) failOn(op, table string) (restore func()) {
	w.t.Helper()
	name := "fail_" + op + "_" + table
	_, err := w.db.Exec(`CREATE TRIGGER ` + name + ` BEFORE ` + op + ` ON ` + table + ` BEGIN SELECT RAISE(ABORT, 'injected fault'); END`)
	require.NoError(w.t, err)
	return func() {
		_, err := w.db.Exec(`DROP TRIGGER ` + name)
		require.NoError(w.t, err)
	}
}

// TestEngineErrorsAreErrors: when the engine cannot decide, every
// operation fails with its error — never an allow, never a NotFound that
// would hide it — and changes nothing.
func TestEngineErrorsAreErrors(t *testing.T) {
	t.Parallel()
	w, fe := newFaultWorld(t, files.Limits{MaxUnaryBytes: 1024, MaxFileBytes: 1 << 20, UploadTTL: time.Hour})
	ctx := context.Background()
	w.write(w.admin, "/d/f.txt", "old")
	w.write(w.admin, "/d/g.txt", "g")
	up, err := w.svc.BeginUpload(ctx, w.admin, "/d/up.txt", 0, files.WriteOptions{})
	require.NoError(t, err)
	_, err = w.svc.AppendUpload(ctx, w.admin, up.ID, 0, []byte("upload"))
	require.NoError(t, err)
	fe.fail.Store(true)

	ops := map[string]func() error{
		"Stat": func() error { _, err := w.svc.Stat(ctx, w.admin, "/d/f.txt", ml); return err },
		"Read": func() error { _, err := w.svc.Read(ctx, w.admin, "/d/f.txt", 0, 0, 0, ml); return err },
		"List": func() error { _, _, err := w.svc.List(ctx, w.admin, "/d", 0, "", ml); return err },
		"ListVersions": func() error {
			_, err := w.svc.ListVersions(ctx, w.admin, "/d/f.txt", ml)
			return err
		},
		"Glob": func() error { _, _, err := w.svc.Glob(ctx, w.admin, "/d/*.txt", 0, "", ml); return err },
		"Grep": func() error {
			_, err := w.svc.Grep(ctx, w.admin, files.GrepOptions{Pattern: "old"}, ml)
			return err
		},
		"Write": func() error {
			_, _, err := w.svc.Write(ctx, w.admin, "/d/f.txt", []byte("new"), files.WriteOptions{})
			return err
		},
		"Write new": func() error {
			_, _, err := w.svc.Write(ctx, w.admin, "/d/new.txt", []byte("new"), files.WriteOptions{})
			return err
		},
		"Mkdir":         func() error { _, _, err := w.svc.Mkdir(ctx, w.admin, "/d/sub", false); return err },
		"Mkdir parents": func() error { _, _, err := w.svc.Mkdir(ctx, w.admin, "/d/sub/deeper", true); return err },
		"Delete":        func() error { _, err := w.svc.Delete(ctx, w.admin, "/d/f.txt", false); return err },
		"Move":          func() error { _, _, err := w.svc.Move(ctx, w.admin, "/d/f.txt", "/moved.txt"); return err },
		"Copy":          func() error { _, _, err := w.svc.Copy(ctx, w.admin, "/d", "/copy"); return err },
		"RestoreVersion": func() error {
			_, err := w.svc.RestoreVersion(ctx, w.admin, "/d/f.txt", 1)
			return err
		},
		"BeginUpload": func() error {
			_, err := w.svc.BeginUpload(ctx, w.admin, "/d/up2.txt", 0, files.WriteOptions{})
			return err
		},
		"CommitUpload": func() error { _, _, err := w.svc.CommitUpload(ctx, w.admin, up.ID); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op()
			require.ErrorIs(t, err, errInjected)
			require.NotErrorIs(t, err, errs.NotFound)
		})
	}

	fe.fail.Store(false)
	got, err := w.read(w.admin, "/d/f.txt", ml)
	require.NoError(t, err)
	require.Equal(t, "old", got)
	items, _, err := w.svc.List(ctx, w.admin, "/", 0, "", ml)
	require.NoError(t, err)
	require.Len(t, items, 1, "only /d: nothing was created, moved or copied")
	items, _, err = w.svc.List(ctx, w.admin, "/d", 0, "", ml)
	require.NoError(t, err)
	require.Len(t, items, 2, "f.txt and g.txt: nothing created or deleted")
	vs, err := w.svc.ListVersions(ctx, w.admin, "/d/f.txt", ml)
	require.NoError(t, err)
	require.Len(t, vs, 1)
}

// TestFailedWritesLeaveNothing: a write whose transaction fails part way
// leaves the file as it was, and a new file does not appear.
func TestFailedWritesLeaveNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/d/f.txt", "old")
	unchanged := func(t *testing.T) {
		t.Helper()
		got, err := w.read(w.admin, "/d/f.txt", ml)
		require.NoError(t, err)
		require.Equal(t, "old", got)
		it, err := w.svc.Stat(ctx, w.admin, "/d/f.txt", ml)
		require.NoError(t, err)
		require.Equal(t, int64(1), it.Entry.Version)
		for _, p := range []string{"/d/new.txt", "/d/copy.txt", "/new/deep.txt"} {
			_, err = w.svc.Stat(ctx, w.admin, p, ml)
			require.ErrorIs(t, err, errs.NotFound, p)
		}
	}
	for _, f := range []struct{ op, table string }{
		{"INSERT", "versions_versions"},
		{"INSERT", "content_objects"},
		{"UPDATE", "paths_entries"},
	} {
		t.Run(f.op+" "+f.table, func(t *testing.T) {
			restore := w.failOn(f.op, f.table)
			defer restore()
			_, _, err := w.svc.Write(ctx, w.admin, "/d/f.txt", []byte("new content"), files.WriteOptions{})
			require.ErrorContains(t, err, "injected fault")
			if f.table != "paths_entries" {
				_, _, err = w.svc.Write(ctx, w.admin, "/d/new.txt", []byte("new"), files.WriteOptions{})
				require.ErrorContains(t, err, "injected fault")
				_, err = w.svc.RestoreVersion(ctx, w.admin, "/d/f.txt", 1)
				require.ErrorContains(t, err, "injected fault")
			}
			if f.table == "versions_versions" {
				_, _, err = w.svc.Copy(ctx, w.admin, "/d/f.txt", "/d/copy.txt")
				require.ErrorContains(t, err, "injected fault")
			}
			unchanged(t)
		})
	}
	t.Run("DELETE versions_versions", func(t *testing.T) {
		restore := w.failOn("DELETE", "versions_versions")
		defer restore()
		_, err := w.svc.Delete(ctx, w.admin, "/d/f.txt", false)
		require.ErrorContains(t, err, "injected fault")
		unchanged(t)
	})
	t.Run("INSERT paths_entries while making parents", func(t *testing.T) {
		restore := w.failOn("INSERT", "paths_entries")
		defer restore()
		_, _, err := w.svc.Write(ctx, w.admin, "/new/deep.txt", []byte("x"), files.WriteOptions{CreateParents: true})
		require.ErrorContains(t, err, "injected fault")
		_, _, err = w.svc.Mkdir(ctx, w.admin, "/new", false)
		require.ErrorContains(t, err, "injected fault")
		_, err = w.svc.Stat(ctx, w.admin, "/new", ml)
		require.ErrorIs(t, err, errs.NotFound)
		unchanged(t)
	})
}

// TestDamagedContentIsDataLoss: a file whose recorded content hash is not
// a hash, or whose content object is gone, reads as DataLoss.
func TestDamagedContentIsDataLoss(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	dropContent := func(hexHash string) {
		t.Helper()
		for _, q := range []string{`DELETE FROM content_object_chunks WHERE object_hash = ?`, `DELETE FROM content_objects WHERE hash = ?`} {
			h, err := hex.DecodeString(hexHash)
			require.NoError(t, err)
			_, err = w.db.Exec(q, h)
			require.NoError(t, err)
		}
	}
	v1 := w.write(w.admin, "/a.txt", "a")
	w.write(w.admin, "/a.txt", "a2")
	dropContent(v1.Entry.ContentHash)
	_, err := w.svc.Read(ctx, w.admin, "/a.txt", 0, 0, 1, ml)
	require.ErrorIs(t, err, errs.DataLoss)
	require.Contains(t, err.Error(), "is missing")
	_, err = w.svc.RestoreVersion(ctx, w.admin, "/a.txt", 1)
	require.ErrorIs(t, err, errs.DataLoss)
	got, err := w.read(w.admin, "/a.txt", ml)
	require.NoError(t, err)
	require.Equal(t, "a2", got, "the current version is untouched")

	b := w.write(w.admin, "/b.txt", "b")
	_, err = w.db.Exec(`UPDATE paths_entries SET content_hash = 'not-a-hash' WHERE id = ?`, b.Entry.ID)
	require.NoError(t, err)
	_, err = w.svc.Read(ctx, w.admin, "/b.txt", 0, 0, 0, ml)
	require.ErrorIs(t, err, errs.DataLoss)
	require.Contains(t, err.Error(), "corrupt")
}

func TestReadAndVersionsRefuseBadRequests(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 1024, MaxFileBytes: 1 << 20, UploadTTL: time.Hour}})
	ctx := context.Background()
	w.write(w.admin, "/d/f.txt", "hello")
	for _, tc := range []struct {
		name                    string
		path                    string
		offset, length, version int64
		kind                    error
		text                    string
	}{
		{"a negative offset", "/d/f.txt", -1, 0, 0, errs.InvalidArgument, "offset"},
		{"a negative length", "/d/f.txt", 0, -1, 0, errs.InvalidArgument, "length"},
		{"a negative version", "/d/f.txt", 0, 0, -1, errs.InvalidArgument, "version"},
		{"a folder", "/d", 0, 0, 0, errs.FailedPrecondition, "is a folder"},
		{"a missing version", "/d/f.txt", 0, 0, 7, errs.NotFound, "version 7 of /d/f.txt not found"},
		{"a bad path", "d", 0, 0, 0, errs.InvalidArgument, "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.svc.Read(ctx, w.admin, tc.path, tc.offset, tc.length, tc.version, ml)
			require.ErrorIs(t, err, tc.kind)
			require.Contains(t, err.Error(), tc.text)
		})
	}
	_, err := w.svc.ListVersions(ctx, w.admin, "/d", ml)
	require.ErrorIs(t, err, errs.FailedPrecondition)
	_, err = w.svc.ListVersions(ctx, w.admin, "d", ml)
	require.ErrorIs(t, err, errs.InvalidArgument)
	_, err = w.svc.RestoreVersion(ctx, w.admin, "/d", 1)
	require.ErrorIs(t, err, errs.FailedPrecondition)
	_, _, err = w.svc.List(ctx, w.admin, "/d/f.txt", 0, "", ml)
	require.ErrorIs(t, err, errs.FailedPrecondition)
	_, _, err = w.svc.List(ctx, w.admin, "d", 0, "", ml)
	require.ErrorIs(t, err, errs.InvalidArgument)
	_, _, err = w.svc.Write(ctx, w.admin, "/", []byte("x"), files.WriteOptions{})
	require.ErrorIs(t, err, errs.InvalidArgument)
	require.Contains(t, err.Error(), "root folder")
	_, _, err = w.svc.Write(ctx, w.admin, "/d/f.txt", []byte("x"), files.WriteOptions{ExpectedVersion: -2})
	require.ErrorIs(t, err, errs.InvalidArgument)
	_, _, err = w.svc.Write(ctx, w.admin, "/d/none.txt", []byte("x"), files.WriteOptions{ExpectedVersion: 3})
	require.ErrorIs(t, err, errs.Aborted)
	require.Contains(t, err.Error(), "does not exist; expected version 3")
	_, _, err = w.svc.Write(ctx, w.admin, "/d", []byte("x"), files.WriteOptions{})
	require.ErrorIs(t, err, errs.FailedPrecondition)
	require.Contains(t, err.Error(), "is a folder")
	got, err := w.read(w.admin, "/d/f.txt", ml)
	require.NoError(t, err)
	require.Equal(t, "hello", got)
}

func TestMkdirMoveCopyRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/d/f.txt", "f")
	w.write(w.admin, "/e/g.txt", "g")
	for _, tc := range []struct {
		name string
		kind error
		call func() error
	}{
		{"mkdir of an existing folder", errs.AlreadyExists, func() error { _, _, err := w.svc.Mkdir(ctx, w.admin, "/d", false); return err }},
		{"mkdir -p over a file", errs.FailedPrecondition, func() error { _, _, err := w.svc.Mkdir(ctx, w.admin, "/d/f.txt", true); return err }},
		{"mkdir of a bad path", errs.InvalidArgument, func() error { _, _, err := w.svc.Mkdir(ctx, w.admin, "d", true); return err }},
		{"moving the root", errs.InvalidArgument, func() error { _, _, err := w.svc.Move(ctx, w.admin, "/", "/x"); return err }},
		{"moving onto itself", errs.InvalidArgument, func() error { _, _, err := w.svc.Move(ctx, w.admin, "/d", "/d"); return err }},
		{"moving to the root", errs.InvalidArgument, func() error { _, _, err := w.svc.Move(ctx, w.admin, "/d/f.txt", "/"); return err }},
		{"moving onto an entry", errs.AlreadyExists, func() error { _, _, err := w.svc.Move(ctx, w.admin, "/d/f.txt", "/e/g.txt"); return err }},
		{"moving a bad source", errs.InvalidArgument, func() error { _, _, err := w.svc.Move(ctx, w.admin, "d", "/x"); return err }},
		{"moving to a bad destination", errs.InvalidArgument, func() error { _, _, err := w.svc.Move(ctx, w.admin, "/d", "x"); return err }},
		{"copying onto an entry", errs.AlreadyExists, func() error { _, _, err := w.svc.Copy(ctx, w.admin, "/d", "/e"); return err }},
		{"copying a bad source", errs.InvalidArgument, func() error { _, _, err := w.svc.Copy(ctx, w.admin, "d", "/x"); return err }},
		{"copying to a bad destination", errs.InvalidArgument, func() error { _, _, err := w.svc.Copy(ctx, w.admin, "/d", "x"); return err }},
		{"deleting a bad path", errs.InvalidArgument, func() error { _, err := w.svc.Delete(ctx, w.admin, "d", false); return err }},
		{"restoring a bad path", errs.InvalidArgument, func() error { _, err := w.svc.RestoreVersion(ctx, w.admin, "d", 1); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.call(), tc.kind)
		})
	}
	for _, p := range []string{"/d/f.txt", "/e/g.txt"} {
		_, err := w.svc.Stat(ctx, w.admin, p, ml)
		require.NoError(t, err, p)
	}
	items, _, err := w.svc.List(ctx, w.admin, "/", 0, "", ml)
	require.NoError(t, err)
	require.Len(t, items, 2)
}

// TestUploadRefusals: what an upload refuses, and that a refused chunk or
// commit changes nothing.
func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 8, MaxFileBytes: 64, UploadTTL: time.Hour}})
	ctx := context.Background()
	_, err := w.svc.BeginUpload(ctx, w.admin, "/u.bin", 65, files.WriteOptions{})
	require.ErrorIs(t, err, errs.ResourceExhausted)
	_, err = w.svc.BeginUpload(ctx, w.admin, "/u.bin", -1, files.WriteOptions{})
	require.ErrorIs(t, err, errs.ResourceExhausted)
	_, err = w.svc.BeginUpload(ctx, w.admin, "/u.bin", 0, files.WriteOptions{ExpectedVersion: -2})
	require.ErrorIs(t, err, errs.InvalidArgument)
	_, err = w.svc.BeginUpload(ctx, w.admin, "u.bin", 0, files.WriteOptions{})
	require.ErrorIs(t, err, errs.InvalidArgument)
	_, err = w.svc.BeginUpload(ctx, w.admin, "/u.bin/", 0, files.WriteOptions{})
	require.ErrorIs(t, err, errs.InvalidArgument)

	up, err := w.svc.BeginUpload(ctx, w.admin, "/u.bin", 12, files.WriteOptions{})
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		offset int64
		data   []byte
		kind   error
	}{
		{"a negative offset", -1, []byte("x"), errs.InvalidArgument},
		{"an empty chunk", 0, nil, errs.InvalidArgument},
		{"a chunk over the limit", 0, []byte("123456789"), errs.ResourceExhausted},
	} {
		_, err := w.svc.AppendUpload(ctx, w.admin, up.ID, tc.offset, tc.data)
		require.ErrorIs(t, err, tc.kind, tc.name)
	}
	_, _, err = w.svc.CommitUpload(ctx, w.admin, up.ID)
	require.ErrorIs(t, err, errs.FailedPrecondition)
	require.Contains(t, err.Error(), "received 0 of 12 bytes")

	restore := w.failOn("INSERT", "files_upload_parts")
	_, err = w.svc.AppendUpload(ctx, w.admin, up.ID, 0, []byte("12345678"))
	require.ErrorContains(t, err, "injected fault")
	restore()
	n, err := w.svc.AppendUpload(ctx, w.admin, up.ID, 0, []byte("12345678"))
	require.NoError(t, err)
	require.Equal(t, int64(8), n, "the failed chunk was not recorded")
	_, _, err = w.svc.CommitUpload(ctx, w.admin, up.ID)
	require.ErrorIs(t, err, errs.FailedPrecondition)
	require.Contains(t, err.Error(), "received 8 of 12 bytes")

	// Size unknown, nothing sent.
	empty, err := w.svc.BeginUpload(ctx, w.admin, "/empty.bin", 0, files.WriteOptions{})
	require.NoError(t, err)
	_, _, err = w.svc.CommitUpload(ctx, w.admin, empty.ID)
	require.ErrorIs(t, err, errs.FailedPrecondition)
	require.Contains(t, err.Error(), "no chunks")
	_, err = w.svc.Stat(ctx, w.admin, "/u.bin", ml)
	require.ErrorIs(t, err, errs.NotFound)
}

// TestCommittedUploadNotRemoved: if the committed upload's session cannot
// be removed, the commit still stands (it is logged), and the session
// expires on its own; ExpireUploads removes only expired sessions.
func TestCommittedUploadNotRemoved(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 8, MaxFileBytes: 64, UploadTTL: time.Hour}})
	ctx := context.Background()
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	files.SetNow(w.svc, func() time.Time { return *clock.Load() })

	up, err := w.svc.BeginUpload(ctx, w.admin, "/u.txt", 0, files.WriteOptions{})
	require.NoError(t, err)
	_, err = w.svc.AppendUpload(ctx, w.admin, up.ID, 0, []byte("uploaded"))
	require.NoError(t, err)
	restore := w.failOn("DELETE", "files_uploads")
	it, _, err := w.svc.CommitUpload(ctx, w.admin, up.ID)
	require.NoError(t, err)
	restore()
	require.Equal(t, "text/plain; charset=utf-8", it.Entry.MediaType)
	got, err := w.read(w.admin, "/u.txt", ml)
	require.NoError(t, err)
	require.Equal(t, "uploaded", got)

	fresh, err := w.svc.BeginUpload(ctx, w.admin, "/later.txt", 0, files.WriteOptions{})
	require.NoError(t, err)
	n, err := w.svc.ExpireUploads(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing has expired yet")
	later := now.Add(time.Hour + time.Minute)
	clock.Store(&later)
	_, err = w.svc.AppendUpload(ctx, w.admin, fresh.ID, 0, []byte("x"))
	require.ErrorIs(t, err, errs.NotFound, "an expired session is gone for its owner")
	n, err = w.svc.ExpireUploads(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), n, "the committed session left behind and the expired one")
	require.NoError(t, w.db.Close())
	_, err = w.svc.ExpireUploads(ctx)
	require.Error(t, err)
}

// TestWriteRacingACreator: a file created by another writer between this
// write's check and its insert is overwritten (a new version), unless the
// write asked that it not exist; a folder made meanwhile by mkdir -p is
// used, and a file made meanwhile where a folder should be is refused.
func TestWriteRacingACreator(t *testing.T) {
	t.Parallel()
	w, fe := newFaultWorld(t, files.Limits{})
	ctx := context.Background()
	w.write(w.admin, "/d/keep.txt", "k")
	other := func(p string) func() {
		return func() {
			_, _, err := w.svc.Write(ctx, w.admin, p, []byte("theirs"), files.WriteOptions{CreateParents: true})
			require.NoError(t, err)
		}
	}

	// A Write checks write on the folder twice: before it stores the
	// content, and just before it creates the entry.
	fe.arm(2, other("/d/a.txt"))
	it, _, err := w.svc.Write(ctx, w.admin, "/d/a.txt", []byte("mine"), files.WriteOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(2), it.Entry.Version, "written over the other writer's file")
	got, err := w.read(w.admin, "/d/a.txt", ml)
	require.NoError(t, err)
	require.Equal(t, "mine", got)

	fe.arm(2, other("/d/b.txt"))
	_, _, err = w.svc.Write(ctx, w.admin, "/d/b.txt", []byte("mine"), files.WriteOptions{ExpectedVersion: files.MustNotExist})
	require.ErrorIs(t, err, errs.AlreadyExists)
	got, err = w.read(w.admin, "/d/b.txt", ml)
	require.NoError(t, err)
	require.Equal(t, "theirs", got)

	// mkdir -p checks write on the deepest existing folder, then creates.
	fe.arm(1, func() {
		_, _, err := w.svc.Mkdir(ctx, w.admin, "/p", false)
		require.NoError(t, err)
	})
	it, _, err = w.svc.Mkdir(ctx, w.admin, "/p/q", true)
	require.NoError(t, err)
	require.Equal(t, paths.MustParse("/p/q"), it.Path)

	fe.arm(1, other("/r"))
	_, _, err = w.svc.Mkdir(ctx, w.admin, "/r/s", true)
	require.ErrorIs(t, err, errs.FailedPrecondition)
	require.Contains(t, err.Error(), "/r is a file")

	// A caller gone by the time it retries: the retry fails with its
	// context's error, and the other writer's file stands.
	cctx, cancel := context.WithCancel(ctx)
	fe.arm(2, func() { other("/d/c.txt")(); cancel() })
	_, _, err = w.svc.Write(cctx, w.admin, "/d/c.txt", []byte("mine"), files.WriteOptions{})
	require.ErrorIs(t, err, context.Canceled)
	got, err = w.read(w.admin, "/d/c.txt", ml)
	require.NoError(t, err)
	require.Equal(t, "theirs", got)
}

func TestServiceAccessors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 8, MaxFileBytes: 64, UploadTTL: time.Hour}})
	ctx := context.Background()
	l := w.svc.Limits()
	require.Equal(t, int64(8), l.MaxUnaryBytes)
	require.Equal(t, files.DefaultGlobMaxVisit, l.GlobMaxVisit, "zero limits take their defaults")

	w.write(w.admin, "/d/f.txt", "f")
	obj, toks, err := w.svc.Object(ctx, "z1", "/d/f.txt")
	require.NoError(t, err)
	require.Equal(t, "file", obj.Type)
	require.NotEmpty(t, toks)
	_, _, err = w.svc.Object(ctx, "z1", "/d/none")
	require.ErrorIs(t, err, errs.NotFound)
	_, _, err = w.svc.Object(ctx, "z1", "d")
	require.ErrorIs(t, err, errs.InvalidArgument)

	for _, m := range []fs.FS{files.SQLiteMigrations(), files.PostgresMigrations()} {
		sqls, err := fs.Glob(m, "*.sql")
		require.NoError(t, err)
		require.NotEmpty(t, sqls)
	}
}

// TestGCWithDamagedReferences: a content hash in the versions or the
// upload parts that is not a hash stops the GC before it deletes anything.
func TestGCWithDamagedReferences(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 8, MaxFileBytes: 64, UploadTTL: time.Hour}})
	ctx := context.Background()
	w.write(w.admin, "/a.txt", "a")
	up, err := w.svc.BeginUpload(ctx, w.admin, "/u.txt", 0, files.WriteOptions{})
	require.NoError(t, err)
	_, err = w.svc.AppendUpload(ctx, w.admin, up.ID, 0, []byte("part"))
	require.NoError(t, err)
	orphan, err := w.content.Write(ctx, strings.NewReader("saved, never referenced"), -1)
	require.NoError(t, err)
	require.NoError(t, w.content.Save(ctx, w.db, orphan))

	for _, q := range []string{
		`UPDATE files_upload_parts SET content_hash = 'bad'`,
		`UPDATE versions_versions SET content_hash = 'bad'`,
	} {
		_, err = w.db.Exec(q)
		require.NoError(t, err)
		_, err = w.content.GC(ctx, 0, w.svc.Referencers()...)
		require.ErrorIs(t, err, errs.InvalidArgument, q)
		_, err = w.content.Object(ctx, w.db, orphan.Hash)
		require.NoError(t, err, "nothing deleted")
	}
	_, err = w.db.Exec(`DROP TABLE files_upload_parts`)
	require.NoError(t, err)
	_, err = w.content.GC(ctx, 0, w.svc.Referencers()[1])
	require.ErrorContains(t, err, "files_upload_parts")
}

// TestListScansPastHiddenEntries: a page of what the caller may read is
// filled from later batches when the first batch of candidates is mostly
// hidden, and the last page has no token.
func TestListScansPastHiddenEntries(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	var visible []string
	for i := range 130 {
		p := fmt.Sprintf("/f%03d.txt", i)
		w.write(w.admin, p, "x")
		if i%40 == 5 {
			w.grant(p, "viewer", "member")
			visible = append(visible, p)
		}
	}
	// The zone's root is open to members; its entries are filtered.
	items, next, err := w.svc.List(ctx, w.member, "/", 10, "", ml)
	require.NoError(t, err)
	require.Empty(t, next, "all that is visible fits one page")
	var got []string
	for _, it := range items {
		got = append(got, string(it.Path))
	}
	require.Equal(t, visible, got)
}
