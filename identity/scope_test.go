package identity

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
)

func TestServiceKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.user(t, "svc", "", false)
	alice := f.user(t, "alice", "", false)
	_, err := f.svc.CreateZone(ctx, f.admin, "acme")
	require.NoError(t, err)
	acmeRoot := f.user(t, "root", "acme", true)

	t.Run("an operator creates one, and its scope comes with the principal", func(t *testing.T) {
		for _, sc := range []Scope{ScopeCheck, ScopeWrite} {
			k, secret, err := f.svc.CreateScopedAPIKey(ctx, f.admin, "svc", "checks", 0, sc)
			require.NoError(t, err)
			require.Equal(t, sc, k.Scope)
			p, err := f.svc.Authenticate(ctx, secret)
			require.NoError(t, err)
			require.Equal(t, sc, p.Scope)
			require.Equal(t, "svc", p.User.Name)
		}
	})
	t.Run("a prefixed write key is stored in its parsed form", func(t *testing.T) {
		k, secret, err := f.svc.CreateScopedAPIKey(ctx, f.admin, "svc", "billing", 0, Scope("write:crm/, write:billing/"))
		require.NoError(t, err)
		require.Equal(t, Scope("write:billing/,write:crm/"), k.Scope)
		p, err := f.svc.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, []string{"billing/", "crm/"}, p.Scope.WritePrefixes())
		keys, _, err := f.svc.ListAPIKeys(ctx, f.admin, "svc")
		require.NoError(t, err)
		var scopes []Scope
		for _, k := range keys {
			scopes = append(scopes, k.Scope)
		}
		require.Contains(t, scopes, Scope("write:billing/,write:crm/"))

		_, _, err = f.svc.CreateScopedAPIKey(ctx, f.admin, "svc", "", 0, Scope("write:Billing"))
		require.ErrorIs(t, err, errs.InvalidArgument, "a malformed scope is refused at creation")
		_, _, err = f.svc.CreateScopedAPIKey(ctx, alice, "", "", 0, Scope("write:billing/"))
		require.ErrorIs(t, err, errs.PermissionDenied, "a user may not give itself a prefixed key either")
	})
	t.Run("a user's key has no scope", func(t *testing.T) {
		require.Equal(t, ScopeNone, alice.Scope)
		require.Equal(t, ScopeNone, f.admin.Scope)
	})
	t.Run("denials", func(t *testing.T) {
		_, _, err := f.svc.CreateScopedAPIKey(ctx, alice, "", "", 0, ScopeCheck)
		require.ErrorIs(t, err, errs.PermissionDenied, "a user may not give itself a service key")
		_, _, err = f.svc.CreateScopedAPIKey(ctx, acmeRoot, "acme/root", "", 0, ScopeWrite)
		require.ErrorIs(t, err, errs.PermissionDenied, "another zone's admin is no operator")
		_, secret, err := f.svc.CreateScopedAPIKey(ctx, f.admin, "admin", "", 0, ScopeWrite)
		require.NoError(t, err)
		opService, err := f.svc.Authenticate(ctx, secret)
		require.NoError(t, err)
		_, _, err = f.svc.CreateScopedAPIKey(ctx, opService, "svc", "", 0, ScopeCheck)
		require.ErrorIs(t, err, errs.PermissionDenied, "a service key does not mint service keys, even an operator's")
		_, _, err = f.svc.CreateScopedAPIKey(ctx, f.admin, "svc", "", 0, Scope("admin"))
		require.ErrorIs(t, err, errs.InvalidArgument)
	})
	t.Run("Allows", func(t *testing.T) {
		require.True(t, ScopeCheck.Allows(ScopeCheck))
		require.False(t, ScopeCheck.Allows(ScopeWrite))
		require.True(t, ScopeWrite.Allows(ScopeCheck))
		require.True(t, ScopeWrite.Allows(ScopeWrite))
		require.False(t, ScopeNone.Allows(ScopeCheck))
		require.False(t, ScopeNone.Allows(ScopeWrite))
	})
}

