package pagetoken_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/internal/pagetoken"
)

type cursor struct {
	After string `json:"a"`
}

func TestSealHidesAndAuthenticates(t *testing.T) {
	s := pagetoken.New([]byte("key"))
	tok := s.Seal(cursor{After: "/secret/hidden-name.txt"})
	require.NotContains(t, tok, "secret")
	var c cursor
	require.True(t, s.Open(tok, &c))
	require.Equal(t, "/secret/hidden-name.txt", c.After)

	require.False(t, pagetoken.New([]byte("other")).Open(tok, &c), "another key's token")
	require.False(t, pagetoken.New(nil).Open(tok, &c), "a random key's")
	flipped := []byte(tok)
	flipped[len(flipped)/2] ^= 1
	require.False(t, s.Open(string(flipped), &c), "tampered")
	require.False(t, s.Open("", &c))
	require.False(t, s.Open(strings.Repeat("A", 10), &c))
}

// A sealed token's length must not tell how long the name it holds is:
// every plaintext up to the bucket size seals to the same length.
func TestLengthIsConstant(t *testing.T) {
	s := pagetoken.New([]byte("key"))
	want := len(s.Seal(cursor{}))
	for _, n := range []int{1, 2, 17, 100, 200} {
		after := strings.Repeat("x", n)
		tok := s.Seal(cursor{After: after})
		require.Len(t, tok, want, "name of %d bytes", n)
		var c cursor
		require.True(t, s.Open(tok, &c))
		require.Equal(t, after, c.After)
	}
}
