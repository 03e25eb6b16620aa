package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/memory"
)

// Recall's scores must not depend on memories of other zones: BM25 over
// one index of every zone would tell how many of them hold a word.
func TestScoreIndependentOfOtherZones(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	ctx := context.Background()
	w.remember(alice, memory.RememberRequest{Text: "walrus"})
	w.remember(alice, memory.RememberRequest{Text: "walrus walrus seen near the harbour on a cold morning"})
	for i := 0; i < 5; i++ {
		w.remember(alice, memory.RememberRequest{Text: fmt.Sprintf("unrelated note %d", i)})
	}
	scores := func() []float64 {
		got, err := w.svc.Recall(ctx, alice, "walrus", nil, 10, ml)
		require.NoError(t, err)
		require.Len(t, got, 2)
		return []float64{got[0].Score, got[1].Score}
	}
	before := scores()
	for i := 0; i < 3; i++ {
		w.remember(carol, memory.RememberRequest{Text: "walrus in zone two, with a great many more words than alice wrote " + fmt.Sprint(i)})
	}
	require.Equal(t, before, scores(), "another zone's memories changed alice's scores")
}

// Whether a full page of List comes with a token must not depend on
// memories with the tag that the caller cannot read.
func TestListTokenIndependentOfHiddenTags(t *testing.T) {
	t.Parallel()
	run := func(hidden bool) (int, bool) {
		w := newWorld(t, 0)
		if hidden {
			// Older than alice's: sorts after them.
			w.remember(bob, memory.RememberRequest{Text: "bob's secret", Tags: []string{"t"}})
		}
		w.now = w.now.Add(time.Second)
		w.remember(alice, memory.RememberRequest{Text: "one", Tags: []string{"t"}})
		w.remember(alice, memory.RememberRequest{Text: "two", Tags: []string{"t"}})
		ms, next, err := w.svc.List(context.Background(), alice, []string{"t"}, 2, "", ml)
		require.NoError(t, err)
		return len(ms), next != ""
	}
	n0, tok0 := run(false)
	n1, tok1 := run(true)
	require.Equal(t, 2, n0)
	require.Equal(t, n0, n1)
	require.Equal(t, tok0, tok1, "token presence tells whether a hidden memory has the tag")
}
