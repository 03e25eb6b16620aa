package files_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
)

// PermissionsOf says what each caller may do with a folder and with what
// List showed them in it, grants and denials alike; a folder the caller
// may not read is NotFound, as for List.
func TestPermissionsOfSaysWhatEachCallerMayDo(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/d/f.txt", "f")
	w.write(w.admin, "/d/g.txt", "g")
	w.grant("/d", "owner", "owner")
	w.grant("/d", "viewer", "viewer")
	tok := w.grant("/d/f.txt", "editor", "editor")

	type perms = files.Permissions
	cases := []struct {
		name   string
		c      access.Caller
		folder perms
		f, g   perms
	}{
		{"zone admin", w.admin, perms{Write: true, Share: true}, perms{Write: true, Share: true}, perms{Write: true, Share: true}},
		{"owner of the folder", w.owner, perms{Write: true, Share: true}, perms{Write: true, Share: true}, perms{Write: true, Share: true}},
		{"viewer of the folder", w.viewer, perms{}, perms{}, perms{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, _, err := w.svc.List(ctx, tc.c, "/d", 0, "", authz.AtLeastAsFresh(tok))
			require.NoError(t, err)
			require.Len(t, items, 2)
			folder, each, err := w.svc.PermissionsOf(ctx, tc.c, "/d", items, authz.AtLeastAsFresh(tok))
			require.NoError(t, err)
			require.Equal(t, tc.folder, folder)
			require.Equal(t, []perms{tc.f, tc.g}, each)
		})
	}

	// The editor of one file cannot read its folder: NotFound, as a stranger gets.
	items, _, err := w.svc.List(ctx, w.editor, "/", 0, "", authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.Empty(t, items, "the editor cannot read /d")
	_, _, err = w.svc.PermissionsOf(ctx, w.editor, "/d", nil, authz.AtLeastAsFresh(tok))
	require.ErrorIs(t, err, errs.NotFound)

	for _, c := range []access.Caller{w.member, w.outsider} {
		_, _, err := w.svc.PermissionsOf(ctx, c, "/d", nil, authz.AtLeastAsFresh(tok))
		require.ErrorIs(t, err, errs.NotFound, "%s", c.User)
	}
	_, _, err = w.svc.PermissionsOf(ctx, w.admin, "d", nil, authz.AtLeastAsFresh(tok))
	require.ErrorIs(t, err, errs.InvalidArgument)
}
