package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// batches is an ImportSource of rels, size at a time; after the last it
// returns end (io.EOF for an import that ends well).
func batches(rels []Relationship, size int, end error) ImportSource {
	return func() ([]Relationship, error) {
		if len(rels) == 0 {
			return nil, end
		}
		b := rels[:min(len(rels), size)]
		rels = rels[len(b):]
		return b, nil
	}
}

func members(from, to int) []Relationship {
	rels := make([]Relationship, 0, to-from)
	for i := from; i < to; i++ {
		rels = append(rels, memberRel(i))
	}
	return rels
}

// requireNoneOf fails if any of the memberships from to to is there.
func requireNoneOf(t *testing.T, e *Engine, from, to int, why string) {
	t.Helper()
	rels, err := e.Read(context.Background(), Filter{Resource: Obj("group", "g"), Relation: "member"}, FullyConsistent())
	require.NoError(t, err)
	for _, r := range rels {
		var i int
		_, err := fmt.Sscanf(r.Subject.Object.ID, "u%d", &i)
		require.NoError(t, err)
		require.False(t, i >= from && i < to, "%s: %s is there", why, r)
	}
}

// cacheState says why a cache may not be answering: its watch, its
// freshness probes and, on PostgreSQL, the nodes' announced writes.
func cacheState(e *Engine) string {
	c := e.cache
	s := fmt.Sprintf("healthy=%v serving=%v vouched %v ago, probes announced=%v head=%v",
		c.healthy.Load(), c.serving(), time.Since(time.Unix(0, c.vouched.Load())).Round(time.Millisecond),
		probeCount(c, "announced"), probeCount(c, "head"))
	if e.outbox == nil {
		return s
	}
	rows, err := e.outbox.db.Query(`SELECT node, pending, token <> '', now() - at FROM authz_node_writes`)
	if err != nil {
		return s + "; node rows: " + err.Error()
	}
	defer rows.Close()
	for rows.Next() {
		var node, age string
		var pending, tok bool
		if err := rows.Scan(&node, &pending, &tok, &age); err != nil {
			return s + "; node rows: " + err.Error()
		}
		s += fmt.Sprintf("; node %s (self %v) pending=%v token=%v age %s", node[:min(8, len(node))], node == e.outbox.node, pending, tok, age)
	}
	return s
}

func probeCount(c *cache, source string) float64 {
	var m dto.Metric
	_ = c.m.probes.WithLabelValues(source).Write(&m)
	return m.GetCounter().GetValue()
}

