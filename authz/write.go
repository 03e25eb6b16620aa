package authz

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/datalayer"
	"github.com/authzed/spicedb/pkg/zedtoken"
)

// Writer changes relationships. Every write returns the token it committed
// at; a read AtLeastAsFresh(token) sees it.
type Writer interface {
	Write(ctx context.Context, updates []Update, opts ...WriteOption) (Token, error)
	DeleteMatching(ctx context.Context, f Filter, opts ...WriteOption) (Token, error)
}

var _ Writer = (*Engine)(nil)

// WriteOption modifies a write.
type WriteOption func(*writeOptions)

type writeOptions struct {
	hook    TxHook
	after   func(ctx context.Context, tx *sql.Tx, token Token) error
	pre     func(ctx context.Context) error
	cascade func() []Filter
}

// WithPrecondition runs pre once writes are serialized, just before the
// write: what pre reads (fully consistent) no other write through this
// engine can change before this one commits — on PostgreSQL, for a write
// without WithTx or WithTokenTx, no write of any node (it runs under the
// outbox's lock). An error from pre aborts the
// write and is returned as it is. This is how SpiceDB's preconditions and
// CREATE (fail if it exists) are served.
func WithPrecondition(pre func(ctx context.Context) error) WriteOption {
	return func(o *writeOptions) { o.pre = pre }
}

// WithTx runs hook in the transaction that records the write, so the
// caller's own rows and the relationships commit together or not at all.
// An engine without a Log refuses writes WithTx.
func WithTx(hook TxHook) WriteOption {
	return func(o *writeOptions) { o.hook = hook }
}

// WithTokenTx runs after with the write's token once the engine has
// applied the write, so a caller can store the token beside its rows. after
// may only record the token: on the embedded default it runs in the
// transaction that records the write (if it fails, the write is undone); on
// PostgreSQL the write is already committed by then (see outbox.go) and
// after runs in the transaction that completes it, where a failure is
// logged and the write stands. Rows a write adds or changes belong in
// WithTx's hook.
func WithTokenTx(after func(ctx context.Context, tx *sql.Tx, token Token) error) WriteOption {
	return func(o *writeOptions) { o.after = after }
}

// WithCascade makes a DeleteMatching also delete every relationship that
// the filters match: the relationships of what the caller's rows took with
// them (the entries below a deleted folder). filters is called after the
// write's hook (WithTx) has run, so the hook can say what it deleted. On PostgreSQL they are part of
// the write's outbox record, so a crash cannot leave them behind. On the
// embedded default they are deleted right after the write, in writes of
// their own (there may be more than one write holds); if that fails or the
// process crashes, they remain for the caller's sweep (paths.SweepOrphans
// at start).
func WithCascade(filters func() []Filter) WriteOption {
	return func(o *writeOptions) { o.cascade = filters }
}

// Filter selects relationships. Resource.Type is required; any other empty
// field matches everything. IDPrefix selects the resource ids that begin
// with it (with no Resource.ID: the engine refuses both).
type Filter struct {
	Resource ObjectRef
	Relation string
	Subject  *SubjectRef
	IDPrefix string `json:",omitempty"`
}

func (f Filter) proto() *v1.RelationshipFilter {
	p := &v1.RelationshipFilter{
		ResourceType:             f.Resource.Type,
		OptionalResourceId:       f.Resource.ID,
		OptionalResourceIdPrefix: f.IDPrefix,
		OptionalRelation:         f.Relation,
	}
	if f.Subject != nil {
		p.OptionalSubjectFilter = &v1.SubjectFilter{
			SubjectType:       f.Subject.Object.Type,
			OptionalSubjectId: f.Subject.Object.ID,
		}
		if f.Subject.Relation != "" {
			p.OptionalSubjectFilter.OptionalRelation = &v1.SubjectFilter_RelationFilter{Relation: f.Subject.Relation}
		}
	}
	return p
}

