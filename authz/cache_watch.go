package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/datastore"
	core "github.com/authzed/spicedb/pkg/proto/core/v1"
	"github.com/authzed/spicedb/pkg/schemadsl/compiler"
	"github.com/authzed/spicedb/pkg/schemadsl/input"
)

// maxAffected bounds the resources one change may evict one by one; a
// change that reaches more (a zone's membership, a folder high in a large
// tree) empties the cache instead.
const maxAffected = 20_000

// subjectSideAbove: a change that may be evicted by its subject (see
// onlySubject) evicts all of the subject's decisions when its resource
// reaches more objects than this (a zone, a group granted widely); below
// it, only the subject's decisions on those few objects (evictPairs): a
// grant to one user on a file leaves every other user's answers on it.
const subjectSideAbove = 32

// watchNoType is a definition no schema of Nexus's has.
const watchNoType = "nexus_internal/no_relationships"

// watchLoop keeps a watch on the engine's changes running. A watch that
// breaks empties the cache, which answers nothing itself until a new watch
// runs.
func (c *cache) watchLoop(ctx context.Context) {
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		began := time.Now()
		err := c.watch(ctx)
		c.healthy.Store(false)
		c.flush("watch_broken", c.seq.Add(1))
		if ctx.Err() != nil {
			return
		}
		c.m.restarts.Inc()
		c.logger.Warn("authz: decision cache watch broke; the cache is emptied and answers nothing until the watch is restarted", "err", err, "retry_in", backoff)
		if time.Since(began) > time.Minute {
			backoff = 10 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// watch starts a watch at the newest revision and applies its changes
// until it breaks.
func (c *cache) watch(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	began := time.Now()
	head, err := c.e.sideHeadToken(ctx)
	if err != nil {
		return err
	}
	rev, ok := c.e.revision(head)
	if !ok {
		return fmt.Errorf("authz: cannot decode the head token %q", head)
	}
	if err := c.loadSchema(ctx); err != nil {
		return err
	}
	req := &v1.WatchRequest{
		OptionalStartCursor: &v1.ZedToken{Token: string(head)},
		OptionalUpdateKinds: []v1.WatchKind{
			v1.WatchKind_WATCH_KIND_INCLUDE_RELATIONSHIP_UPDATES,
			v1.WatchKind_WATCH_KIND_INCLUDE_SCHEMA_UPDATES,
			v1.WatchKind_WATCH_KIND_INCLUDE_CHECKPOINTS,
		},
	}
	if c.soleWriter {
		// Every relationship change is this node's own, evicted when it
		// was made (cache_own.go): the watch would only hand them back to
		// be skipped, and turning them into messages for it cost a fifth
		// of an import's CPU. SpiceDB always watches relationships, so it
		// is given a type no relationship has; schema changes and
		// checkpoints still come.
		req.OptionalObjectTypes = []string{watchNoType}
	}
	stream, err := c.e.side.watch.Watch(ctx, req)
	if err != nil {
		return wrapErr("watch", err)
	}
	at := &revAt{rev: rev, token: head}
	c.procMu.Lock()
	if st := c.started.Load(); st == nil || atLeast(rev, st.rev) {
		c.started.Store(at)
	}
	c.flush("watch_started", c.restart(rev))
	if d := c.done.Load(); d == nil || atLeast(rev, d.rev) || !c.soleWriter {
		c.done.Store(at)
	}
	c.healthy.Store(true)
	c.vouch(began) // every change committed before began is at or before head
	c.procMu.Unlock()
	c.logger.Debug("authz: decision cache watching", "from", head)
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("authz: the watch stream ended")
			}
			return wrapErr("watch", err)
		}
		if err := c.apply(ctx, resp); err != nil {
			return err
		}
	}
}

