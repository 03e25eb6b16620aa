package spiceapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/nexus-authz/nexus/authz"
)

// spiceRequests are the request types the handlers validate, in the order
// FuzzValidate's kind picks them.
var spiceRequests = []func() proto.Message{
	func() proto.Message { return &v1.CheckPermissionRequest{} },
	func() proto.Message { return &v1.CheckBulkPermissionsRequest{} },
	func() proto.Message { return &v1.LookupResourcesRequest{} },
	func() proto.Message { return &v1.LookupSubjectsRequest{} },
	func() proto.Message { return &v1.ReadRelationshipsRequest{} },
	func() proto.Message { return &v1.WriteRelationshipsRequest{} },
	func() proto.Message { return &v1.DeleteRelationshipsRequest{} },
	func() proto.Message { return &v1.WriteSchemaRequest{} },
	func() proto.Message { return &v1.ReadSchemaRequest{} },
}

// FuzzValidate decodes arbitrary bytes into each SpiceDB API request type,
// as gRPC (binary protobuf, when asJSON is false) and Connect JSON carry
// them, and runs the handlers' validation and the pure mappings after it.
// Properties: nothing panics; a refusal is InvalidArgument whose message
// names what is wrong; an accepted request's consistency token parses;
// filters map to authz's with the request's names, or refuse a resource id
// prefix by naming the field; relationships map field for field.
func FuzzValidate(f *testing.F) {
	res := &v1.ObjectReference{ObjectType: "billing/invoice", ObjectId: "i1"}
	sub := &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "u1"}, OptionalRelation: ""}
	fresh := &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: "GhUKEzE3MzM0MTk0NDkwMDAwMDAwMDA=.16b374d848"}}}
	exact := &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: "a.b.10"}}}
	r := &v1.Relationship{Resource: res, Relation: "viewer", Subject: sub}
	filt := &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalRelation: "viewer",
		OptionalSubjectFilter: &v1.SubjectFilter{SubjectType: "user", OptionalSubjectId: "u1"}}
	seeds := []proto.Message{
		&v1.CheckPermissionRequest{Resource: res, Permission: "view", Subject: sub, Consistency: fresh},
		&v1.CheckBulkPermissionsRequest{Items: []*v1.CheckBulkPermissionsRequestItem{{Resource: res, Permission: "view", Subject: sub}}},
		&v1.LookupResourcesRequest{ResourceObjectType: "billing/invoice", Permission: "view", Subject: sub, Consistency: exact},
		&v1.LookupSubjectsRequest{Resource: res, Permission: "view", SubjectObjectType: "user"},
		&v1.ReadRelationshipsRequest{RelationshipFilter: filt},
		&v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: r}},
			OptionalPreconditions: []*v1.Precondition{{Operation: v1.Precondition_OPERATION_MUST_MATCH, Filter: filt}}},
		&v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "billing/invoice", OptionalResourceIdPrefix: "i"}},
		&v1.WriteSchemaRequest{Schema: "definition billing/invoice {\n relation viewer: user\n permission view = viewer\n}"},
		&v1.ReadSchemaRequest{},
	}
	for i, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), false, b)
		j, err := protojson.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), true, j)
	}
	f.Fuzz(func(t *testing.T, kind uint8, asJSON bool, b []byte) {
		m := spiceRequests[int(kind)%len(spiceRequests)]()
		var err error
		if asJSON {
			err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
		} else {
			err = proto.Unmarshal(b, m)
		}
		if err != nil {
			return // the transport refuses it before a handler sees it
		}
		v, ok := m.(request)
		if !ok {
			t.Fatalf("%T has no Validate", m)
		}
		if err := validate(v); err != nil {
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("validate(%v): %v is not InvalidArgument", m, err)
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || (!strings.Contains(ce.Message(), "invalid ") && !strings.Contains(ce.Message(), "consistency token")) {
				t.Fatalf("validate(%v): %q does not say what is wrong", m, err)
			}
			return
		}
		if c, ok := m.(interface{ GetConsistency() *v1.Consistency }); ok {
			cons, served := consistency(c.GetConsistency())
			if tok := cons.Token(); served && tok != "" {
				if _, err := authz.ParseToken(string(tok)); err != nil {
					t.Fatalf("validate accepted %v, whose token %q does not parse: %v", m, tok, err)
				}
			}
		}
		checkFilter := func(field string, fl *v1.RelationshipFilter) {
			out := filter(fl)
			if out.Resource.Type != fl.GetResourceType() || out.Resource.ID != fl.GetOptionalResourceId() || out.Relation != fl.GetOptionalRelation() ||
				out.IDPrefix != fl.GetOptionalResourceIdPrefix() {
				t.Fatalf("filter(%v) = %+v", fl, out)
			}
			if sf := fl.GetOptionalSubjectFilter(); (sf != nil) != (out.Subject != nil) ||
				(sf != nil && (out.Subject.Object.Type != sf.GetSubjectType() || out.Subject.Object.ID != sf.GetOptionalSubjectId())) {
				t.Fatalf("filter(%v): subject %+v", fl, out.Subject)
			}
			_ = describe(out)
		}
		switch m := m.(type) {
		case *v1.ReadRelationshipsRequest:
			checkFilter("relationship_filter", m.GetRelationshipFilter())
		case *v1.DeleteRelationshipsRequest:
			checkFilter("relationship_filter", m.GetRelationshipFilter())
		case *v1.WriteRelationshipsRequest:
			for i, p := range m.GetOptionalPreconditions() {
				checkFilter(fmt.Sprintf("optional_preconditions[%d].filter", i), p.GetFilter())
			}
			for _, u := range m.GetUpdates() {
				pr := u.GetRelationship()
				got := rel(pr)
				if got.Resource.Type != pr.GetResource().GetObjectType() || got.Resource.ID != pr.GetResource().GetObjectId() ||
					got.Relation != pr.GetRelation() || got.Subject.Object.Type != pr.GetSubject().GetObject().GetObjectType() ||
					got.Subject.Object.ID != pr.GetSubject().GetObject().GetObjectId() || got.Subject.Relation != pr.GetSubject().GetOptionalRelation() {
					t.Fatalf("rel(%v) = %+v", pr, got)
				}
			}
		case *v1.CheckBulkPermissionsRequest:
			for _, it := range m.GetItems() {
				_ = item(it.GetResource(), it.GetPermission(), it.GetSubject())
			}
		}
	})
}