// testImport is what an import does on every mode; restart, if not nil,
// opens the engine again on the same data.
func testImport(t *testing.T, e *Engine, restart func() *Engine) {
	ctx := context.Background()

	// A decision the cache holds from before the import.
	member := func(i int, c Consistency) bool {
		t.Helper()
		d, err := e.Check(ctx, CheckItem{Resource: Obj("group", "g"), Permission: "membership", Subject: Subject("user", fmt.Sprintf("u%d", i))}, c)
		require.NoError(t, err)
		return d.Allowed
	}
	if !assert.Eventually(t, func() bool {
		e.cache.decisions.Wait() // ristretto stores asynchronously
		// From the cache: a held decision, or an accessible set built
		// meanwhile (background builds run under -race for seconds).
		cached := func() uint64 { st := e.CacheStats(); return st.Hits + st.SetAnswers }
		before := cached()
		require.False(t, member(2499, MinimizeLatency()))
		return cached() == before+1
		// Liveness, not timing: on PostgreSQL under make test's load (-race
		// beside the suite) the cache's watch may lag for seconds, and the
		// cache answers only once it keeps up. (Over 90 s in CI runs of
		// 2026-12-05 were no lag: nodes closed in the test left their rows
		// pending, and the probe then waited for PostgreSQL's snapshot,
		// which the watch never reaches; node_writes.go.)
	}, 60*time.Second, 10*time.Millisecond, "the denial is cached") {
		t.Fatalf("the cache: %s", cacheState(e))
	}

	// 2,500 relationships in batches of 700: chunks and inserts of every
	// size, none of them a multiple of another.
	n, tok, err := e.Import(ctx, batches(members(0, 2500), 700, io.EOF))
	require.NoError(t, err)
	require.Equal(t, 2500, n)
	require.NotEmpty(t, tok)
	// Asked first after a later write (an answer at the import's own
	// token would replace the cached denial, evicted or not).
	later, err := e.Write(ctx, []Update{TouchRel(Rel(Obj("file", "unrelated"), "viewer", Subject("user", "x")))})
	require.NoError(t, err)
	require.True(t, member(2499, AtLeastAsFresh(later)), "the import's last relationship is seen, not the cached denial")
	require.True(t, member(2498, AtLeastAsFresh(tok)), "at the import's token")
	require.True(t, isMember(t, e, 0))

	exists := func(err error, says string) {
		t.Helper()
		require.ErrorIs(t, err, ErrInvalid)
		st, ok := EngineStatus(err)
		require.True(t, ok, "SpiceDB's status: %v", err)
		require.Equal(t, codes.AlreadyExists, st.Code(), "%v", err)
		require.Contains(t, st.Message(), says)
	}

	// A relationship that exists fails the whole import, also the
	// batches before it.
	_, _, err = e.Import(ctx, batches(append(members(3000, 4500), memberRel(1234)), 1000, io.EOF))
	exists(err, memberRel(1234).String())
	requireNoneOf(t, e, 3000, 4500, "an import that failed on an existing relationship")

	// So does one named twice (SpiceDB on PostgreSQL does not say which).
	_, _, err = e.Import(ctx, batches(append(members(5000, 5300), memberRel(5100)), 1000, io.EOF))
	exists(err, "already existed")
	requireNoneOf(t, e, 5000, 5300, "an import that named a relationship twice")

	// A caller going away mid-import leaves nothing of it.
	gone := errors.New("the client went away")
	_, _, err = e.Import(ctx, batches(members(6000, 8000), 1000, gone))
	require.ErrorIs(t, err, gone)
	requireNoneOf(t, e, 6000, 8000, "an abandoned import")

	// The schema's refusal, in SpiceDB's words, after a batch it took.
	bad := append(members(9000, 10000), Rel(Obj("group", "g"), "nosuchrelation", Subject("user", "x")))
	_, _, err = e.Import(ctx, batches(bad, 1000, io.EOF))
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "nosuchrelation")
	requireNoneOf(t, e, 9000, 10000, "an import the schema refused")

	// A malformed id, before anything is written.
	_, _, err = e.Import(ctx, batches([]Relationship{Rel(Obj("group", "g"), "member", Subject("user", "bad id"))}, 1, io.EOF))
	require.ErrorIs(t, err, ErrInvalid)

	// The groups with relationships, each once, from the log or SpiceDB.
	var groups []string
	require.NoError(t, e.ObjectIDs(ctx, "group", func(id string) error { groups = append(groups, id); return nil }))
	require.Equal(t, []string{"g"}, groups, "2,500 relationships of one group")

	// An empty import is no error.
	n, _, err = e.Import(ctx, batches(nil, 1, io.EOF))
	require.NoError(t, err)
	require.Zero(t, n)

	if restart == nil {
		return
	}
	e = restart()
	rels, err := e.Read(ctx, Filter{Resource: Obj("group", "g"), Relation: "member"}, FullyConsistent())
	require.NoError(t, err)
	require.Len(t, rels, 2500, "after a restart: the import that succeeded and nothing of the others")
}

func TestAnImportIsAtomicAndDurable(t *testing.T) {
	dir := t.TempDir()
	db := openGroupLog(t, dir)
	e := newGroupEngine(t, &SQLLog{DB: db}, 0)
	testImport(t, e, func() *Engine {
		e.Close()
		return newGroupEngine(t, &SQLLog{DB: db}, 0)
	})
}

// failingImportLog applies an import's batches and then fails its commit,
// as a disk that refused the fsync would.
type failingImportLog struct{ Log }

func (failingImportLog) Import(ctx context.Context, next ImportSource, apply func([]Relationship) error) error {
	for {
		rels, err := next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: injected: the disk refused the commit", ErrCommitFailed)
		}
		if err != nil {
			return err
		}
		if err := apply(rels); err != nil {
			return err
		}
	}
}

func TestAnImportWhoseCommitFailsIsTakenBack(t *testing.T) {
	db := openGroupLog(t, t.TempDir())
	e := newGroupEngine(t, failingImportLog{&SQLLog{DB: db}}, 0)
	_, _, err := e.Import(context.Background(), batches(members(0, 2500), 1000, io.EOF))
	require.ErrorIs(t, err, ErrCommitFailed)
	requireNoneOf(t, e, 0, 2500, "an import whose commit failed")
}
