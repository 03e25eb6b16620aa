package authz_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
)

var errInjected = errors.New("injected fault")

func TestParseRefs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want authz.SubjectRef
		bad  string
	}{
		{in: "user:alice", want: authz.Subject("user", "alice")},
		{in: "group:eng#member", want: authz.SubjectSet("group", "eng", "member")},
		{in: "user:*", want: authz.Subject("user", "*")},
		{in: "alice", bad: "not of the form type:id"},
		{in: "User:alice", bad: "object type"},
		{in: "user:a b", bad: "object id"},
		{in: "user:" + strings.Repeat("a", 1025), bad: "object id"},
		{in: "group:eng#Member", bad: "relation"},
	} {
		t.Run(tc.in[:min(len(tc.in), 20)], func(t *testing.T) {
			s, err := authz.ParseSubject(tc.in)
			if tc.bad != "" {
				require.ErrorIs(t, err, authz.ErrInvalidRef)
				require.Contains(t, err.Error(), tc.bad)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, s)
			if tc.want.Relation == "" {
				o, err := authz.ParseObject(tc.in)
				require.NoError(t, err)
				require.Equal(t, tc.want.Object, o)
			}
		})
	}
}

// TestWriteRefusesInvalidUpdates: an update SpiceDB would refuse is
// refused before anything is written, and the whole write with it.
func TestWriteRefusesInvalidUpdates(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, openLog(t, t.TempDir()))
	good := authz.TouchRel(authz.Rel(zoneA, "member", alice))
	for name, u := range map[string]authz.Update{
		"an unknown operation":   {Op: authz.Op(9), Rel: authz.Rel(zoneA, "member", alice)},
		"a bad resource type":    authz.TouchRel(authz.Rel(authz.Obj("Zone", "za"), "member", alice)),
		"a bad subject id":       authz.TouchRel(authz.Rel(zoneA, "member", authz.Subject("user", "a b"))),
		"a bad relation":         authz.TouchRel(authz.Rel(zoneA, "Member", alice)),
		"a bad subject relation": authz.TouchRel(authz.Rel(zoneA, "member", authz.SubjectSet("group", "eng", "x"))),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.Write(ctx, []authz.Update{good, u})
			require.ErrorIs(t, err, authz.ErrInvalid)
			rels, err := e.Read(ctx, authz.Filter{Resource: zoneA}, authz.FullyConsistent())
			require.NoError(t, err)
			require.Empty(t, rels, "the valid update of the write is not written either")
		})
	}
	many := make([]authz.Update, 1001)
	for i := range many {
		many[i] = authz.TouchRel(authz.Rel(authz.Obj("group", fmt.Sprintf("g%d", i)), "member", alice))
	}
	_, err := e.Write(ctx, many)
	require.ErrorIs(t, err, authz.ErrInvalid)
	require.Contains(t, err.Error(), "at most 1000")
}

// TestDeleteMatchingBounds: a filter matching more than one write may
// delete is refused and deletes nothing.
func TestDeleteMatchingBounds(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	var ups []authz.Update
	for i := range 1001 {
		ups = append(ups, authz.TouchRel(authz.Rel(groupE, "member", authz.Subject("user", fmt.Sprintf("u%d", i)))))
	}
	_, err := e.Write(ctx, ups[:1000])
	require.NoError(t, err)
	_, err = e.Write(ctx, ups[1000:])
	require.NoError(t, err)
	_, err = e.DeleteMatching(ctx, authz.Filter{Resource: groupE})
	require.ErrorIs(t, err, authz.ErrInvalid)
	rels, err := e.Read(ctx, authz.Filter{Resource: groupE}, authz.FullyConsistent())
	require.NoError(t, err)
	require.Len(t, rels, 1001)

	// A filter on the subject's relation.
	_, err = e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(zoneA, "member", authz.SubjectSet("group", "eng", "member")))})
	require.NoError(t, err)
	rels, err = e.Read(ctx, authz.Filter{Resource: zoneA, Subject: &authz.SubjectRef{Object: authz.ObjectRef{Type: "group"}, Relation: "member"}}, authz.FullyConsistent())
	require.NoError(t, err)
	require.Len(t, rels, 1)
}

// TestPreconditions: a failing precondition aborts the write or delete
// with its own error and changes nothing; a passing one lets it through.
func TestPreconditions(t *testing.T) {
	ctx := context.Background()
	for name, e := range map[string]*authz.Engine{"with a log": newEngine(t, openLog(t, t.TempDir())), "without": newEngine(t, nil)} {
		t.Run(name, func(t *testing.T) {
			member := authz.TouchRel(authz.Rel(groupE, "member", alice))
			_, err := e.Write(ctx, []authz.Update{member}, authz.WithPrecondition(func(context.Context) error { return errInjected }))
			require.ErrorIs(t, err, errInjected)
			rels, err := e.Read(ctx, authz.Filter{Resource: groupE}, authz.FullyConsistent())
			require.NoError(t, err)
			require.Empty(t, rels)

			ran := false
			_, err = e.Write(ctx, []authz.Update{member}, authz.WithPrecondition(func(context.Context) error { ran = true; return nil }))
			require.NoError(t, err)
			require.True(t, ran)

			_, err = e.DeleteMatching(ctx, authz.Filter{Resource: groupE}, authz.WithPrecondition(func(context.Context) error { return errInjected }))
			require.ErrorIs(t, err, errInjected)
			rels, err = e.Read(ctx, authz.Filter{Resource: groupE}, authz.FullyConsistent())
			require.NoError(t, err)
			require.Len(t, rels, 1, "nothing deleted")
		})
	}
}

