package identity

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/storage"
)

// The authentication cache never accepts what the store would refuse.
func TestAuthCacheDenials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	_, _, err := f.svc.CreateUser(ctx, f.admin, "bob", "", false)
	require.NoError(t, err)
	k, secret, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 0)
	require.NoError(t, err)
	_, err = f.svc.Authenticate(ctx, secret)
	require.NoError(t, err)

	t.Run("a wrong secret for a cached key", func(t *testing.T) {
		wrong := keyPrefix + strings.TrimPrefix(string(k.ID), "key_") + "_" + strings.Repeat("a", 52)
		_, err := f.svc.Authenticate(ctx, wrong)
		require.ErrorIs(t, err, errs.Unauthenticated)
	})
	t.Run("a key that expires while cached", func(t *testing.T) {
		_, short, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 500*time.Millisecond)
		require.NoError(t, err)
		_, err = f.svc.Authenticate(ctx, short)
		require.NoError(t, err)
		f.clock.advance(600 * time.Millisecond) // inside the cache's TTL, past the key's expiry
		_, err = f.svc.Authenticate(ctx, short)
		require.ErrorIs(t, err, errs.Unauthenticated)
	})
	t.Run("a revoked key, at once", func(t *testing.T) {
		_, err := f.svc.Authenticate(ctx, secret)
		require.NoError(t, err, "cached")
		require.NoError(t, f.svc.RevokeAPIKey(ctx, f.admin, k.ID))
		_, err = f.svc.Authenticate(ctx, secret)
		require.ErrorIs(t, err, errs.Unauthenticated)
	})
	t.Run("a scope comes back from the cache", func(t *testing.T) {
		_, svc, err := f.svc.CreateScopedAPIKey(ctx, f.admin, "bob", "", 0, ScopeCheck)
		require.NoError(t, err)
		for range 2 {
			p, err := f.svc.Authenticate(ctx, svc)
			require.NoError(t, err)
			require.Equal(t, ScopeCheck, p.Scope)
		}
	})
	t.Run("an entry is used only within its TTL", func(t *testing.T) {
		var c authCache
		now := time.Now()
		key := APIKey{ID: "key_x", Hash: hashSecret("s")}
		c.put(c.generation(), key, Principal{KeyID: "key_x"}, now)
		_, ok := c.get("key_x", "s", now.Add(authCacheTTL/2))
		require.True(t, ok)
		_, ok = c.get("key_x", "s", now.Add(authCacheTTL))
		require.False(t, ok)
		_, ok = c.get("key_x", "s", now.Add(-time.Second))
		require.False(t, ok, "a clock gone back is no reason to trust an entry")
	})
}

// pause holds the first call that passes it after arm until release is
// closed; entered is closed when that call arrives.
type pause struct {
	mu      sync.Mutex
	armed   bool
	calls   int // calls that passed it
	entered chan struct{}
	release chan struct{}
}

func (p *pause) arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.entered, p.release = true, make(chan struct{}), make(chan struct{})
}

func (p *pause) pass() {
	p.mu.Lock()
	p.calls++
	armed := p.armed
	p.armed = false
	p.mu.Unlock()
	if armed {
		close(p.entered)
		<-p.release
	}
}

func (p *pause) passed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// userHookStore pauses the first User lookup after arm, the step between
// reading a key from the store and remembering it in the cache.
type userHookStore struct {
	SQLStore
	pause
}

func (s *userHookStore) User(ctx context.Context, q storage.DBTX, id UserID) (User, error) {
	s.pass()
	return s.SQLStore.User(ctx, q, id)
}

// A first use of a key that read the key before its revoke committed, and
// finishes after the revoke forgot it, must not leave the key in the cache.
func TestAuthCacheCannotReadmitARevokedKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	hook := &userHookStore{}
	f.svc.store = hook
	_, _, err := f.svc.CreateUser(ctx, f.admin, "bob", "", false)
	require.NoError(t, err)
	k, secret, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 0)
	require.NoError(t, err)

	hook.arm()
	first := make(chan error, 1)
	go func() {
		_, err := f.svc.Authenticate(ctx, secret)
		first <- err
	}()
	<-hook.entered // the key is read, valid; its entry is not yet in the cache
	require.NoError(t, f.svc.RevokeAPIKey(ctx, f.admin, k.ID))
	close(hook.release)
	require.NoError(t, <-first, "the use that began before the revoke may succeed")

	_, err = f.svc.Authenticate(ctx, secret)
	require.ErrorIs(t, err, errs.Unauthenticated, "a revoked key must not come back from the cache")

	// Other keys are cached again after the revoke.
	_, other, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 0)
	require.NoError(t, err)
	_, err = f.svc.Authenticate(ctx, other)
	require.NoError(t, err)
	id, sec, _ := parseKey(other)
	_, ok := f.svc.auth.get(id, sec, f.clock.now())
	require.True(t, ok, "an authentication after the revoke is cached")
}

