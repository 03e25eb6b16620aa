package sharing_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/sharing"
)

// home makes folder p (by the admin) owned by c alone: c is its only direct
// owner, as if c had created it.
func (w *world) home(c access.Caller, p string) {
	w.t.Helper()
	ctx := context.Background()
	_, _, err := w.files.Mkdir(ctx, w.admin, p, true)
	require.NoError(w.t, err)
	w.grant(w.admin, p, "user:"+c.User[len("user_"):], "owner")
	_, err = w.share.Revoke(ctx, w.admin, p, "user:admin", "owner")
	require.NoError(w.t, err)
}

// TestWhoMayShare: share takes an owner of the entry or of a folder above
// it, or a zone admin; editors and viewers may not; the entry is NotFound
// to those who may not read it; bad subjects and roles say what is wrong.
func TestWhoMayShare(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/doc.txt", "hello")
	w.grant(w.alice, "/proj", "user:bob", "editor")
	w.grant(w.alice, "/proj", "user:carol", "viewer")

	cases := []struct {
		name    string
		c       access.Caller
		path    string
		subject string
		role    sharing.Role
		want    error // nil: allowed
	}{
		{"owner", w.alice, "/proj", "user:carol", "viewer", nil},
		{"owner, on a file below", w.alice, "/proj/doc.txt", "group:design", "editor", nil},
		{"owner grants owner", w.alice, "/proj", "group:berlin", "owner", nil},
		{"zone admin", w.admin, "/proj/doc.txt", "user:carol", "viewer", nil},
		{"group subject", w.alice, "/proj", "group:design", "editor", nil},
		{"another zone's group", w.alice, "/proj", "group:z2/ext", "viewer", nil},
		{"another zone's user as editor", w.alice, "/proj", "user:z2/eve", "editor", nil},
		{"editor may not share", w.bob, "/proj/doc.txt", "user:dave", "viewer", errs.PermissionDenied},
		{"viewer may not share", w.carol, "/proj", "user:dave", "viewer", errs.PermissionDenied},
		{"no access: not found", w.dave, "/proj", "user:dave", "viewer", errs.NotFound},
		{"other zone: not found", w.eve, "/proj", "user:eve", "viewer", errs.NotFound},
		{"missing entry", w.alice, "/proj/nope.txt", "user:dave", "viewer", errs.NotFound},
		{"another zone's user may not own", w.alice, "/proj", "user:z2/eve", "owner", errs.InvalidArgument},
		{"nonexistent user", w.alice, "/proj", "user:ghost", "viewer", errs.InvalidArgument},
		{"nonexistent group", w.alice, "/proj", "group:ghosts", "viewer", errs.InvalidArgument},
		{"nonexistent zone", w.alice, "/proj", "user:z9/bob", "viewer", errs.InvalidArgument},
		{"malformed subject", w.alice, "/proj", "bob", "viewer", errs.InvalidArgument},
		{"unknown role", w.alice, "/proj", "user:dave", "admin", errs.InvalidArgument},
		{"empty role", w.alice, "/proj", "user:dave", "", errs.InvalidArgument},
		{"bad path", w.alice, "proj", "user:dave", "viewer", errs.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := w.share.Grant(ctx, tc.c, tc.path, tc.subject, tc.role)
			if tc.want == nil {
				require.NoError(t, err)
				require.NotEmpty(t, tok)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.Empty(t, tok)
		})
	}
	t.Run("messages say which", func(t *testing.T) {
		_, err := w.share.Grant(ctx, w.alice, "/proj", "user:ghost", "viewer")
		require.ErrorContains(t, err, `"user:ghost" does not exist`)
		_, err = w.share.Grant(ctx, w.alice, "/proj", "user:dave", "admin")
		require.ErrorContains(t, err, `invalid role: "admin" is not a role`)
		_, err = w.share.Grant(ctx, w.bob, "/proj", "user:dave", "viewer")
		require.ErrorContains(t, err, "you may not share /proj")
	})
	t.Run("an owner of a folder above may share below", func(t *testing.T) {
		w.grant(w.alice, "/proj", "user:carol", "owner")
		w.grant(w.carol, "/proj/doc.txt", "user:dave", "viewer")
		w.grant(w.carol, "/proj/doc.txt", "user:dave", "viewer") // again: no change, no error
	})
	t.Run("nothing was granted by the refused calls", func(t *testing.T) {
		// eve got editor only, never owner; dave nothing.
		rels, err := w.engine.Read(ctx, authz.Filter{Resource: authz.ObjectRef{Type: "folder"}, Subject: &authz.SubjectRef{Object: authz.Obj("user", "user_eve")}}, authz.FullyConsistent())
		require.NoError(t, err)
		require.Len(t, rels, 1)
		require.Equal(t, "editor", rels[0].Relation)
		for typ, n := range map[string]int{"folder": 0, "file": 1} {
			rels, err = w.engine.Read(ctx, authz.Filter{Resource: authz.ObjectRef{Type: typ}, Subject: &authz.SubjectRef{Object: authz.Obj("user", "user_dave")}}, authz.FullyConsistent())
			require.NoError(t, err)
			require.Len(t, rels, n, "only carol's grant to dave, on the file")
		}
	})
}

