package search_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/fileplane/search"
)

// The score bob gets for his own document must not depend on documents he
// cannot see: BM25 over one index of every zone would tell him how many
// documents of other zones contain the word.
func TestScoreIndependentOfOtherZones(t *testing.T) {
	t.Parallel()
	w := newWorld(t, opts{})
	ctx := context.Background()
	w.write(bob, "/bob/walrus.txt", "the walrus report")
	for i := 0; i < 10; i++ {
		w.write(bob, fmt.Sprintf("/bob/other%d.txt", i), "nothing to see here")
	}
	score := func() float64 {
		rs, _, err := w.search.Search(ctx, sc(bob), "walrus", 10, "", ml)
		require.NoError(t, err)
		require.Len(t, rs, 1)
		return rs[0].Score
	}
	before := score()
	for i := 0; i < 3; i++ {
		require.NoError(t, w.store.Upsert(ctx, w.db, search.Doc{
			Entry: fmt.Sprintf("ent_z2_%d", i), Zone: "z2", Hash: "h", Body: "walrus walrus in zone two",
		}))
	}
	require.Equal(t, before, score(), "another zone's documents changed bob's score")
}

// Whether a full page comes with a next-page token must not depend on hits
// the caller cannot read.
func TestNextTokenIndependentOfHiddenHits(t *testing.T) {
	t.Parallel()
	run := func(hidden bool) (int, bool) {
		w := newWorld(t, opts{})
		w.write(bob, "/bob/a.txt", "walrus")
		w.write(bob, "/bob/b.txt", "walrus")
		if hidden {
			// Sorts after bob's two: one match in a long text.
			w.write(admin, "/data/secret.txt", "walrus "+strings.Repeat("filler words here ", 50))
		}
		rs, next, err := w.search.Search(context.Background(), sc(bob), "walrus", 2, "", ml)
		require.NoError(t, err)
		return len(rs), next != ""
	}
	n0, tok0 := run(false)
	n1, tok1 := run(true)
	require.Equal(t, 2, n0)
	require.Equal(t, n0, n1)
	require.Equal(t, tok0, tok1, "token presence tells whether a hidden hit exists")
}
