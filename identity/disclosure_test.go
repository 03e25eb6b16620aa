package identity

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
)

// fakePaths stands in for the file plane: /secret exists (a folder the
// caller cannot read), nothing else does. Like files.Service.Object, it
// checks nothing.
type fakePaths struct{}

func (fakePaths) Object(_ context.Context, _, path string) (authz.ObjectRef, []authz.Token, error) {
	if path == "/secret" {
		return authz.Obj("folder", "fld_secret0123456789"), nil, nil
	}
	return authz.ObjectRef{}, nil, errs.E(errs.NotFound, "%s not found", path)
}

// TestReview_CheckPathLeaksExistence: Check about oneself on a path hides a
// missing path as "denied", but an existing path is checked with whatever
// permission name the caller sends. A name that passes permissionRE but is
// not a folder/file permission (access, manage, membership, view) makes
// SpiceDB fail for an existing path only: InvalidArgument (whose message
// also echoes the internal object and user ids) versus a plain denial for a
// missing one. Any zone member can probe every path of its zone.
func TestReview_CheckPathLeaksExistence(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	bob := f.user(t, "bob", "", false)

	// A permission paths do not have is refused before anything is
	// resolved: the same answer, and no internal ids, whether or not the
	// path exists.
	_, errMissing := f.svc.Check(ctx, bob, fakePaths{}, "/nothere", "access", "", authz.MinimizeLatency())
	_, errHidden := f.svc.Check(ctx, bob, fakePaths{}, "/secret", "access", "", authz.MinimizeLatency())
	require.ErrorIs(t, errMissing, errs.InvalidArgument)
	require.ErrorIs(t, errHidden, errs.InvalidArgument)
	require.Equal(t, strings.ReplaceAll(errMissing.Error(), "/nothere", "P"), strings.ReplaceAll(errHidden.Error(), "/secret", "P"))
	require.NotContains(t, errHidden.Error(), "fld_secret", "internal ids must not reach the caller")

	// A real permission: missing and hidden are both just denied.
	dMissing, errMissing := f.svc.Check(ctx, bob, fakePaths{}, "/nothere", "read", "", authz.MinimizeLatency())
	require.NoError(t, errMissing)
	require.False(t, dMissing.Allowed)
	dHidden, errHidden := f.svc.Check(ctx, bob, fakePaths{}, "/secret", "read", "", authz.MinimizeLatency())
	require.NoError(t, errHidden)
	require.False(t, dHidden.Allowed)
}

// TestReview_KeyOwnerLeaksOtherZoneUsers: keyOwner promises "a user the
// caller may not administer is NotFound", but a user of another zone that
// exists yields `user "default/bob" not found` while a missing one yields
// `user "nobody" not found in zone "default"`: the messages tell them apart.
// (The same pattern is in mayManageGroup for groups of other zones.)
func TestReview_KeyOwnerLeaksOtherZoneUsers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, err := f.svc.CreateZone(ctx, f.admin, "acme")
	require.NoError(t, err)
	acmeAdmin := f.user(t, "root", "acme", true)
	f.user(t, "bob", "", false)

	_, _, existing := f.svc.CreateAPIKey(ctx, acmeAdmin, "default/bob", "", 0)
	_, _, missing := f.svc.CreateAPIKey(ctx, acmeAdmin, "default/nobody", "", 0)
	require.ErrorIs(t, existing, errs.NotFound)
	require.ErrorIs(t, missing, errs.NotFound)
	norm := func(err error, name string) string { return strings.ReplaceAll(err.Error(), name, "NAME") }
	require.Equal(t, norm(missing, "nobody"), norm(existing, "bob"))
}

// TestReview_CheckSubjectProbesOtherZones: Check resolves the subject (in any
// zone) before deciding whether the caller may ask about others, so a plain
// member learns whether a user exists in any zone: PermissionDenied if it
// does, NotFound if not.
func TestReview_CheckSubjectProbesOtherZones(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, err := f.svc.CreateZone(ctx, f.admin, "acme")
	require.NoError(t, err)
	f.user(t, "ceo", "acme", false)
	bob := f.user(t, "bob", "", false)

	_, existing := f.svc.Check(ctx, bob, nil, "zone:default", "access", "user:acme/ceo", authz.FullyConsistent())
	_, missing := f.svc.Check(ctx, bob, nil, "zone:default", "access", "user:acme/nobody", authz.FullyConsistent())
	require.Error(t, existing)
	require.Error(t, missing)
	require.Equal(t, errs.PermissionDenied.Error(), kind(missing), "asking about others is refused before the subject is looked up")
	require.Equal(t, kind(missing), kind(existing), "existing=%v missing=%v", existing, missing)
	require.Equal(t, existing.Error(), missing.Error())
}

func kind(err error) string {
	for _, k := range []error{errs.NotFound, errs.PermissionDenied, errs.InvalidArgument} {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return err.Error()
}

// TestReviewSound_DeepCycleRefused: a cycle through three levels of nesting
// is refused (checked and found sound).
func TestReviewSound_DeepCycleRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, g := range []string{"a", "b", "c", "d"} {
		_, _, err := f.svc.CreateGroup(ctx, f.admin, g, "")
		require.NoError(t, err)
	}
	for _, e := range [][2]string{{"a", "b"}, {"b", "c"}, {"c", "d"}} {
		_, err := f.svc.AddGroupMember(ctx, f.admin, e[0], "group:"+e[1])
		require.NoError(t, err)
	}
	_, err := f.svc.AddGroupMember(ctx, f.admin, "d", "group:a")
	require.ErrorIs(t, err, errs.InvalidArgument)
	_, err = f.svc.AddGroupMember(ctx, f.admin, "c", "group:a#member")
	require.ErrorIs(t, err, errs.InvalidArgument)
}
