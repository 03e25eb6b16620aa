package identity

import (
	"sync"
	"time"
)

// authCacheTTL is how long a successful authentication is remembered. A
// revoke through the same Service forgets the key at once; the TTL bounds
// how long another process sharing the store (none in the embedded
// default) could still accept a revoked key.
const authCacheTTL = time.Second

// authCacheMax bounds the entries; past it the cache starts over.
const authCacheMax = 10_000

// authCache remembers successful authentications, so a busy service key
// costs a hash per call rather than three queries. An entry is used only
// if the presented secret matches its hash, the key has not expired, and
// the entry is younger than authCacheTTL.
type authCache struct {
	mu sync.Mutex
	m  map[KeyID]authEntry
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

func (c *authCache) put(k APIKey, p Principal, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= authCacheMax {
		c.m = map[KeyID]authEntry{}
	}
	c.m[k.ID] = authEntry{hash: k.Hash, p: p, expires: k.ExpiresAt, at: now}
}

func (c *authCache) forget(id KeyID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
