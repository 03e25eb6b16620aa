package authz

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/dgraph-io/ristretto/v2"
	"resenje.org/singleflight"
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

// slotCount is how many per-resource eviction slots there are. Resources
// that share a slot are evicted together, which costs hits, never
// correctness.
const slotCount = 1 << 18

// How the cache stays correct. The watcher numbers the changes it
// processes, in order (seq), and keeps the revision of each (hist). For a
// change numbered s it stores s in the slot of every resource the change
// can affect — or, for a change that can affect one subject's decisions
// only, in that subject's slot or the slots of the subject's pairs with
// those resources; in flushSeq for a change that affects everything — then
// sets done. A decision the engine made at revision r is stored with
// seqAt(r), the number of the last processed change at or before r; it is
// valid while that number is at least its slots' and flushSeq. So:
//
//   - a change the decision includes (at or before r) leaves it valid, or
//     invalidates it needlessly if it was processed after the store;
//   - a change the decision does not include (after r) has a number above
//     seqAt(r), so once processed it invalidates the decision — whenever
//     the decision was stored, before or after.
//
// Fills may therefore be answered at any revision the engine likes (a
// minimize_latency read shares SpiceDB's quantized revision and its
// dispatch cache). A hit for a token t reads done first and trusts a valid
// entry when done >= t: every change up to t has then been processed.
type cache struct {
	e      *Engine
	cfg    CacheConfig
	logger *slog.Logger
	m      *cacheMetrics

	decisions *ristretto.Cache[string, cached]
	seed      maphash.Seed
	slots     []atomic.Uint64 // the number of the last change that affected each slot
	subjSlots []atomic.Uint64 // the same, for changes that affect one subject's decisions
	pairSlots []atomic.Uint64 // the same, for changes that affect one subject's decisions on one resource
	flushSeq  atomic.Uint64   // the number of the last change that affected everything

	// procMu serializes processing a change (the watch's apply, a write's
	// wrote): numbering it, evicting, and moving started and done.
	procMu sync.Mutex
	// soleWriter: every change goes through this node's engine (the
	// embedded default), so done advances with its own writes (cache_own.go).
	soleWriter bool
	// othersOnly, in tests: no write is this node's (Config.testOtherNode).
	othersOnly bool
	// own holds the revisions of this node's writes already processed, for
	// the watch to skip (PostgreSQL); under procMu.
	own map[string]struct{}

	// seq numbers processed changes; hist holds the revision of each,
	// oldest first, trimmed to maxHist.
	seq    atomic.Uint64
	histMu sync.RWMutex
	hist   []histEntry

	started atomic.Pointer[revAt]
	done    atomic.Pointer[revAt]

	// healthy: the watch is running. vouched (unix ns): every change
	// committed before then has been processed (probeLoop). The cache
	// answers when healthy and, unless it is the sole writer, vouched is
	// within the staleness bound; lagging is that last condition's state as
	// the probe last logged it.
	healthy atomic.Bool
	vouched atomic.Int64
	lagging atomic.Bool

	// subjectTypes are the types that appear as subjects in the schema:
	// only their objects can have other objects depend on them.
	subjectTypes atomic.Pointer[map[string]bool]
	// arrows are, per type, the relations its permissions follow arrows
	// through (parent in parent->read).
	arrows atomic.Pointer[map[string]map[string]bool]
	// subjectAbove is subjectSideAbove, lower in tests; on PostgreSQL 0:
	// every change a subject alone can account for is evicted by its
	// subject, with no reads (each would be a round trip to PostgreSQL under
	// procMu, which the watch waits for).
	subjectAbove int

	sets *setStore

	// flights coalesces identical concurrent misses.
	flights singleflight.Group[flightKey, Decision]

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
	seq     uint64 // seqAt(rev) when stored
}

// histEntry is a processed change: its revision and number.
type histEntry struct {
	rev datastore.Revision
	seq uint64
}

// maxHist bounds hist: decisions made at revisions older than the oldest
// kept are not stored (fills are at most a quantization window old).
const maxHist = 1 << 16

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
		e:            e,
		cfg:          cfg,
		logger:       e.logger,
		m:            m,
		decisions:    rc,
		seed:         maphash.MakeSeed(),
		slots:        make([]atomic.Uint64, slotCount),
		subjSlots:    make([]atomic.Uint64, slotCount),
		pairSlots:    make([]atomic.Uint64, slotCount),
		subjectAbove: subjectSideAbove,
		soleWriter:   e.outbox == nil,
		own:          map[string]struct{}{},
	}
	if !c.soleWriter {
		c.subjectAbove = 0
	}
	c.sets = newSetStore(c)
	return c, nil
}

