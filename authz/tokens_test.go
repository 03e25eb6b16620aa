package authz_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/zedtoken"
	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
)

func TestNewestPicksTheLaterWrite(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	t1, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))})
	require.NoError(t, err)
	t2, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", alice))})
	require.NoError(t, err)
	require.NotEqual(t, t1, t2)
	require.Equal(t, t2, e.Newest(t1, t2))
	require.Equal(t, t2, e.Newest(t2, t1))
	require.Equal(t, t2, e.Newest("", t2, "garbage", t1))
	require.Equal(t, authz.Token(""), e.Newest("", "garbage"))
}

// futureToken is tok moved a day ahead of the write that made it.
func futureToken(t *testing.T, tok authz.Token) authz.Token {
	t.Helper()
	d, err := zedtoken.Decode(&v1.ZedToken{Token: string(tok.Zed())})
	require.NoError(t, err)
	v := d.GetV1()
	require.NotNil(t, v)
	rev, err := strconv.ParseInt(v.Revision, 10, 64)
	require.NoError(t, err, "a memdb revision is a timestamp: %q", v.Revision)
	v.Revision = strconv.FormatInt(rev+int64(24*time.Hour), 10)
	enc, err := zedtoken.Encode(d)
	require.NoError(t, err)
	return authz.Token(enc.Token)
}

// Tokens a client sends are checked: what the server issued passes, and
// garbage, a bad WAL position or a token from the future is ErrBadToken.
func TestValidateToken(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	tok, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))})
	require.NoError(t, err)

	other := newEngine(t, nil) // another datastore: a token from before a restart
	old, err := other.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))})
	require.NoError(t, err)

	for name, ok := range map[authz.Token]bool{
		tok:                 true,
		tok + ".16B374D848": true,
		".16B374D848":       true,
		old:                 true,
		"garbage":           false,
		"Z2FyYmFnZQ==":      false, // base64, not a ZedToken
		tok + ".xyz":        false,
		tok + ".1.2":        false,
		futureToken(t, tok): false,
	} {
		err := e.ValidateToken(ctx, name)
		if ok {
			require.NoError(t, err, "%q", name)
		} else {
			require.ErrorIs(t, err, authz.ErrBadToken, "%q", name)
		}
	}
}

// A token older than start-up (a file's stored token from before a restart
// of the embedded default, or a made-up one) is raised to the start-up
// floor: SpiceDB's quantized revision may predate start-up, and a check
// there found no schema at all. An hour's quantization holds that moment
// for the whole test. Found by FuzzValidateToken.
func TestTokenFromBeforeStartUp(t *testing.T) {
	ctx := context.Background()
	other := newEngine(t, nil) // the same installation before a restart
	old, err := other.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", alice))})
	require.NoError(t, err)

	e, err := authz.New(ctx, authz.Config{Schema: nexus.Schema})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	for _, tok := range []authz.Token{old, old + ".16b374d848", "GhUKEzE3MzM0MTk0NDkwMDAwMDAwMDA="} {
		require.NoError(t, e.ValidateToken(ctx, tok))
		d, err := e.Check(ctx, authz.CheckItem{Resource: groupE, Permission: "member", Subject: alice}, authz.AtLeastAsFresh(tok))
		require.NoError(t, err, "a check at %q", tok)
		require.False(t, d.Allowed, "the new engine has no relationships")
	}
}
