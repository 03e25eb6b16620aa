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

// Check about oneself on a path answers a path the caller cannot read as a
// missing one: a permission paths do not have (access, manage, membership,
// view) is refused before anything is resolved, and a denial on an existing
// path is the same plain denial, without the engine's message (which names
// internal ids), as on a missing one. A member cannot probe its zone's
// paths.
func TestCheckOnAPathAnswersHiddenAsMissing(t *testing.T) {
	t.Parallel()
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

// A user the caller may not administer is NotFound in the same words as a
// missing one: another zone's admin cannot tell an existing user of this
// zone from a name that is not there.
func TestAnotherZonesUserIsNamedAsAMissingOne(t *testing.T) {
	t.Parallel()
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

// Asking Check about another subject is refused before the subject is
// looked up, so a plain member learns nothing of which users exist in any
// zone: the same PermissionDenied, word for word, for one that exists and
// one that does not.
func TestAskingAboutOthersIsRefusedBeforeTheSubjectIsResolved(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
