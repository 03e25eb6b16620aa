package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/datalayer"
	"github.com/authzed/spicedb/pkg/datastore"
	ns "github.com/authzed/spicedb/pkg/namespace"
	"github.com/authzed/spicedb/pkg/schema"
	"github.com/authzed/spicedb/pkg/tuple"
	"github.com/authzed/spicedb/pkg/zedtoken"

	"github.com/nexus-authz/nexus/authz/memdb"
)

// Writes straight into the datastore on the embedded default. A write
// through SpiceDB's WriteRelationships crosses the in-process gRPC
// connection: the request and the answer pass through half a dozen
// goroutines (the client's and the server's transports, the handler), and
// when the node is busy answering checks each of them waits for a core, so
// one write of one relationship took 2-80 ms under load (the decision_cache
// benchmark), with ~1 ms of work in it. Done in the writer's own goroutine
// the same write took 0.2-0.6 ms.
//
// The datastore takes what it is given, so the write is first validated
// as SpiceDB validates a WriteRelationships request: the request's rules
// (the generated Validate and HandwrittenValidate), then its handler's
// (internal/relationships, ValidateOneRelationship, for relationships
// without caveat or expiration, which are all Engine.Write writes): the
// ids, the definitions and relations exist, the relation is not a
// permission, and the schema allows the subject on it. A write that fails
// any of it is not written here; it goes through WriteRelationships, which
// refuses it with SpiceDB's own error (TestDirectWritesAreJudgedAsSpiceDB-
// JudgesThem holds the two verdicts side by side).

// writeRelationships writes updates to the datastore and returns the
// write's token: straight into it on the embedded default when SpiceDB
// would accept them as they are, else through SpiceDB.
func (e *Engine) writeRelationships(ctx context.Context, updates []Update) (Token, error) {
	var muts []tuple.RelationshipUpdate
	if e.outbox == nil {
		muts, _ = mutations(updates)
	}
	return e.writeVia(ctx, updates, muts)
}

// writeVia writes updates straight into the datastore as muts (their
// mutations, nil when they break a rule of the request's form) if SpiceDB
// would accept them, else through SpiceDB, which says what is wrong.
func (e *Engine) writeVia(ctx context.Context, updates []Update, muts []tuple.RelationshipUpdate) (Token, error) {
	if muts != nil {
		if tok, taken, err := e.writeMutations(ctx, muts); taken {
			e.metrics.dsWrites.WithLabelValues("direct").Inc()
			return tok, err
		}
	}
	e.metrics.dsWrites.WithLabelValues("spicedb").Inc()
	req := &v1.WriteRelationshipsRequest{Updates: make([]*v1.RelationshipUpdate, len(updates))}
	for i, u := range updates {
		req.Updates[i] = u.proto()
	}
	resp, err := e.perms.WriteRelationships(ctx, req)
	if err != nil {
		return "", wrapErr("write relationships", err)
	}
	return Token(resp.GetWrittenAt().GetToken()), nil
}

// loadLog writes the whole log into the datastore in one transaction,
// each batch judged as loadRelationships judges it; errNotDirect (nothing
// written) if the schema refuses a row.
func (e *Engine) loadLog(ctx context.Context) (int, error) {
	n := 0
	// Nothing watches the datastore yet: its changes need no changelog.
	_, err := e.ds.ReadWriteTx(memdb.WithoutRelationshipChanges(ctx), func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		n = 0
		j := newJudge()
		var rows []memdb.LoadRow
		return e.log.Load(ctx, func(rels []Relationship) error {
			for _, r := range rels {
				j.note(tupleRel(r))
			}
			if err := j.readMissing(ctx, rwt); err != nil {
				return err
			}
			rows = rows[:0]
			for _, r := range rels {
				rel := tupleRel(r)
				if !j.allowed(tuple.Touch(rel)) {
					return errNotDirect
				}
				res, sub := rel.Resource, rel.Subject
				rows = append(rows, memdb.LoadRow{ResourceType: res.ObjectType, ResourceID: res.ObjectID, Relation: res.Relation,
					SubjectType: sub.ObjectType, SubjectID: sub.ObjectID, SubjectRelation: sub.Relation})
			}
			n += len(rels)
			if l, ok := rwt.(memdb.RowLoader); ok {
				return l.LoadRows(ctx, rows)
			}
			muts := make([]tuple.RelationshipUpdate, len(rels))
			for i, r := range rels {
				muts[i] = tuple.Touch(tupleRel(r))
			}
			return rwt.WriteRelationships(ctx, muts)
		})
	})
	if err == nil && n > 0 {
		e.metrics.dsWrites.WithLabelValues("direct").Inc()
	}
	return n, err
}