// apply evicts what one watch response can affect, in the order the cache's
// correctness rests on: started, evict, done.
func (c *cache) apply(ctx context.Context, resp *v1.WatchResponse) error {
	token := Token(resp.GetChangesThrough().GetToken())
	rev, ok := c.e.revision(token)
	if !ok {
		return fmt.Errorf("authz: cannot decode the watch token %q", token)
	}
	at := &revAt{rev: rev, token: token}
	c.procMu.Lock()
	defer c.procMu.Unlock()
	prev := c.done.Load()
	if c.soleWriter && prev != nil && atLeast(prev.rev, rev) {
		// This node's own write, processed when it was made (cache_own.go).
		return nil
	}
	if prev != nil && !atLeast(rev, prev.rev) {
		return fmt.Errorf("authz: the watch went back in time")
	}
	if st := c.started.Load(); st == nil || atLeast(rev, st.rev) {
		c.started.Store(at)
	}
	_, own := c.own[rev.String()]
	delete(c.own, rev.String())
	switch {
	case resp.GetSchemaUpdated():
		c.flush("schema_changed", c.record(rev))
		if err := c.loadSchema(ctx); err != nil {
			return err
		}
	case own:
		// Evicted when this node wrote it.
	case len(resp.GetUpdates()) > 0:
		rels := make([]Relationship, len(resp.GetUpdates()))
		for i, u := range resp.GetUpdates() {
			rels[i] = relFromProto(u.GetRelationship())
		}
		if err := c.evictChanged(ctx, rev, rels, nil); err != nil {
			return err
		}
	}
	c.done.Store(at)
	c.m.observeLag(rev)
	return nil
}

// onlySubject reports whether a change to r can affect only the decisions
// whose subject is r's subject, and returns it. That holds when the subject
// is a single object (not a set, not a wildcard) and r's relation is not
// followed by an arrow (r.Resource's type uses it in no `rel->perm`): then
// the relationship only ever matches a check of exactly that subject. A
// user joining a zone or a group, a grant to a user, a link's grant: one
// subject's decisions, not everything that reaches the resource.
func (c *cache) onlySubject(r Relationship) (SubjectRef, bool) {
	s := r.Subject
	if s.Relation != "" || s.Object.ID == "*" {
		return SubjectRef{}, false
	}
	arrows := *c.arrows.Load()
	if arrows[r.Resource.Type][r.Relation] {
		return SubjectRef{}, false
	}
	return s, true
}

// affected returns the resources whose decisions a change to the
// relationships of changed can affect: those resources, and every object
// that reaches one of them through a relationship (a child through parent,
// a resource granted to a group through group#member, everything in a zone
// through zone), transitively. overflow is true past limit objects.
func (c *cache) affected(ctx context.Context, changed []ObjectRef, limit int) ([]ObjectRef, bool, error) {
	// A read left before its end (past limit) holds its stream, on both
	// sides of the in-process connection, until its context ends: about
	// 4 KB a write that way, for as long as the process ran.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subjectTypes := *c.subjectTypes.Load()
	seen := make(map[ObjectRef]bool, len(changed))
	var out, queue []ObjectRef
	add := func(o ObjectRef) {
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
			queue = append(queue, o)
		}
	}
	for _, o := range changed {
		add(o)
	}
	if len(out) > limit {
		return nil, true, nil
	}
	for len(queue) > 0 {
		o := queue[0]
		queue = queue[1:]
		if !subjectTypes[o.Type] {
			continue // nothing can refer to it
		}
		stream, err := c.e.side.perms.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
			Consistency: FullyConsistent().proto(),
			RelationshipFilter: &v1.RelationshipFilter{
				OptionalSubjectFilter: &v1.SubjectFilter{SubjectType: o.Type, OptionalSubjectId: o.ID},
			},
		})
		if err != nil {
			return nil, false, wrapErr("reading referrers", err)
		}
		for {
			r, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, false, wrapErr("reading referrers", err)
			}
			res := r.GetRelationship().GetResource()
			add(Obj(res.GetObjectType(), res.GetObjectId()))
			if len(out) > limit {
				return nil, true, nil
			}
		}
	}
	return out, false, nil
}

// loadSchema reads the schema and notes which types appear as subjects.
func (c *cache) loadSchema(ctx context.Context) error {
	resp, err := c.e.schema.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	if err != nil {
		return wrapErr("reading the schema", err)
	}
	compiled, err := compiler.Compile(compiler.InputSchema{
		Source:       input.Source("schema"),
		SchemaString: resp.GetSchemaText(),
	}, compiler.AllowUnprefixedObjectType())
	if err != nil {
		return fmt.Errorf("authz: compiling the schema for the decision cache: %w", err)
	}
	types := map[string]bool{}
	arrows := map[string]map[string]bool{}
	for _, def := range compiled.ObjectDefinitions {
		arrows[def.GetName()] = map[string]bool{}
		for _, rel := range def.GetRelation() {
			for _, allowed := range rel.GetTypeInformation().GetAllowedDirectRelations() {
				types[allowed.GetNamespace()] = true
			}
			tuplesets(rel.GetUsersetRewrite(), arrows[def.GetName()])
		}
	}
	c.subjectTypes.Store(&types)
	c.arrows.Store(&arrows)
	return nil
}

