package authz_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
)

// TestPostgresTokenHookFailureKeepsTheWrite: on PostgreSQL a write is
// applied before its token is recorded (WithTokenTx); if recording fails,
// the write stands (it is logged), and what the failed hook changed is
// rolled back with it, not the write's own record.
func TestPostgresTokenHookFailureKeepsTheWrite(t *testing.T) {
	ctx := context.Background()
	url, db := pgDatabase(t)
	e := newPostgresEngine(t, url, db)
	tok, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(zoneA, "member", bob))},
		authz.WithTokenTx(func(ctx context.Context, tx *sql.Tx, _ authz.Token) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO rows (id) VALUES (?)`, "half-written"); err != nil {
				return err
			}
			return errInjected
		}))
	require.NoError(t, err, "the write is applied; only its token was not recorded")
	require.NotEmpty(t, tok)
	d, err := e.Check(ctx, authz.CheckItem{Resource: zoneA, Permission: "access", Subject: bob}, authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.True(t, d.Allowed)
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM rows WHERE id = 'half-written'`).Scan(&n))
	require.Zero(t, n, "the failed hook's row is rolled back")
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM authz_outbox`).Scan(&n))
	require.Zero(t, n, "nothing is left pending")
}
