package authz

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/dgraph-io/ristretto/v2"
)

// CacheConfig configures the decision cache in front of the engine.
//
// The cache answers Check and each item of CheckBulk from decisions the
// engine made before, and filters bulk checks through accessible sets
// (per subject, permission and resource type, the ids the subject may
// reach). A watch on the engine's changes evicts what a change can affect.
// It never answers a request with a decision older than the request's
// token, and it fails closed: with its watch broken or behind, it answers
// nothing itself.
type CacheConfig struct {
	// Disabled turns the cache off: every question goes to the engine.
	Disabled bool

	// SizeMiB bounds the decisions kept. Zero means DefaultCacheSizeMiB.
	SizeMiB int

	// Staleness bounds how far behind the engine's newest revision a
	// minimize_latency answer may be: when the watch has not caught up with
	// a revision this long after it was the newest, the cache stops
	// answering until it has. Zero means DefaultCacheStaleness.
	Staleness time.Duration

	// MaxSetSize bounds one accessible set; a subject that may reach more
	// resources of a type is answered item by item. Zero means
	// DefaultMaxSetSize.
	MaxSetSize int

	// SetsOnly answers bulk checks from the accessible sets and the engine
	// only, never from cached decisions. It exists to measure the sets
	// alone; leave it off.
	SetsOnly bool
}

// Defaults for CacheConfig.
const (
	DefaultCacheSizeMiB   = 64
	DefaultCacheStaleness = time.Second
	DefaultMaxSetSize     = 1 << 20
)

func (c CacheConfig) withDefaults() CacheConfig {
	if c.SizeMiB <= 0 {
		c.SizeMiB = DefaultCacheSizeMiB
	}
	if c.Staleness <= 0 {
		c.Staleness = DefaultCacheStaleness
	}
	if c.MaxSetSize <= 0 {
		c.MaxSetSize = DefaultMaxSetSize
	}
	return c
}

// epochSlots is how many per-resource eviction counters there are. A
// resource's decisions carry its slot's counter; evicting a resource bumps
// the counter. Resources that share a slot are evicted together, which
// costs hits, never correctness.
const epochSlots = 1 << 18

// The ordering that keeps the cache correct. The watcher, for each change
// at revision c:
//
//	started = c;  bump the epochs of what c affects;  done = c
//
// A fill (a miss answered by the engine, then stored) reads the epochs
// first, then started, and asks the engine at least as fresh as started.
// Either it read an epoch before c's bump, and the bump invalidates it; or
// it read started >= c, and its decision includes c. A hit for a token t
// reads done first, and trusts a valid entry when done >= t: every change
// up to t has then been evicted.
type cache struct {
	e      *Engine
	cfg    CacheConfig
	logger *slog.Logger
	m      *cacheMetrics

	decisions *ristretto.Cache[string, cached]
	seed      maphash.Seed
	slots     []atomic.Uint64
	global    atomic.Uint64

	started atomic.Pointer[revAt]
	done    atomic.Pointer[revAt]

	// healthy: the watch is running; lagging: it has fallen behind the
	// staleness bound. The cache answers only when healthy and not lagging.
	healthy atomic.Bool
	lagging atomic.Bool

	// subjectTypes are the types that appear as subjects in the schema:
	// only their objects can have other objects depend on them.
	subjectTypes atomic.Pointer[map[string]bool]

	sets *setStore

	wg sync.WaitGroup
}

// revAt is a revision and its token.
type revAt struct {
	rev   datastore.Revision
	token Token
}

// cached is one stored decision.
type cached struct {
	allowed bool
	rev     datastore.Revision
	token   Token
	global  uint64
	epoch   uint64
}

func newCache(e *Engine, cfg CacheConfig, m *cacheMetrics) (*cache, error) {
	cfg = cfg.withDefaults()
	maxCost := int64(cfg.SizeMiB) << 20
	rc, err := ristretto.NewCache(&ristretto.Config[string, cached]{
		// Ten counters per entry the size admits, at ~200 bytes an entry.
		NumCounters:        max(maxCost/200*10, 1000),
		MaxCost:            maxCost,
		BufferItems:        64,
		IgnoreInternalCost: false,
	})
	if err != nil {
		return nil, fmt.Errorf("authz: creating the decision cache: %w", err)
	}
	c := &cache{
		e:         e,
		cfg:       cfg,
		logger:    e.logger,
		m:         m,
		decisions: rc,
		seed:      maphash.MakeSeed(),
		slots:     make([]atomic.Uint64, epochSlots),
	}
	c.sets = newSetStore(c)
	return c, nil
}

// start runs the watch and the lag probe until ctx ends.
func (c *cache) start(ctx context.Context) {
	c.sets.ctx = ctx
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.watchLoop(ctx) }()
	go func() { defer c.wg.Done(); c.probeLoop(ctx) }()
}

func (c *cache) close() {
	c.wg.Wait()
	c.decisions.Close()
}

// serving reports whether the cache may answer from what it holds.
func (c *cache) serving() bool { return c.healthy.Load() && !c.lagging.Load() }

func (c *cache) slot(o ObjectRef) *atomic.Uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	_, _ = h.WriteString(o.Type)
	_ = h.WriteByte(':')
	_, _ = h.WriteString(o.ID)
	return &c.slots[h.Sum64()&(epochSlots-1)]
}