// start runs the watch and, where other nodes write too, the lag probe
// until ctx ends.
func (c *cache) start(ctx context.Context) {
	c.sets.ctx = ctx
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.watchLoop(ctx) }()
	if !c.soleWriter {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.probeLoop(ctx) }()
	}
}

func (c *cache) close() {
	c.wg.Wait()
	c.decisions.Close()
}

// serving reports whether the cache may answer from what it holds: its
// watch runs and, where other nodes write, every change committed more
// than the staleness bound ago has been processed.
func (c *cache) serving() bool {
	if !c.healthy.Load() {
		return false
	}
	return c.soleWriter || c.fresh(time.Now())
}

// fresh reports whether the probe has vouched for the cache within the
// staleness bound of now.
func (c *cache) fresh(now time.Time) bool {
	return now.UnixNano()-c.vouched.Load() <= int64(c.cfg.Staleness)
}

func (c *cache) objectHash(o ObjectRef) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	_, _ = h.WriteString(o.Type)
	_ = h.WriteByte(':')
	_, _ = h.WriteString(o.ID)
	return h.Sum64()
}

func (c *cache) subjectHash(s SubjectRef) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	_, _ = h.WriteString(s.Object.Type)
	_ = h.WriteByte(':')
	_, _ = h.WriteString(s.Object.ID)
	_ = h.WriteByte('#')
	_, _ = h.WriteString(s.Relation)
	return h.Sum64()
}

// pairIndex is the pair slot of an object and a subject, by their hashes.
func pairIndex(oh, sh uint64) uint64 {
	// Mixed (murmur3's finalizer), so that pairs sharing an object or a
	// subject spread over the slots.
	x := oh ^ (sh * 0x9e3779b97f4a7c15)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x & (slotCount - 1)
}

func (c *cache) slot(o ObjectRef) *atomic.Uint64 {
	return &c.slots[c.objectHash(o)&(slotCount-1)]
}

func (c *cache) subjectSlot(s SubjectRef) *atomic.Uint64 {
	return &c.subjSlots[c.subjectHash(s)&(slotCount-1)]
}

