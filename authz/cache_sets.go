package authz

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// Accessible sets: for a (subject, permission, resource type) that bulk
// checks ask about often, the ids of every resource of the type the subject
// may reach, from one LookupResources, as a roaring bitmap. A bulk check
// then answers most items with one bitmap lookup each.
//
// The watch keeps sets honest without touching them: each change numbers
// the resources it affects (changedAt), and a set answers only for the
// resources not changed since it was registered. The rest, and every item
// while a set is being built, too large, or not fresh enough for the
// request's token, go to the engine.

const (
	// setMinItems is the fewest items of one subject, permission and type
	// in a bulk check for a set to be worth building or asking.
	setMinItems = 16
	// maxSets bounds the sets kept; the least recently used goes first.
	maxSets = 4096
	// setRebuildAfter: a set with this many changes since it was
	// registered is dropped and built again.
	setRebuildAfter = 20_000
	// setRetryAfter: after a set failed or was too large, how long before
	// trying again.
	setRetryAfter = 30 * time.Second
	// maxChanged bounds the change numbers kept; past it, every set is
	// dropped and the numbers forgotten.
	maxChanged = 1 << 20
)

type setKey struct {
	subject    string
	permission string
	typ        string
}

type setState int32

const (
	setBuilding setState = iota
	setReady
	setFailed
)

type accessSet struct {
	flushed uint64 // the cache's flushSeq when registered
	seq     uint64 // changes numbered above this came after registration

	state    atomic.Int32
	bits     *roaring.Bitmap // when ready
	at       *revAt          // when ready: the revision of the lookup
	failedAt time.Time       // when failed
	lastUsed atomic.Int64
}

type setStore struct {
	c        *cache
	ctx      context.Context
	building chan struct{} // at most this many builds at once
	minItems int           // setMinItems, lower in tests

	mu   sync.Mutex
	sets map[setKey]*accessSet

	// idMu guards ids and changedAt. ids numbers every object a set or a
	// change has named; changedAt is the number of the latest change that
	// affected each.
	idMu      sync.RWMutex
	ids       map[ObjectRef]uint32
	changedAt map[uint32]uint64
	seq       atomic.Uint64 // the latest change number; written under idMu

	built   atomic.Uint64
	failed  atomic.Uint64
	pending atomic.Int64 // builds started and not finished
}

func newSetStore(c *cache) *setStore {
	return &setStore{
		c:         c,
		ctx:       context.Background(),
		minItems:  setMinItems,
		building:  make(chan struct{}, 2),
		sets:      map[setKey]*accessSet{},
		ids:       map[ObjectRef]uint32{},
		changedAt: map[uint32]uint64{},
	}
}

// intern returns o's number, giving it one if it has none. idMu is held.
func (s *setStore) intern(o ObjectRef) uint32 {
	id, ok := s.ids[o]
	if !ok {
		id = uint32(len(s.ids) + 1)
		s.ids[o] = id
	}
	return id
}