// Write applies updates atomically: all of them or none. With a Log, they
// are recorded durably before Write returns.
func (e *Engine) Write(ctx context.Context, updates []Update, opts ...WriteOption) (Token, error) {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	for _, u := range updates {
		if err := validateUpdate(u); err != nil {
			return "", err
		}
	}
	if len(updates) > maxUpdatesPerWrite {
		return "", fmt.Errorf("authz: %w: %d updates in one write; at most %d", ErrInvalid, len(updates), maxUpdatesPerWrite)
	}
	if e.log != nil && e.outbox == nil {
		return e.writeGrouped(newPendingWrite(ctx, updates, o))
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if e.outbox != nil {
		// Without rows of its own, one WriteRelationships is atomic and
		// needs no record.
		direct := o.hook == nil && o.after == nil
		return e.outboxWrite(ctx, func() []outboxOp { return updateOps(updates) }, len(updates), direct, o)
	}
	if o.pre != nil {
		if err := o.pre(ctx); err != nil {
			return "", err
		}
	}
	return e.writeLocked(ctx, updates, o)
}

// outboxWrite is a write on PostgreSQL (outbox.go): direct, applied under
// the outbox lock with pre run there too; or recorded with the caller's
// rows first, then applied.
func (e *Engine) outboxWrite(ctx context.Context, ops func() []outboxOp, items int, direct bool, o writeOptions) (Token, error) {
	start := time.Now()
	var token Token
	var err error
	if direct {
		token, err = e.outbox.writeDirect(ctx, ops(), o.pre)
	} else {
		if o.pre != nil {
			if err := o.pre(ctx); err != nil {
				return "", err
			}
		}
		token, err = e.outbox.write(ctx, ops, o.hook, o.after)
	}
	e.metrics.observe("write", start, items, err)
	return e.stamp(ctx, token, err)
}

// writeLocked writes updates under writeMu: with a Log, as a group of one
// (write_group.go).
func (e *Engine) writeLocked(ctx context.Context, updates []Update, o writeOptions) (Token, error) {
	if e.log != nil {
		o.pre = nil // the caller has run it, under writeMu
		w := newPendingWrite(ctx, updates, o)
		e.commitLocked([]*pendingWrite{w})
		return w.token, w.err
	}
	if o.hook != nil || o.after != nil {
		return "", fmt.Errorf("authz: WithTx needs a relationship log; this engine has none")
	}
	start := time.Now()
	token, err := e.applyUpdates(ctx, updates)
	e.metrics.observe("write", start, len(updates), err)
	return e.stamp(ctx, token, err)
}

func invert(updates []Update) []Update {
	out := make([]Update, len(updates))
	for i, u := range updates {
		op := Touch
		if u.Op == Touch {
			op = Delete
		}
		out[len(out)-1-i] = Update{Op: op, Rel: u.Rel}
	}
	return out
}

// headToken returns a token for the newest revision. On the embedded
// default it reads the datastore's head itself: a fully consistent read
// through SpiceDB crosses the in-process connection, whose goroutines wait
// for a core under load, and every write that changes nothing (a revoke
// of what was never granted) needs one — 5-20 ms each, at one a group
// commit, in the decision_cache benchmark. On PostgreSQL, through SpiceDB.
func (e *Engine) headToken(ctx context.Context) (Token, error) {
	if e.outbox != nil || e.ds == nil {
		return headTokenVia(ctx, e.perms)
	}
	head, err := e.ds.HeadRevision(ctx)
	if err != nil {
		return "", fmt.Errorf("authz: head revision: %w: %w", ErrUnavailable, err)
	}
	zt, err := zedtoken.NewFromRevision(ctx, head.Revision, datalayer.SchemaHash(head.SchemaHash), e.ds)
	if err != nil {
		return "", fmt.Errorf("authz: head revision: %w: %w", ErrUnavailable, err)
	}
	return Token(zt.GetToken()), nil
}

// DeleteMatching deletes every relationship f matches, atomically.
func (e *Engine) DeleteMatching(ctx context.Context, f Filter, opts ...WriteOption) (Token, error) {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if e.outbox != nil {
		// The filters go as they are, applied when the write is: whatever
		// matches then is deleted, whoever wrote it. A delete by filter may
		// take several passes, so it is recorded (and finished after a
		// crash) unless a precondition must hold under the lock and no
		// rows go with it.
		ops := func() []outboxOp {
			fs := []Filter{f}
			if o.cascade != nil {
				fs = append(fs, o.cascade()...)
			}
			return filterOps(fs)
		}
		direct := o.pre != nil && o.hook == nil && o.after == nil && o.cascade == nil
		return e.outboxWrite(ctx, ops, 0, direct, o)
	}
	if o.pre != nil {
		if err := o.pre(ctx); err != nil {
			return "", err
		}
	}
	tok, err := e.deleteMatchingLocked(ctx, f, o)
	if err != nil || o.cascade == nil {
		return tok, err
	}
	for _, cf := range o.cascade() {
		if _, err := e.deleteMatchingLocked(ctx, cf, writeOptions{}); err != nil {
			e.logger.Warn("authz: the relationships of what a delete took with it remain; the caller's sweep removes them", "filter", cf.proto().String(), "err", err)
			break
		}
	}
	return tok, nil
}

func (e *Engine) deleteMatchingLocked(ctx context.Context, f Filter, o writeOptions) (Token, error) {
	rels, err := e.Read(ctx, f, FullyConsistent())
	if err != nil {
		return "", err
	}
	if len(rels) > maxUpdatesPerWrite {
		return "", fmt.Errorf("authz: %w: the filter matches %d relationships; delete at most %d at once", ErrInvalid, len(rels), maxUpdatesPerWrite)
	}
	updates := make([]Update, len(rels))
	for i, r := range rels {
		updates[i] = DeleteRel(r)
	}
	return e.writeLocked(ctx, updates, o)
}

// Read returns the relationships f matches.
func (e *Engine) Read(ctx context.Context, f Filter, c Consistency) ([]Relationship, error) {
	stream, err := e.perms.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
		Consistency:        e.cons(c),
		RelationshipFilter: f.proto(),
	})
	if err != nil {
		return nil, wrapErr("read relationships", err)
	}
	var out []Relationship
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, wrapErr("read relationships", err)
		}
		out = append(out, relFromProto(r.GetRelationship()))
	}
}

