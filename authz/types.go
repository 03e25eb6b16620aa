package authz

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// ObjectRef names one object of the schema, such as folder:f_8Jd2.
type ObjectRef struct {
	Type string
	ID   string
}

// Obj is shorthand for ObjectRef{Type: typ, ID: id}.
func Obj(typ, id string) ObjectRef { return ObjectRef{Type: typ, ID: id} }

func (o ObjectRef) String() string { return o.Type + ":" + o.ID }

// SubjectRef is an object, or a set of subjects through one of its relations
// (group:eng#member).
type SubjectRef struct {
	Object   ObjectRef
	Relation string // optional
}

// Subject is shorthand for a subject without a relation, such as user:u_1.
func Subject(typ, id string) SubjectRef { return SubjectRef{Object: Obj(typ, id)} }

// SubjectSet is shorthand for a subject set such as group:g_1#member.
func SubjectSet(typ, id, relation string) SubjectRef {
	return SubjectRef{Object: Obj(typ, id), Relation: relation}
}

func (s SubjectRef) String() string {
	if s.Relation == "" {
		return s.Object.String()
	}
	return s.Object.String() + "#" + s.Relation
}

// Relationship is one tuple: resource#relation@subject.
type Relationship struct {
	Resource ObjectRef
	Relation string
	Subject  SubjectRef
}

// Rel is shorthand for a Relationship.
func Rel(resource ObjectRef, relation string, subject SubjectRef) Relationship {
	return Relationship{Resource: resource, Relation: relation, Subject: subject}
}

func (r Relationship) String() string {
	return r.Resource.String() + "#" + r.Relation + "@" + r.Subject.String()
}

// Op is what an Update does to its relationship.
type Op int

const (
	// Touch creates the relationship, or leaves it as it is if it exists.
	Touch Op = iota + 1
	// Delete removes the relationship if it exists.
	Delete
)

// Update is one change in a write.
type Update struct {
	Op  Op
	Rel Relationship
}

// TouchRel and DeleteRel are shorthands for an Update.
func TouchRel(r Relationship) Update  { return Update{Op: Touch, Rel: r} }
func DeleteRel(r Relationship) Update { return Update{Op: Delete, Rel: r} }

// Token is a consistency token (a SpiceDB ZedToken): the point in the
// relationship history a write committed at, or a decision was made at.
// The empty Token means "no token".
type Token string

// Consistency says how fresh the data behind a read must be.
type Consistency struct {
	kind  consistencyKind
	token Token
}

type consistencyKind int

const (
	minimizeLatency consistencyKind = iota
	atLeastAsFresh
	fullyConsistent
)

// MinimizeLatency lets the engine answer from its most convenient recent
// snapshot; a change may take a short while to become visible.
func MinimizeLatency() Consistency { return Consistency{kind: minimizeLatency} }

// AtLeastAsFresh answers from data that includes every write up to t. An
// empty t, or one that carries only a WAL position, is MinimizeLatency.
func AtLeastAsFresh(t Token) Consistency {
	if t.Zed() == "" {
		return MinimizeLatency()
	}
	return Consistency{kind: atLeastAsFresh, token: t}
}

// FullyConsistent answers from the newest data.
func FullyConsistent() Consistency { return Consistency{kind: fullyConsistent} }

// Token returns the token of an AtLeastAsFresh consistency, else "".
func (c Consistency) Token() Token { return c.token }

// IsFullyConsistent reports whether c asks for the newest data.
func (c Consistency) IsFullyConsistent() bool { return c.kind == fullyConsistent }

func (c Consistency) String() string {
	switch c.kind {
	case atLeastAsFresh:
		return "at_least_as_fresh(" + string(c.token) + ")"
	case fullyConsistent:
		return "fully_consistent"
	default:
		return "minimize_latency"
	}
}

func (c Consistency) proto() *v1.Consistency {
	switch c.kind {
	case atLeastAsFresh:
		return &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: string(c.token.Zed())}}}
	case fullyConsistent:
		return &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	default:
		return &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}
	}
}

// ErrInvalidRef is returned for a reference that does not parse or does not
// fit SpiceDB's rules for types, ids and relations.
var ErrInvalidRef = errors.New("invalid reference")

