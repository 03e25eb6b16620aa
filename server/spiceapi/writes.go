package spiceapi

import (
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/identity"
)

// maxUpdates is the most updates one write takes (the engine's limit).
const maxUpdates = 1000

func rel(r *v1.Relationship) authz.Relationship {
	return authz.Rel(authz.Obj(r.GetResource().GetObjectType(), r.GetResource().GetObjectId()), r.GetRelation(),
		authz.SubjectSet(r.GetSubject().GetObject().GetObjectType(), r.GetSubject().GetObject().GetObjectId(), r.GetSubject().GetOptionalRelation()))
}

// filter maps a RelationshipFilter to authz's.
func filter(f *v1.RelationshipFilter) authz.Filter {
	out := authz.Filter{
		Resource: authz.Obj(f.GetResourceType(), f.GetOptionalResourceId()), Relation: f.GetOptionalRelation(),
		IDPrefix: f.GetOptionalResourceIdPrefix(),
	}
	if sf := f.GetOptionalSubjectFilter(); sf != nil {
		s := authz.SubjectSet(sf.GetSubjectType(), sf.GetOptionalSubjectId(), sf.GetOptionalRelation().GetRelation())
		out.Subject = &s
	}
	return out
}

// preconditions returns a check of SpiceDB's write preconditions, run by
// the engine with writes serialized, and the resource types they read.
func (h *Handler) preconditions(pre []*v1.Precondition) (func(ctx context.Context) error, []string, error) {
	type cond struct {
		f         authz.Filter
		mustMatch bool
		pre       *v1.Precondition
	}
	conds := make([]cond, 0, len(pre))
	var types []string
	for _, p := range pre {
		f := filter(p.GetFilter())
		types = append(types, f.Resource.Type)
		conds = append(conds, cond{f: f, mustMatch: p.GetOperation() == v1.Precondition_OPERATION_MUST_MATCH, pre: p})
	}
	return func(ctx context.Context) error {
		for _, c := range conds {
			rels, err := h.engine.Read(ctx, c.f, authz.FullyConsistent())
			if err != nil {
				return err
			}
			if (len(rels) > 0) != c.mustMatch {
				// SpiceDB's words: the precondition in protobuf's text form.
				return connect.NewError(connect.CodeFailedPrecondition,
					fmt.Errorf("unable to satisfy write precondition `%s`", c.pre))
			}
		}
		return nil
	}, types, nil
}