// TestRevoke: revocation is visible at once to a caller with the revoke's
// token; only direct grants are revoked where they are; the last direct
// owner stays.
func TestRevoke(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/doc.txt", "hello")

	tok := w.grant(w.alice, "/proj", "user:bob", "viewer")
	got, err := w.read(w.bob, "/proj/doc.txt", tok)
	require.NoError(t, err)
	require.Equal(t, "hello", got)

	rtok, err := w.share.Revoke(ctx, w.alice, "/proj", "user:bob", "viewer")
	require.NoError(t, err)
	_, err = w.read(w.bob, "/proj/doc.txt", rtok)
	require.ErrorIs(t, err, errs.NotFound, "revoked: gone at once with the revoke's token")
	// Without a token too: the revoke's token is recorded on the entry.
	_, err = w.read(w.bob, "/proj/doc.txt", "")
	require.ErrorIs(t, err, errs.NotFound)

	t.Run("nothing to revoke", func(t *testing.T) {
		_, err := w.share.Revoke(ctx, w.alice, "/proj", "user:bob", "viewer")
		require.ErrorIs(t, err, errs.NotFound)
		require.ErrorContains(t, err, "user:bob has no viewer grant on /proj")
	})
	t.Run("inherited grants are revoked on their folder", func(t *testing.T) {
		w.grant(w.alice, "/proj", "user:carol", "viewer")
		_, err := w.share.Revoke(ctx, w.alice, "/proj/doc.txt", "user:carol", "viewer")
		require.ErrorIs(t, err, errs.NotFound)
		got, err := w.read(w.carol, "/proj/doc.txt", "")
		require.NoError(t, err, "the folder's grant still stands")
		require.Equal(t, "hello", got)
	})
	t.Run("editors may not revoke", func(t *testing.T) {
		w.grant(w.alice, "/proj", "user:bob", "editor")
		_, err := w.share.Revoke(ctx, w.bob, "/proj", "user:carol", "viewer")
		require.ErrorIs(t, err, errs.PermissionDenied)
	})
	t.Run("the last direct owner stays", func(t *testing.T) {
		_, err := w.share.Revoke(ctx, w.alice, "/proj", "user:alice", "owner")
		require.ErrorIs(t, err, errs.FailedPrecondition)
		require.ErrorContains(t, err, "last direct owner")
		w.grant(w.alice, "/proj", "user:dave", "owner")
		_, err = w.share.Revoke(ctx, w.alice, "/proj", "user:alice", "owner")
		require.NoError(t, err, "dave still owns it")
		_, err = w.share.Revoke(ctx, w.dave, "/proj", "user:dave", "owner")
		require.ErrorIs(t, err, errs.FailedPrecondition)
		// alice still owns doc.txt (she created it) but not /proj.
		_, err = w.share.Grant(ctx, w.alice, "/proj", "user:bob", "viewer")
		require.ErrorIs(t, err, errs.NotFound, "alice no longer reads /proj")
		_, err = w.share.Grant(ctx, w.alice, "/proj/doc.txt", "user:bob", "viewer")
		require.NoError(t, err)
	})
}

