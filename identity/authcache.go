package identity

import (
	"sync"
	"time"
)

// authCacheTTL is how long a successful authentication is remembered. A
// revoke through the same Service forgets the key at once, and no lookup
// that began before the revoke can put it back (see authCache.gen). With
// other nodes on the same store (PostgreSQL mode) the cache does not decide
// whether a key is revoked at all: Authenticate reads the key's row from the
// primary every time (Service.SharedStore).
const authCacheTTL = time.Second

// authCacheMax bounds the entries; past it the cache starts over.
const authCacheMax = 10_000

// authCache remembers successful authentications, so a busy service key
// costs a hash per call rather than three queries. An entry is used only
// if the presented secret matches its hash, the key has not expired, and
// the entry is younger than authCacheTTL.
//
// A lookup that read the key from the store before a revoke committed may
// finish after the revoke's forget: gen counts forgets, a lookup notes it
// before reading the store (generation), and put admits its entry only if
// no forget happened since (checked under the same lock as the forget).
type authCache struct {
	mu  sync.Mutex
	m   map[KeyID]authEntry
	gen uint64 // forgets so far
}

type authEntry struct {
	hash    []byte
	p       Principal
	expires time.Time // the key's expiry; zero: never
	at      time.Time // when it was authenticated from the store
}

func (c *authCache) get(id KeyID, secret string, now time.Time) (Principal, bool) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	switch {
	case !ok, now.Sub(e.at) >= authCacheTTL, now.Before(e.at):
		return Principal{}, false
	case !e.expires.IsZero() && !now.Before(e.expires):
		return Principal{}, false
	case !secretMatches(secret, e.hash):
		return Principal{}, false
	}
	return e.p, true
}

// generation is noted before a lookup reads the store; put takes it back.
func (c *authCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put remembers k's authentication, unless a key was forgotten since gen
// was noted: the store's answer may predate that revoke.
func (c *authCache) put(gen uint64, k APIKey, p Principal, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= authCacheMax {
		c.m = map[KeyID]authEntry{}
	}
	c.m[k.ID] = authEntry{hash: k.Hash, p: p, expires: k.ExpiresAt, at: now}
}

func (c *authCache) forget(id KeyID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, id)
}