// With other nodes on the same store, a key revoked on one node is refused
// by the next call on every other node, whatever its cache holds.
func TestRevokeIsSeenAtOnceByOtherNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.svc.SharedStore()
	other := NewService(f.svc.db, SQLStore{}, f.engine, nil)
	other.now = f.clock.now
	other.SharedStore()

	_, _, err := f.svc.CreateUser(ctx, f.admin, "bob", "", false)
	require.NoError(t, err)
	k, secret, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 0)
	require.NoError(t, err)
	for range 2 { // the second is answered with the cached user and zone
		p, err := other.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, "bob", p.User.Name)
	}
	require.NoError(t, f.svc.RevokeAPIKey(ctx, f.admin, k.ID))
	_, err = other.Authenticate(ctx, secret)
	require.ErrorIs(t, err, errs.Unauthenticated, "the other node refuses the key at once")
	_, err = f.svc.Authenticate(ctx, secret)
	require.ErrorIs(t, err, errs.Unauthenticated)
}

// keyHookStore counts Key lookups and pauses the first one after arm,
// after it has read the row.
type keyHookStore struct {
	SQLStore
	pause
}

func (s *keyHookStore) Key(ctx context.Context, q storage.DBTX, id KeyID) (APIKey, error) {
	k, err := s.SQLStore.Key(ctx, q, id)
	s.pass()
	return k, err
}

// Calls presenting one key at once share a read of its row, but a call
// that arrives after a revoke on another node never takes the answer of a
// read that began before the revoke.
func TestCallsShareAKeyReadThatBeganAfterThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.svc.SharedStore()
	hook := &keyHookStore{}
	other := NewService(f.svc.db, hook, f.engine, nil)
	other.now = f.clock.now
	other.SharedStore()

	_, _, err := f.svc.CreateUser(ctx, f.admin, "bob", "", false)
	require.NoError(t, err)
	k, secret, err := f.svc.CreateAPIKey(ctx, f.admin, "bob", "", 0)
	require.NoError(t, err)

	// Five calls while one read is under way: they wait for one read of
	// their own, together.
	hook.arm()
	first := make(chan error, 1)
	go func() {
		_, err := other.Authenticate(ctx, secret)
		first <- err
	}()
	<-hook.entered
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			_, err := other.Authenticate(ctx, secret)
			require.NoError(t, err)
		})
	}
	require.Eventually(t, func() bool { return other.keys.Waiting(k.ID) == 5 }, 5*time.Second, time.Millisecond)
	close(hook.release)
	require.NoError(t, <-first)
	wg.Wait()
	require.Equal(t, 2, hook.passed(), "one read for the call under way, one for the five that came during it")

	// A read under way when the key is revoked elsewhere answers only the
	// calls that came before the revoke.
	hook.arm()
	go func() {
		_, err := other.Authenticate(ctx, secret)
		first <- err
	}()
	<-hook.entered // began before the revoke: it will find the key valid
	require.NoError(t, f.svc.RevokeAPIKey(ctx, f.admin, k.ID))
	late := make(chan error, 1)
	go func() {
		_, err := other.Authenticate(ctx, secret)
		late <- err
	}()
	require.Eventually(t, func() bool { return other.keys.Waiting(k.ID) == 1 }, 5*time.Second, time.Millisecond)
	close(hook.release)
	require.NoError(t, <-first, "the call that began before the revoke may succeed")
	require.ErrorIs(t, <-late, errs.Unauthenticated, "a call after the revoke is refused, though a read of the valid key was under way")
	_, err = other.Authenticate(ctx, secret)
	require.ErrorIs(t, err, errs.Unauthenticated)
}
