package files_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// kindOf names an error's domain kind, for comparing what a caller sees.
func kindOf(err error) string {
	if err == nil {
		return "ok"
	}
	for _, k := range []error{errs.NotFound, errs.PermissionDenied, errs.FailedPrecondition, errs.AlreadyExists,
		errs.InvalidArgument, errs.Aborted} {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return "other: " + err.Error()
}

// A zone member with no grant may read the root but not write it; creating
// below a root-level name it cannot see answers as creating below one that
// does not exist, so no member can probe which top-level names exist.
func TestCreatingBelowAHiddenNameAnswersAsBelowAMissingOne(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/secret/plan.txt", "x")
	w.write(w.admin, "/secret.txt", "x")
	m := w.member

	probes := []struct {
		name string
		call func(name string) error
	}{
		{"Write /NAME", func(n string) error {
			_, _, err := w.svc.Write(ctx, m, "/"+n, []byte("x"), files.WriteOptions{})
			return err
		}},
		{"Write /NAME/x create_parents", func(n string) error {
			_, _, err := w.svc.Write(ctx, m, "/"+n+"/x.txt", []byte("x"), files.WriteOptions{CreateParents: true})
			return err
		}},
		{"BeginUpload /NAME", func(n string) error {
			_, err := w.svc.BeginUpload(ctx, m, "/"+n, 1, files.WriteOptions{})
			return err
		}},
		{"Mkdir -p /NAME/x", func(n string) error {
			_, _, err := w.svc.Mkdir(ctx, m, "/"+n+"/x", true)
			return err
		}},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			existing := "secret"
			if strings.HasPrefix(p.name, "Write /NAME") && !strings.Contains(p.name, "create_parents") ||
				strings.HasPrefix(p.name, "BeginUpload") {
				existing = "secret.txt"
			}
			hidden := p.call(existing)
			absent := p.call("no-such-" + existing)
			require.Error(t, hidden)
			require.Error(t, absent)
			require.Equal(t, kindOf(absent), kindOf(hidden),
				"an existing hidden name must answer like an absent one: hidden=%v absent=%v", hidden, absent)
		})
	}
}

// Creating below a hidden folder and below an absent one fail with the same
// code and the same words.
func TestCreateMessagesDoNotTellHiddenFromMissing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/secret/plan.txt", "x")
	m := w.member
	norm := func(err error, name string) string { return strings.ReplaceAll(err.Error(), name, "NAME") }

	_, _, hidden := w.svc.Write(ctx, m, "/secret/new.txt", []byte("x"), files.WriteOptions{})
	_, _, absent := w.svc.Write(ctx, m, "/nothere/new.txt", []byte("x"), files.WriteOptions{})
	require.Equal(t, norm(absent, "/nothere"), norm(hidden, "/secret"), "Write")

	_, _, hidden = w.svc.Mkdir(ctx, m, "/secret/d", false)
	_, _, absent = w.svc.Mkdir(ctx, m, "/nothere/d", false)
	require.Equal(t, norm(absent, "/nothere"), norm(hidden, "/secret"), "Mkdir")

	w.write(w.admin, "/mine/a.txt", "x")
	w.grant("/mine", "owner", "member")
	_, _, hidden = w.svc.Move(ctx, m, "/mine/a.txt", "/secret/a.txt")
	_, _, absent = w.svc.Move(ctx, m, "/mine/a.txt", "/nothere/a.txt")
	require.Equal(t, norm(absent, "/nothere"), norm(hidden, "/secret"), "Move")
}

// An editor of one file (write, no share, no admin) may not move it into a
// folder it owns: that would make it the file's owner by inheritance (share
// and admin) and take the file from everyone who read it through its old
// folder. Moving out of a folder takes more than write on the file.
func TestAnEditorCannotMoveAFileIntoItsOwnFolder(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/team/doc.txt", "x")
	w.write(w.admin, "/home-editor/keep.txt", "x")
	w.grant("/team/doc.txt", "editor", "editor")
	w.grant("/home-editor", "owner", "editor")
	w.grant("/team", "viewer", "viewer")

	share := func() bool {
		r, err := w.tree.Resolve(ctx, "z1", paths.MustParse("/team/doc.txt"))
		if err != nil {
			r, err = w.tree.Resolve(ctx, "z1", paths.MustParse("/home-editor/doc.txt"))
		}
		require.NoError(t, err)
		d, err := w.engine.Check(ctx, authz.CheckItem{Resource: r.Entry().Object(), Permission: "share",
			Subject: authz.Subject("user", "editor")}, authz.FullyConsistent())
		require.NoError(t, err)
		return d.Allowed
	}
	require.False(t, share(), "an editor may not share")

	_, _, err := w.svc.Move(ctx, w.editor, "/team/doc.txt", "/home-editor/doc.txt")
	if err == nil {
		require.False(t, share(), "a Move by an editor must not give it share/admin on the file")
	}
	require.ErrorIs(t, err, errs.PermissionDenied, "moving a file out of its folder takes more than write on it")
}

// Moving or copying onto "/" is refused as invalid (it would otherwise be
// an entry under the root with an empty name, reachable by no path).
func TestMoveOrCopyOntoTheRootIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/a.txt", "x")
	_, _, err := w.svc.Copy(ctx, w.admin, "/a.txt", "/")
	require.ErrorIs(t, err, errs.InvalidArgument, "copy to / must be refused")
	_, _, err = w.svc.Move(ctx, w.admin, "/a.txt", "/")
	require.ErrorIs(t, err, errs.InvalidArgument, "move to / must be refused")
}
