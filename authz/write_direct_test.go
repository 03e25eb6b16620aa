package authz

import (
	"context"
	"errors"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/tuple"
	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
)

// A service definition with what Nexus's own schema lacks: a wildcard, a
// relation that takes only caveated subjects.
const directSchema = `
caveat on_weekdays(day int) {
  day < 6
}

definition svc/doc {
  relation viewer: user | user:*
  relation editor: user with on_weekdays
  permission view = viewer + editor
}
`

// The embedded default writes valid relationships straight into the
// datastore, judging them itself: it must judge every update as SpiceDB's
// WriteRelationships does, or it would store what SpiceDB refuses.
func TestDirectWritesAreJudgedAsSpiceDBJudgesThem(t *testing.T) {
	ctx := context.Background()
	e := newGroupEngine(t, &SQLLog{DB: openGroupLog(t, t.TempDir())}, 0)
	_, err := e.WriteSchema(ctx, nexus.Schema+directSchema)
	require.NoError(t, err)

	rel := func(s string) Relationship {
		r := tuple.MustParse(s)
		sub := r.Subject.Relation
		if sub == tuple.Ellipsis {
			sub = ""
		}
		return Rel(Obj(r.Resource.ObjectType, r.Resource.ObjectID), r.Resource.Relation, SubjectRef{Object: Obj(r.Subject.ObjectType, r.Subject.ObjectID), Relation: sub})
	}
	for _, tc := range []struct {
		update Update
		valid  bool
	}{
		{TouchRel(rel("file:f1#viewer@user:alice")), true},
		{TouchRel(rel("file:f1#viewer@group:g1#member")), true},
		{TouchRel(rel("file:f1#editor@share_link:l1")), true},
		{TouchRel(rel("memory:m1#viewer@zone:z1#member")), true},
		{TouchRel(rel("user:agent1#owner@user:alice")), true},
		{TouchRel(rel("svc/doc:d1#viewer@user:*")), true},
		{TouchRel(rel("svc/doc:d1#viewer@user:bob")), true},
		{DeleteRel(rel("svc/doc:d1#editor@user:bob")), true}, // a delete need not name the caveat
		{DeleteRel(rel("file:f1#viewer@user:alice")), true},
		{TouchRel(rel("file:f1#read@user:alice")), false},                                                                // a permission
		{TouchRel(rel("file:f1#nosuch@user:alice")), false},                                                              // no such relation
		{TouchRel(rel("nosuch:f1#viewer@user:alice")), false},                                                            // no such definition
		{TouchRel(rel("file:f1#viewer@nosuch:alice")), false},                                                            // no such subject definition
		{TouchRel(rel("file:f1#viewer@zone:z1")), false},                                                                 // a subject type the relation does not take
		{TouchRel(rel("file:f1#viewer@group:g1")), false},                                                                // group without #member
		{TouchRel(rel("file:f1#viewer@group:g1#manage")), false},                                                         // a subject relation it does not take
		{TouchRel(rel("file:f1#viewer@group:g1#nosuch")), false},                                                         // no such subject relation
		{TouchRel(rel("memory:m1#owner@user:*")), false},                                                                 // no wildcard there
		{TouchRel(rel("svc/doc:d1#editor@user:bob")), false},                                                             // only with its caveat
		{TouchRel(Rel(Obj("file", "*"), "viewer", Subject("user", "alice"))), false},                                     // a resource is never a wildcard
		{DeleteRel(rel("file:f1#viewer@zone:z1")), false},                                                                // nor may a delete name a subject type not taken
		{DeleteRel(Rel(Obj("svc/doc", "d1"), "viewer", SubjectRef{Object: Obj("user", "*"), Relation: "owner"})), false}, // a wildcard has no relation
	} {
		t.Run(tc.update.Rel.String(), func(t *testing.T) {
			direct := false
			if muts, ok := mutations([]Update{tc.update}); ok {
				judged := errors.New("judged, not written")
				_, err := e.ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
					if err := validPlain(ctx, rwt, muts); err != nil {
						return err
					}
					return judged
				})
				direct = errors.Is(err, judged)
				require.True(t, direct || errors.Is(err, errNotDirect), "judging failed: %v", err)
			}

			_, spice := e.perms.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{tc.update.proto()}})
			require.Equal(t, spice == nil, direct, "SpiceDB says %v", spice)
			require.Equal(t, tc.valid, direct)
		})
	}
}

// Engine.Write takes the direct path for what SpiceDB accepts, and SpiceDB's
// for the rest, whose error is SpiceDB's own; the direct write's token is
// one SpiceDB reads.
func TestEngineWritesGoDirectAndRefusalsAreSpiceDBs(t *testing.T) {
	ctx := context.Background()
	e := newGroupEngine(t, &SQLLog{DB: openGroupLog(t, t.TempDir())}, 0)
	alice := CheckItem{Resource: Obj("file", "f1"), Permission: "read", Subject: Subject("user", "alice")}

	tok, err := e.Write(ctx, []Update{TouchRel(Rel(Obj("file", "f1"), "viewer", Subject("user", "alice")))})
	require.NoError(t, err)
	require.Equal(t, 1.0, datastoreWrites(t, e, "direct"))
	require.Zero(t, datastoreWrites(t, e, "spicedb"))
	d, err := e.Check(ctx, alice, AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.True(t, d.Allowed, "the direct write's token shows the write")

	_, err = e.Write(ctx, []Update{
		TouchRel(Rel(Obj("file", "f2"), "viewer", Subject("user", "bob"))),
		TouchRel(Rel(Obj("file", "f2"), "read", Subject("user", "bob"))),
	})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "read", "SpiceDB's message names the permission written to")
	require.Equal(t, 1.0, datastoreWrites(t, e, "spicedb"))
	d, err = e.Check(ctx, CheckItem{Resource: Obj("file", "f2"), Permission: "read", Subject: Subject("user", "bob")}, FullyConsistent())
	require.NoError(t, err)
	require.False(t, d.Allowed, "nothing of a refused write is written, not even its valid half")

	tok, err = e.Write(ctx, []Update{DeleteRel(Rel(Obj("file", "f1"), "viewer", Subject("user", "alice")))})
	require.NoError(t, err)
	require.Equal(t, 2.0, datastoreWrites(t, e, "direct"))
	d, err = e.Check(ctx, alice, AtLeastAsFresh(tok))
	require.NoError(t, err)
	require.False(t, d.Allowed, "a direct delete's token shows it gone")
}
