package authz_test

// Decision-table tests of schema.zed (DESIGN.md, "Authorization model").
//
// One fixture world is written in a single Write; every case is checked
// AtLeastAsFresh(the token of that write). Each table row pairs a grant that
// must hold with the denial that must hold beside it, so that a schema change
// that widens a permission fails as surely as one that narrows it.
//
// The world:
//
//	zone:acme (A)   admin: ada, group:ops#member (otto)
//	                member: mia, group:staff#member (stan)
//	zone:globex (B) admin: ben; member: bella, bart
//
//	group:eng     (A) manager jack; member gina, group:backend#member
//	group:backend (A) member hank, group:db#member
//	group:db      (A) member ivy
//	group:ops, group:staff (A); group:b_team (B) member bart
//
//	folder:a_root (zone A)
//	├── folder:a_docs            owner carol, editor dave, viewer erin
//	│   ├── folder:a_docs_2024   viewer share_link:l_docs2024
//	│   │   └── folder:a_docs_2024_q1   editor group:backend#member
//	│   │       └── file:a_report
//	│   ├── folder:a_docs_archive
//	│   └── file:a_spec          editor ned
//	├── folder:a_media           viewer group:eng#member, editor share_link:l_media_edit
//	│   └── file:a_photo         owner olga, viewer frank
//	└── folder:a_shared          viewer bella (a zone B user, named explicitly)
//	    └── folder:a_shared_sub  viewer group:b_team#member (a zone B group)
//	        └── file:a_shared_doc
//	file:a_orphan (zone A, no parent)
//
//	folder:b_root (zone B)
//	└── folder:b_proj
//	    └── file:b_plan
//
//	memory:mem_a_note  (A) owner kate, viewer liam, viewer group:backend#member
//	memory:mem_a_other (A) owner liam
//	memory:mem_b_note  (B) owner bella
//	memory:mem_a_agent (A) owner agent_k (an agent: user:agent_k#owner@user:kate)
//	memory:mem_a_zone  (A) owner liam, viewer zone:A#member

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
)

// Object and subject shorthands for the fixture world.
func scUser(id string) authz.SubjectRef    { return authz.Subject("user", id) }
func scMembers(g string) authz.SubjectRef  { return authz.SubjectSet("group", g, "member") }
func scLinkSub(id string) authz.SubjectRef { return authz.Subject("share_link", id) }
func scFolder(id string) authz.ObjectRef   { return authz.Obj("folder", id) }
func scFile(id string) authz.ObjectRef     { return authz.Obj("file", id) }
func scGroup(id string) authz.ObjectRef    { return authz.Obj("group", id) }
func scLink(id string) authz.ObjectRef     { return authz.Obj("share_link", id) }
func scMemory(id string) authz.ObjectRef   { return authz.Obj("memory", id) }

var (
	scZoneA = authz.Obj("zone", "acme")
	scZoneB = authz.Obj("zone", "globex")

	scAda    = scUser("ada")     // zone A admin
	scOtto   = scUser("otto")    // zone A admin through group ops
	scMia    = scUser("mia")     // zone A member
	scStan   = scUser("stan")    // zone A member through group staff
	scOscar  = scUser("oscar")   // outsider: no relationship at all
	scBen    = scUser("ben")     // zone B admin
	scBella  = scUser("bella")   // zone B member, viewer of folder:a_shared
	scBart   = scUser("bart")    // zone B member, in group b_team
	scCarol  = scUser("carol")   // owner of folder:a_docs
	scDave   = scUser("dave")    // editor of folder:a_docs
	scErin   = scUser("erin")    // viewer of folder:a_docs
	scOlga   = scUser("olga")    // owner of file:a_photo
	scFrank  = scUser("frank")   // viewer of file:a_photo
	scNed    = scUser("ned")     // editor of file:a_spec
	scGina   = scUser("gina")    // member of eng
	scHank   = scUser("hank")    // member of backend (nested in eng)
	scIvy    = scUser("ivy")     // member of db (nested in backend, nested in eng)
	scJack   = scUser("jack")    // manager of eng, not a member
	scKate   = scUser("kate")    // owner of memory:mem_a_note
	scLiam   = scUser("liam")    // viewer of memory:mem_a_note, owner of mem_a_other
	scAgentK = scUser("agent_k") // an agent owned by kate; owner of memory:mem_a_agent
	scDocsLn = scLinkSub("l_docs2024")
	scEditLn = scLinkSub("l_media_edit")
)

