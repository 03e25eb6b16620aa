package files_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/files"
)

func matchLines(ms []files.GrepMatch) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%s:%d:%s", m.Path, m.Line, m.Text)
	}
	return out
}

func TestGrep(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/src/a.go", "package a\n// TODO: fix\nfunc A() {}\n// fixme later\n")
	w.write(w.admin, "/src/sub/b.go", "package b\n// FIXME: now\n")
	w.write(w.admin, "/src/bin.dat", "TODO\x00binary")
	w.write(w.admin, "/other/c.txt", "TODO elsewhere\n")
	w.write(w.admin, "/secret/d.txt", "TODO hidden\n")
	w.grant("/src", "viewer", "viewer")
	w.grant("/other", "viewer", "viewer")

	t.Run("regex, case-insensitive, path prefix, binary skipped", func(t *testing.T) {
		res, err := w.svc.Grep(ctx, w.viewer, files.GrepOptions{Pattern: `TODO|FIXME`, CaseInsensitive: true, Path: "/src"}, ml)
		require.NoError(t, err)
		require.Equal(t, []string{"/src/a.go:2:// TODO: fix", "/src/a.go:4:// fixme later", "/src/sub/b.go:2:// FIXME: now"}, matchLines(res.Matches))
		require.False(t, res.Partial)
		require.Equal(t, [][2]int{{3, 7}}, res.Matches[0].Ranges)
	})
	t.Run("case-sensitive by default; only readable files", func(t *testing.T) {
		res, err := w.svc.Grep(ctx, w.viewer, files.GrepOptions{Pattern: `TODO`}, ml)
		require.NoError(t, err)
		require.Equal(t, []string{"/other/c.txt:1:TODO elsewhere", "/src/a.go:2:// TODO: fix"}, matchLines(res.Matches))
	})
	t.Run("context lines", func(t *testing.T) {
		res, err := w.svc.Grep(ctx, w.viewer, files.GrepOptions{Pattern: `func`, Path: "/src/a.go", ContextLines: 1}, ml)
		require.NoError(t, err)
		require.Len(t, res.Matches, 1)
		require.Equal(t, []string{"// TODO: fix"}, res.Matches[0].Before)
		require.Equal(t, []string{"// fixme later"}, res.Matches[0].After)
	})
	t.Run("a hidden path does not exist", func(t *testing.T) {
		_, err := w.svc.Grep(ctx, w.viewer, files.GrepOptions{Pattern: `TODO`, Path: "/secret"}, ml)
		require.True(t, errors.Is(err, errs.NotFound), "got %v", err)
	})
}

// Grep stops at max matches, bytes or time, says so, and continues from
// where it stopped.
func TestGrepIsBoundedAndContinues(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{GrepMaxBytes: 3000}})
	ctx := context.Background()
	var want []string
	for i := 0; i < 5; i++ {
		var b strings.Builder
		for j := 1; j <= 100; j++ {
			fmt.Fprintf(&b, "line %03d of file %d%s\n", j, i, map[bool]string{true: " needle"}[j%10 == 0])
			if j%10 == 0 {
				want = append(want, fmt.Sprintf("/f/%d.txt:%d:line %03d of file %d needle", i, j, j, i))
			}
		}
		w.write(w.admin, fmt.Sprintf("/f/%d.txt", i), b.String())
	}
	for _, tc := range []struct {
		maxMatches int
		stoppedBy  string
	}{{7, "max_matches"}, {1000, "bytes"}} {
		var got []string
		tok := ""
		calls := 0
		for {
			calls++
			res, err := w.svc.Grep(ctx, w.admin, files.GrepOptions{Pattern: "needle", MaxMatches: tc.maxMatches, PageToken: tok}, ml)
			require.NoError(t, err)
			got = append(got, matchLines(res.Matches)...)
			require.LessOrEqual(t, len(res.Matches), tc.maxMatches)
			if !res.Partial {
				require.Empty(t, res.NextPageToken)
				break
			}
			require.NotEmpty(t, res.NextPageToken)
			if tc.stoppedBy == "max_matches" && len(got) < len(want) {
				require.Equal(t, "max_matches", res.StoppedBy)
			}
			if tc.stoppedBy == "bytes" {
				require.Equal(t, "bytes", res.StoppedBy)
				require.LessOrEqual(t, res.BytesScanned, int64(3000+2*1024*30))
			}
			tok = res.NextPageToken
		}
		require.Equal(t, want, got, "stopped by %s", tc.stoppedBy)
		require.Greater(t, calls, 1)
	}
	// A deadline already past: partial at once, by time.
	wt := newWorld(t, worldOpts{limits: files.Limits{GrepMaxTime: 1}})
	wt.write(wt.admin, "/a.txt", "needle\n")
	res, err := wt.svc.Grep(ctx, wt.admin, files.GrepOptions{Pattern: "needle"}, ml)
	require.NoError(t, err)
	require.True(t, res.Partial)
	require.Equal(t, "time", res.StoppedBy)
}

func TestGrepBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	cases := []struct {
		name string
		o    files.GrepOptions
		want string
	}{
		{"empty pattern", files.GrepOptions{}, "must not be empty"},
		{"unclosed class", files.GrepOptions{Pattern: `ab[c-`}, "at byte 2"},
		{"missing paren", files.GrepOptions{Pattern: `x(y`}, `at byte 1 ("(y"): missing closing )`},
		{"missing inner paren", files.GrepOptions{Pattern: `(a)(b[(]`}, `at byte 3 ("(b[(]"): missing closing )`},
		{"bad repeat", files.GrepOptions{Pattern: `a**`}, "invalid nested repetition operator"},
		{"perl backreference", files.GrepOptions{Pattern: `(a)\1`}, "invalid escape sequence"},
		{"max matches too large", files.GrepOptions{Pattern: "a", MaxMatches: files.MaxGrepMatches + 1}, "max_matches"},
		{"max matches negative", files.GrepOptions{Pattern: "a", MaxMatches: -1}, "max_matches"},
		{"context too large", files.GrepOptions{Pattern: "a", ContextLines: 11}, "context_lines"},
		{"relative path", files.GrepOptions{Pattern: "a", Path: "src"}, "absolute"},
		{"forged token", files.GrepOptions{Pattern: "a", PageToken: "x.y"}, "page_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.svc.Grep(ctx, w.admin, tc.o, ml)
			require.True(t, errors.Is(err, errs.InvalidArgument), "got %v", err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