func cacheKey(it CheckItem) string {
	return it.Resource.Type + ":" + it.Resource.ID + "#" + it.Permission + "@" + it.Subject.String()
}

// request is what a read asks of the cache.
type request struct {
	bypass bool               // answer from the engine only
	want   datastore.Revision // the request's token; nil for none
	done   *revAt             // done, read before any entry
}

func (c *cache) request(cons Consistency) request {
	if cons.kind == fullyConsistent || !c.serving() {
		return request{bypass: true}
	}
	r := request{done: c.done.Load()}
	if r.done == nil {
		return request{bypass: true}
	}
	if cons.kind == atLeastAsFresh {
		want, ok := c.e.revision(cons.token)
		if !ok {
			// A token the engine cannot compare: let the engine judge it.
			return request{bypass: true}
		}
		r.want = want
	}
	return r
}

// lookup returns a stored decision that may answer r.
func (c *cache) lookup(r request, it CheckItem) (cached, bool) {
	d, ok := c.decisions.Get(cacheKey(it))
	if !ok || d.global != c.global.Load() || d.epoch != c.slot(it.Resource).Load() {
		return cached{}, false
	}
	if r.want != nil && !atLeast(d.rev, r.want) && !atLeast(r.done.rev, r.want) {
		return cached{}, false
	}
	return d, true
}

// decision is d as an answer: it holds at its own revision and, not having
// been evicted, at done too; it carries the newer of the two.
func (r request) decision(d cached) Decision {
	if atLeast(d.rev, r.done.rev) {
		return Decision{Allowed: d.allowed, At: d.token}
	}
	return Decision{Allowed: d.allowed, At: r.done.token}
}

// fill is the state a miss is answered and stored against.
type fill struct {
	global uint64
	cons   *v1.Consistency
}

// fillFor reads the global epoch, then started, and returns the consistency
// to ask the engine at: at least as fresh as both started and cons.
func (c *cache) fillFor(cons Consistency) (fill, bool) {
	f := fill{global: c.global.Load()}
	st := c.started.Load()
	if st == nil || cons.kind == fullyConsistent {
		return f, false
	}
	t := st.token
	if cons.kind == atLeastAsFresh {
		if _, ok := c.e.revision(cons.token); !ok {
			return f, false
		}
		t = c.e.Newest(t, cons.token)
	}
	f.cons = AtLeastAsFresh(t).proto()
	return f, true
}

func (c *cache) store(it CheckItem, global, epoch uint64, d Decision) {
	rev, ok := c.e.revision(d.At)
	if !ok {
		return
	}
	key := cacheKey(it)
	c.decisions.Set(key, cached{allowed: d.Allowed, rev: rev, token: d.At, global: global, epoch: epoch}, int64(len(key))+96)
}

func (c *cache) check(ctx context.Context, it CheckItem, cons Consistency) (Decision, error) {
	r := c.request(cons)
	if !r.bypass {
		if d, ok := c.lookup(r, it); ok {
			c.m.hits.Add(1)
			return r.decision(d), nil
		}
	}
	c.m.misses.Add(1)
	epoch := c.slot(it.Resource).Load()
	f, ok := c.fillFor(cons)
	if !ok {
		return c.e.checkEngine(ctx, it, c.e.cons(cons))
	}
	d, err := c.e.checkEngine(ctx, it, f.cons)
	if err != nil {
		return Decision{}, err
	}
	c.store(it, f.global, epoch, d)
	return d, nil
}

func (c *cache) checkBulk(ctx context.Context, items []CheckItem, cons Consistency) ([]Decision, error) {
	out := make([]Decision, len(items))
	r := c.request(cons)
	var miss []int
	if r.bypass {
		miss = make([]int, len(items))
		for i := range items {
			miss[i] = i
		}
	} else {
		for i, it := range items {
			if d, ok := c.lookup(r, it); ok && !c.cfg.SetsOnly {
				out[i] = r.decision(d)
				continue
			}
			miss = append(miss, i)
		}
		c.m.hits.Add(uint64(len(items) - len(miss)))
		miss = c.sets.answer(ctx, r, items, miss, out)
	}
	c.m.misses.Add(uint64(len(miss)))
	if len(miss) == 0 {
		return out, nil
	}

	epochs := make([]uint64, len(miss))
	batch := make([]CheckItem, len(miss))
	for j, i := range miss {
		epochs[j] = c.slot(items[i].Resource).Load()
		batch[j] = items[i]
	}
	f, ok := c.fillFor(cons)
	engineCons := f.cons
	if !ok {
		engineCons = c.e.cons(cons)
	}
	ds, err := c.e.checkBulkEngine(ctx, batch, engineCons)
	if err != nil {
		return nil, err
	}
	for j, i := range miss {
		out[i] = ds[j]
		if ok {
			c.store(batch[j], f.global, epochs[j], ds[j])
		}
	}
	return out, nil
}

// evict invalidates every decision on the given resources.
func (c *cache) evict(objs []ObjectRef) {
	for _, o := range objs {
		c.slot(o).Add(1)
	}
	c.sets.changed(objs)
	c.m.evicted.Add(uint64(len(objs)))
}

// flush invalidates everything.
func (c *cache) flush(reason string) {
	c.global.Add(1)
	c.sets.flush()
	c.m.flushes.WithLabelValues(reason).Inc()
}