// The rules below are SpiceDB's patterns, checked by hand: they run for
// every relationship written or imported, where regular expressions cost
// more than the rest of the validation (TestNamesMatchSpiceDBsPatterns
// holds them to the patterns).

// validType is a definition name, optionally in namespaces
// (billing/invoice), as other services' definitions are:
// ^([a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$.
func validType(s string) bool {
	for {
		ns, rest, ok := strings.Cut(s, "/")
		if !ok {
			return validName(s, 64)
		}
		if !validName(ns, 63) {
			return false
		}
		s = rest
	}
}

// validRelation is ^[a-z][a-z0-9_]{1,62}[a-z0-9]$.
func validRelation(s string) bool { return validName(s, 64) }

// validName is a lower-case letter, then letters, digits and _, then a
// letter or digit, 3 to max bytes in all.
func validName(s string, max int) bool {
	if len(s) < 3 || len(s) > max || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validID is ^([a-zA-Z0-9/_|\-=+]+|\*)$, at most 1024 bytes.
func validID(s string) bool {
	if s == "*" {
		return true
	}
	if len(s) == 0 || len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '/' || c == '_' || c == '|' || c == '-' || c == '=' || c == '+') {
			return false
		}
	}
	return true
}

// ParseSubject parses "type:id" or "type:id#relation".
func ParseSubject(s string) (SubjectRef, error) {
	obj, rel, _ := strings.Cut(s, "#")
	o, err := ParseObject(obj)
	if err != nil {
		return SubjectRef{}, err
	}
	if rel != "" && !validRelation(rel) {
		return SubjectRef{}, fmt.Errorf("%w: relation %q must be lower-case letters, digits and _", ErrInvalidRef, rel)
	}
	return SubjectRef{Object: o, Relation: rel}, nil
}

// ParseObject parses "type:id".
func ParseObject(s string) (ObjectRef, error) {
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		return ObjectRef{}, fmt.Errorf("%w: %q is not of the form type:id", ErrInvalidRef, s)
	}
	o := ObjectRef{Type: typ, ID: id}
	return o, o.Validate()
}

// Validate reports whether o fits SpiceDB's rules.
func (o ObjectRef) Validate() error {
	if !validType(o.Type) {
		return fmt.Errorf("%w: object type %q must be 3-64 lower-case letters, digits and _, optionally after namespaces ending in / (billing/invoice)", ErrInvalidRef, o.Type)
	}
	if !validID(o.ID) {
		return fmt.Errorf("%w: object id %q must be 1-1024 of a-z A-Z 0-9 / _ | - = +", ErrInvalidRef, o.ID)
	}
	return nil
}

func (o ObjectRef) proto() *v1.ObjectReference {
	return &v1.ObjectReference{ObjectType: o.Type, ObjectId: o.ID}
}

func (s SubjectRef) proto() *v1.SubjectReference {
	return &v1.SubjectReference{Object: s.Object.proto(), OptionalRelation: s.Relation}
}

func (r Relationship) proto() *v1.Relationship {
	return &v1.Relationship{Resource: r.Resource.proto(), Relation: r.Relation, Subject: r.Subject.proto()}
}

func relFromProto(p *v1.Relationship) Relationship {
	return Relationship{
		Resource: Obj(p.GetResource().GetObjectType(), p.GetResource().GetObjectId()),
		Relation: p.GetRelation(),
		Subject: SubjectRef{
			Object:   Obj(p.GetSubject().GetObject().GetObjectType(), p.GetSubject().GetObject().GetObjectId()),
			Relation: p.GetSubject().GetOptionalRelation(),
		},
	}
}

func (u Update) proto() *v1.RelationshipUpdate {
	op := v1.RelationshipUpdate_OPERATION_TOUCH
	if u.Op == Delete {
		op = v1.RelationshipUpdate_OPERATION_DELETE
	}
	return &v1.RelationshipUpdate{Operation: op, Relationship: u.Rel.proto()}
}

// AsSubject is o as a subject without a relation.
func (o ObjectRef) AsSubject() SubjectRef { return SubjectRef{Object: o} }