// loadRelationships writes a batch of relationships read back from the
// log at start (when loadLog could not take the whole log). They were
// validated when first written, so the request rules of mutations (the
// ids' and types' formats) are not checked again; but the schema may have
// changed since, so each is judged against the definitions as they are
// now, all in one datastore transaction. If any would be refused, they go
// through SpiceDB in writes it takes, for its error.
func (e *Engine) loadRelationships(ctx context.Context, rels []Relationship) error {
	muts := make([]tuple.RelationshipUpdate, len(rels))
	for i, r := range rels {
		muts[i] = tuple.Touch(tupleRel(r))
	}
	_, err := e.ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		if err := validPlain(ctx, rwt, muts); err != nil {
			return err
		}
		return rwt.WriteRelationships(ctx, muts)
	})
	if !errors.Is(err, errNotDirect) {
		if err == nil {
			e.metrics.dsWrites.WithLabelValues("direct").Inc()
		}
		return err
	}
	for len(rels) > 0 {
		chunk := rels[:min(len(rels), maxUpdatesPerWrite)]
		rels = rels[len(chunk):]
		updates := make([]Update, len(chunk))
		for i, r := range chunk {
			updates[i] = TouchRel(r)
		}
		if _, err := e.writeRelationships(ctx, updates); err != nil {
			return err
		}
	}
	return nil
}

// errNotDirect aborts a direct write that SpiceDB must judge.
var errNotDirect = errors.New("authz: not a plain write of allowed relationships")

// writeMutations writes muts in one datastore transaction and returns the
// token SpiceDB would have given for it; taken is false, with nothing
// written, when they are not all valid (the caller writes them through
// SpiceDB, which says what is wrong).
func (e *Engine) writeMutations(ctx context.Context, muts []tuple.RelationshipUpdate) (tok Token, taken bool, err error) {
	rev, err := e.ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
		if err := validPlain(ctx, rwt, muts); err != nil {
			return err
		}
		return rwt.WriteRelationships(ctx, muts)
	})
	if errors.Is(err, errNotDirect) {
		return "", false, nil
	}
	if err == nil {
		var zt *v1.ZedToken
		if zt, err = zedtoken.NewFromRevision(ctx, rev, datalayer.NoSchemaHashInTransaction, e.ds); err == nil {
			return Token(zt.GetToken()), true, nil
		}
	}
	// What is valid fails only when the datastore is closed or the
	// write's time ran out.
	return "", true, fmt.Errorf("authz: write relationships: %w: %w", ErrUnavailable, err)
}

// mutations returns updates as the datastore takes them, and false if
// the request would break one of its own rules, which SpiceDB checks
// before its handler runs.
func mutations(updates []Update) ([]tuple.RelationshipUpdate, bool) {
	muts := make([]tuple.RelationshipUpdate, len(updates))
	for i, u := range updates {
		if p := u.proto(); p.Validate() != nil || p.HandwrittenValidate() != nil {
			return nil, false
		}
		rel := tupleRel(u.Rel)
		if u.Op == Touch {
			muts[i] = tuple.Touch(rel)
		} else {
			muts[i] = tuple.Delete(rel)
		}
	}
	return muts, true
}

func tupleRel(r Relationship) tuple.Relationship {
	subRel := r.Subject.Relation
	if subRel == "" {
		subRel = tuple.Ellipsis
	}
	return tuple.Relationship{RelationshipReference: tuple.RelationshipReference{
		Resource: tuple.ObjectAndRelation{ObjectType: r.Resource.Type, ObjectID: r.Resource.ID, Relation: r.Relation},
		Subject:  tuple.ObjectAndRelation{ObjectType: r.Subject.Object.Type, ObjectID: r.Subject.Object.ID, Relation: subRel},
	}}
}

// validPlain returns errNotDirect unless every update is one SpiceDB's
// WriteRelationships accepts, judged as it judges one without caveat or
// expiration, against the definitions rwt reads.
func validPlain(ctx context.Context, rwt datastore.ReadWriteTransaction, muts []tuple.RelationshipUpdate) error {
	seen := make(map[tuple.RelationshipReference]bool, len(muts))
	for _, m := range muts {
		if seen[m.Relationship.RelationshipReference] {
			return errNotDirect // SpiceDB refuses a relationship twice in one write
		}
		seen[m.Relationship.RelationshipReference] = true
	}
	return allowedAll(ctx, rwt, muts)
}

