package authz

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/datastore"
	"google.golang.org/grpc"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

// countingLog records the size of every group committed through it; with
// fail set, it applies each write and then fails the commit, as a log
// whose disk refused the fsync would.
type countingLog struct {
	Log
	mu     sync.Mutex
	groups []int
	fail   bool
}

func (l *countingLog) Commit(ctx context.Context, writes []*LogWrite, finish func(*sql.Tx) error) error {
	l.mu.Lock()
	l.groups = append(l.groups, len(writes))
	l.mu.Unlock()
	if !l.fail {
		return l.Log.Commit(ctx, writes, finish)
	}
	for _, w := range writes {
		if err := w.Apply(nil, w.Updates); err != nil {
			return err
		}
	}
	if err := finish(nil); err != nil {
		return err
	}
	return fmt.Errorf("%w: injected: the disk refused the commit", ErrCommitFailed)
}

func (l *countingLog) sizes() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.groups...)
}

func openGroupLog(t *testing.T, dir string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "nexus.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, sqlite.Migrate(ctx, db, "authz", SQLiteMigrations()))
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS rows_of_callers (name TEXT PRIMARY KEY)`)
	require.NoError(t, err)
	return db
}

// countingWrites counts the engine's reads of the newest revision: through
// SpiceDB (headTokenVia's request) and, on the embedded default, of the
// datastore's head (countingHeads).
type countingWrites struct {
	v1.PermissionsServiceClient
	heads atomic.Int64
}

type countingHeads struct {
	datastore.Datastore
	heads *atomic.Int64
}

func (c countingHeads) HeadRevision(ctx context.Context) (datastore.RevisionWithSchemaHash, error) {
	c.heads.Add(1)
	return c.Datastore.HeadRevision(ctx)
}

func (c *countingWrites) ReadRelationships(ctx context.Context, in *v1.ReadRelationshipsRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[v1.ReadRelationshipsResponse], error) {
	if in.GetOptionalLimit() == 1 && in.GetRelationshipFilter().GetResourceType() == "user" {
		c.heads.Add(1)
	}
	return c.PermissionsServiceClient.ReadRelationships(ctx, in, opts...)
}

// datastoreWrites is how many writes the engine has made to its datastore
// on path ("direct" or "spicedb"), or on both without one.
func datastoreWrites(t *testing.T, e *Engine, path ...string) float64 {
	t.Helper()
	if len(path) == 0 {
		path = []string{"direct", "spicedb"}
	}
	n := 0.0
	for _, p := range path {
		var m dto.Metric
		require.NoError(t, e.metrics.dsWrites.WithLabelValues(p).Write(&m))
		n += m.GetCounter().GetValue()
	}
	return n
}

func newGroupEngine(t *testing.T, log Log, group int) *Engine {
	t.Helper()
	e, _ := newCountingGroupEngine(t, log, group)
	return e
}

func newCountingGroupEngine(t *testing.T, log Log, group int) (*Engine, *countingWrites) {
	t.Helper()
	writes := &countingWrites{}
	e, err := New(context.Background(), Config{Schema: nexus.Schema, Log: log, WriteGroup: group,
		testClients: func(p v1.PermissionsServiceClient, w v1.WatchServiceClient) (v1.PermissionsServiceClient, v1.WatchServiceClient) {
			writes.PermissionsServiceClient = p
			return writes, w
		}})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	e.ds = countingHeads{Datastore: e.ds, heads: &writes.heads}
	return e, writes
}

// waitQueued waits until n writes wait in the group queue.
func waitQueued(t *testing.T, e *Engine, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		e.groups.mu.Lock()
		defer e.groups.mu.Unlock()
		return len(e.groups.queue) >= n
	}, 10*time.Second, time.Millisecond, "%d writes never queued behind the first", n)
}

func memberRel(i int) Relationship {
	return Rel(Obj("group", "g"), "member", Subject("user", fmt.Sprintf("u%d", i)))
}

func isMember(t *testing.T, e *Engine, i int) bool {
	t.Helper()
	d, err := e.Check(context.Background(), CheckItem{Resource: Obj("group", "g"), Permission: "membership", Subject: Subject("user", fmt.Sprintf("u%d", i))}, FullyConsistent())
	require.NoError(t, err)
	return d.Allowed
}

func TestConcurrentWritesCommitAsOneGroupEachWithItsOwnOutcome(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openGroupLog(t, dir)
	log := &countingLog{Log: &SQLLog{DB: db}}
	e := newGroupEngine(t, log, 0)

	// The first write holds its commit open until nine more wait behind
	// it; those nine then commit as one group, in which
	//   - write 3's hook fails after inserting its row,
	//   - write 5's precondition refuses if write 4's relationship exists
	//     (it must see it: write 4 is before it in the group),
	//   - write 6's token hook fails after its relationship is applied.
	errHook := errors.New("hook of write 3 failed")
	errPre := errors.New("write 4's relationship is there")
	errAfter := errors.New("token hook of write 6 failed")
	release := make(chan struct{})
	const n = 10
	tokens := make([]Token, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	write := func(i int) {
		defer wg.Done()
		opts := []WriteOption{WithTx(func(ctx context.Context, tx *sql.Tx) error {
			if i == 0 {
				<-release
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO rows_of_callers (name) VALUES (?)`, fmt.Sprint(i)); err != nil {
				return err
			}
			if i == 3 {
				return errHook
			}
			return nil
		})}
		switch i {
		case 5:
			opts = append(opts, WithPrecondition(func(ctx context.Context) error {
				d, err := e.Check(ctx, CheckItem{Resource: Obj("group", "g"), Permission: "membership", Subject: Subject("user", "u4")}, FullyConsistent())
				if err == nil && d.Allowed {
					return errPre
				}
				return err
			}))
		case 6:
			opts = append(opts, WithTokenTx(func(ctx context.Context, tx *sql.Tx, tok Token) error { return errAfter }))
		}
		tokens[i], errs[i] = e.Write(ctx, []Update{TouchRel(memberRel(i))}, opts...)
	}
	wg.Add(1)
	go write(0)
	require.Eventually(t, func() bool { return len(log.sizes()) == 1 }, 10*time.Second, time.Millisecond)
	for i := 1; i < n; i++ {
		wg.Add(1)
		go write(i)
		waitQueued(t, e, i) // in order: write i+1 is after write i in the group
	}
	close(release)
	wg.Wait()

	// The nine writes that waited went into one group. Write 6's token
	// hook failed after the group's datastore write, which fails the group
	// as a whole: it was undone and retried one write at a time, so each
	// still has its own outcome.
	sizes := log.sizes()
	require.Equal(t, []int{1, n - 1}, sizes[:2], "the nine writes that waited commit together")
	require.Equal(t, []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, sizes[2:], "then, after write 6's failure, one at a time")
	require.ErrorIs(t, errs[3], errHook)
	require.ErrorIs(t, errs[5], errPre)
	require.ErrorIs(t, errs[6], errAfter)
	failed := map[int]bool{3: true, 5: true, 6: true}
	check := func(e *Engine) {
		for i := 0; i < n; i++ {
			require.Equal(t, !failed[i], isMember(t, e, i), "write %d", i)
			var found int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM rows_of_callers WHERE name = ?`, fmt.Sprint(i)).Scan(&found))
			require.Equal(t, !failed[i], found == 1, "the row of write %d", i)
		}
	}
	for i := 0; i < n; i++ {
		if failed[i] {
			require.Empty(t, tokens[i], "write %d failed", i)
			continue
		}
		require.NoError(t, errs[i], "write %d", i)
		// Each token shows its own write, read at that token.
		d, err := e.Check(ctx, CheckItem{Resource: Obj("group", "g"), Permission: "membership", Subject: Subject("user", fmt.Sprintf("u%d", i))}, AtLeastAsFresh(tokens[i]))
		require.NoError(t, err)
		require.True(t, d.Allowed, "write %d at its own token", i)
	}
	check(e)

	// What the log holds is what was acknowledged: rebuilt from it, a new
	// engine agrees.
	e.Close()
	check(newGroupEngine(t, &SQLLog{DB: db}, 0))
}

func TestAGroupIsOneLogCommitAndOneDatastoreWrite(t *testing.T) {
	ctx := context.Background()
	db := openGroupLog(t, t.TempDir())
	log := &countingLog{Log: &SQLLog{DB: db}}
	e := newGroupEngine(t, log, 0)
	release := make(chan struct{})
	const n = 9
	var wg sync.WaitGroup
	tokens := make([]Token, n)
	for i := range n {
		var opts []WriteOption
		if i == 0 {
			opts = append(opts, WithTx(func(ctx context.Context, tx *sql.Tx) error { <-release; return nil }))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			tokens[i], err = e.Write(ctx, []Update{TouchRel(memberRel(i)), TouchRel(Rel(Obj("group", fmt.Sprintf("g%d", i)), "member", Subject("user", "shared")))}, opts...)
			require.NoError(t, err)
		}()
		if i == 0 {
			require.Eventually(t, func() bool { return len(log.sizes()) == 1 }, 10*time.Second, time.Millisecond)
		} else {
			waitQueued(t, e, i)
		}
	}
	before := datastoreWrites(t, e)
	close(release)
	wg.Wait()
	require.Equal(t, []int{1, n - 1}, log.sizes())
	require.Equal(t, 2.0, datastoreWrites(t, e)-before, "the blocked write's datastore write, then one for the eight that waited")
	for i := range n {
		require.True(t, isMember(t, e, i))
		require.NotEmpty(t, tokens[i])
	}
	// A write touching a relationship a write before it in the group
	// deleted cannot share its datastore write; both still apply in order.
	rel := memberRel(100)
	_, err := e.Write(ctx, []Update{TouchRel(rel)})
	require.NoError(t, err)
	release = make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := e.Write(ctx, []Update{TouchRel(memberRel(101))}, WithTx(func(ctx context.Context, tx *sql.Tx) error { <-release; return nil }))
		require.NoError(t, err)
	}()
	require.Eventually(t, func() bool { return len(log.sizes()) == 4 }, 10*time.Second, time.Millisecond)
	for i, u := range []Update{DeleteRel(rel), TouchRel(rel)} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Write(ctx, []Update{u})
			require.NoError(t, err)
		}()
		waitQueued(t, e, i+1)
	}
	close(release)
	wg.Wait()
	require.True(t, isMember(t, e, 100), "deleted, then touched again, in that order")
}

// Writes that change nothing (a delete of what is not there, a touch of
// what is) get a token at which what they asked for holds: the group's
// datastore write's when it made one, else one read of the newest revision
// for all of them, never one read each.
func TestWritesThatChangeNothingShareTheGroupsToken(t *testing.T) {
	ctx := context.Background()
	db := openGroupLog(t, t.TempDir())
	log := &countingLog{Log: &SQLLog{DB: db}}
	e, counts := newCountingGroupEngine(t, log, 0)
	_, err := e.Write(ctx, []Update{TouchRel(memberRel(0))})
	require.NoError(t, err)

	blockers := 90
	group := func(updates [][]Update) []Token {
		t.Helper()
		blockers++
		blocker := memberRel(blockers) // a change: its own group reads nothing
		release := make(chan struct{})
		var wg sync.WaitGroup
		tokens := make([]Token, len(updates))
		groups := len(log.sizes()) // before the blocker's group begins
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Write(ctx, []Update{TouchRel(blocker)}, WithTx(func(ctx context.Context, tx *sql.Tx) error { <-release; return nil }))
			require.NoError(t, err)
		}()
		require.Eventually(t, func() bool { return len(log.sizes()) == groups+1 }, 10*time.Second, time.Millisecond)
		for i, u := range updates {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				tokens[i], err = e.Write(ctx, u)
				require.NoError(t, err)
			}()
			waitQueued(t, e, i+1)
		}
		heads := counts.heads.Load()
		close(release)
		wg.Wait()
		require.Equal(t, groups+2, len(log.sizes()), "the blocked write, then one group")
		counts.heads.Store(counts.heads.Load() - heads) // what this group read
		return tokens
	}

	// With a change in the group: no read at all.
	counts.heads.Store(0)
	tokens := group([][]Update{
		{DeleteRel(memberRel(7))}, // not there
		{TouchRel(memberRel(0))},  // already there
		{TouchRel(memberRel(1))},  // a change
		{DeleteRel(memberRel(8))}, // not there
	})
	require.Zero(t, counts.heads.Load(), "the group's datastore write's token serves the writes that changed nothing")
	for i, tok := range tokens {
		require.NotEmpty(t, tok, "write %d", i)
		d, err := e.Check(ctx, CheckItem{Resource: Obj("group", "g"), Permission: "membership", Subject: Subject("user", "u0")}, AtLeastAsFresh(tok))
		require.NoError(t, err)
		require.True(t, d.Allowed, "write %d's token shows what it asked for", i)
	}

	// Nothing changed in the whole group: one read for all of them.
	counts.heads.Store(0)
	tokens = group([][]Update{{DeleteRel(memberRel(7))}, {TouchRel(memberRel(1))}, {DeleteRel(memberRel(9))}})
	require.Equal(t, int64(1), counts.heads.Load(), "one read of the newest revision for the group")
	for i, tok := range tokens {
		d, err := e.Check(ctx, CheckItem{Resource: Obj("group", "g"), Permission: "membership", Subject: Subject("user", "u1")}, AtLeastAsFresh(tok))
		require.NoError(t, err)
		require.True(t, d.Allowed, "write %d's token shows what it asked for", i)
	}
}

func TestAFailedGroupCommitLeavesNothingBehind(t *testing.T) {
	db := openGroupLog(t, t.TempDir())
	log := &countingLog{Log: &SQLLog{DB: db}, fail: true}
	e := newGroupEngine(t, log, 0)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.Write(context.Background(), []Update{TouchRel(memberRel(i))})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.ErrorIs(t, err, ErrCommitFailed, "write %d", i)
		require.False(t, isMember(t, e, i), "write %d failed, yet its relationship is there", i)
	}
}

func TestAGroupOfOneCommitsEachWriteOnItsOwn(t *testing.T) {
	db := openGroupLog(t, t.TempDir())
	log := &countingLog{Log: &SQLLog{DB: db}}
	e := newGroupEngine(t, log, 1)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Write(context.Background(), []Update{TouchRel(memberRel(i))})
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	sizes := log.sizes()
	require.Len(t, sizes, 16)
	for _, s := range sizes {
		require.Equal(t, 1, s)
	}
	for i := range 16 {
		require.True(t, isMember(t, e, i))
	}
}

func TestACallerGoingAwayFailsAloneNotItsGroup(t *testing.T) {
	ctx := context.Background()
	db := openGroupLog(t, t.TempDir())
	log := &countingLog{Log: &SQLLog{DB: db}}
	e := newGroupEngine(t, log, 0)
	release := make(chan struct{})
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	gone, leave := context.WithCancel(ctx)
	for i := range n {
		wctx := ctx
		if i == 3 {
			wctx = gone
		}
		opts := []WriteOption{WithTokenTx(func(ctx context.Context, tx *sql.Tx, tok Token) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO rows_of_callers (name) VALUES (?)`, fmt.Sprint(i))
			return err
		})}
		if i == 0 {
			opts = append(opts, WithTx(func(ctx context.Context, tx *sql.Tx) error { <-release; return nil }))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.Write(wctx, []Update{TouchRel(memberRel(i))}, opts...)
		}()
		if i == 0 {
			require.Eventually(t, func() bool { return len(log.sizes()) == 1 }, 10*time.Second, time.Millisecond)
		} else {
			waitQueued(t, e, i)
		}
	}
	// The last caller's deadline passes while its write waits.
	leave()
	close(release)
	wg.Wait()
	require.Equal(t, []int{1, n - 1}, log.sizes(), "the group committed as one, without a retry")
	for i := range n {
		if i == 3 {
			require.ErrorIs(t, errs[i], context.Canceled)
			require.False(t, isMember(t, e, i))
			continue
		}
		require.NoError(t, errs[i], "write %d", i)
		require.True(t, isMember(t, e, i), "write %d", i)
	}
}
