package spiceapi

import (
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
)

func TestConsistencyMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		in     *v1.Consistency
		want   authz.Consistency
		engine bool
	}{
		{"none", nil, authz.MinimizeLatency(), true},
		{"minimize_latency", &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}, authz.MinimizeLatency(), true},
		{"at_least_as_fresh", &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: "t1"}}}, authz.AtLeastAsFresh("t1"), true},
		{"fully_consistent", &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}, authz.FullyConsistent(), true},
		{"at_exact_snapshot goes to the engine itself", &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: "t1"}}}, authz.Consistency{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := consistency(tc.in)
			require.Equal(t, tc.engine, ok)
			if ok {
				require.Equal(t, tc.want.String(), got.String())
			}
		})
	}
}

func TestFilterMapping(t *testing.T) {
	t.Parallel()
	f := filter(&v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: "d1", OptionalRelation: "viewer",
		OptionalSubjectFilter: &v1.SubjectFilter{SubjectType: "group", OptionalSubjectId: "g1",
			OptionalRelation: &v1.SubjectFilter_RelationFilter{Relation: "member"}}})
	require.Equal(t, "document:d1#viewer@group:g1#member", describe(f))

	f = filter(&v1.RelationshipFilter{ResourceType: "document", OptionalResourceIdPrefix: "d"})
	require.Equal(t, "d", f.IDPrefix, "a prefix is kept, not dropped")
}

// describe is f in SpiceDB's relationship form.
func describe(f authz.Filter) string {
	s := f.Resource.Type
	if f.Resource.ID != "" {
		s += ":" + f.Resource.ID
	}
	if f.Relation != "" {
		s += "#" + f.Relation
	}
	if f.Subject != nil {
		s += "@" + f.Subject.String()
	}
	return s
}