// TestLookupSubjects: the subjects of a type that have a permission,
// directly and through a group; those without it are not listed.
func TestLookupSubjects(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	_, err := e.Write(ctx, []authz.Update{
		authz.TouchRel(authz.Rel(zoneA, "admin", alice)),
		authz.TouchRel(authz.Rel(groupE, "member", authz.Subject("user", "carol"))),
		authz.TouchRel(authz.Rel(zoneA, "member", authz.SubjectSet("group", "eng", "member"))),
		authz.TouchRel(authz.Rel(authz.Obj("zone", "other"), "member", bob)),
	})
	require.NoError(t, err)
	ids, err := e.LookupSubjects(ctx, zoneA, "access", "user", "", authz.FullyConsistent())
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"alice", "carol"}, ids, "bob is a member of another zone")
	ids, err = e.LookupSubjects(ctx, zoneA, "manage", "user", "", authz.FullyConsistent())
	require.NoError(t, err)
	require.Equal(t, []string{"alice"}, ids)
	ids, err = e.LookupSubjects(ctx, zoneA, "access", "group", "member", authz.FullyConsistent())
	require.NoError(t, err)
	require.Equal(t, []string{"eng"}, ids)
	_, err = e.LookupSubjects(ctx, zoneA, "nosuchperm", "user", "", authz.FullyConsistent())
	require.ErrorIs(t, err, authz.ErrInvalid)
}

// TestWriteSchemaNotRecordedIsUndone: a schema the log cannot record is
// taken back from the engine, so a restart cannot lose what callers were
// told was written.
func TestWriteSchemaNotRecordedIsUndone(t *testing.T) {
	ctx := context.Background()
	db := openLog(t, t.TempDir())
	e := newEngine(t, db)
	_, err := db.Exec(`CREATE TRIGGER fail_schema BEFORE INSERT ON authz_schema BEGIN SELECT RAISE(ABORT, 'injected fault'); END`)
	require.NoError(t, err)
	_, err = e.WriteSchema(ctx, nexus.Schema+docSchema)
	require.ErrorContains(t, err, "recording the schema")
	_, err = e.Check(ctx, authz.CheckItem{Resource: authz.Obj("document", "d1"), Permission: "view", Subject: alice}, authz.FullyConsistent())
	require.ErrorIs(t, err, authz.ErrInvalid, "document is not defined")

	_, err = db.Exec(`DROP TRIGGER fail_schema`)
	require.NoError(t, err)
	_, err = e.WriteSchema(ctx, nexus.Schema+docSchema)
	require.NoError(t, err)
	d, err := e.Check(ctx, authz.CheckItem{Resource: authz.Obj("document", "d1"), Permission: "view", Subject: alice}, authz.FullyConsistent())
	require.NoError(t, err)
	require.False(t, d.Allowed)
}

// TestNewRefuses: a start that cannot be made whole fails, saying why.
func TestNewRefuses(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		cfg  authz.Config
		kind error
		text string
	}{
		"an empty schema": {authz.Config{Schema: ""}, authz.ErrSchema, "empty"},
		"a broken schema": {authz.Config{Schema: nexus.Schema + "\ndefinition broken {\n  relation rel: nosuchtype\n}\n"}, authz.ErrSchema, "nosuchtype"},
		"PostgreSQL with a log": {authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{}, Postgres: &authz.PostgresConfig{}},
			nil, "takes Postgres.DB and no Log"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := authz.New(ctx, tc.cfg)
			require.Error(t, err)
			if tc.kind != nil {
				require.ErrorIs(t, err, tc.kind)
			}
			require.Contains(t, err.Error(), tc.text)
		})
	}

	t.Run("a log that does not fit the schema", func(t *testing.T) {
		db := openLog(t, t.TempDir())
		_, err := db.Exec(`INSERT INTO authz_relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
			VALUES ('nosuchtype', 'x', 'member', 'user', 'alice', '')`)
		require.NoError(t, err)
		_, err = authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}})
		require.ErrorContains(t, err, "rebuilding from the relationship log")
	})
	t.Run("an unreadable log", func(t *testing.T) {
		db := openLog(t, t.TempDir())
		_, err := db.Exec(`DROP TABLE authz_relationships`)
		require.NoError(t, err)
		_, err = authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}})
		require.ErrorContains(t, err, "reading the relationship log")
	})
	t.Run("an unreadable stored schema", func(t *testing.T) {
		db := openLog(t, t.TempDir())
		_, err := db.Exec(`DROP TABLE authz_schema`)
		require.NoError(t, err)
		_, err = authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db}})
		require.ErrorContains(t, err, "reading the stored schema")
	})
}

