package authz

import (
	"context"
	"time"

	"github.com/authzed/spicedb/pkg/datastore"
)

// Synchronous invalidation. A relationship write through this node evicts
// what it affects before the write returns (wrote), so the node's own
// writes never wait on the watch: CPU contention can slow the watch, not
// make the cache lag behind what its callers were told is done.
//
// The watch stays, for other nodes' writes (PostgreSQL) and for schema
// changes. Both paths number the changes they process under procMu, in the
// order the cache's correctness rests on (started, evict, done), so the
// numbers and hist stay ordered whichever path gets a change first:
//
//   - On the embedded default this node is the only writer, and writes are
//     serialized: once a write has been processed, every change up to its
//     revision has been. wrote advances done itself, and the watch skips
//     what done already covers. Freshness owes nothing to the watch, so
//     the cache keeps answering through any overload. Every relationship
//     change is a write of this node's, so the watch does not carry them
//     at all (cache_watch.go): a write to the datastore that bypassed
//     wrote would go unevicted, which is why every write path ends in
//     applyUpdates or applyImported.
//   - On PostgreSQL other nodes write too, so done is the watch's alone.
//     wrote evicts the node's own writes at once and remembers their
//     revisions (own), so the watch does not evict them a second time.
//     Whether the watch keeps up with the others' changes is the probe's
//     question (probeLoop).

// changes is what a write changed: relationships touched or deleted, and
// filters whose matches it deleted.
type changes struct {
	rels    []Relationship
	filters []Filter
}

func updateChanges(updates []Update) changes {
	rels := make([]Relationship, len(updates))
	for i, u := range updates {
		rels[i] = u.Rel
	}
	return changes{rels: rels}
}

// maxOwn bounds the own revisions remembered for the watch to skip; past
// it they are forgotten, and the watch evicts them again (needless, safe).
const maxOwn = 4096

// wrote processes a write this node made at token before the write returns.
// Anything it cannot work out (a token it cannot read, the engine failing
// to say what depends on a changed object) empties the cache: it fails
// closed.
func (e *Engine) wrote(ctx context.Context, token Token, ch changes) {
	if e.cache == nil || token == "" || e.cache.othersOnly {
		return
	}
	e.cache.wrote(ctx, token, ch)
}

func (c *cache) wrote(ctx context.Context, token Token, ch changes) {
	rev, ok := c.e.revision(token)
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if !ok {
		c.flush("own_write_unreadable", c.seq.Add(1))
		return
	}
	at := &revAt{rev: rev, token: token}
	if st := c.started.Load(); st == nil || atLeast(rev, st.rev) {
		c.started.Store(at)
	}
	// Reads of what depends on the changed objects must finish even if the
	// writer's caller went away: the write is done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var resources []ObjectRef
	wide := false
	for _, f := range ch.filters {
		if f.Resource.ID == "" {
			wide = true // a whole type: no telling which objects
			break
		}
		resources = append(resources, f.Resource)
	}
	if c.arrows.Load() == nil {
		wide = true // before the watch first read the schema (which flushes too)
	}
	var err error
	if !wide {
		err = c.evictChanged(ctx, rev, ch.rels, resources)
	}
	if wide || err != nil {
		if err != nil {
			c.logger.Warn("authz: the decision cache could not tell what a write affects; emptied", "err", err)
		}
		c.flush("wide_change", c.record(rev))
	}
	c.m.observeLag(rev)
	if c.soleWriter {
		c.ownDone(at)
		return
	}
	if len(c.own) >= maxOwn {
		clear(c.own)
	}
	c.own[rev.String()] = struct{}{}
}

// wroteMany processes a write of this node too large to name its changes
// (an import): nothing stored before it holds.
func (e *Engine) wroteMany(token Token) {
	if e.cache == nil || e.cache.othersOnly {
		return
	}
	c := e.cache
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if rev, ok := c.flushOwn(token, "import"); ok && c.soleWriter {
		c.ownDone(&revAt{rev: rev, token: token})
	}
}

// ownDone advances done to a write of this node's, the only writer, that
// has been processed; procMu is held.
func (c *cache) ownDone(at *revAt) {
	if d := c.done.Load(); d == nil || atLeast(at.rev, d.rev) {
		c.done.Store(at)
	}
}

// flushOwn empties the cache for a write of this node at token, under
// procMu, and returns the write's revision if token has one.
func (c *cache) flushOwn(token Token, reason string) (datastore.Revision, bool) {
	rev, ok := c.e.revision(token)
	if !ok {
		c.flush(reason, c.seq.Add(1))
		return nil, false
	}
	c.flush(reason, c.record(rev))
	return rev, true
}

// wroteSchema processes a schema this node wrote: nothing stored before it
// holds, and what depends on what is read anew before the write returns.
func (e *Engine) wroteSchema(ctx context.Context, token Token) {
	if e.cache == nil || e.cache.othersOnly {
		return
	}
	c := e.cache
	c.procMu.Lock()
	defer c.procMu.Unlock()
	rev, ok := c.flushOwn(token, "schema_written")
	if !ok {
		return
	}
	if err := c.loadSchema(context.WithoutCancel(ctx)); err != nil {
		// The watch reloads it (and flushes again) when it sees the change;
		// until then the old arrows could under-evict: stop answering.
		c.logger.Warn("authz: the decision cache could not read the new schema; it answers nothing until the watch has", "err", err)
		c.healthy.Store(false)
		return
	}
	if c.soleWriter {
		c.ownDone(&revAt{rev: rev, token: token})
	}
}

// evictChanged evicts what a change to rels (and to every relationship of
// the objects in resources) at rev can affect, numbering it as one change.
// procMu is held.
func (c *cache) evictChanged(ctx context.Context, rev datastore.Revision, rels []Relationship, resources []ObjectRef) error {
	changed := append([]ObjectRef(nil), resources...)
	type pair struct {
		objs    []ObjectRef
		subject SubjectRef
	}
	var few []pair // a subject's decisions on a few resources
	var subjects []SubjectRef
	for _, rel := range rels {
		s, ok := c.onlySubject(rel)
		if !ok {
			changed = append(changed, rel.Resource)
			continue
		}
		objs, many, err := c.affected(ctx, []ObjectRef{rel.Resource}, c.subjectAbove)
		if err != nil {
			return err
		}
		if many {
			subjects = append(subjects, s)
		} else {
			few = append(few, pair{objs, s})
		}
	}
	objs, overflow, err := c.affected(ctx, changed, maxAffected)
	if err != nil {
		return err
	}
	n := c.record(rev)
	if overflow {
		c.flush("wide_change", n)
		return nil
	}
	c.evict(objs, n)
	for _, p := range few {
		c.evictPairs(p.objs, p.subject, n)
	}
	c.evictSubjects(subjects, n)
	return nil
}