// scWorld is the fixture: every relationship, written in one Write.
func scWorld() []authz.Relationship {
	r := authz.Rel
	return []authz.Relationship{
		// Zones.
		r(scZoneA, "admin", scAda),
		r(scZoneA, "admin", scMembers("ops")),
		r(scZoneA, "member", scMia),
		r(scZoneA, "member", scMembers("staff")),
		r(scZoneB, "admin", scBen),
		r(scZoneB, "member", scBella),
		r(scZoneB, "member", scBart),

		// Groups.
		r(scGroup("eng"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scGroup("eng"), "manager", scJack),
		r(scGroup("eng"), "member", scGina),
		r(scGroup("eng"), "member", scMembers("backend")),
		r(scGroup("backend"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scGroup("backend"), "member", scHank),
		r(scGroup("backend"), "member", scMembers("db")),
		r(scGroup("db"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scGroup("db"), "member", scIvy),
		r(scGroup("ops"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scGroup("ops"), "member", scOtto),
		r(scGroup("staff"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scGroup("staff"), "member", scStan),
		r(scGroup("b_team"), "zone", authz.SubjectRef{Object: scZoneB}),
		r(scGroup("b_team"), "member", scBart),

		// Zone A's tree.
		r(scFolder("a_root"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scFolder("a_docs"), "parent", authz.SubjectRef{Object: scFolder("a_root")}),
		r(scFolder("a_docs"), "owner", scCarol),
		r(scFolder("a_docs"), "editor", scDave),
		r(scFolder("a_docs"), "viewer", scErin),
		r(scFolder("a_docs_2024"), "parent", authz.SubjectRef{Object: scFolder("a_docs")}),
		r(scFolder("a_docs_2024"), "viewer", scDocsLn),
		r(scFolder("a_docs_2024_q1"), "parent", authz.SubjectRef{Object: scFolder("a_docs_2024")}),
		r(scFolder("a_docs_2024_q1"), "editor", scMembers("backend")),
		r(scFile("a_report"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scFile("a_report"), "parent", authz.SubjectRef{Object: scFolder("a_docs_2024_q1")}),
		r(scFolder("a_docs_archive"), "parent", authz.SubjectRef{Object: scFolder("a_docs")}),
		r(scFile("a_spec"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scFile("a_spec"), "parent", authz.SubjectRef{Object: scFolder("a_docs")}),
		r(scFile("a_spec"), "editor", scNed),
		r(scFolder("a_media"), "parent", authz.SubjectRef{Object: scFolder("a_root")}),
		r(scFolder("a_media"), "viewer", scMembers("eng")),
		r(scFolder("a_media"), "editor", scEditLn),
		r(scFile("a_photo"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scFile("a_photo"), "parent", authz.SubjectRef{Object: scFolder("a_media")}),
		r(scFile("a_photo"), "owner", scOlga),
		r(scFile("a_photo"), "viewer", scFrank),
		r(scFolder("a_shared"), "parent", authz.SubjectRef{Object: scFolder("a_root")}),
		r(scFolder("a_shared"), "viewer", scBella),
		r(scFolder("a_shared_sub"), "parent", authz.SubjectRef{Object: scFolder("a_shared")}),
		r(scFolder("a_shared_sub"), "viewer", scMembers("b_team")),
		r(scFile("a_shared_doc"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scFile("a_shared_doc"), "parent", authz.SubjectRef{Object: scFolder("a_shared_sub")}),
		r(scFile("a_orphan"), "zone", authz.SubjectRef{Object: scZoneA}),

		// Zone B's tree.
		r(scFolder("b_root"), "zone", authz.SubjectRef{Object: scZoneB}),
		r(scFolder("b_proj"), "parent", authz.SubjectRef{Object: scFolder("b_root")}),
		r(scFile("b_plan"), "zone", authz.SubjectRef{Object: scZoneB}),
		r(scFile("b_plan"), "parent", authz.SubjectRef{Object: scFolder("b_proj")}),

		// Share links.
		r(scLink("l_docs2024"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scLink("l_docs2024"), "creator", scCarol),
		r(scLink("l_media_edit"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scLink("l_media_edit"), "creator", scAda),

		// Memories.
		r(scMemory("mem_a_note"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scMemory("mem_a_note"), "owner", scKate),
		r(scMemory("mem_a_note"), "viewer", scLiam),
		r(scMemory("mem_a_note"), "viewer", scMembers("backend")),
		r(scMemory("mem_a_other"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scMemory("mem_a_other"), "owner", scLiam),
		r(scMemory("mem_b_note"), "zone", authz.SubjectRef{Object: scZoneB}),
		r(scMemory("mem_b_note"), "owner", scBella),
		r(scAgentK.Object, "owner", scKate),
		r(scMemory("mem_a_agent"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scMemory("mem_a_agent"), "owner", scAgentK),
		r(scMemory("mem_a_zone"), "zone", authz.SubjectRef{Object: scZoneA}),
		r(scMemory("mem_a_zone"), "owner", scLiam),
		r(scMemory("mem_a_zone"), "viewer", authz.SubjectSet("zone", scZoneA.ID, "member")),
	}
}

// scEngine starts an in-memory engine and writes the fixture world in one
// Write. It returns the engine and the write's token.
func scEngine(t *testing.T) (*authz.Engine, authz.Token) {
	t.Helper()
	ctx := context.Background()
	e, err := authz.New(ctx, authz.Config{Schema: nexus.Schema})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })

	rels := scWorld()
	require.LessOrEqual(t, len(rels), 1000, "the fixture must fit one write")
	updates := make([]authz.Update, len(rels))
	for i, rel := range rels {
		updates[i] = authz.TouchRel(rel)
	}
	tok, err := e.Write(ctx, updates)
	require.NoError(t, err)
	require.NotEmpty(t, tok)
	return e, tok
}

// scCheck is one question of a table row.
type scCheck struct {
	sub  authz.SubjectRef
	perm string
	res  authz.ObjectRef
}

func (c scCheck) item() authz.CheckItem {
	return authz.CheckItem{Resource: c.res, Permission: c.perm, Subject: c.sub}
}

func can(sub authz.SubjectRef, perm string, res authz.ObjectRef) scCheck {
	return scCheck{sub: sub, perm: perm, res: res}
}

// scPair is one table case: grant must be allowed and deny, the denial that
// must hold beside it, must not.
type scPair struct {
	name  string
	grant scCheck
	deny  scCheck
}

var scEntryPerms = []string{"admin", "write", "read", "share", "delete"}

// scTable is the decision table.
func scTable() []scPair {
	var tb []scPair
	add := func(name string, grant, deny scCheck) {
		tb = append(tb, scPair{name: name, grant: grant, deny: deny})
	}

	// --- Zones: admin vs member vs outsider.
	add("zone admin manages zone; zone member does not", can(scAda, "manage", scZoneA), can(scMia, "manage", scZoneA))
	add("zone member accesses zone; outsider does not", can(scMia, "access", scZoneA), can(scOscar, "access", scZoneA))
	add("zone admin accesses own zone; not the other zone", can(scAda, "access", scZoneA), can(scAda, "access", scZoneB))
	add("zone B admin manages zone B; zone A admin does not", can(scBen, "manage", scZoneB), can(scAda, "manage", scZoneB))
	add("admin through group manages zone A; not zone B", can(scOtto, "manage", scZoneA), can(scOtto, "manage", scZoneB))
	add("member through group accesses zone A; does not manage it", can(scStan, "access", scZoneA), can(scStan, "manage", scZoneA))
	add("zone B member accesses zone B; not zone A despite a grant there", can(scBella, "access", scZoneB), can(scBella, "access", scZoneA))
	add("zone member accesses zone; reaches no folder without a grant", can(scMia, "access", scZoneA), can(scMia, "read", scFolder("a_root")))
	add("zone member accesses zone; reads no file without a grant", can(scMia, "access", scZoneA), can(scMia, "read", scFile("a_report")))
	add("outsider: zone admin reads root; outsider does not", can(scAda, "read", scFolder("a_root")), can(scOscar, "read", scFolder("a_root")))

	// --- Zone admin over the whole tree, every entry permission.
	for _, p := range scEntryPerms {
		add(fmt.Sprintf("zone admin has %s on root folder; zone member does not", p),
			can(scAda, p, scFolder("a_root")), can(scMia, p, scFolder("a_root")))
		add(fmt.Sprintf("zone admin has %s on file four levels down; outsider does not", p),
			can(scAda, p, scFile("a_report")), can(scOscar, p, scFile("a_report")))
		add(fmt.Sprintf("group-derived zone admin has %s on deep folder; zone B admin does not", p),
			can(scOtto, p, scFolder("a_docs_2024_q1")), can(scBen, p, scFolder("a_docs_2024_q1")))
		add(fmt.Sprintf("zone B admin has %s on zone B folder; zone A admin does not", p),
			can(scBen, p, scFolder("b_proj")), can(scAda, p, scFolder("b_proj")))
		add(fmt.Sprintf("zone B admin has %s on zone B file; group-derived zone A admin does not", p),
			can(scBen, p, scFile("b_plan")), can(scOtto, p, scFile("b_plan")))
	}
	add("file's own zone relation: zone admin administers parentless file; zone member does not read it",
		can(scAda, "admin", scFile("a_orphan")), can(scMia, "read", scFile("a_orphan")))
	add("file's own zone relation: zone admin shares parentless file; zone B admin does not",
		can(scAda, "share", scFile("a_orphan")), can(scBen, "share", scFile("a_orphan")))

	// --- Owner of a folder.
	add("owner administers folder; its editor does not", can(scCarol, "admin", scFolder("a_docs")), can(scDave, "admin", scFolder("a_docs")))
	add("owner shares folder; its editor does not", can(scCarol, "share", scFolder("a_docs")), can(scDave, "share", scFolder("a_docs")))
	add("owner writes folder; its viewer does not", can(scCarol, "write", scFolder("a_docs")), can(scErin, "write", scFolder("a_docs")))
	add("owner deletes folder; its viewer does not", can(scCarol, "delete", scFolder("a_docs")), can(scErin, "delete", scFolder("a_docs")))
	add("owner reads folder; not its parent", can(scCarol, "read", scFolder("a_docs")), can(scCarol, "read", scFolder("a_root")))
	add("owner of folder is not zone admin", can(scCarol, "admin", scFolder("a_docs")), can(scCarol, "manage", scZoneA))
	add("owner administers folder; not the sibling folder", can(scCarol, "admin", scFolder("a_docs")), can(scCarol, "admin", scFolder("a_media")))
	for _, p := range scEntryPerms {
		add(fmt.Sprintf("owner has %s on file three levels down; not on a file under the sibling folder", p),
			can(scCarol, p, scFile("a_report")), can(scCarol, p, scFile("a_photo")))
	}
	add("owner shares subfolder two levels down; not other zone's folder",
		can(scCarol, "share", scFolder("a_docs_2024_q1")), can(scCarol, "share", scFolder("b_proj")))
	add("owner deletes file in folder; the file's editor does not administer it",
		can(scCarol, "delete", scFile("a_spec")), can(scNed, "admin", scFile("a_spec")))

	// --- Editor of a folder: write+read (and delete = write), not admin/share.
	add("editor writes folder; does not administer it", can(scDave, "write", scFolder("a_docs")), can(scDave, "admin", scFolder("a_docs")))
	add("editor reads folder; does not share it", can(scDave, "read", scFolder("a_docs")), can(scDave, "share", scFolder("a_docs")))
	add("editor writes file four levels down; does not administer it", can(scDave, "write", scFile("a_report")), can(scDave, "admin", scFile("a_report")))
	add("editor reads file four levels down; does not share it", can(scDave, "read", scFile("a_report")), can(scDave, "share", scFile("a_report")))
	add("editor deletes subfolder; not the sibling folder", can(scDave, "delete", scFolder("a_docs_2024")), can(scDave, "delete", scFolder("a_media")))
	add("editor writes deep subfolder; not the parent folder", can(scDave, "write", scFolder("a_docs_2024_q1")), can(scDave, "write", scFolder("a_root")))
	add("editor reads file in folder; not a file under the sibling folder", can(scDave, "read", scFile("a_spec")), can(scDave, "read", scFile("a_photo")))
	add("editor writes archive subfolder; does not share it", can(scDave, "write", scFolder("a_docs_archive")), can(scDave, "share", scFolder("a_docs_archive")))

	// --- Viewer of a folder: read, not write/delete.
	add("viewer reads folder; does not write it", can(scErin, "read", scFolder("a_docs")), can(scErin, "write", scFolder("a_docs")))
	add("viewer reads file four levels down; does not delete it", can(scErin, "read", scFile("a_report")), can(scErin, "delete", scFile("a_report")))
	add("viewer reads deep subfolder; does not write it", can(scErin, "read", scFolder("a_docs_2024_q1")), can(scErin, "write", scFolder("a_docs_2024_q1")))
	add("viewer reads file in folder; does not share it", can(scErin, "read", scFile("a_spec")), can(scErin, "share", scFile("a_spec")))
	add("viewer reads subfolder; does not administer it", can(scErin, "read", scFolder("a_docs_2024")), can(scErin, "admin", scFolder("a_docs_2024")))
	add("viewer reads folder; not the sibling folder", can(scErin, "read", scFolder("a_docs")), can(scErin, "read", scFolder("a_media")))
	add("viewer reads folder; not its parent", can(scErin, "read", scFolder("a_docs")), can(scErin, "read", scFolder("a_root")))
	add("viewer reads archive subfolder; does not delete it", can(scErin, "read", scFolder("a_docs_archive")), can(scErin, "delete", scFolder("a_docs_archive")))

	// --- Grants on a file itself.
	add("file owner administers file; does not read its folder", can(scOlga, "admin", scFile("a_photo")), can(scOlga, "read", scFolder("a_media")))
	add("file owner shares file; file viewer does not", can(scOlga, "share", scFile("a_photo")), can(scFrank, "share", scFile("a_photo")))
	add("file owner deletes file; not another file", can(scOlga, "delete", scFile("a_photo")), can(scOlga, "delete", scFile("a_spec")))
	add("file viewer reads file; does not write it", can(scFrank, "read", scFile("a_photo")), can(scFrank, "write", scFile("a_photo")))
	add("file viewer reads file; not its folder", can(scFrank, "read", scFile("a_photo")), can(scFrank, "read", scFolder("a_media")))
	add("file editor writes file; does not share it", can(scNed, "write", scFile("a_spec")), can(scNed, "share", scFile("a_spec")))
	add("file editor deletes file; not its sibling subfolder", can(scNed, "delete", scFile("a_spec")), can(scNed, "delete", scFolder("a_docs_2024")))
	add("file editor reads file; not its folder", can(scNed, "read", scFile("a_spec")), can(scNed, "read", scFolder("a_docs")))

	// --- Groups, nested groups, managers.
	add("direct group member reads folder shared with group; does not write it", can(scGina, "read", scFolder("a_media")), can(scGina, "write", scFolder("a_media")))
	add("nested group member reads folder shared with outer group; does not delete it", can(scHank, "read", scFolder("a_media")), can(scHank, "delete", scFolder("a_media")))
	add("nested group member reads file below; does not write it", can(scHank, "read", scFile("a_photo")), can(scHank, "write", scFile("a_photo")))
	add("twice-nested group member reads folder; does not write it", can(scIvy, "read", scFolder("a_media")), can(scIvy, "write", scFolder("a_media")))
	add("twice-nested group member reads file below; outsider does not", can(scIvy, "read", scFile("a_photo")), can(scOscar, "read", scFile("a_photo")))
	add("inner group member writes folder granted to inner group; outer group member does not",
		can(scHank, "write", scFolder("a_docs_2024_q1")), can(scGina, "write", scFolder("a_docs_2024_q1")))
	add("twice-nested member writes file below inner grant; does not administer it",
		can(scIvy, "write", scFile("a_report")), can(scIvy, "admin", scFile("a_report")))
	add("inner group editor writes granted folder; not its parent", can(scHank, "write", scFolder("a_docs_2024_q1")), can(scHank, "write", scFolder("a_docs_2024")))
	add("inner group subject set writes folder; outer group subject set does not",
		can(scMembers("backend"), "write", scFolder("a_docs_2024_q1")), can(scMembers("eng"), "write", scFolder("a_docs_2024_q1")))
	add("direct member has membership; does not manage group", can(scGina, "membership", scGroup("eng")), can(scGina, "manage", scGroup("eng")))
	add("twice-nested member has membership of outer group; does not manage it", can(scIvy, "membership", scGroup("eng")), can(scIvy, "manage", scGroup("eng")))
	add("inner group member has membership of inner group; outer group member does not",
		can(scHank, "membership", scGroup("backend")), can(scGina, "membership", scGroup("backend")))
	add("group manager manages group; is not a member", can(scJack, "manage", scGroup("eng")), can(scJack, "membership", scGroup("eng")))
	add("group manager views group; does not manage nested group", can(scJack, "view", scGroup("eng")), can(scJack, "manage", scGroup("backend")))
	add("group manager manages group; gets nothing the group was granted", can(scJack, "manage", scGroup("eng")), can(scJack, "read", scFolder("a_media")))
	add("group member views group; outsider does not", can(scGina, "view", scGroup("eng")), can(scOscar, "view", scGroup("eng")))
	add("zone admin manages group of zone; other zone admin does not", can(scAda, "manage", scGroup("eng")), can(scBen, "manage", scGroup("eng")))
	add("zone B admin manages zone B group; zone A admin does not", can(scBen, "manage", scGroup("b_team")), can(scAda, "manage", scGroup("b_team")))
	add("zone admin manages group; is not its member", can(scAda, "manage", scGroup("db")), can(scAda, "membership", scGroup("db")))
	add("zone member through group has membership of that group; does not manage it",
		can(scStan, "membership", scGroup("staff")), can(scStan, "manage", scGroup("staff")))

	// --- Share links.
	add("link reads folder it views; not a sibling folder", can(scDocsLn, "read", scFolder("a_docs_2024")), can(scDocsLn, "read", scFolder("a_docs_archive")))
	add("link reads file three levels below; does not write it", can(scDocsLn, "read", scFile("a_report")), can(scDocsLn, "write", scFile("a_report")))
	add("link reads subfolder; not the parent of its folder", can(scDocsLn, "read", scFolder("a_docs_2024_q1")), can(scDocsLn, "read", scFolder("a_docs")))
	add("link reads folder it views; does not delete it", can(scDocsLn, "read", scFolder("a_docs_2024")), can(scDocsLn, "delete", scFolder("a_docs_2024")))
	add("link reads folder it views; not a file beside its folder", can(scDocsLn, "read", scFolder("a_docs_2024")), can(scDocsLn, "read", scFile("a_spec")))
	add("editor link writes file below; does not administer it", can(scEditLn, "write", scFile("a_photo")), can(scEditLn, "admin", scFile("a_photo")))
	add("editor link writes folder; does not share it", can(scEditLn, "write", scFolder("a_media")), can(scEditLn, "share", scFolder("a_media")))
	add("editor link reads folder; not the sibling folder", can(scEditLn, "read", scFolder("a_media")), can(scEditLn, "read", scFolder("a_docs")))
	add("link creator manages link; another user does not", can(scCarol, "manage", scLink("l_docs2024")), can(scDave, "manage", scLink("l_docs2024")))
	add("zone admin manages link of zone; other zone admin does not", can(scAda, "manage", scLink("l_docs2024")), can(scBen, "manage", scLink("l_docs2024")))
	add("link creator manages own link; not another's link", can(scCarol, "manage", scLink("l_docs2024")), can(scCarol, "manage", scLink("l_media_edit")))

	// --- Memories.
	add("memory owner reads; outsider does not", can(scKate, "read", scMemory("mem_a_note")), can(scOscar, "read", scMemory("mem_a_note")))
	add("memory owner writes; memory viewer does not", can(scKate, "write", scMemory("mem_a_note")), can(scLiam, "write", scMemory("mem_a_note")))
	add("memory owner deletes; memory viewer does not", can(scKate, "delete", scMemory("mem_a_note")), can(scLiam, "delete", scMemory("mem_a_note")))
	add("memory viewer reads; does not administer", can(scLiam, "read", scMemory("mem_a_note")), can(scLiam, "admin", scMemory("mem_a_note")))
	add("memory owner reads own memory; not another's", can(scLiam, "admin", scMemory("mem_a_other")), can(scKate, "read", scMemory("mem_a_other")))
	add("zone admin administers memory of zone; other zone admin does not", can(scAda, "admin", scMemory("mem_a_note")), can(scBen, "admin", scMemory("mem_a_note")))
	add("zone admin writes memory of zone; other zone admin cannot read it", can(scAda, "write", scMemory("mem_a_note")), can(scBen, "read", scMemory("mem_a_note")))
	add("group-derived zone admin deletes memory; zone member cannot read it", can(scOtto, "delete", scMemory("mem_a_note")), can(scMia, "read", scMemory("mem_a_note")))
	add("zone B admin administers zone B memory; zone A admin cannot read it", can(scBen, "admin", scMemory("mem_b_note")), can(scAda, "read", scMemory("mem_b_note")))
	add("zone B memory owner writes; zone A memory owner cannot read it", can(scBella, "write", scMemory("mem_b_note")), can(scKate, "read", scMemory("mem_b_note")))
	add("memory viewer group member reads; does not write", can(scHank, "read", scMemory("mem_a_note")), can(scHank, "write", scMemory("mem_a_note")))
	add("nested member of memory viewer group reads; outer group member does not", can(scIvy, "read", scMemory("mem_a_note")), can(scGina, "read", scMemory("mem_a_note")))
	add("zone B memory owner reads own memory; not zone A memory", can(scBella, "read", scMemory("mem_b_note")), can(scBella, "read", scMemory("mem_a_note")))
	add("agent's owner reads the agent's memory; another user does not", can(scKate, "read", scMemory("mem_a_agent")), can(scLiam, "read", scMemory("mem_a_agent")))
	add("agent administers its own memory; its owner only reads it", can(scAgentK, "delete", scMemory("mem_a_agent")), can(scKate, "delete", scMemory("mem_a_agent")))
	add("agent's owner reads the agent's memory; the agent does not read its owner's", can(scKate, "read", scMemory("mem_a_agent")), can(scAgentK, "read", scMemory("mem_a_note")))
	add("zone member reads a zone-wide memory; does not write it", can(scMia, "read", scMemory("mem_a_zone")), can(scMia, "write", scMemory("mem_a_zone")))
	add("group-derived zone member reads a zone-wide memory; other zone's member does not", can(scStan, "read", scMemory("mem_a_zone")), can(scBella, "read", scMemory("mem_a_zone")))

	// --- Crossing zones only by explicit grant.
	add("cross-zone viewer reads granted folder; not zone A root", can(scBella, "read", scFolder("a_shared")), can(scBella, "read", scFolder("a_root")))
	add("cross-zone viewer reads file two levels below; does not write it", can(scBella, "read", scFile("a_shared_doc")), can(scBella, "write", scFile("a_shared_doc")))
	add("cross-zone viewer reads subfolder; not a sibling folder in zone A", can(scBella, "read", scFolder("a_shared_sub")), can(scBella, "read", scFolder("a_docs")))
	add("cross-zone viewer reads granted folder; not a file elsewhere in zone A", can(scBella, "read", scFolder("a_shared")), can(scBella, "read", scFile("a_photo")))
	add("cross-zone viewer reads granted folder; does not share it", can(scBella, "read", scFolder("a_shared")), can(scBella, "share", scFolder("a_shared")))
	add("cross-zone viewer reads granted folder; not a parentless zone A file", can(scBella, "read", scFolder("a_shared")), can(scBella, "read", scFile("a_orphan")))
	add("zone B admin administers own tree; not what a zone B user was granted in A",
		can(scBen, "admin", scFolder("b_root")), can(scBen, "read", scFolder("a_shared")))
	add("zone A admin administers shared folder; not zone B root", can(scAda, "admin", scFolder("a_shared")), can(scAda, "read", scFolder("b_root")))
	add("zone A admin reads shared file; not zone B file", can(scAda, "read", scFile("a_shared_doc")), can(scAda, "read", scFile("b_plan")))
	add("zone B group member reads zone A subfolder granted to group; not its parent",
		can(scBart, "read", scFolder("a_shared_sub")), can(scBart, "read", scFolder("a_shared")))
	add("zone B group member reads file below grant; does not delete it",
		can(scBart, "read", scFile("a_shared_doc")), can(scBart, "delete", scFile("a_shared_doc")))
	add("zone B admin manages the zone B group; does not read what the group was granted in A",
		can(scBen, "manage", scGroup("b_team")), can(scBen, "read", scFolder("a_shared_sub")))
	add("zone B member accesses zone B; zone A member does not",
		can(scBart, "access", scZoneB), can(scMia, "access", scZoneB))

	return tb
}

// scExpanded flattens a table into its items and the answer each must get.
func scExpanded(tb []scPair) ([]authz.CheckItem, []bool, []string) {
	items := make([]authz.CheckItem, 0, 2*len(tb))
	want := make([]bool, 0, 2*len(tb))
	names := make([]string, 0, 2*len(tb))
	for _, c := range tb {
		items = append(items, c.grant.item(), c.deny.item())
		want = append(want, true, false)
		names = append(names, c.name+" (grant)", c.name+" (deny)")
	}
	return items, want, names
}

func TestSchemaDecisionTable(t *testing.T) {
	t.Parallel()
	tb := scTable()
	require.GreaterOrEqual(t, len(tb), 110)
	seen := map[string]bool{}
	for _, c := range tb {
		require.False(t, seen[c.name], "duplicate case name %q", c.name)
		seen[c.name] = true
		require.NotEqual(t, c.grant, c.deny, "case %q: a grant and its denial are the same question", c.name)
	}

	e, tok := scEngine(t)
	cons := authz.AtLeastAsFresh(tok)
	for _, c := range tb {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d, err := e.Check(ctx, c.grant.item(), cons)
			require.NoError(t, err)
			require.True(t, d.Allowed, "must be allowed: %s", c.grant.item())
			require.NotEmpty(t, d.At)
			d, err = e.Check(ctx, c.deny.item(), cons)
			require.NoError(t, err)
			require.False(t, d.Allowed, "must be denied: %s", c.deny.item())
		})
	}
}

func TestSchemaDecisionTableCheckBulkAgrees(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, tok := scEngine(t)
	cons := authz.AtLeastAsFresh(tok)
	items, want, names := scExpanded(scTable())

	bulk, err := e.CheckBulk(ctx, items, cons)
	require.NoError(t, err)
	require.Len(t, bulk, len(items))
	for i, it := range items {
		one, err := e.Check(ctx, it, cons)
		require.NoError(t, err)
		require.Equal(t, one.Allowed, bulk[i].Allowed, "item %d %s (%s): Check and CheckBulk disagree", i, it, names[i])
		require.Equal(t, want[i], bulk[i].Allowed, "item %d %s (%s)", i, it, names[i])
	}
}

// scRemoval is a revocation: each of held is allowed before the delete and
// denied with the delete's token; each of kept is still allowed after it.
type scRemoval struct {
	name  string
	del   authz.Relationship
	held  []scCheck
	kept  []scCheck
	match bool // delete through DeleteMatching rather than Write
}

func TestSchemaGroupRemoval(t *testing.T) {
	t.Parallel()
	e, tok := scEngine(t)
	r := authz.Rel

	// The cases run in order against one engine, each on top of the
	// deletes before it; each case's checks are unaffected by earlier ones.
	cases := []scRemoval{
		{
			name: "direct member removed from group loses the group's folder grant",
			del:  r(scGroup("eng"), "member", scGina),
			held: []scCheck{can(scGina, "read", scFolder("a_media")), can(scGina, "membership", scGroup("eng"))},
			kept: []scCheck{can(scHank, "read", scFolder("a_media")), can(scJack, "manage", scGroup("eng"))},
		},
		{
			name: "nested group unlinked from outer group: its members lose the outer grant",
			del:  r(scGroup("eng"), "member", scMembers("backend")),
			held: []scCheck{
				can(scHank, "read", scFolder("a_media")),
				can(scIvy, "read", scFile("a_photo")),
				can(scHank, "membership", scGroup("eng")),
			},
			kept: []scCheck{can(scHank, "write", scFolder("a_docs_2024_q1")), can(scIvy, "membership", scGroup("backend"))},
		},
		{
			name: "member removed from innermost group loses grant through two nestings",
			del:  r(scGroup("db"), "member", scIvy),
			held: []scCheck{
				can(scIvy, "write", scFile("a_report")),
				can(scIvy, "read", scMemory("mem_a_note")),
				can(scIvy, "membership", scGroup("backend")),
			},
			kept: []scCheck{can(scHank, "write", scFile("a_report"))},
		},
		{
			name: "member removed from group that administers the zone loses zone admin",
			del:  r(scGroup("ops"), "member", scOtto),
			held: []scCheck{
				can(scOtto, "manage", scZoneA),
				can(scOtto, "admin", scFile("a_report")),
				can(scOtto, "delete", scMemory("mem_a_note")),
			},
			kept: []scCheck{can(scAda, "manage", scZoneA), can(scAda, "admin", scFile("a_report"))},
		},
		{
			name: "member removed from group that is a zone member loses zone access",
			del:  r(scGroup("staff"), "member", scStan),
			held: []scCheck{can(scStan, "access", scZoneA)},
			kept: []scCheck{can(scMia, "access", scZoneA)},
		},
		{
			name: "member removed from memory viewer group loses memory read",
			del:  r(scGroup("backend"), "member", scHank),
			held: []scCheck{can(scHank, "read", scMemory("mem_a_note")), can(scHank, "write", scFolder("a_docs_2024_q1"))},
			kept: []scCheck{can(scLiam, "read", scMemory("mem_a_note")), can(scKate, "write", scMemory("mem_a_note"))},
		},
		{
			name:  "zone B user removed from group loses the cross-zone grant (DeleteMatching)",
			del:   r(scGroup("b_team"), "member", scBart),
			match: true,
			held:  []scCheck{can(scBart, "read", scFile("a_shared_doc"))},
			kept:  []scCheck{can(scBella, "read", scFile("a_shared_doc")), can(scBart, "access", scZoneB)},
		},
	}

	cur := tok
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			for _, h := range c.held {
				d, err := e.Check(ctx, h.item(), authz.AtLeastAsFresh(cur))
				require.NoError(t, err)
				require.True(t, d.Allowed, "before the delete, must be allowed: %s", h.item())
			}

			var delTok authz.Token
			var err error
			if c.match {
				sub := c.del.Subject
				delTok, err = e.DeleteMatching(ctx, authz.Filter{Resource: c.del.Resource, Relation: c.del.Relation, Subject: &sub})
			} else {
				delTok, err = e.Write(ctx, []authz.Update{authz.DeleteRel(c.del)})
			}
			require.NoError(t, err)
			require.NotEmpty(t, delTok)
			require.NotEqual(t, cur, delTok, "a delete that removed something commits at a new revision")
			cur = delTok

			cons := authz.AtLeastAsFresh(delTok)
			for _, h := range c.held {
				d, err := e.Check(ctx, h.item(), cons)
				require.NoError(t, err)
				require.False(t, d.Allowed, "with the delete's token, must be denied: %s", h.item())
			}
			for _, k := range c.kept {
				d, err := e.Check(ctx, k.item(), cons)
				require.NoError(t, err)
				require.True(t, d.Allowed, "unrelated grant must survive the delete: %s", k.item())
			}
		})
	}
}
