package authz_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
)

// docSchema is a definition another service adds.
const docSchema = `
/** document belongs to another service. */
definition document {
    relation viewer: user | group#member
    permission view = viewer
}
`

func TestWriteSchemaKeepsOwnDefinitions(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	require.True(t, e.IsOwnDefinition("folder"))
	require.False(t, e.IsOwnDefinition("document"))
	require.Contains(t, e.OwnDefinitions(), "share_link")

	for _, tc := range []struct {
		name, schema string
		says         []string
	}{
		{"only the service's own", docSchema, []string{"removes user, zone, group, folder, file, share_link, memory"}},
		{"one removed", strings.Replace(nexus.Schema, "definition memory {", "definition memories {", 1) + docSchema,
			[]string{"removes memory"}},
		{"a relation added to zone", strings.Replace(nexus.Schema, "relation member: user | group#member\n\n    permission manage = admin",
			"relation member: user | group#member\n    relation auditor: user\n\n    permission manage = admin", 1) + docSchema,
			[]string{"alters zone (added-relation auditor)"}},
		{"a permission changed on folder", strings.Replace(nexus.Schema, "permission delete = write\n    permission read = owner + editor + viewer + zone->manage + parent->read\n}\n\n/** file",
			"permission delete = write + viewer\n    permission read = owner + editor + viewer + zone->manage + parent->read\n}\n\n/** file", 1) + docSchema,
			[]string{"alters folder (changed-permission-implementation delete)"}},
		{"a subject type taken from file#viewer", strings.Replace(nexus.Schema, "definition file {\n    relation zone: zone\n    relation parent: folder\n    relation owner: user | group#member\n    relation editor: user | group#member | share_link\n    relation viewer: user | group#member | share_link",
			"definition file {\n    relation zone: zone\n    relation parent: folder\n    relation owner: user | group#member\n    relation editor: user | group#member | share_link\n    relation viewer: user | group#member", 1) + docSchema,
			[]string{"alters file (relation-allowed-type-removed viewer)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NotEqual(t, nexus.Schema+docSchema, tc.schema, "the case must change the schema")
			_, err := e.WriteSchema(ctx, tc.schema)
			require.ErrorIs(t, err, authz.ErrOwnDefinitions)
			for _, s := range tc.says {
				require.Contains(t, err.Error(), s)
			}
		})
	}

	// Nexus's definitions unchanged (a comment changed is no change), plus
	// the service's own: accepted, and usable at once.
	tok, err := e.WriteSchema(ctx, strings.Replace(nexus.Schema, "is a tenant.", "is a tenant (a comment).", 1)+docSchema)
	require.NoError(t, err)
	require.NotEmpty(t, tok)
	tok, err = e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(authz.Obj("document", "d1"), "viewer", alice))})
	require.NoError(t, err)
	d, err := e.Check(ctx, authz.CheckItem{Resource: authz.Obj("document", "d1"), Permission: "view", Subject: alice}, authz.AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.True(t, d.Allowed)

	// A schema that does not parse is refused before the engine sees it.
	_, err = e.WriteSchema(ctx, nexus.Schema+"definition broken {")
	require.ErrorIs(t, err, authz.ErrInvalid)
	require.Contains(t, err.Error(), "parse error")

	// A schema the engine rejects comes back with the engine's message.
	_, err = e.WriteSchema(ctx, nexus.Schema+"definition broken {\n    relation xyz: nosuchtype\n}\n")
	require.ErrorIs(t, err, authz.ErrInvalid)
	st, ok := authz.EngineStatus(err)
	require.True(t, ok)
	require.Contains(t, st.Message(), "nosuchtype")
}

func TestStartKeepsDefinitionsOthersAdded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openLog(t, dir)
	defer db.Close()
	e := newEngine(t, db)
	_, err := e.WriteSchema(ctx, nexus.Schema+docSchema)
	require.NoError(t, err)
	_, err = e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(authz.Obj("document", "d1"), "viewer", alice))})
	require.NoError(t, err)
	e.Close()

	// The same Nexus: the document definition and its relationship are back.
	e = newEngine(t, db)
	d, err := e.Check(ctx, authz.CheckItem{Resource: authz.Obj("document", "d1"), Permission: "view", Subject: alice}, authz.FullyConsistent())
	require.NoError(t, err)
	require.True(t, d.Allowed, "the service's relationship is rebuilt under its kept definition")
	e.Close()

	// A new version of Nexus changes its own definitions: they win, and
	// the service's definition stays.
	newer := strings.Replace(nexus.Schema, "definition memory {\n    relation zone: zone", "definition memory {\n    relation zone: zone\n    relation auditor: user", 1)
	require.NotEqual(t, nexus.Schema, newer)
	e2, err := authz.New(ctx, authz.Config{Schema: newer, Log: &authz.SQLLog{DB: db}})
	require.NoError(t, err)
	defer e2.Close()
	_, err = e2.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(authz.Obj("memory", "m1"), "auditor", bob))})
	require.NoError(t, err, "the newer Nexus definition is in force")
	d, err = e2.Check(ctx, authz.CheckItem{Resource: authz.Obj("document", "d1"), Permission: "view", Subject: alice}, authz.FullyConsistent())
	require.NoError(t, err)
	require.True(t, d.Allowed)
}

func TestStartWithoutOthersLeavesSchemaAlone(t *testing.T) {
	ctx := context.Background()
	db := openLog(t, t.TempDir())
	defer db.Close()
	e := newEngine(t, db)
	_, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(authz.Obj("document", "d1"), "viewer", alice))})
	require.ErrorIs(t, err, authz.ErrInvalid, "no document definition unless someone writes one")
}
