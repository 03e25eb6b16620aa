package coalesce

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatedReads is a Reads whose reads each wait for a release, numbering
// their answers per key: "a1", "a2", …
func gatedReads() (r *Reads[string, string], started chan string, release chan struct{}, reads *atomic.Int64) {
	started = make(chan string, 8)
	release = make(chan struct{})
	reads = new(atomic.Int64)
	var mu sync.Mutex
	n := map[string]int{}
	r = &Reads[string, string]{Read: func(ctx context.Context, key string) (string, error) {
		reads.Add(1)
		mu.Lock()
		n[key]++
		v := fmt.Sprintf("%s%d", key, n[key])
		mu.Unlock()
		started <- key
		<-release
		return v, nil
	}}
	return r, started, release, reads
}

func TestCallersShareOnlyAReadThatBeganAfterThem(t *testing.T) {
	r, started, release, reads := gatedReads()
	ctx := context.Background()
	got := make([]string, 4)
	var wg sync.WaitGroup
	ask := func(i int) {
		wg.Go(func() {
			v, err := r.Get(ctx, "a")
			require.NoError(t, err)
			got[i] = v
		})
	}
	ask(0)
	<-started // read 1 under way
	for i := 1; i < 4; i++ {
		ask(i)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	_, err := r.Get(gone, "a")
	require.ErrorIs(t, err, context.Canceled, "a caller that went away gets its context's error")
	require.Eventually(t, func() bool { return r.Waiting("a") == 4 }, 5*time.Second, time.Millisecond,
		"the three and the one that went away wait for the next read, not the one under way")

	release <- struct{}{} // read 1 done
	<-started             // read 2, for the callers that came during read 1
	release <- struct{}{}
	wg.Wait()
	require.Equal(t, []string{"a1", "a2", "a2", "a2"}, got)
	require.Equal(t, int64(2), reads.Load(), "one read for the three that waited together")

	go func() { <-started; release <- struct{}{} }()
	v, err := r.Get(ctx, "a") // idle again: a read of its own
	require.NoError(t, err)
	require.Equal(t, "a3", v)
}

func TestKeysAreReadApart(t *testing.T) {
	r, started, release, reads := gatedReads()
	ctx := context.Background()
	var wg sync.WaitGroup
	var gotA string
	wg.Go(func() {
		v, err := r.Get(ctx, "a")
		require.NoError(t, err)
		gotA = v
	})
	require.Equal(t, "a", <-started)
	// A read of a under way neither answers b nor holds it up.
	wg.Go(func() {
		v, err := r.Get(ctx, "b")
		require.NoError(t, err)
		require.Equal(t, "b1", v)
	})
	require.Equal(t, "b", <-started)
	release <- struct{}{}
	release <- struct{}{}
	wg.Wait()
	require.Equal(t, "a1", gotA)
	require.Equal(t, int64(2), reads.Load())
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.keys) == 0
	}, 5*time.Second, time.Millisecond, "an idle key leaves nothing behind")
}

func TestAReadsErrorGoesToEveryCallerOfIt(t *testing.T) {
	boom := fmt.Errorf("primary down")
	r := &Reads[int, int]{Read: func(context.Context, int) (int, error) { return 0, boom }}
	_, err := r.Get(context.Background(), 7)
	require.ErrorIs(t, err, boom)
}
