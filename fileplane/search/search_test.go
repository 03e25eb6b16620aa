package search_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
)

// Two users with overlapping corpora each see exactly their own hits.
func TestEachUserSeesOnlyTheirOwnHits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, opts{})
	for i := 0; i < 5; i++ {
		w.write(alice, fmt.Sprintf("/alice/note%d.txt", i), fmt.Sprintf("budget plan %d for the garden project", i))
		w.write(bob, fmt.Sprintf("/bob/note%d.txt", i), fmt.Sprintf("budget plan %d for the kitchen project", i))
	}
	w.write(alice, "/alice/only.txt", "garden tomatoes")

	got := w.paths(alice, "budget", ml)
	require.Len(t, got, 5)
	for _, p := range got {
		require.True(t, strings.HasPrefix(p, "/alice/"), p)
	}
	got = w.paths(bob, "budget project", ml)
	require.Len(t, got, 5)
	for _, p := range got {
		require.True(t, strings.HasPrefix(p, "/bob/"), p)
	}
	require.Empty(t, w.paths(bob, "garden tomatoes", ml), "bob sees no hit, no snippet of alice's files")
	require.Len(t, w.paths(admin, "budget", ml), 10, "the zone admin reads everything")
	outsider := alice
	outsider.Zone = "z2"
	require.Empty(t, w.paths(outsider, "budget", ml), "another zone's index is not searched")
}

// write -> visible, overwrite -> new words only, move -> new path,
// delete -> gone, revoke -> gone at once with the revoke's token.
func TestIndexFollowsChanges(t *testing.T) {
	t.Parallel()
	// A long quantization window: without the revoke's token, a check
	// could be answered from before the revoke.
	w := newWorld(t, opts{quantization: 5 * time.Second})
	ctx := context.Background()

	w.write(alice, "/alice/proj/a.txt", "the aardvark report")
	require.Equal(t, []string{"/alice/proj/a.txt"}, w.paths(alice, "aardvark", ml))

	w.write(alice, "/alice/proj/a.txt", "the badger report")
	require.Empty(t, w.paths(alice, "aardvark", ml), "old content is no longer indexed")
	require.Equal(t, []string{"/alice/proj/a.txt"}, w.paths(alice, "badger", ml))

	_, _, err := w.files.Move(ctx, alice, "/alice/proj", "/alice/archive")
	require.NoError(t, err)
	require.Equal(t, []string{"/alice/archive/a.txt"}, w.paths(alice, "badger", ml), "a hit shows its current path")

	_, _, err = w.files.Copy(ctx, alice, "/alice/archive/a.txt", "/alice/archive/b.txt")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"/alice/archive/a.txt", "/alice/archive/b.txt"}, w.paths(alice, "badger", ml))

	_, err = w.files.Delete(ctx, alice, "/alice/archive/a.txt", false)
	require.NoError(t, err)
	require.Equal(t, []string{"/alice/archive/b.txt"}, w.paths(alice, "badger", ml))

	// Bob gets read on the folder, then loses it.
	grant := w.setRole("/alice/archive", "viewer", "bob", authz.Touch)
	require.Equal(t, []string{"/alice/archive/b.txt"}, w.paths(bob, "badger", authz.AtLeastAsFresh(grant)))
	revoke := w.setRole("/alice/archive", "viewer", "bob", authz.Delete)
	require.Empty(t, w.paths(bob, "badger", authz.AtLeastAsFresh(revoke)), "gone at once with the revoke's token")
	// The folder records the revoke, so a search is that fresh even
	// without the token.
	require.Empty(t, w.paths(bob, "badger", ml))

	// Deleting a folder removes everything below it from the index.
	_, err = w.files.Delete(ctx, alice, "/alice/archive", true)
	require.NoError(t, err)
	require.Empty(t, w.paths(alice, "badger", ml))
	_, err = w.indexer.CatchUp(ctx, 0)
	require.NoError(t, err)
	var n int
	require.NoError(t, w.db.QueryRow(`SELECT count(*) FROM search_docs`).Scan(&n))
	require.Zero(t, n)
}

// A page is full even when most hits are hidden from the caller.
func TestPagesAreFullWhenMostHitsAreHidden(t *testing.T) {
	t.Parallel()
	w := newWorld(t, opts{})
	for i := 0; i < 120; i++ {
		w.write(admin, fmt.Sprintf("/data/f%03d.txt", i), fmt.Sprintf("walrus entry %d", i))
	}
	for i := 0; i < 120; i += 10 {
		w.setRole(fmt.Sprintf("/data/f%03d.txt", i), "viewer", "bob", authz.Touch)
	}
	rs, next, err := w.search.Search(context.Background(), sc(bob), "walrus", 5, "", ml)
	require.NoError(t, err)
	require.Len(t, rs, 5)
	require.NotEmpty(t, next)
	raw, _ := base64.RawURLEncoding.DecodeString(next)
	require.NotContains(t, string(raw), `"o":`, "the token does not tell how many hidden hits came before")
	got := w.paths(bob, "walrus", ml)
	require.Len(t, got, 12)
	seen := map[string]bool{}
	for _, p := range got {
		require.False(t, seen[p], "no hit twice across pages: %s", p)
		seen[p] = true
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, opts{})
	w.write(alice, "/alice/a.txt", "something")
	ctx := context.Background()
	cases := []struct {
		name  string
		query string
		size  int
		token string
		want  string
	}{
		{"empty query", "", 0, "", "no words"},
		{"punctuation only", " ?! -- ", 0, "", "no words"},
		{"all stopwords", "the and of", 0, "", "only stopwords"},
		{"page size negative", "something", -1, "", "page_size"},
		{"page size too large", "something", 101, "", "page_size"},
		{"foreign page token", "something", 0, "bm90IGEgdG9rZW4", "page_token"},
		{"query too long", strings.Repeat("x", 2000), 0, "", "at most"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := w.search.Search(ctx, sc(alice), tc.query, tc.size, tc.token, ml)
			require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// A token for another query is refused too.
	for i := 0; i < 5; i++ {
		w.write(alice, fmt.Sprintf("/alice/b%d.txt", i), "something")
	}
	_, next, err := w.search.Search(ctx, sc(alice), "something", 2, "", ml)
	require.NoError(t, err)
	require.NotEmpty(t, next)
	_, _, err = w.search.Search(ctx, sc(alice), "other words", 2, next, ml)
	require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
}

// Binary files are not indexed.
func TestBinaryFilesAreSkipped(t *testing.T) {
	t.Parallel()
	w := newWorld(t, opts{})
	w.write(alice, "/alice/bin.dat", "zebra\x00\x01\x02 zebra")
	w.write(alice, "/alice/text.txt", "zebra crossing")
	require.Equal(t, []string{"/alice/text.txt"}, w.paths(alice, "zebra", ml))
}