func validateUpdate(u Update) error {
	if u.Op != Touch && u.Op != Delete {
		return fmt.Errorf("authz: %w: unknown operation %d", ErrInvalid, u.Op)
	}
	if err := u.Rel.Resource.Validate(); err != nil {
		return fmt.Errorf("authz: %w: %w", ErrInvalid, err)
	}
	if err := u.Rel.Subject.Object.Validate(); err != nil {
		return fmt.Errorf("authz: %w: %w", ErrInvalid, err)
	}
	if !validRelation(u.Rel.Relation) {
		return fmt.Errorf("authz: %w: relation %q", ErrInvalid, u.Rel.Relation)
	}
	if u.Rel.Subject.Relation != "" && !validRelation(u.Rel.Subject.Relation) {
		return fmt.Errorf("authz: %w: subject relation %q", ErrInvalid, u.Rel.Subject.Relation)
	}
	return nil
}

// ObjectIDs calls fn with the id of every object of type typ that is the
// resource of a relationship, each once: on the embedded default from the
// relationship log, which holds every acknowledged write (a read of
// SpiceDB's datastore through its API took seconds at a hundred thousand
// folders); elsewhere from SpiceDB, fully consistent.
func (e *Engine) ObjectIDs(ctx context.Context, typ string, fn func(id string) error) error {
	if l, ok := e.log.(*SQLLog); ok && e.outbox == nil {
		return l.objectIDs(ctx, typ, fn)
	}
	rels, err := e.Read(ctx, Filter{Resource: ObjectRef{Type: typ}}, FullyConsistent())
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, r := range rels {
		if !seen[r.Resource.ID] {
			seen[r.Resource.ID] = true
			if err := fn(r.Resource.ID); err != nil {
				return err
			}
		}
	}
	return nil
}
