package files_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/files"
)

// Grep's time budget covers the walk over files the caller cannot read,
// not only the scanning of readable ones: with a budget already spent, a
// call over hidden files stops at once, partial, with a token, and the
// tokens make progress to the end.
func TestGrepBudgetCoversHiddenWalk(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{GrepMaxTime: 1}})
	ctx := context.Background()
	const n = 5
	for i := 0; i < n; i++ {
		w.write(w.admin, fmt.Sprintf("/secret/%d.txt", i), "needle\n")
	}
	res, err := w.svc.Grep(ctx, w.member, files.GrepOptions{Pattern: "needle"}, ml)
	require.NoError(t, err)
	require.Empty(t, res.Matches)
	require.True(t, res.Partial, "the walk over hidden files ignored the budget")
	require.Equal(t, "time", res.StoppedBy)
	require.NotEmpty(t, res.NextPageToken)
	calls := 1
	for res.Partial {
		require.LessOrEqual(t, calls, n+2, "tokens do not make progress")
		res, err = w.svc.Grep(ctx, w.member, files.GrepOptions{Pattern: "needle", PageToken: res.NextPageToken}, ml)
		require.NoError(t, err)
		require.Empty(t, res.Matches)
		calls++
	}
	require.Empty(t, res.NextPageToken)
}

// The walk's visit bound stops a call over hidden files too, and the
// tokens still reach every readable match.
func TestGrepVisitBoundCoversHiddenWalk(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{GrepMaxVisit: 2}})
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		w.write(w.admin, fmt.Sprintf("/secret/%d.txt", i), "needle\n")
	}
	w.write(w.admin, "/z/open.txt", "needle\n")
	w.grant("/z", "viewer", "member")
	var got []string
	tok, calls := "", 0
	for {
		calls++
		res, err := w.svc.Grep(ctx, w.member, files.GrepOptions{Pattern: "needle", PageToken: tok}, ml)
		require.NoError(t, err)
		got = append(got, matchLines(res.Matches)...)
		if !res.Partial {
			break
		}
		require.Equal(t, "visits", res.StoppedBy)
		require.Less(t, calls, 20, "tokens do not make progress")
		tok = res.NextPageToken
	}
	require.Equal(t, []string{"/z/open.txt:1:needle"}, got)
	require.Greater(t, calls, 2)
}

// Patterns whose compiled program is large cost seconds per call: they are
// refused as bad input, saying why, while ordinary ones run.
func TestGrepRefusesCostlyPatterns(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/a.txt", "needle\n")
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEF"
	words := make([]string, 1024) // every two-letter word of 32 letters: within MaxGrepPatternBytes
	for i := range words {
		words[i] = string(letters[i%32]) + string(letters[i/32])
	}
	for name, pattern := range map[string]string{
		"a long repetition":      "a{1000}",
		"nested repetitions":     "(a{30}){30}",
		"many optional parts":    strings.Repeat("a?", 2000),
		"a 1024-way alternation": strings.Join(words, "|"),
	} {
		_, err := w.svc.Grep(ctx, w.admin, files.GrepOptions{Pattern: pattern}, ml)
		require.ErrorIs(t, err, errs.InvalidArgument, name)
		require.Contains(t, err.Error(), "instructions", name)
	}
	for _, pattern := range []string{"needle", `(?i)\bneedle\b|haystack`, "a{100}", "[a-z]{50}"} {
		_, err := w.svc.Grep(ctx, w.admin, files.GrepOptions{Pattern: pattern, CaseInsensitive: true}, ml)
		require.NoError(t, err, pattern)
	}
}

// Beyond GrepConcurrency calls at once a Grep is refused with
// ResourceExhausted; when a slot is free again it runs.
func TestGrepConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{GrepConcurrency: 2}})
	ctx := context.Background()
	w.write(w.admin, "/a.txt", "needle\n")
	release := files.HoldGrepSlots(w.svc)
	_, err := w.svc.Grep(ctx, w.admin, files.GrepOptions{Pattern: "needle"}, ml)
	require.ErrorIs(t, err, errs.ResourceExhausted)
	release()
	res, err := w.svc.Grep(ctx, w.admin, files.GrepOptions{Pattern: "needle"}, ml)
	require.NoError(t, err)
	require.Len(t, res.Matches, 1)
	// A finished call gives its slot back: as many calls as slots, in turn.
	for range 5 {
		_, err := w.svc.Grep(ctx, w.admin, files.GrepOptions{Pattern: "needle"}, ml)
		require.NoError(t, err)
	}
}