// changed numbers a change to objs. Only types with sets need it: a set
// registered after this call sees the change in its own lookup.
func (s *setStore) changed(objs []ObjectRef) {
	s.mu.Lock()
	types := map[string]bool{}
	for k := range s.sets {
		types[k.typ] = true
	}
	s.mu.Unlock()
	if len(types) == 0 {
		return
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	for _, o := range objs {
		if types[o.Type] {
			s.changedAt[s.intern(o)] = s.seq.Add(1)
		}
	}
	if len(s.changedAt) > maxChanged {
		s.clearLocked()
	}
}

// flush drops every set.
func (s *setStore) flush() {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	s.clearLocked()
}

func (s *setStore) clearLocked() {
	s.mu.Lock()
	s.sets = map[setKey]*accessSet{}
	s.mu.Unlock()
	s.ids = map[ObjectRef]uint32{}
	s.changedAt = map[uint32]uint64{}
}

// answer answers what it can of items[miss] from the sets, writes those
// answers to out, and returns the indexes still unanswered.
func (s *setStore) answer(ctx context.Context, r request, items []CheckItem, miss []int, out []Decision) []int {
	if len(miss) < s.minItems {
		return miss
	}
	if r.want != nil && !atLeast(r.done.rev, r.want) {
		// The watch has not yet evicted everything up to the token.
		return miss
	}
	groups := map[setKey][]int{}
	subjects := map[setKey]SubjectRef{}
	for _, i := range miss {
		it := items[i]
		k := setKey{subject: it.Subject.String(), permission: it.Permission, typ: it.Resource.Type}
		groups[k] = append(groups[k], i)
		subjects[k] = it.Subject
	}
	var left []int
	for k, idx := range groups {
		set := s.get(k, subjects[k], len(idx))
		if set == nil || set.flushed != s.c.flushSeq.Load() {
			left = append(left, idx...)
			continue
		}
		at := r.done.token
		if atLeast(set.at.rev, r.done.rev) {
			at = set.at.token
		}
		n, dirty := 0, 0
		s.idMu.RLock()
		for _, i := range idx {
			id, known := s.ids[items[i].Resource]
			if known && s.changedAt[id] > set.seq {
				left = append(left, i)
				dirty++
				continue
			}
			out[i] = Decision{Allowed: known && set.bits.Contains(id), At: at}
			n++
		}
		s.idMu.RUnlock()
		s.c.m.setAnswers.Add(uint64(n))
		if dirty > n {
			// Changed more than it answers: build it again.
			s.drop(k, set)
		}
	}
	return left
}

// get returns the ready set for k, or nil; with enough items and no set, it
// starts building one.
func (s *setStore) get(k setKey, subject SubjectRef, items int) *accessSet {
	s.mu.Lock()
	set, ok := s.sets[k]
	if !ok {
		if items < s.minItems {
			s.mu.Unlock()
			return nil
		}
		set = s.registerLocked(k)
		s.mu.Unlock()
		s.pending.Add(1)
		go s.build(k, subject, set)
		return nil
	}
	switch setState(set.state.Load()) {
	case setReady:
		s.mu.Unlock()
		set.lastUsed.Store(time.Now().UnixNano())
		if s.seq.Load()-set.seq > setRebuildAfter {
			s.drop(k, set)
			return nil
		}
		return set
	case setFailed:
		retry := time.Since(set.failedAt) > setRetryAfter
		if retry {
			delete(s.sets, k)
		}
		s.mu.Unlock()
		return nil
	default:
		s.mu.Unlock()
		return nil
	}
}

// registerLocked records a new set before its lookup, reading the cache's
// flushSeq and the change number before the watch's started revision, as the
// cache's ordering requires. s.mu is held.
func (s *setStore) registerLocked(k setKey) *accessSet {
	if len(s.sets) >= maxSets {
		var oldest setKey
		var oldestUse int64 = -1
		for key, st := range s.sets {
			if u := st.lastUsed.Load(); oldestUse < 0 || u < oldestUse {
				oldest, oldestUse = key, u
			}
		}
		delete(s.sets, oldest)
	}
	set := &accessSet{flushed: s.c.flushSeq.Load(), seq: s.seq.Load()}
	set.lastUsed.Store(time.Now().UnixNano())
	s.sets[k] = set
	return set
}

// dropSubjects drops every set of the given subjects: a change that
// affects only a subject's decisions makes its sets stale.
func (s *setStore) dropSubjects(subjects []SubjectRef) {
	names := map[string]bool{}
	for _, sub := range subjects {
		names[sub.String()] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.sets {
		if names[k.subject] {
			delete(s.sets, k)
		}
	}
}

func (s *setStore) drop(k setKey, set *accessSet) {
	s.mu.Lock()
	if s.sets[k] == set {
		delete(s.sets, k)
	}
	s.mu.Unlock()
}

// build fills set with one LookupResources at least as fresh as the watch's
// started revision.
func (s *setStore) build(k setKey, subject SubjectRef, set *accessSet) {
	defer s.pending.Add(-1)
	fail := func() {
		set.failedAt = time.Now()
		set.state.Store(int32(setFailed))
		s.failed.Add(1)
	}
	select {
	case s.building <- struct{}{}:
		defer func() { <-s.building }()
	case <-s.ctx.Done():
		fail()
		return
	}
	st := s.c.started.Load()
	if st == nil {
		fail()
		return
	}
	ids, at, more, err := s.c.e.lookupResources(s.ctx, k.typ, k.permission, subject, AtLeastAsFresh(st.token).proto(), s.c.cfg.MaxSetSize)
	if err != nil || more {
		if err != nil {
			s.c.logger.Debug("authz: building an accessible set failed", "subject", k.subject, "permission", k.permission, "type", k.typ, "err", err)
		}
		fail()
		return
	}
	rev, ok := s.c.e.revision(at)
	if !ok {
		at, rev = st.token, st.rev
	}
	bits := roaring.New()
	s.idMu.Lock()
	for _, id := range ids {
		bits.Add(s.intern(Obj(k.typ, id)))
	}
	s.idMu.Unlock()
	bits.RunOptimize()
	set.bits = bits
	set.at = &revAt{rev: rev, token: at}
	set.state.Store(int32(setReady))
	s.built.Add(1)
	s.c.m.setSizes.Observe(float64(len(ids)))
}