// TestParseScope: the accepted forms come back in their stored form; every
// malformed scope is InvalidArgument, and its message gives the accepted
// forms.
func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"check", "check"},
		{"write", "write"},
		{"write:billing/", "write:billing/"},
		{"write:acme/billing/", "write:acme/billing/"},
		{"write:crm/, write:billing/,write:crm/", "write:billing/,write:crm/"},
		{"write:billing_v2/", "write:billing_v2/"},
	} {
		got, err := ParseScope(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, Scope(tc.want), got, tc.in)
	}
	many := "write:aaa/"
	for i := 0; i < MaxScopePrefixes; i++ {
		many += ",write:aaa/"
	}
	for _, tc := range []struct{ in, says string }{
		{"write:", "names no definition prefix"},
		{"write:Billing/", "is not a definition prefix"},
		{"write:Billing", "is not a definition prefix"},
		{"write:../", "is not a definition prefix"},
		{"write:billing", `a prefix ends in "/" (write:billing/`},
		{"write:/", "is not a definition prefix"},
		{"write:billing//", "is not a definition prefix"},
		{"write:ab/", "is not a definition prefix"},
		{"write:billing/invoice", `a prefix ends in "/"`},
		{"write:*", "is not a definition prefix"},
		{"admin", "is not a scope"},
		{"read:billing/", "is not a scope"},
		{"check:billing/", "is not a scope"},
		{"WRITE", "is not a scope"},
		{"write,write:billing/", "does not combine"},
		{"check,write:billing/", "does not combine"},
		{"write:billing/,", "empty item"},
		{",", "empty item"},
		{many, "more than 16"},
	} {
		_, err := ParseScope(tc.in)
		require.ErrorIs(t, err, errs.InvalidArgument, tc.in)
		require.Contains(t, err.Error(), tc.says, tc.in)
		require.Contains(t, err.Error(), "accepted: check, write, or write:PREFIX", tc.in)
	}
}

// TestScopeConfinesWrites: what each scope may write, denials beside grants.
func TestScopeConfinesWrites(t *testing.T) {
	t.Parallel()
	billing, err := ParseScope("write:billing/")
	require.NoError(t, err)
	two, err := ParseScope("write:billing/,write:crm/")
	require.NoError(t, err)
	require.Equal(t, []string{"billing/"}, billing.WritePrefixes())
	require.Equal(t, []string{"billing/", "crm/"}, two.WritePrefixes())
	require.Nil(t, ScopeWrite.WritePrefixes(), "write is every definition, not a prefix list")
	require.Nil(t, ScopeCheck.WritePrefixes())

	require.True(t, billing.Allows(ScopeCheck), "a prefixed key reads")
	require.True(t, billing.Allows(ScopeWrite), "and makes write calls, confined by MayWriteDefinition")

	for _, tc := range []struct {
		scope Scope
		typ   string
		want  bool
	}{
		{billing, "billing/invoice", true},
		{billing, "billing/sub/invoice", true},
		{billing, "crm/contact", false},
		{billing, "billing_old/invoice", false},
		{billing, "billingx/invoice", false},
		{billing, "billing", false},
		{billing, "billing/", false},
		{billing, "", false},
		{billing, "xbilling/invoice", false},
		{two, "crm/contact", true},
		{two, "billing/invoice", true},
		{two, "hr/person", false},
		{ScopeWrite, "crm/contact", true},
		{ScopeWrite, "document", true},
		{ScopeWrite, "", false},
		{ScopeCheck, "billing/invoice", false},
		{ScopeNone, "billing/invoice", false},
	} {
		require.Equal(t, tc.want, tc.scope.MayWriteDefinition(tc.typ), "%q writes %q", tc.scope, tc.typ)
	}
	// Nexus's own definitions have no namespace: no prefix reaches them.
	for _, own := range []string{"user", "group", "zone", "folder", "file", "share_link", "memory"} {
		require.False(t, billing.MayWriteDefinition(own), own)
		require.False(t, two.MayWriteDefinition(own), own)
	}
}