// TestCrossZone: a grant to another zone's subject is the one thing that
// crosses zones, and it shows that entry only.
func TestCrossZone(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/doc.txt", "shared")
	w.write(w.alice, "/proj/other.txt", "private")

	// eve acting on zone z1's tree (as a zone selector would make her).
	eveInZ1 := access.Caller{User: w.eve.User, Zone: "z1"}
	_, err := w.read(eveInZ1, "/proj/doc.txt", "")
	require.ErrorIs(t, err, errs.NotFound, "before the grant")

	tok := w.grant(w.alice, "/proj/doc.txt", "group:z2/ext", "viewer")
	got, err := w.read(eveInZ1, "/proj/doc.txt", tok)
	require.NoError(t, err)
	require.Equal(t, "shared", got)
	for _, p := range []string{"/proj/other.txt"} {
		_, err := w.read(eveInZ1, p, tok)
		require.ErrorIs(t, err, errs.NotFound, p)
	}
	_, _, err = w.files.List(ctx, eveInZ1, "/proj", 0, "", authz.AtLeastAsFresh(tok))
	require.ErrorIs(t, err, errs.NotFound, "the folder above is not shared")
	_, _, err = w.files.List(ctx, eveInZ1, "/", 0, "", authz.AtLeastAsFresh(tok))
	require.ErrorIs(t, err, errs.NotFound, "nor is the zone's root")
	_, _, err = w.files.Write(ctx, eveInZ1, "/proj/doc.txt", []byte("x"), files.WriteOptions{})
	require.ErrorIs(t, err, errs.PermissionDenied, "a viewer")

	shared, _, err := w.share.SharedWithMe(ctx, w.eve, 0, "", authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.Len(t, shared, 1)
	require.Equal(t, "z1", shared[0].Zone)
	require.Equal(t, "doc.txt", shared[0].Item.Entry.Name)
	require.Empty(t, shared[0].Item.Path, "the path above belongs to the other zone")
	require.Equal(t, sharing.Viewer, shared[0].Role)
	require.Equal(t, "group:ext", shared[0].Via)

	rtok, err := w.share.Revoke(ctx, w.alice, "/proj/doc.txt", "group:z2/ext", "viewer")
	require.NoError(t, err)
	_, err = w.read(eveInZ1, "/proj/doc.txt", rtok)
	require.ErrorIs(t, err, errs.NotFound, "after the revoke")
}

// TestListGrants says who has access and why.
func TestListGrants(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/doc.txt", "x")
	w.grant(w.alice, "/proj", "group:design", "editor")
	tok := w.grant(w.alice, "/proj/doc.txt", "user:bob", "viewer")
	w.member("berlin", "bob", authz.Touch)
	w.link(w.alice, "/proj", sharing.LinkOptions{})

	grants, access, err := w.share.ListGrants(ctx, w.alice, "/proj/doc.txt", authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	type g struct {
		Name, Role, Path string
		Inherited        bool
	}
	var got []g
	for _, x := range grants {
		name := x.Name
		if x.Subject.Object.Type == "share_link" {
			name = "link"
		}
		got = append(got, g{name, string(x.Role), string(x.Path), x.Inherited})
	}
	require.ElementsMatch(t, []g{
		{"user:bob", "viewer", "/proj/doc.txt", false},
		{"user:alice", "owner", "/proj/doc.txt", false},
		{"user:alice", "owner", "/proj", true},
		{"group:design", "editor", "/proj", true},
		{"link", "viewer", "/proj", true},
	}, got)

	byUser := map[string]sharing.UserAccess{}
	for _, a := range access {
		byUser[a.Name] = a
	}
	require.Len(t, byUser, 3, "alice, bob and the zone admin: %v", access)
	require.Equal(t, "write", byUser["user:bob"].Permission)
	require.ElementsMatch(t, []string{"viewer on /proj/doc.txt", "editor on /proj via group:design"}, byUser["user:bob"].Reasons)
	require.Equal(t, "admin", byUser["user:alice"].Permission)
	require.Equal(t, "admin", byUser["user:admin"].Permission)
	require.Equal(t, []string{"admin of the zone"}, byUser["user:admin"].Reasons)

	_, _, err = w.share.ListGrants(ctx, w.bob, "/proj/doc.txt", authz.AtLeastAsFresh(tok))
	require.ErrorIs(t, err, errs.PermissionDenied, "an editor may not list grants")
	_, _, err = w.share.ListGrants(ctx, w.dave, "/proj/doc.txt", authz.AtLeastAsFresh(tok))
	require.ErrorIs(t, err, errs.NotFound)
}

// TestSharedWithMe lists grants to the caller and its groups (nested), not
// what it created, paged; a removal from the group takes them away.
func TestSharedWithMe(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/a/x.txt", "x")
	w.write(w.alice, "/proj/b.txt", "b")
	w.write(w.alice, "/proj/c.txt", "c")
	w.grant(w.alice, "/proj/a", "user:bob", "viewer")
	w.grant(w.alice, "/proj/b.txt", "group:design", "editor")
	w.grant(w.alice, "/proj/c.txt", "user:bob", "viewer")
	w.grant(w.alice, "/proj/c.txt", "user:bob", "editor")
	w.home(w.bob, "/bobs")
	w.write(w.bob, "/bobs/mine.txt", "m")
	mtok := w.member("berlin", "bob", authz.Touch)

	list := func(pageSize int, tok authz.Token) []string {
		t.Helper()
		var out []string
		next := ""
		for i := 0; ; i++ {
			page, n, err := w.share.SharedWithMe(ctx, w.bob, pageSize, next, authz.AtLeastAsFresh(tok))
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), pageSize)
			for _, s := range page {
				out = append(out, string(s.Item.Path)+" "+string(s.Role)+" "+s.Via)
			}
			if next = n; next == "" {
				return out
			}
			require.Less(t, i, 10)
		}
	}
	want := []string{
		"/bobs owner user:bob", // granted by the admin, not created by bob
		"/proj/a viewer user:bob",
		"/proj/b.txt editor group:design",
		"/proj/c.txt editor user:bob",
	}
	require.Equal(t, want, list(100, mtok))
	require.Equal(t, want, list(1, mtok), "paged one by one")
	require.Equal(t, want, list(3, mtok))

	rtok := w.member("berlin", "bob", authz.Delete)
	require.Equal(t, []string{want[0], want[1], want[3]}, list(100, rtok), "removed from the group")

	_, _, err := w.share.SharedWithMe(ctx, w.bob, 1001, "", authz.MinimizeLatency())
	require.ErrorIs(t, err, errs.InvalidArgument)
	_, _, err = w.share.SharedWithMe(ctx, w.bob, 0, "!!", authz.MinimizeLatency())
	require.ErrorIs(t, err, errs.InvalidArgument)
}
