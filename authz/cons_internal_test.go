package authz

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
)

// A read at least as fresh as a token older than start-up is served at
// the start-up floor at least: SpiceDB's quantized revision may predate
// start-up (an empty datastore, without the schema), and SpiceDB serves
// at_least_as_fresh at the newer of the token and that revision. Newer
// tokens, and tokens this engine cannot decode, are handled as before:
// the newer kept, the undecodable raised to the floor. Found by
// FuzzValidateToken (a made-up token from 2024 right after start-up).
func TestConsRaisesOldTokensToTheFloor(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{Schema: nexus.Schema})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	newer, err := e.Write(ctx, []Update{TouchRel(Rel(Obj("group", "eng"), "member", Subject("user", "bob")))})
	require.NoError(t, err)

	zed := func(c Consistency) string { return e.cons(c).GetAtLeastAsFresh().GetToken() }
	for _, old := range []Token{"GhUKEzE3MzM0MTk0NDkwMDAwMDAwMDA=", "GhUKEzE3MzM0MTk0NDkwMDAwMDAwMDA=.16b374d848", "garbage"} {
		require.Equal(t, string(e.floor), zed(AtLeastAsFresh(old)), "%q", old)
	}
	require.Equal(t, string(newer), zed(AtLeastAsFresh(newer)))
	require.Equal(t, string(newer), zed(AtLeastAsFresh(newer.WithLSN(0x16b374d848))))
	require.Equal(t, string(e.floor), zed(MinimizeLatency()))
	require.True(t, e.cons(FullyConsistent()).GetFullyConsistent())
}