// tuplesets adds to out the relations rw follows arrows through.
func tuplesets(rw *core.UsersetRewrite, out map[string]bool) {
	if rw == nil {
		return
	}
	for _, op := range []*core.SetOperation{rw.GetUnion(), rw.GetIntersection(), rw.GetExclusion()} {
		for _, ch := range op.GetChild() {
			switch {
			case ch.GetTupleToUserset() != nil:
				out[ch.GetTupleToUserset().GetTupleset().GetRelation()] = true
			case ch.GetFunctionedTupleToUserset() != nil:
				out[ch.GetFunctionedTupleToUserset().GetTupleset().GetRelation()] = true
			case ch.GetUsersetRewrite() != nil:
				tuplesets(ch.GetUsersetRewrite(), out)
			}
		}
	}
}

// probeLoop vouches for the cache where other nodes write (PostgreSQL):
// it notes the time, learns what the watch must have processed to cover
// every change committed before it (the other nodes' announced writes, or
// every change SpiceDB committed: probe), and once the watch has, vouched
// moves up to the noted time. The cache answers while
// vouched is within the staleness bound (serving), so another node's
// change is evicted, or the cache has stopped answering, at most the bound
// after it commits — however the watch or the probe are delayed.
func (c *cache) probeLoop(ctx context.Context) {
	every := max(c.cfg.Staleness/4, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.healthy.Load() {
			c.probe(ctx, every)
		}
		if c.healthy.Load() {
			if c.fresh(time.Now()) {
				c.setLagging(false, "")
			} else {
				c.setLagging(true, "the watch is behind the staleness bound")
			}
		}
	}
}

// probe vouches for the changes committed before it began, if the watch
// processes them within the staleness bound.
func (c *cache) probe(ctx context.Context, poll time.Duration) {
	began := time.Now()
	ctx, cancel := context.WithDeadline(ctx, began.Add(c.cfg.Staleness))
	defer cancel()
	poll = min(max(poll/10, time.Millisecond), 10*time.Millisecond)
	var rev datastore.Revision
	if others, pending, err := c.othersNewest(ctx); err == nil && !pending {
		// Every other node's change committed before began is at or
		// before others (node_writes.go); this node's own are evicted
		// as they are made.
		c.m.probes.WithLabelValues("announced").Inc()
		if others == nil {
			c.vouch(began)
			return
		}
		rev = others
	} else if c.e.outbox != nil {
		// Every change SpiceDB committed before a read after began.
		c.m.probes.WithLabelValues("head").Inc()
		c.vouchOnce(ctx, began, poll, func(d *revAt) (bool, error) { return c.e.outbox.processedAll(ctx, d.rev) })
		return
	} else {
		head, err := c.e.sideHeadToken(ctx)
		if err != nil {
			return // the engine cannot say where it is: vouch for nothing
		}
		var ok bool
		if rev, ok = c.e.revision(head); !ok {
			return
		}
		c.m.probes.WithLabelValues("head").Inc()
	}
	c.vouchOnce(ctx, began, poll, func(d *revAt) (bool, error) { return atLeast(d.rev, rev), nil })
}

// vouchOnce vouches for the changes committed before began as soon as
// covers says that what the watch has processed covers them, asking it
// again each time the watch moves on, until ctx ends or covers fails.
func (c *cache) vouchOnce(ctx context.Context, began time.Time, poll time.Duration, covers func(*revAt) (bool, error)) {
	var asked *revAt
	for {
		if d := c.done.Load(); d != nil && d != asked {
			asked = d
			ok, err := covers(d)
			if err != nil {
				return // vouch for nothing
			}
			if ok {
				c.vouch(began)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}

// othersNewest is the outbox's othersNewest; without an outbox (a test's
// engine that plays another node) every probe reads the newest revision.
func (c *cache) othersNewest(ctx context.Context) (datastore.Revision, bool, error) {
	if c.e.outbox == nil {
		return nil, true, nil
	}
	return c.e.outbox.othersNewest(ctx)
}

// vouch records that every change committed before t has been processed.
func (c *cache) vouch(t time.Time) {
	for {
		v := c.vouched.Load()
		if t.UnixNano() <= v || c.vouched.CompareAndSwap(v, t.UnixNano()) {
			return
		}
	}
}

func (c *cache) setLagging(lagging bool, why string) {
	if c.lagging.Swap(lagging) == lagging {
		return
	}
	if lagging {
		c.m.lagEvents.Inc()
		c.logger.Warn("authz: decision cache stops answering: "+why, "staleness_bound", c.cfg.Staleness)
	} else {
		c.logger.Info("authz: decision cache caught up; answering again")
	}
}