// allowedAll is validPlain of updates known to name each relationship
// once (the log's rows, unique by its primary key).
func allowedAll(ctx context.Context, rwt datastore.ReadWriteTransaction, muts []tuple.RelationshipUpdate) error {
	j := newJudge()
	for _, m := range muts {
		j.note(m.Relationship)
	}
	if err := j.readMissing(ctx, rwt); err != nil {
		return err
	}
	for _, m := range muts {
		if !j.allowed(m) {
			return errNotDirect
		}
	}
	return nil
}

// judge is validPlain's memory of the definitions it read and of its
// verdicts, kept across the batches of a load: the schema's verdict
// depends on the types and relations alone, and a load of a million
// relationships asks a few dozen questions.
type judge struct {
	defs     map[string]*schema.Definition // nil: no such definition
	missing  []string                      // types read asks readMissing for
	verdicts map[shape]bool
}

func newJudge() *judge {
	return &judge{defs: map[string]*schema.Definition{}, verdicts: map[shape]bool{}}
}

// note notes the types of rel that readMissing is to read.
func (j *judge) note(rel tuple.Relationship) {
	for _, t := range [2]string{rel.Resource.ObjectType, rel.Subject.ObjectType} {
		if _, ok := j.defs[t]; !ok && !slices.Contains(j.missing, t) {
			j.missing = append(j.missing, t)
		}
	}
}

// readMissing reads the definitions note noted.
func (j *judge) readMissing(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
	if len(j.missing) == 0 {
		return nil
	}
	found, err := rwt.LegacyLookupNamespacesWithNames(ctx, j.missing)
	if err != nil {
		return err
	}
	for _, t := range j.missing {
		j.defs[t] = nil
	}
	j.missing = j.missing[:0]
	for _, f := range found {
		d, err := schema.NewDefinition(f.Definition)
		if err != nil {
			return err
		}
		j.defs[f.Definition.Name] = d
	}
	return nil
}

// allowed is whether m is valid, its types' definitions read.
func (j *judge) allowed(m tuple.RelationshipUpdate) bool {
	if !validPlainIDs(m.Relationship) {
		return false
	}
	k := shapeOf(m)
	ok, seen := j.verdicts[k]
	if !seen {
		ok = allowedShape(j.defs, m)
		j.verdicts[k] = ok
	}
	return ok
}

type shape struct {
	resType, rel, subType, subRel string
	wildcard, delete              bool
}

func shapeOf(m tuple.RelationshipUpdate) shape {
	res, sub := m.Relationship.Resource, m.Relationship.Subject
	return shape{res.ObjectType, res.Relation, sub.ObjectType, sub.Relation,
		sub.ObjectID == tuple.PublicWildcard, m.Operation == tuple.UpdateOperationDelete}
}

// validPlainIDs is whether rel's ids are ones SpiceDB accepts:
// tuple.ValidateResourceID and ValidateSubjectID, whose patterns the
// hand-written validID follows (SpiceDB's subject pattern also accepts
// more than it means to, so it is asked when validID says no).
func validPlainIDs(rel tuple.Relationship) bool {
	rid, sid := rel.Resource.ObjectID, rel.Subject.ObjectID
	return rid != tuple.PublicWildcard && validID(rid) && (validID(sid) || tuple.ValidateSubjectID(sid) == nil)
}

// allowedShape is ValidateOneRelationship's verdict on m's types and
// relations, for m without a caveat or an expiration and with valid ids
// (validPlainIDs).
func allowedShape(defs map[string]*schema.Definition, m tuple.RelationshipUpdate) bool {
	rel := m.Relationship
	res, sub := rel.Resource, rel.Subject
	rd, sd := defs[res.ObjectType], defs[sub.ObjectType]
	if rd == nil || sd == nil || !rd.HasRelation(res.Relation) || rd.IsPermission(res.Relation) {
		return false
	}
	if sub.Relation != tuple.Ellipsis && !sd.HasRelation(sub.Relation) {
		return false
	}
	if m.Operation == tuple.UpdateOperationDelete {
		// A delete without a caveat matches the relationship whatever
		// caveat it was written with.
		if sub.ObjectID == tuple.PublicWildcard {
			ok, err := rd.IsAllowedPublicNamespace(res.Relation, sub.ObjectType)
			return err == nil && ok == schema.PublicSubjectAllowed
		}
		ok, err := rd.IsAllowedDirectRelation(res.Relation, sub.ObjectType, sub.Relation)
		return err == nil && ok == schema.DirectRelationValid
	}
	allowed := ns.AllowedRelationWithCaveat(sub.ObjectType, sub.Relation, nil)
	if sub.ObjectID == tuple.PublicWildcard {
		allowed = ns.AllowedPublicNamespaceWithCaveat(sub.ObjectType, nil)
	}
	ok, err := rd.HasAllowedRelation(res.Relation, allowed)
	return err == nil && ok == schema.AllowedRelationValid
}
