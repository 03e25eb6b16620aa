package search_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/ranking.golden from the current ranking")

// TestRankingGolden ranks the corpus in testdata/corpus for each query in
// testdata/queries.txt and compares with testdata/ranking.golden (go test
// -run TestRankingGolden -update rewrites it).
func TestRankingGolden(t *testing.T) {
	t.Parallel()
	w := newWorld(t, opts{})
	names, err := filepath.Glob("testdata/corpus/*.txt")
	require.NoError(t, err)
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		w.write(alice, "/alice/corpus/"+filepath.Base(n), string(b))
	}
	f, err := os.Open("testdata/queries.txt")
	require.NoError(t, err)
	defer f.Close()
	var out strings.Builder
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		q := strings.TrimSpace(lines.Text())
		if q == "" {
			continue
		}
		fmt.Fprintf(&out, "query: %s\n", q)
		rs, _, err := w.search.Search(context.Background(), sc(alice), q, 10, "", ml)
		require.NoError(t, err)
		for i, r := range rs {
			fmt.Fprintf(&out, "  %d. %-40s %6.3f  %s\n", i+1, r.Path, r.Score, strings.Join(strings.Fields(r.Snippet.Mark("[", "]")), " "))
		}
	}
	require.NoError(t, lines.Err())
	golden := "testdata/ranking.golden"
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(out.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test -run TestRankingGolden -update to create it")
	require.Equal(t, string(want), out.String())
}
