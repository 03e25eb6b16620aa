package files_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// Whether a full List page comes with a token must not depend on entries
// the caller cannot read that sort after the last one returned.
func TestListTokenIndependentOfHiddenEntries(t *testing.T) {
	t.Parallel()
	run := func(hidden bool) ([]string, bool) {
		w := newWorld(t, worldOpts{})
		w.write(w.admin, "/a", "a")
		w.write(w.admin, "/b", "b")
		w.grant("/a", "viewer", "member")
		w.grant("/b", "viewer", "member")
		if hidden {
			w.write(w.admin, "/z-secret", "z")
		}
		items, next, err := w.svc.List(context.Background(), w.member, "/", 2, "", ml)
		require.NoError(t, err)
		var names []string
		for _, it := range items {
			names = append(names, it.Entry.Name)
		}
		return names, next != ""
	}
	names0, tok0 := run(false)
	names1, tok1 := run(true)
	require.Equal(t, []string{"a", "b"}, names0)
	require.Equal(t, names0, names1)
	require.Equal(t, tok0, tok1, "token presence tells whether a hidden entry follows")
}
