// Package contenttest is the conformance suite every content.ChunkStore must
// pass, whatever it keeps chunks in.
package contenttest

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/content"
)

// Corrupter is what the suite needs of the store under test to check that
// damage is detected: Corrupt changes the stored bytes of chunk h (flips one
// byte, say) behind the store's back. The store's test wraps its store in a
// type that adds it.
type Corrupter interface {
	Corrupt(t *testing.T, h content.Hash)
}

// RunChunkStore runs the suite. newStore returns an empty store that
// implements Corrupter; if it implements content.Sweeper (which Store.GC
// needs), Sweep is checked too.
func RunChunkStore(t *testing.T, newStore func(t *testing.T) content.ChunkStore) {
	ctx := context.Background()

	t.Run("PutGetRoundTrip", func(t *testing.T) {
		s := newStore(t)
		for _, size := range []int{1, 100, 64 << 10, content.ChunkSize} {
			data := randomBytes(t, size)
			h := content.Sum(data)
			require.NoError(t, s.Put(ctx, h, data))
			got, err := s.Get(ctx, h)
			require.NoError(t, err)
			require.Equal(t, data, got, "size %d", size)
		}
	})

	t.Run("PutDoesNotRetainData", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(t, 1000)
		want := append([]byte(nil), data...)
		h := content.Sum(data)
		require.NoError(t, s.Put(ctx, h, data))
		for i := range data {
			data[i] = 0
		}
		got, err := s.Get(ctx, h)
		require.NoError(t, err)
		require.Equal(t, want, got)
	})

	t.Run("PutIsIdempotent", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(t, 4096)
		h := content.Sum(data)
		require.NoError(t, s.Put(ctx, h, data))
		require.NoError(t, s.Put(ctx, h, data))
		got, err := s.Get(ctx, h)
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Equal(t, []content.Hash{h}, hashes(walk(t, s)))
	})

	t.Run("PutRefreshesModTime", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(t, 512)
		h := content.Sum(data)
		require.NoError(t, s.Put(ctx, h, data))
		first := walk(t, s)[h]
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, s.Put(ctx, h, data))
		second := walk(t, s)[h]
		require.True(t, second.After(first), "a second Put must refresh the modification time: %v then %v", first, second)
	})

	t.Run("PutRejectsWrongHash", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(t, 100)
		wrong := content.Sum([]byte("something else"))
		require.ErrorIs(t, s.Put(ctx, wrong, data), errs.InvalidArgument)
		_, err := s.Get(ctx, wrong)
		require.ErrorIs(t, err, errs.NotFound, "a refused Put stores nothing")
	})

	t.Run("ConcurrentPutsOfOneChunk", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(t, 256<<10)
		h := content.Sum(data)
		var wg sync.WaitGroup
		errc := make(chan error, 8)
		for range 8 {
			wg.Go(func() { errc <- s.Put(ctx, h, data) })
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			require.NoError(t, err)
		}
		got, err := s.Get(ctx, h)
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Len(t, walk(t, s), 1)
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Get(ctx, content.Sum([]byte("never stored")))
		require.ErrorIs(t, err, errs.NotFound)
	})

	t.Run("CorruptChunkIsDataLoss", func(t *testing.T) {
		s := newStore(t)
		c, ok := s.(Corrupter)
		require.True(t, ok, "the store under test (%T) must implement contenttest.Corrupter", s)
		data := randomBytes(t, 10_000)
		h := content.Sum(data)
		require.NoError(t, s.Put(ctx, h, data))
		other := randomBytes(t, 10_000)
		require.NoError(t, s.Put(ctx, content.Sum(other), other))
		c.Corrupt(t, h)
		got, err := s.Get(ctx, h)
		require.ErrorIs(t, err, errs.DataLoss)
		require.Nil(t, got, "a damaged chunk must return no bytes")
		got, err = s.Get(ctx, content.Sum(other))
		require.NoError(t, err, "damage to one chunk does not affect another")
		require.Equal(t, other, got)
	})

	t.Run("WalkListsAll", func(t *testing.T) {
		s := newStore(t)
		require.Empty(t, walk(t, s))
		before := time.Now().Add(-time.Second)
		want := map[content.Hash]bool{}
		for range 20 {
			data := randomBytes(t, 300)
			h := content.Sum(data)
			require.NoError(t, s.Put(ctx, h, data))
			want[h] = true
		}
		got := walk(t, s)
		require.Len(t, got, len(want))
		for h, mt := range got {
			require.True(t, want[h], "Walk reported %s, which was never put", h)
			require.True(t, mt.After(before) && mt.Before(time.Now().Add(time.Second)), "modification time %v of a chunk just put", mt)
		}
	})

	t.Run("WalkStopsAtError", func(t *testing.T) {
		s := newStore(t)
		for range 3 {
			data := randomBytes(t, 10)
			require.NoError(t, s.Put(ctx, content.Sum(data), data))
		}
		stop := errors.New("stop")
		calls := 0
		err := s.Walk(ctx, func(content.Hash, time.Time) error { calls++; return stop })
		require.ErrorIs(t, err, stop)
		require.Equal(t, 1, calls)
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		a, b := randomBytes(t, 100), randomBytes(t, 100)
		ha, hb := content.Sum(a), content.Sum(b)
		require.NoError(t, s.Put(ctx, ha, a))
		require.NoError(t, s.Put(ctx, hb, b))
		require.NoError(t, s.Delete(ctx, ha))
		_, err := s.Get(ctx, ha)
		require.ErrorIs(t, err, errs.NotFound)
		require.Equal(t, []content.Hash{hb}, hashes(walk(t, s)))
		require.NoError(t, s.Delete(ctx, ha), "deleting a missing chunk is not an error")
		require.NoError(t, s.Put(ctx, ha, a), "a deleted chunk can be put again")
		got, err := s.Get(ctx, ha)
		require.NoError(t, err)
		require.Equal(t, a, got)
	})

	t.Run("Sweep", func(t *testing.T) {
		s := newStore(t)
		sw, ok := s.(content.Sweeper)
		if !ok {
			t.Skipf("%T does not implement content.Sweeper; Store.GC will refuse it", s)
		}
		data := randomBytes(t, 777)
		h := content.Sum(data)
		require.NoError(t, s.Put(ctx, h, data))
		deleted, freed, err := sw.Sweep(ctx, h, time.Now().Add(-time.Hour))
		require.NoError(t, err)
		require.False(t, deleted, "a chunk put after the cutoff is kept")
		require.Zero(t, freed)
		_, err = s.Get(ctx, h)
		require.NoError(t, err)

		deleted, freed, err = sw.Sweep(ctx, h, time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.True(t, deleted, "a chunk older than the cutoff is deleted")
		require.Equal(t, int64(len(data)), freed)
		_, err = s.Get(ctx, h)
		require.ErrorIs(t, err, errs.NotFound)

		deleted, freed, err = sw.Sweep(ctx, h, time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.False(t, deleted, "sweeping a missing chunk deletes nothing")
		require.Zero(t, freed)
	})

	t.Run("SweepSparesARefreshedChunk", func(t *testing.T) {
		s := newStore(t)
		sw, ok := s.(content.Sweeper)
		if !ok {
			t.Skipf("%T does not implement content.Sweeper", s)
		}
		data := randomBytes(t, 777)
		h := content.Sum(data)
		require.NoError(t, s.Put(ctx, h, data))
		time.Sleep(50 * time.Millisecond)
		cutoff := time.Now()
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, s.Put(ctx, h, data), "a writer reuses the chunk after GC read its old time")
		deleted, _, err := sw.Sweep(ctx, h, cutoff)
		require.NoError(t, err)
		require.False(t, deleted, "Sweep must judge the time at deletion, not the one Walk saw")
		_, err = s.Get(ctx, h)
		require.NoError(t, err)
	})
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func walk(t *testing.T, s content.ChunkStore) map[content.Hash]time.Time {
	got := map[content.Hash]time.Time{}
	require.NoError(t, s.Walk(context.Background(), func(h content.Hash, mt time.Time) error {
		_, dup := got[h]
		require.False(t, dup, "Walk reported %s twice", h)
		got[h] = mt
		return nil
	}))
	return got
}

func hashes(m map[content.Hash]time.Time) []content.Hash {
	var hs []content.Hash
	for h := range m {
		hs = append(hs, h)
	}
	return hs
}