// current reports whether a decision numbered n still holds for it: no
// change numbered after it affected its resource, its subject, its subject
// on its resource, or everything.
func (c *cache) current(it CheckItem, n uint64) bool {
	if n < c.flushSeq.Load() {
		return false
	}
	oh, sh := c.objectHash(it.Resource), c.subjectHash(it.Subject)
	return n >= c.slots[oh&(slotCount-1)].Load() &&
		n >= c.subjSlots[sh&(slotCount-1)].Load() &&
		n >= c.pairSlots[pairIndex(oh, sh)].Load()
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
	if !ok || !c.current(it, d.seq) {
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

// record numbers a processed change at rev and returns its number. A change
// processed after a newer one (another node's write that the watch brings
// after this node's own) is recorded at the newer revision: hist stays
// ordered, and decisions made between the two are evicted needlessly, never
// kept wrongly. procMu is held.
func (c *cache) record(rev datastore.Revision) uint64 {
	n := c.seq.Add(1)
	c.histMu.Lock()
	if len(c.hist) >= maxHist {
		c.hist = append(c.hist[:0], c.hist[len(c.hist)-maxHist/2:]...)
	}
	if k := len(c.hist); k > 0 && !atLeast(rev, c.hist[k-1].rev) {
		rev = c.hist[k-1].rev
	}
	c.hist = append(c.hist, histEntry{rev: rev, seq: n})
	c.histMu.Unlock()
	return n
}

// restart forgets the history: everything up to rev counts as one change,
// numbered as returned, which the caller flushes.
func (c *cache) restart(rev datastore.Revision) uint64 {
	n := c.seq.Add(1)
	c.histMu.Lock()
	if k := len(c.hist); k > 0 && !atLeast(rev, c.hist[k-1].rev) {
		// Changes newer than rev were processed already (this node's own
		// writes, evicted as they were made, before the watch started):
		// the restart counts them too. Numbered at rev, a decision made
		// between rev and them would be kept as current.
		rev = c.hist[k-1].rev
	}
	c.hist = append(c.hist[:0], histEntry{rev: rev, seq: n})
	c.histMu.Unlock()
	return n
}

// seqAt returns the number of the last processed change at or before rev;
// false if rev is older than the history kept (or there is none).
func (c *cache) seqAt(rev datastore.Revision) (uint64, bool) {
	c.histMu.RLock()
	defer c.histMu.RUnlock()
	// The first entry rev does not include; the one before is the answer.
	i := sort.Search(len(c.hist), func(i int) bool { return !atLeast(rev, c.hist[i].rev) })
	if i == 0 {
		return 0, false
	}
	return c.hist[i-1].seq, true
}

// keep stores d if it is current — no change the cache has processed
// since d's revision affected its resource — and reports whether it was.
func (c *cache) keep(it CheckItem, d Decision) bool {
	if d.Err != nil {
		return false // a failure is never a decision to keep
	}
	rev, ok := c.e.revision(d.At)
	if !ok {
		return false
	}
	n, ok := c.seqAt(rev)
	if !ok || !c.current(it, n) {
		return false
	}
	key := cacheKey(it)
	c.decisions.Set(key, cached{allowed: d.Allowed, rev: rev, token: d.At, seq: n}, int64(len(key))+96)
	return true
}

// storable reports whether answers to cons may be stored.
func storable(cons Consistency) bool { return cons.kind != fullyConsistent }

// fresher is cons raised to at least what the cache has processed, for
// asking again when the engine answered from before a change the cache
// has seen (a minimize_latency read at SpiceDB's quantized revision): a
// cached engine answers no older than its own knowledge of changes.
func (c *cache) fresher(cons Consistency) (Consistency, bool) {
	done := c.done.Load()
	if done == nil {
		return cons, false
	}
	return AtLeastAsFresh(c.e.Newest(cons.token, done.token)), true
}

// flightKey names a miss that concurrent identical misses share (the lock
// table): the same question, the same token, and no change processed
// between them (seq), so a caller that came after a write was processed
// never shares an evaluation begun before it.
type flightKey struct {
	question string
	token    Token
	seq      uint64
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
	if !storable(cons) {
		return c.fill(ctx, it, cons)
	}
	key := flightKey{question: cacheKey(it), token: cons.token, seq: c.seq.Load()}
	d, shared, err := c.flights.Do(ctx, key, func(ctx context.Context) (Decision, error) {
		return c.fill(ctx, it, cons)
	})
	if shared {
		c.m.coalesced.Add(1)
	}
	return d, err
}

// fill asks the engine and keeps the answer if it is current.
func (c *cache) fill(ctx context.Context, it CheckItem, cons Consistency) (Decision, error) {
	d, err := c.e.checkEngine(ctx, it, c.e.cons(cons))
	if err != nil || !storable(cons) || c.keep(it, d) {
		return d, err
	}
	again, ok := c.fresher(cons)
	if !ok {
		return d, nil
	}
	if d, err = c.e.checkEngine(ctx, it, c.e.cons(again)); err != nil {
		return Decision{}, err
	}
	c.keep(it, d)
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

	batch := make([]CheckItem, len(miss))
	for j, i := range miss {
		batch[j] = items[i]
	}
	ds, err := c.e.checkBulkEngine(ctx, batch, c.e.cons(cons))
	if err != nil {
		return nil, err
	}
	var stale []int // of batch: answered from before a change the cache has seen
	for j, i := range miss {
		out[i] = ds[j]
		if ds[j].Err != nil {
			continue // denied, and not kept: asked again next time
		}
		if storable(cons) && !c.keep(batch[j], ds[j]) {
			stale = append(stale, j)
		}
	}
	again, ok := c.fresher(cons)
	if len(stale) == 0 || !ok {
		return out, nil
	}
	redo := make([]CheckItem, len(stale))
	for k, j := range stale {
		redo[k] = batch[j]
	}
	ds, err = c.e.checkBulkEngine(ctx, redo, c.e.cons(again))
	if err != nil {
		return nil, err
	}
	for k, j := range stale {
		out[miss[j]] = ds[k]
		if ds[k].Err == nil {
			c.keep(redo[k], ds[k])
		}
	}
	return out, nil
}

// evict invalidates every decision on the given resources made before
// change n.
func (c *cache) evict(objs []ObjectRef, n uint64) {
	for _, o := range objs {
		c.slot(o).Store(n)
	}
	c.sets.changed(objs)
	c.m.evicted.Add(uint64(len(objs)))
}

// evictPairs invalidates every decision for subject s on the given
// resources made before change n: what a grant to s alone changes.
func (c *cache) evictPairs(objs []ObjectRef, s SubjectRef, n uint64) {
	sh := c.subjectHash(s)
	for _, o := range objs {
		c.pairSlots[pairIndex(c.objectHash(o), sh)].Store(n)
	}
	c.sets.changed(objs)
	c.m.evicted.Add(uint64(len(objs)))
}

// evictSubjects invalidates every decision for the given subjects made
// before change n, and drops their accessible sets.
func (c *cache) evictSubjects(subjects []SubjectRef, n uint64) {
	if len(subjects) == 0 {
		return
	}
	for _, s := range subjects {
		c.subjectSlot(s).Store(n)
	}
	c.sets.dropSubjects(subjects)
	c.m.evicted.Add(uint64(len(subjects)))
}

// flush invalidates everything made before change n.
func (c *cache) flush(reason string, n uint64) {
	c.flushSeq.Store(n)
	c.sets.flush()
	c.m.flushes.WithLabelValues(reason).Inc()
}
