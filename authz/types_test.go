package authz_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
)

// TestObjectTypes: object types follow SpiceDB's rules, namespaced
// definitions (billing/invoice, which other services add) included.
func TestObjectTypes(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"file", "share_link", "billing/invoice", "acme/billing/invoice", "crm/contact"} {
		require.NoError(t, authz.Obj(typ, "x1").Validate(), typ)
	}
	for _, typ := range []string{"", "ab", "File", "billing/", "/invoice", "Billing/invoice", "ab/invoice", "billing//invoice", "billing/invoice/", "../invoice", "bill-ing/invoice"} {
		require.ErrorIs(t, authz.Obj(typ, "x1").Validate(), authz.ErrInvalidRef, typ)
	}
}