// WriteRelationships writes through the engine, so the change is in its
// durable relationship log. TOUCH and DELETE map to the engine's
// operations; CREATE fails with AlreadyExists if the relationship exists,
// checked with writes serialized, as are preconditions. Caveats and
// expiry on relationships are not supported.
func (h *Handler) WriteRelationships(ctx context.Context, req *connect.Request[v1.WriteRelationshipsRequest]) (*connect.Response[v1.WriteRelationshipsResponse], error) {
	m := req.Msg
	proc := req.Spec().Procedure
	if err := validate(m); err != nil {
		return nil, err
	}
	p, err := h.caller(ctx, identity.ScopeWrite)
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	if len(m.GetUpdates()) > maxUpdates {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("update count of %d is greater than maximum allowed of %d", len(m.GetUpdates()), maxUpdates))
	}
	updates := make([]authz.Update, 0, len(m.GetUpdates()))
	types := make([]string, 0, len(m.GetUpdates()))
	var creates []authz.Relationship
	seen := make(map[authz.Relationship]bool, len(m.GetUpdates()))
	for i, u := range m.GetUpdates() {
		r := u.GetRelationship()
		if seen[rel(r)] {
			return nil, h.fail(ctx, proc, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(
				"found more than one update with relationship `%s` in this request; a relationship can only be specified in an update once per overall WriteRelationships request", rel(r))))
		}
		seen[rel(r)] = true
		field := fmt.Sprintf("updates[%d].relationship", i)
		switch {
		case r.GetOptionalCaveat() != nil:
			return nil, h.fail(ctx, proc, errs.Invalid(field+".optional_caveat", "caveats on relationships are not supported by Nexus"))
		case r.GetOptionalExpiresAt() != nil:
			return nil, h.fail(ctx, proc, errs.Invalid(field+".optional_expires_at", "expiring relationships are not supported by Nexus"))
		}
		types = append(types, r.GetResource().GetObjectType())
		switch u.GetOperation() {
		case v1.RelationshipUpdate_OPERATION_TOUCH:
			updates = append(updates, authz.TouchRel(rel(r)))
		case v1.RelationshipUpdate_OPERATION_CREATE:
			updates = append(updates, authz.TouchRel(rel(r)))
			creates = append(creates, rel(r))
		case v1.RelationshipUpdate_OPERATION_DELETE:
			updates = append(updates, authz.DeleteRel(rel(r)))
		default:
			return nil, h.fail(ctx, proc, errs.Invalid(fmt.Sprintf("updates[%d].operation", i), "must be CREATE, TOUCH or DELETE"))
		}
	}
	check, preTypes, err := h.preconditions(m.GetOptionalPreconditions())
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	if err := h.mayWrite(p, types...); err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	// Preconditions read: on Nexus's types, that takes an operator.
	if err := h.mayRead(ctx, p, preTypes...); err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	tok, err := h.engine.Write(ctx, updates, authz.WithPrecondition(func(ctx context.Context) error {
		if err := check(ctx); err != nil {
			return err
		}
		for _, r := range creates {
			if err := h.mustNotExist(ctx, r); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	return connect.NewResponse(&v1.WriteRelationshipsResponse{WrittenAt: &v1.ZedToken{Token: string(tok)}}), nil
}

func (h *Handler) mustNotExist(ctx context.Context, r authz.Relationship) error {
	s := r.Subject
	rels, err := h.engine.Read(ctx, authz.Filter{Resource: r.Resource, Relation: r.Relation, Subject: &s}, authz.FullyConsistent())
	if err != nil {
		return err
	}
	for _, got := range rels {
		if got == r {
			return connect.NewError(connect.CodeAlreadyExists,
				fmt.Errorf("could not CREATE relationship `%s`, as it already existed. If this is persistent, please switch to TOUCH operations or specify a precondition", r))
		}
	}
	return nil
}

// DeleteRelationships deletes through the engine (at most 1,000
// relationships at once). With optional_limit, as SpiceDB: more matches
// than the limit refuse the delete, unless partial deletions are allowed,
// when the first limit matches go and the progress says PARTIAL.
func (h *Handler) DeleteRelationships(ctx context.Context, req *connect.Request[v1.DeleteRelationshipsRequest]) (*connect.Response[v1.DeleteRelationshipsResponse], error) {
	m := req.Msg
	proc := req.Spec().Procedure
	if err := validate(m); err != nil {
		return nil, err
	}
	p, err := h.caller(ctx, identity.ScopeWrite)
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	limit := int(m.GetOptionalLimit())
	if limit > maxUpdates {
		return nil, h.fail(ctx, proc, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("provided limit %d is greater than maximum allowed of %d", limit, maxUpdates)))
	}
	f := filter(m.GetRelationshipFilter())
	if err := h.mayWrite(p, f.Resource.Type); err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	check, preTypes, err := h.preconditions(m.GetOptionalPreconditions())
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	if err := h.mayRead(ctx, p, preTypes...); err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	tooMany := func(matches int) error {
		if limit > 0 && matches > limit && !m.GetOptionalAllowPartialDeletions() {
			return connect.NewError(connect.CodeInvalidArgument,
				fmt.Errorf("found more than %d relationships to be deleted and partial deletion was not requested", limit))
		}
		return nil
	}
	progress := v1.DeleteRelationshipsResponse_DELETION_PROGRESS_COMPLETE
	var deleted int
	var tok authz.Token
	if limit == 0 {
		tok, err = h.engine.DeleteMatching(ctx, f, authz.WithPrecondition(func(ctx context.Context) error {
			if err := check(ctx); err != nil {
				return err
			}
			// Writes are serialized here: what matches now is what is deleted.
			rels, err := h.engine.Read(ctx, f, authz.FullyConsistent())
			deleted = len(rels)
			return err
		}))
	} else {
		// The first limit matches, in the engine's order, go by name; the
		// preconditions and the count are judged again with writes
		// serialized.
		var rels []authz.Relationship
		if rels, err = h.engine.Read(ctx, f, authz.FullyConsistent()); err == nil {
			err = tooMany(len(rels))
		}
		if err != nil {
			return nil, h.fail(ctx, proc, err)
		}
		if len(rels) > limit {
			rels, progress = rels[:limit], v1.DeleteRelationshipsResponse_DELETION_PROGRESS_PARTIAL
		}
		dels := make([]authz.Update, len(rels))
		for i, r := range rels {
			dels[i] = authz.DeleteRel(r)
		}
		deleted = len(rels)
		tok, err = h.engine.Write(ctx, dels, authz.WithPrecondition(func(ctx context.Context) error {
			if err := check(ctx); err != nil {
				return err
			}
			now, err := h.engine.Read(ctx, f, authz.FullyConsistent())
			if err == nil {
				err = tooMany(len(now))
			}
			return err
		}))
	}
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	return connect.NewResponse(&v1.DeleteRelationshipsResponse{
		DeletedAt:                 &v1.ZedToken{Token: string(tok)},
		DeletionProgress:          progress,
		RelationshipsDeletedCount: uint64(deleted),
	}), nil
}

// ReadSchema returns the engine's schema: Nexus's definitions and the
// others'.
func (h *Handler) ReadSchema(ctx context.Context, req *connect.Request[v1.ReadSchemaRequest]) (*connect.Response[v1.ReadSchemaResponse], error) {
	if _, err := h.caller(ctx, identity.ScopeCheck); err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	resp, err := h.schema.ReadSchema(ctx, req.Msg)
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(resp), nil
}

// WriteSchema replaces the schema; it must keep Nexus's own definitions as
// they are (authz.Engine.WriteSchema says which it would change).
func (h *Handler) WriteSchema(ctx context.Context, req *connect.Request[v1.WriteSchemaRequest]) (*connect.Response[v1.WriteSchemaResponse], error) {
	proc := req.Spec().Procedure
	if err := validate(req.Msg); err != nil {
		return nil, err
	}
	p, err := h.caller(ctx, identity.ScopeWrite)
	if err == nil {
		err = h.mayWriteSchema(ctx, p)
	}
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	if strings.TrimSpace(req.Msg.GetSchema()) == "" {
		return nil, h.fail(ctx, proc, errs.Invalid("schema", "must not be empty"))
	}
	tok, err := h.engine.WriteSchema(ctx, req.Msg.GetSchema())
	if err != nil {
		return nil, h.fail(ctx, proc, err)
	}
	return connect.NewResponse(&v1.WriteSchemaResponse{WrittenAt: &v1.ZedToken{Token: string(tok)}}), nil
}
