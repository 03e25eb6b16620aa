package identity

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
)

// viewedPaths stands in for the file plane: /viewed is a file bob may read
// (but not write); every other path is missing.
type viewedPaths struct{}

var viewedFile = authz.Obj("file", "fil_viewed0123456789")

func (viewedPaths) Object(_ context.Context, _, path string) (authz.ObjectRef, []authz.Token, error) {
	if path == "/viewed" {
		return viewedFile, nil, nil
	}
	return authz.ObjectRef{}, nil, errs.E(errs.NotFound, "%s not found", path)
}

// TestCheckBadResources: a resource Check cannot parse is InvalidArgument
// and says what is wrong, before anything is resolved.
func TestCheckBadResources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	bob := f.user(t, "bob", "", false)
	for _, tc := range []struct{ resource, permission, text string }{
		{"zone", "access", "must be zone:NAME or group:NAME"},
		{"zone:bad name", "access", "resource"},
		{"/a/path", "read", "paths are not served here"},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			for _, p := range []Principal{bob, f.admin} {
				_, err := f.svc.Check(ctx, p, nil, tc.resource, tc.permission, "", authz.MinimizeLatency())
				require.ErrorIs(t, err, errs.InvalidArgument)
				require.Contains(t, err.Error(), tc.text)
			}
		})
	}
}

// TestCheckPathPermissions: about oneself, a path one may read but not
// write is denied at the engine's revision; a hidden or missing one is a
// plain denial without one. About others, a non-admin is refused before
// the path is resolved, and the zone's admin gets the engine's answer.
func TestCheckPathPermissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	bob := f.user(t, "bob", "", false)
	f.user(t, "carol", "", false)
	_, err := f.engine.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(viewedFile, "viewer", userSubj(bob.User.ID)))})
	require.NoError(t, err)
	fc := authz.FullyConsistent()

	d, err := f.svc.Check(ctx, bob, viewedPaths{}, "/viewed", "read", "", fc)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, err = f.svc.Check(ctx, bob, viewedPaths{}, "/viewed", "write", "", fc)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.NotEmpty(t, d.At, "a readable path's denial is the engine's answer")
	d, err = f.svc.Check(ctx, bob, viewedPaths{}, "/missing", "write", "", fc)
	require.NoError(t, err)
	require.Equal(t, authz.Decision{}, d, "a missing path is a plain denial")

	_, err = f.svc.Check(ctx, bob, viewedPaths{}, "/viewed", "read", "carol", fc)
	require.ErrorIs(t, err, errs.PermissionDenied)
	_, err = f.svc.Check(ctx, bob, viewedPaths{}, "/missing", "read", "carol", fc)
	require.ErrorIs(t, err, errs.PermissionDenied, "refused before the path is resolved: the same answer")

	d, err = f.svc.Check(ctx, f.admin, viewedPaths{}, "/viewed", "read", "bob", fc)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, err = f.svc.Check(ctx, f.admin, viewedPaths{}, "/viewed", "read", "carol", fc)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	_, err = f.svc.Check(ctx, f.admin, viewedPaths{}, "/missing", "read", "", fc)
	require.ErrorIs(t, err, errs.NotFound, "the zone's admin learns that a path is missing")
}

// TestRevokeAPIKeyRefusals: an empty id is InvalidArgument; an unknown key
// and another user's key (for a caller who does not administer them) are
// the same NotFound, and the key keeps working; the zone's admin may
// revoke it.
func TestRevokeAPIKeyRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	bob := f.user(t, "bob", "", false)
	f.user(t, "carol", "", false)
	k, secret, err := f.svc.CreateAPIKey(ctx, f.admin, "carol", "", 0)
	require.NoError(t, err)

	require.ErrorIs(t, f.svc.RevokeAPIKey(ctx, bob, ""), errs.InvalidArgument)
	errUnknown := f.svc.RevokeAPIKey(ctx, bob, "key_nosuchkey")
	require.ErrorIs(t, errUnknown, errs.NotFound)
	errOther := f.svc.RevokeAPIKey(ctx, bob, k.ID)
	require.ErrorIs(t, errOther, errs.NotFound)
	_, err = f.svc.Authenticate(ctx, secret)
	require.NoError(t, err, "a refused revoke leaves the key working")

	require.NoError(t, f.svc.RevokeAPIKey(ctx, f.admin, k.ID))
	_, err = f.svc.Authenticate(ctx, secret)
	require.Error(t, err)
}

// TestListGroupMembers: a group's direct members, users and groups, by
// qualified name; nested members are not listed; to another zone's user
// the group is NotFound, as a missing one is.
func TestListGroupMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.user(t, "bob", "", false)
	f.user(t, "carol", "", false)
	_, err := f.svc.CreateZone(ctx, f.admin, "other")
	require.NoError(t, err)
	eve := f.user(t, "eve", "other", false)
	for _, g := range []string{"eng", "db"} {
		_, _, err := f.svc.CreateGroup(ctx, f.admin, g, "")
		require.NoError(t, err)
	}
	for _, m := range [][2]string{{"eng", "user:bob"}, {"eng", "group:db"}, {"db", "carol"}} {
		_, err := f.svc.AddGroupMember(ctx, f.admin, m[0], m[1])
		require.NoError(t, err)
	}
	got, err := f.svc.ListGroupMembers(ctx, f.admin, "eng")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"user:default/bob", "group:default/db"}, got)

	_, err = f.svc.AddGroupMember(ctx, f.admin, "eng", "user:other/eve")
	require.ErrorIs(t, err, errs.InvalidArgument)
	require.Contains(t, err.Error(), "own zone only")

	_, errHidden := f.svc.ListGroupMembers(ctx, eve, "default/eng")
	_, errMissing := f.svc.ListGroupMembers(ctx, eve, "default/nosuch")
	require.ErrorIs(t, errHidden, errs.NotFound)
	require.ErrorIs(t, errMissing, errs.NotFound)
}
