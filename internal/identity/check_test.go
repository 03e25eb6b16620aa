package identity

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIsSelf: which subject references name the caller without resolving
// them; a look-alike in another zone or of another type is not the caller.
func TestIsSelf(t *testing.T) {
	p := Principal{User: User{Name: "bob"}, Zone: Zone{Name: "acme"}}
	for ref, want := range map[string]bool{
		"bob":              true,
		"user:bob":         true,
		"acme/bob":         true,
		"user:acme/bob":    true,
		"alice":            false,
		"user:alice":       false,
		"default/bob":      false,
		"user:default/bob": false,
		"group:bob":        false,
		"zone:bob":         false,
		"":                 false,
	} {
		require.Equal(t, want, isSelf(p, ref), "isSelf(%q)", ref)
	}
}
