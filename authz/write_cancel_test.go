package authz_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
)

// TestACallerGoneMidWriteLeavesEngineAndLogAgreed: a caller whose context
// ends in the middle of a write (a client that disconnects) gets either a
// write that happened, in the log and in the engine, or one that did not,
// in neither. Found by the soak harness (make soak) on the code before the
// group commit (f1df503): a grant cut short by a disconnect stayed in the
// running engine, granting read, while the log (and so every restart) and
// the share rows did not have it. The group commit runs the group on
// context.WithoutCancel; this test keeps it so.
func TestACallerGoneMidWriteLeavesEngineAndLogAgreed(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  func(cancel func()) authz.WriteOption
	}{
		{"cancelled after the engine applied it, before the log commits", func(cancel func()) authz.WriteOption {
			return authz.WithTokenTx(func(context.Context, *sql.Tx, authz.Token) error { cancel(); return nil })
		}},
		{"cancelled in the caller's rows, before the engine applies it", func(cancel func()) authz.WriteOption {
			return authz.WithTx(func(context.Context, *sql.Tx) error { cancel(); return nil })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openLog(t, dir)
			e := newEngine(t, db)
			grant := authz.Rel(zoneA, "admin", alice)
			ask := authz.CheckItem{Resource: zoneA, Permission: "manage", Subject: alice}
			for _, op := range []authz.Update{authz.TouchRel(grant), authz.DeleteRel(grant)} {
				ctx, cancel := context.WithCancel(context.Background())
				_, werr := e.Write(ctx, []authz.Update{op}, tc.opt(cancel))
				cancel()

				live, err := e.Check(context.Background(), ask, authz.FullyConsistent())
				require.NoError(t, err)
				var logged int
				require.NoError(t, db.QueryRow(`SELECT count(*) FROM authz_relationships WHERE resource_type = 'zone' AND relation = 'admin'`).Scan(&logged))
				require.Equal(t, logged == 1, live.Allowed, "op %v (error %v): the running engine says %v, the log has %d", op.Op, werr, live.Allowed, logged)

				// Make the state of this round the one asked for, for the next.
				_, err = e.Write(context.Background(), []authz.Update{op})
				require.NoError(t, err)
			}
		})
	}
}
