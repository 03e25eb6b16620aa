package authz_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/storage/postgres"
)

func TestTokenWALPosition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, tok string
		zed       string
		lsn       postgres.LSN
	}{
		{"plain", "GhUKEzE3MzI0NDQ2MDI4NTk0NzI1NjE=", "GhUKEzE3MzI0NDQ2MDI4NTk0NzI1NjE=", 0},
		{"with position", "GhUKEzE3MzI0NDQ2MDI4NTk0NzI1NjE=.16b374d848", "GhUKEzE3MzI0NDQ2MDI4NTk0NzI1NjE=", 0x16B374D848},
		{"position only", ".1f", "", 0x1f},
		{"empty", "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := authz.ParseToken(tc.tok)
			require.NoError(t, err)
			require.Equal(t, authz.Token(tc.zed), tok.Zed())
			require.Equal(t, tc.lsn, tok.LSN())
		})
	}
	for _, bad := range []string{"abc.", "abc.xyz", "abc.12345678901234567", "a.b.1f", "abc.-1"} {
		_, err := authz.ParseToken(bad)
		require.ErrorIs(t, err, authz.ErrBadToken, bad)
	}
	// A token's position only moves forward; 0 adds nothing.
	tok := authz.Token("Zm9v").WithLSN(0x20)
	require.Equal(t, authz.Token("Zm9v.20"), tok)
	require.Equal(t, tok, tok.WithLSN(0x10))
	require.Equal(t, authz.Token("Zm9v.30"), tok.WithLSN(0x30))
	require.Equal(t, authz.Token("Zm9v"), authz.Token("Zm9v").WithLSN(0))
	// A position alone asks nothing of SpiceDB.
	require.True(t, strings.HasPrefix(authz.AtLeastAsFresh(".20").String(), "minimize_latency"))
}

// Newest keeps the newest revision and the furthest WAL position, which
// may come from different tokens; a position suffix does not stop SpiceDB
// from reading a token.
func TestNewestKeepsTheFurthestPosition(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	t1, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))})
	require.NoError(t, err)
	t2, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", alice))})
	require.NoError(t, err)
	require.Zero(t, t2.LSN(), "the embedded default's tokens are plain")
	got := e.Newest(t1.WithLSN(0x900), t2.WithLSN(0x100), ".a00")
	require.Equal(t, t2.WithLSN(0xa00), got)
	d, err := e.Check(ctx, authz.CheckItem{Resource: groupE, Permission: "membership", Subject: alice}, authz.AtLeastAsFresh(got))
	require.NoError(t, err)
	require.True(t, d.Allowed)
}

// On PostgreSQL every write's token carries the primary's WAL position read
// after the write committed (our rows included), also a write that changed
// nothing; SpiceDB takes the token with it.
func TestPostgresWriteTokensCarryTheWALPosition(t *testing.T) {
	ctx := context.Background()
	url, db := pgDatabase(t)
	e := newPostgresEngine(t, url, db)
	before, err := authz.CurrentLSN(ctx, db)
	require.NoError(t, err)
	tok, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))},
		authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO rows (id) VALUES ('lsn')`)
			return err
		}))
	require.NoError(t, err)
	require.NotEmpty(t, tok.Zed())
	require.Greater(t, tok.LSN(), before, "the position is after the write")
	after, err := authz.CurrentLSN(ctx, db)
	require.NoError(t, err)
	require.LessOrEqual(t, tok.LSN(), after)

	again, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(groupE, "member", bob))})
	require.NoError(t, err)
	require.NotZero(t, again.LSN(), "a write that changed nothing carries a position too")
	require.Equal(t, again.LSN(), e.Newest(tok, again).LSN())

	d, err := e.Check(ctx, authz.CheckItem{Resource: groupE, Permission: "membership", Subject: bob}, authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.True(t, d.Allowed)
}
