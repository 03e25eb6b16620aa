package files_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
)

// globAll returns every path c gets for pattern, over all pages, and the
// number of calls it took.
func (w *world) globAll(c access.Caller, pattern string, pageSize int) ([]string, int) {
	w.t.Helper()
	var out []string
	tok := ""
	for calls := 1; ; calls++ {
		items, next, err := w.svc.Glob(context.Background(), c, pattern, pageSize, tok, ml)
		require.NoError(w.t, err)
		for _, it := range items {
			out = append(out, string(it.Path))
		}
		if next == "" {
			return out, calls
		}
		tok = next
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	for _, p := range []string{
		"/projects/a/readme.md", "/projects/a/notes.txt", "/projects/b/deep/x.md", "/projects/b/y.MD",
		"/projects/c1/z.md", "/projects/c2/z.md", "/projects-old/q.md", "/top.md", "/secret/s.md",
	} {
		w.write(w.admin, p, "x")
	}
	w.grant("/projects", "viewer", "viewer")
	w.grant("/top.md", "viewer", "viewer")

	cases := []struct {
		pattern string
		want    []string
	}{
		{"/projects/**/*.md", []string{"/projects/a/readme.md", "/projects/b/deep/x.md", "/projects/c1/z.md", "/projects/c2/z.md"}},
		{"/projects/*/*.md", []string{"/projects/a/readme.md", "/projects/c1/z.md", "/projects/c2/z.md"}},
		{"/projects/?/*", []string{"/projects/a/notes.txt", "/projects/a/readme.md", "/projects/b/deep", "/projects/b/y.MD"}},
		{"/projects/c[0-9]/z.md", []string{"/projects/c1/z.md", "/projects/c2/z.md"}},
		{"/projects/{a,b}/*.{md,MD}", []string{"/projects/a/readme.md", "/projects/b/y.MD"}},
		{"/**/*.md", []string{"/projects/a/readme.md", "/projects/b/deep/x.md", "/projects/c1/z.md", "/projects/c2/z.md", "/top.md"}},
		{"/top.md", []string{"/top.md"}},
		{"/missing/**", nil},
		{"/secret/*", nil}, // hidden from the viewer: no hit, and no error that says it exists
	}
	for _, tc := range cases {
		t.Run(tc.pattern, func(t *testing.T) {
			got, _ := w.globAll(w.viewer, tc.pattern, 2)
			require.Equal(t, tc.want, got)
		})
	}
	t.Run("path order, folders before what is in them", func(t *testing.T) {
		got, _ := w.globAll(w.admin, "/**", 0)
		require.Equal(t, []string{"/projects", "/projects/a", "/projects/a/notes.txt", "/projects/a/readme.md",
			"/projects/b", "/projects/b/deep", "/projects/b/deep/x.md", "/projects/b/y.MD",
			"/projects/c1", "/projects/c1/z.md", "/projects/c2", "/projects/c2/z.md",
			"/projects-old", "/projects-old/q.md", "/secret", "/secret/s.md", "/top.md"}, got)
	})
}

// A pattern that would examine the whole zone is allowed, answered a
// bounded number of entries per call, and complete over the pages.
func TestGlobScanningEverythingIsBounded(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{GlobMaxVisit: 25}})
	var want []string
	for i := 0; i < 6; i++ {
		for j := 0; j < 10; j++ {
			p := fmt.Sprintf("/d%d/f%02d.txt", i, j)
			w.write(w.admin, p, "x")
			want = append(want, p)
		}
	}
	for _, pattern := range []string{"/*/*", "/**/*.txt"} {
		got, calls := w.globAll(w.admin, pattern, 1000)
		require.Equal(t, want, got, pattern)
		require.GreaterOrEqual(t, calls, 66/25, "each call examined at most 25 entries")
	}
}

// A page token names the last entry a call examined, which may be hidden
// from the caller: it is sealed, not just signed.
func TestGlobPageTokensDoNotNameHiddenEntries(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{GlobMaxVisit: 1}})
	w.write(w.admin, "/pub/a.txt", "x")
	w.write(w.admin, "/secret-plans/b.txt", "x")
	w.grant("/pub", "viewer", "viewer")
	var got []string
	tok, calls := "", 0
	for {
		items, next, err := w.svc.Glob(context.Background(), w.viewer, "/**", 10, tok, ml)
		require.NoError(t, err)
		for _, it := range items {
			got = append(got, string(it.Path))
		}
		if next == "" {
			break
		}
		calls++
		for _, part := range strings.Split(next, ".") {
			raw, _ := base64.RawURLEncoding.DecodeString(part)
			require.NotContains(t, string(raw), "secret")
		}
		tok = next
	}
	require.Equal(t, []string{"/pub", "/pub/a.txt"}, got)
	require.GreaterOrEqual(t, calls, 3, "one entry examined per call, hidden ones included")
}

func TestGlobBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	cases := []struct {
		name, pattern string
		size          int
		token         string
	}{
		{"empty", "", 0, ""},
		{"relative", "*.md", 0, ""},
		{"unclosed class", "/a/[b", 0, ""},
		{"unclosed brace", "/a/{b,c", 0, ""},
		{"page size negative", "/**", -1, ""},
		{"page size too large", "/**", files.MaxPageSize + 1, ""},
		{"forged token", "/**", 0, "eyJwIjoiLyoqIiwiYSI6Ii9hIn0.AAAA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := w.svc.Glob(ctx, w.admin, tc.pattern, tc.size, tc.token, ml)
			require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
		})
	}
}

// List's page tokens are sealed too: a page that ends on its scan bound
// continues after the last candidate examined, which may be hidden.
func TestListPageTokensAreSealed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	w.write(w.admin, "/d/plans-alpha.txt", "x")
	w.write(w.admin, "/d/plans-beta.txt", "x")
	items, next, err := w.svc.List(context.Background(), w.admin, "/d", 1, "", ml)
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.NotEmpty(t, next)
	for _, part := range strings.Split(next, ".") {
		raw, _ := base64.RawURLEncoding.DecodeString(part)
		require.NotContains(t, string(raw), "plans", "the token can be read")
	}
	items, _, err = w.svc.List(context.Background(), w.admin, "/d", 1, next, ml)
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "plans-beta.txt", items[0].Entry.Name)
	forged := []byte(next)
	forged[len(forged)/2] ^= 1 // still base64, another byte
	_, _, err = w.svc.List(context.Background(), w.admin, "/d", 1, string(forged), ml)
	require.Error(t, err, "a forged token was accepted")
}
