package authz

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Readers that ask while a read is under way share the next read, never
// the one under way: it may have read the revision before what they saw.
func TestHeadReadsShareOnlyAReadThatBeganAfterThem(t *testing.T) {
	var reads atomic.Int64
	started := make(chan struct{}, 8)
	release := make(chan struct{})
	h := &headReads{read: func(ctx context.Context) (Token, error) {
		n := reads.Add(1)
		started <- struct{}{}
		<-release
		return Token(fmt.Sprintf("t%d", n)), nil
	}}
	ctx := context.Background()
	got := make([]Token, 4)
	var wg sync.WaitGroup
	ask := func(i int) {
		wg.Go(func() {
			tok, err := h.get(ctx)
			require.NoError(t, err)
			got[i] = tok
		})
	}
	ask(0)
	<-started // read 1 under way
	for i := 1; i < 4; i++ {
		ask(i)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	_, err := h.get(gone)
	require.ErrorIs(t, err, context.Canceled, "a reader that went away gets its context's error")
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.next != nil && h.next.readers == 4
	}, 5*time.Second, time.Millisecond, "the three and the one that went away wait for the next read")

	release <- struct{}{} // read 1 done
	<-started             // read 2, for the readers that came during read 1
	release <- struct{}{}
	wg.Wait()
	require.Equal(t, []Token{"t1", "t2", "t2", "t2"}, got)
	require.Equal(t, int64(2), reads.Load(), "one read for the three that waited together")

	go func() { <-started; release <- struct{}{} }()
	tok, err := h.get(ctx) // idle again: a read of its own
	require.NoError(t, err)
	require.Equal(t, Token("t3"), tok)
}
