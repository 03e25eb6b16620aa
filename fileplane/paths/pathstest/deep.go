package pathstest

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

// DeepChain writes what the Tree no longer makes: n folders in a chain below
// parent (named d1, d2, ...), owned by owner, and file at the bottom, with
// the relationships the Tree gives entries (zone, parent, owner), the rows
// and relationships in one write. It stands for data written before
// paths.MaxDepth existed. file needs Name, Kind and its content fields;
// hook, if not nil, runs in the write's transaction with the file as
// inserted (to store its content, or queue it for search). It returns the
// file.
func DeepChain(t *testing.T, engine authz.Writer, parent paths.Entry, n int, owner string, file paths.Entry,
	hook func(ctx context.Context, tx *sql.Tx, e paths.Entry) error) paths.Entry {
	t.Helper()
	now := time.Now().UTC()
	var chain []paths.Entry
	var updates []authz.Update
	up := parent
	for i := 1; i <= n+1; i++ {
		e := paths.Entry{ID: paths.EntryID(fmt.Sprintf("fld_deep_%s_%d", parent.ID, i)), Name: fmt.Sprintf("d%d", i), Kind: paths.Folder}
		if i == n+1 {
			e = file
			e.ID = paths.EntryID(fmt.Sprintf("fil_deep_%s", parent.ID))
		}
		e.Zone, e.Parent = parent.Zone, up.ID
		e.CreatedBy, e.CreatedAt, e.ModifiedBy, e.ModifiedAt = owner, now, owner, now
		chain = append(chain, e)
		updates = append(updates,
			authz.TouchRel(authz.Rel(e.Object(), nexus.RelZone, authz.Subject(nexus.TypeZone, e.Zone))),
			authz.TouchRel(authz.Rel(e.Object(), nexus.RelParent, up.Object().AsSubject())),
			authz.TouchRel(authz.Rel(e.Object(), nexus.RelOwner, authz.Subject(nexus.TypeUser, owner))),
		)
		up = e
	}
	_, err := engine.Write(context.Background(), updates, authz.WithTx(func(ctx context.Context, tx *sql.Tx) error {
		for _, e := range chain {
			if err := (paths.SQLStore{}).Insert(ctx, tx, e); err != nil {
				return err
			}
		}
		if hook != nil {
			return hook(ctx, tx, chain[n])
		}
		return nil
	}))
	require.NoError(t, err)
	return chain[n]
}
