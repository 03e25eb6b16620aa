package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRebind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"none", `SELECT 1`, `SELECT 1`},
		{"numbered in order", `SELECT a FROM t WHERE b = ? AND c > ? LIMIT ?`, `SELECT a FROM t WHERE b = $1 AND c > $2 LIMIT $3`},
		{"literal kept", `SELECT '?' , ? FROM t`, `SELECT '?' , $1 FROM t`},
		{"doubled quote in literal", `SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{"identifier kept", `SELECT "a?" FROM t WHERE x = ?`, `SELECT "a?" FROM t WHERE x = $1`},
		{"comment kept", "SELECT ? -- why?\nFROM t WHERE y = ?", "SELECT $1 -- why?\nFROM t WHERE y = $2"},
		{"dollar placeholders untouched", `SELECT $1`, `SELECT $1`},
		{"unterminated literal", `SELECT '?`, `SELECT '?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, Rebind(tc.in))
		})
	}
}