// TestRebuildOfALargeLog: a log of more relationships than one load
// batch is rebuilt whole.
func TestRebuildOfALargeLog(t *testing.T) {
	ctx := context.Background()
	db := openLog(t, t.TempDir())
	const n = 5003
	tx, err := db.Begin()
	require.NoError(t, err)
	for i := range n {
		_, err := tx.Exec(`INSERT INTO authz_relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
			VALUES ('group', ?, 'member', 'user', 'alice', '')`, fmt.Sprintf("g%d", i))
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
	e := newEngine(t, db)
	ids, err := e.LookupResources(ctx, "group", "membership", alice, authz.FullyConsistent())
	require.NoError(t, err)
	require.Len(t, ids, n)
}

// TestLogFailureWritesNothing: a write the relationship log cannot record
// is not applied to the engine either.
func TestLogFailureWritesNothing(t *testing.T) {
	ctx := context.Background()
	db := openLog(t, t.TempDir())
	e := newEngine(t, db)
	_, err := db.Exec(`CREATE TRIGGER fail_log BEFORE INSERT ON authz_relationships BEGIN SELECT RAISE(ABORT, 'injected fault'); END`)
	require.NoError(t, err)
	_, err = e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(zoneA, "admin", alice))})
	require.ErrorContains(t, err, "injected fault")
	d, err := e.Check(ctx, authz.CheckItem{Resource: zoneA, Permission: "manage", Subject: alice}, authz.FullyConsistent())
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.NoError(t, db.Close())
	_, err = e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(zoneA, "admin", alice))})
	require.ErrorContains(t, err, "relationship log")
}

func TestEmbeddedEngineAccessors(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	tok, err := e.Settle(ctx)
	require.NoError(t, err)
	require.Empty(t, tok, "nothing is ever pending without an outbox")
	require.NotNil(t, e.Conn())
	require.NotNil(t, e.ProtoConsistency(authz.FullyConsistent()).GetFullyConsistent())
	require.NotEmpty(t, e.ProtoConsistency(authz.MinimizeLatency()).GetAtLeastAsFresh().GetToken(),
		"minimize_latency is raised to the start-up floor")
	names, err := authz.PostgresMigrationNames()
	require.NoError(t, err)
	require.NotEmpty(t, names)

	off, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Admission: authz.AdmissionConfig{Disabled: true}, Cache: authz.CacheConfig{Disabled: true}})
	require.NoError(t, err)
	defer off.Close()
	require.Equal(t, authz.AdmissionStats{}, off.AdmissionStats())
	require.Equal(t, authz.CacheStats{}, off.CacheStats())
}

// TestStartKeepsOthersDefinitionsOrSaysWhy: at start, the definitions
// other services added (recorded in the log) are kept beside Nexus's; if
// they no longer fit Nexus's schema, or do not compile, the start fails
// naming them.
func TestStartKeepsOthersDefinitionsOrSaysWhy(t *testing.T) {
	ctx := context.Background()
	// The engine reads its head revision with a check on zone#access.
	const base = "definition user {}\ndefinition zone {\n    relation member: user\n    permission access = member\n}\n"
	const v1 = base + "definition team {\n    relation member: user\n}\n"
	const v2 = base + "definition team {\n    relation lead: user\n}\n"
	const others = "definition doc {\n    relation viewer: team#member\n}\n"
	db := openLog(t, t.TempDir())
	off := authz.CacheConfig{Disabled: true} // no decision cache: not what is tested here
	e, err := authz.New(ctx, authz.Config{Schema: v1, Log: &authz.SQLLog{DB: db}, Cache: off})
	require.NoError(t, err)
	_, err = e.WriteSchema(ctx, v1+others)
	require.NoError(t, err)
	e.Close()

	e, err = authz.New(ctx, authz.Config{Schema: v1, Log: &authz.SQLLog{DB: db}, Cache: off})
	require.NoError(t, err, "the same schema again, with doc kept")
	_, err = e.Check(ctx, authz.CheckItem{Resource: authz.Obj("doc", "d"), Permission: "viewer", Subject: alice}, authz.FullyConsistent())
	require.NoError(t, err, "doc is defined after the restart")
	e.Close()

	_, err = authz.New(ctx, authz.Config{Schema: v2, Log: &authz.SQLLog{DB: db}, Cache: off})
	require.ErrorIs(t, err, authz.ErrSchema)
	require.Contains(t, err.Error(), "the definitions others added (doc)")

	_, err = db.Exec(`UPDATE authz_schema SET schema_text = 'definition broken {'`)
	require.NoError(t, err)
	_, err = authz.New(ctx, authz.Config{Schema: v1, Log: &authz.SQLLog{DB: db}, Cache: off})
	require.ErrorIs(t, err, authz.ErrSchema)
	require.Contains(t, err.Error(), "do not compile")

	_, err = authz.New(ctx, authz.Config{Schema: "definition broken {", Cache: off})
	require.ErrorIs(t, err, authz.ErrSchema)
}
