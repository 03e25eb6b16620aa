package files_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// TestPermissionMatrix runs every FileService operation as each role.
func TestPermissionMatrix(t *testing.T) {
	t.Parallel()
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
		c     access.Caller
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
	t.Parallel()
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

// TestDeleteTakesWriteOnTheParent: an entry's name lives in its parent, so
// deleting it, like moving it out, takes write on the folder it is in. An
// editor of a shared folder may delete what is inside it but not the
// folder itself, nor an editor of a file the file; the owner of the folder
// above (and a zone admin) still may.
func TestDeleteTakesWriteOnTheParent(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/home/shared/inner.txt", "x")
	w.write(w.admin, "/home/shared/sub/deeper.txt", "x")
	w.write(w.admin, "/home/doc.txt", "x")
	w.write(w.admin, "/home/doc2.txt", "x")
	w.grant("/home", "owner", "owner")
	w.grant("/home/shared", "editor", "editor")
	tok := w.grant("/home/doc.txt", "editor", "viewer") // user viewer: an editor of this one file

	// Denied: the shared folder itself, and a file shared alone.
	_, err := w.svc.Delete(ctx, w.editor, "/home/shared", true)
	require.ErrorIs(t, err, errs.PermissionDenied)
	require.ErrorContains(t, err, "takes write on the folder it is in, /home")
	_, err = w.svc.Stat(ctx, w.owner, "/home/shared/inner.txt", authz.AtLeastAsFresh(tok))
	require.NoError(t, err, "the refused delete removed nothing")
	_, err = w.svc.Delete(ctx, w.viewer, "/home/doc.txt", false)
	require.ErrorIs(t, err, errs.PermissionDenied)

	// Allowed: what is inside the shared folder, to its editor.
	_, err = w.svc.Delete(ctx, w.editor, "/home/shared/inner.txt", false)
	require.NoError(t, err)
	_, err = w.svc.Delete(ctx, w.editor, "/home/shared/sub", true)
	require.NoError(t, err)
	// And the folder and the file to the owner of the folder above, and a
	// top-level folder to the zone admin.
	_, err = w.svc.Delete(ctx, w.owner, "/home/shared", true)
	require.NoError(t, err)
	_, err = w.svc.Delete(ctx, w.owner, "/home/doc.txt", false)
	require.NoError(t, err)
	_, err = w.svc.Delete(ctx, w.admin, "/home", true)
	require.NoError(t, err)
	// Still hidden, not denied, to whoever may not see the entry.
	w.write(w.admin, "/other/x.txt", "x")
	_, err = w.svc.Delete(ctx, w.member, "/other/x.txt", false)
	require.ErrorIs(t, err, errs.NotFound)
}
