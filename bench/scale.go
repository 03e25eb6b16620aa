package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"

	"github.com/nexus-authz/nexus/fileplane/access"
	nexusserver "github.com/nexus-authz/nexus/server"
)

var embeddedScale = Scenario{
	Name: "embedded_scale",
	Description: "The embedded default at 10k and 1M relationships (BENCH_SCALE_SIZES) beside a standalone " +
		"SpiceDB server (memory datastore): import over the SpiceDB API, resident memory after a GC, " +
		"Nexus's restart until ready, and check p99 cold and cached at each size",
	Run:       runEmbeddedScale,
	OnlyNamed: true,
}

// scaleSchema is a service's: documents in folders, shared with users and
// nested groups.
const scaleSchema = `
definition scaleuser {}

definition scalegroup {
    relation member: scaleuser | scalegroup#member
}

definition scalefolder {
    relation viewer: scaleuser | scalegroup#member
    permission view = viewer
}

definition scaledoc {
    relation parent: scalefolder
    relation viewer: scaleuser | scalegroup#member
    permission view = viewer + parent->view
}
`

// scaleIdle is how long Nexus idles before its memory is read: past the
// 30 s deadline of a group commit's calls, and past the GC window (a
// minute) after which the embedded datastore repacks its trees
// (authz/memdb/nexus_repack.go).
const scaleIdle = 70 * time.Second

const (
	scaleWriters  = 4    // concurrent import clients per side
	scaleBatch    = 1000 // relationships per WriteRelationships
	scaleCallers  = 16
	scaleQuestion = 1000 // distinct questions of the cached phase
)

// scaleWorld generates n relationships, the same for both sides: half
// documents' folders, the rest viewers (users, some groups), 1% group
// memberships, groups nested five deep.
type scaleWorld struct {
	n, users, groups, folders, docs int
}

func newScaleWorld(n int) scaleWorld {
	return scaleWorld{n: n, users: max(n/50, 100), groups: max(n/1000, 10), folders: max(n/100, 10), docs: n / 2}
}

func (w scaleWorld) rel(i int) *v1.Relationship {
	obj := func(t string, id int) *v1.ObjectReference {
		return &v1.ObjectReference{ObjectType: t, ObjectId: t[5:6] + strconv.Itoa(id)}
	}
	user := func(id int) *v1.SubjectReference { return &v1.SubjectReference{Object: obj("scaleuser", id)} }
	members := func(id int) *v1.SubjectReference {
		return &v1.SubjectReference{Object: obj("scalegroup", id), OptionalRelation: "member"}
	}
	switch m := i / 100; {
	case i%100 == 0 && m < w.users: // one membership per user, at most
		return &v1.Relationship{Resource: obj("scalegroup", m%w.groups), Relation: "member", Subject: user(m)}
	case i%100 == 1 && m < w.groups-1 && (m+1)%5 != 0: // chains of 5 groups, each in the one before

		return &v1.Relationship{Resource: obj("scalegroup", m), Relation: "member", Subject: members(m + 1)}
	case i%2 == 0:
		return &v1.Relationship{Resource: obj("scaledoc", i/2), Relation: "parent",
			Subject: &v1.SubjectReference{Object: obj("scalefolder", (i/2)%w.folders)}}
	case i%10 == 3:
		return &v1.Relationship{Resource: obj("scaledoc", i/2), Relation: "viewer", Subject: members(i % w.groups)}
	default:
		return &v1.Relationship{Resource: obj("scaledoc", i/2), Relation: "viewer", Subject: user(i % w.users)}
	}
}

func (w scaleWorld) question(doc, user int) *v1.CheckPermissionRequest {
	return &v1.CheckPermissionRequest{
		Resource:   &v1.ObjectReference{ObjectType: "scaledoc", ObjectId: "d" + strconv.Itoa(doc)},
		Permission: "view",
		Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "scaleuser", ObjectId: "u" + strconv.Itoa(user)}},
	}
}

// entries is how many file-plane entries (folders) Nexus holds beside
// the relationships: a tenth as many, as issue 21's million relationships
// and 100,000 entries.
func (w scaleWorld) entries() int { return w.n / 10 }

// makeEntries creates n folders through the file plane (/scale/pK/dI, a
// thousand a parent), setupWorkers at once, as the zone's admin, and
// returns folders per second.
func makeEntries(ctx context.Context, srv *nexusserver.Server, dir string, n int) (float64, error) {
	key, err := os.ReadFile(filepath.Join(dir, nexusserver.AdminKeyFile))
	if err != nil {
		return 0, err
	}
	p, err := srv.Identity().Authenticate(ctx, strings.TrimSpace(string(key)))
	if err != nil {
		return 0, err
	}
	admin := access.Caller{User: string(p.User.ID), Zone: string(p.Zone.ID)}
	fs := srv.Files()
	start := time.Now()
	for k := 0; k*1000 < n; k++ {
		if _, _, err := fs.Mkdir(ctx, admin, fmt.Sprintf("/scale/p%d", k), true); err != nil {
			return 0, err
		}
	}
	made := (n + 999) / 1000
	err = inParallel(ctx, n-made, func(ctx context.Context, i int) error {
		_, _, err := fs.Mkdir(ctx, admin, fmt.Sprintf("/scale/p%d/d%d", i/1000, i), false)
		return err
	})
	return float64(n) / time.Since(start).Seconds(), err
}

// writeScale writes relationships [from, to) of the world through c in
// WriteRelationships batches, scaleWriters at once, and returns
// relationships per second.
func writeScale(ctx context.Context, c *authzed.Client, w scaleWorld, from, to int) (float64, error) {
	next := atomic.Int64{}
	next.Store(int64(from))
	start := time.Now()
	err := inParallel(ctx, scaleWriters, func(ctx context.Context, _ int) error {
		for {
			off := int(next.Add(scaleBatch)) - scaleBatch
			if off >= to {
				return nil
			}
			updates := make([]*v1.RelationshipUpdate, 0, scaleBatch)
			for i := off; i < min(off+scaleBatch, to); i++ {
				updates = append(updates, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: w.rel(i)})
			}
			if _, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: updates}); err != nil {
				return fmt.Errorf("writing: %w", err)
			}
		}
	})
	return float64(to-from) / time.Since(start).Seconds(), err
}

// importScale streams relationships [0, to) of the world through
// ImportBulkRelationships (one import) and returns relationships per
// second.
func importScale(ctx context.Context, c *authzed.Client, w scaleWorld, to int) (float64, error) {
	start := time.Now()
	stream, err := c.ImportBulkRelationships(ctx)
	if err != nil {
		return 0, err
	}
	for off := 0; off < to; off += scaleBatch {
		req := &v1.ImportBulkRelationshipsRequest{}
		for i := off; i < min(off+scaleBatch, to); i++ {
			req.Relationships = append(req.Relationships, w.rel(i))
		}
		if err := stream.Send(req); err != nil {
			break // CloseAndRecv says why
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		return 0, fmt.Errorf("importing: %w", err)
	}
	return float64(to) / time.Since(start).Seconds(), nil
}

// scaleSettle is how long a side idles before its checks: past a
// restart's background work (the orphan sweep, the collection of what the
// load left), the same at every size.
const scaleSettle = 15 * time.Second

// churnEvery is how often the cold phase's writer makes a new revision.
const churnEvery = 10 * time.Millisecond

// churn creates and deletes a relationship no question reaches, through
// writer, every churnEvery until ctx ends.
func churn(ctx context.Context, writer *authzed.Client) error {
	rel := &v1.Relationship{
		Resource: &v1.ObjectReference{ObjectType: "scaledoc", ObjectId: "churn"}, Relation: "viewer",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "scaleuser", ObjectId: "churn"}},
	}
	t := time.NewTicker(churnEvery)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		op := v1.RelationshipUpdate_OPERATION_TOUCH
		if i%2 == 1 {
			op = v1.RelationshipUpdate_OPERATION_DELETE
		}
		if _, err := writer.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{
			Updates: []*v1.RelationshipUpdate{{Operation: op, Relationship: rel}},
		}); err != nil && ctx.Err() == nil {
			return fmt.Errorf("churn: %w", err)
		}
	}
}

// checkScale runs the cold phase and the cached one (scaleQuestion
// questions, Zipfian) and returns their p99s in µs. In the cold phase
// every question is new and evaluated whole: asked fully consistent while
// a writer makes a new revision every churnEvery, so neither side's
// dispatch cache answers a sub-problem asked before (keyed by revision).
// Without that, a small world's few folders, users and groups make most
// sub-problems repeat within seconds, and "cold" at 10k measured
// SpiceDB's dispatch cache, not the datastore.
func checkScale(ctx context.Context, clients []*authzed.Client, writer *authzed.Client, w scaleWorld, d time.Duration, seed uint64) (cold, cached loadStats, err error) {
	time.Sleep(scaleSettle)
	warm := min(max(d/10, 200*time.Millisecond), time.Second)
	var seq atomic.Int64
	rng := rand.New(rand.NewPCG(seed, 7))
	stride := 1 + rng.IntN(w.docs-1)
	cctx, stop := context.WithCancel(ctx)
	churned := make(chan error, 1)
	go func() { churned <- churn(cctx, writer) }()
	full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	cold, err = runClosedLoop(ctx, scaleCallers, warm, d, func(ctx context.Context, caller, _ int) (tally, error) {
		k := int(seq.Add(1))
		q := w.question((k*stride)%w.docs, k%w.users)
		q.Consistency = full
		_, err := clients[caller%len(clients)].CheckPermission(ctx, q)
		return tally{Decisions: 1}, err
	})
	stop()
	if cerr := <-churned; cerr != nil && err == nil {
		err = cerr
	}
	if slower(&cold, err, warm+d) {
		// No check answered within the phase: the cached phase would
		// only repeat that.
		return cold, cold, nil
	}
	if err != nil {
		return
	}
	qs := make([]*v1.CheckPermissionRequest, scaleQuestion)
	for i := range qs {
		qs[i] = w.question(rng.IntN(w.docs), rng.IntN(w.users))
	}
	zipfs := make([]*rand.Zipf, scaleCallers)
	for i := range zipfs {
		zipfs[i] = rand.NewZipf(rand.New(rand.NewPCG(seed, uint64(i))), 1.1, 1, scaleQuestion-1)
	}
	for _, q := range qs { // each asked once: the cached phase measures hits
		if _, err = clients[0].CheckPermission(ctx, q); err != nil {
			return
		}
	}

	cached, err = runClosedLoop(ctx, scaleCallers, warm, d, func(ctx context.Context, caller, _ int) (tally, error) {
		_, err := clients[caller%len(clients)].CheckPermission(ctx, qs[zipfs[caller].Uint64()])
		return tally{Decisions: 1}, err
	})
	if slower(&cached, err, warm+d) {
		err = nil
	}
	return
}

// slower reports whether a phase failed only because no check finished in
// it, and then records its whole length as a lower bound of the p99.
func slower(st *loadStats, err error, phase time.Duration) bool {
	if !errors.Is(err, errNoneSucceeded) || st.Errors > 0 {
		return false
	}
	st.P99, st.P50 = phase, phase
	return true
}

// profileFile creates $BENCH_SCALE_PROFILES/NAME, or returns nil when that
// is not set or cannot be written (said on stderr).
func profileFile(name string) *os.File {
	dir := os.Getenv("BENCH_SCALE_PROFILES")
	if dir == "" {
		return nil
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: no profile:", err)
		return nil
	}
	return f
}

// profilePhase writes a CPU profile of one phase of this process to
// $BENCH_SCALE_PROFILES/NAME.prof, when that is set (and -cpuprofile is
// not), until the returned function is called.
func profilePhase(name string) func() {
	f := profileFile(name + ".prof")
	if f == nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "bench: no profile of", name+":", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// writeHeapProfile writes this process's heap profile and its goroutines
// to $BENCH_SCALE_PROFILES/NAME.prof and goroutines-NAME.txt, when that is
// set.
func writeHeapProfile(name string) {
	if f := profileFile(name + ".prof"); f != nil {
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
	if f := profileFile("goroutines-" + name + ".txt"); f != nil {
		_ = pprof.Lookup("goroutine").WriteTo(f, 1)
		f.Close()
	}
}

// rssMiB is a process's resident set, from /proc.
func rssMiB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func runEmbeddedScale(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("embedded_scale: "+format, args...) }
	bin := spiceDBBinary()
	if bin == "" {
		return nil, fmt.Errorf("needs a standalone SpiceDB binary: SPICEDB_BIN, or bin/spicedb (make bin/spicedb)")
	}
	sizes := []int{10_000, 1_000_000}
	if s := os.Getenv("BENCH_SCALE_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1000 {
				return nil, fmt.Errorf("BENCH_SCALE_SIZES: %q is not a size of at least 1000", f)
			}
			sizes = append(sizes, n)
		}
	}
	o := &Outcome{Params: map[string]any{
		"import": fmt.Sprintf("one ImportBulkRelationships stream of %d relationships a message (SpiceDB: the whole world; "+
			"Nexus: 90%%, then the rest written with WriteRelationships, %d relationships a call, %d clients at once: write_rels_per_s)",
			scaleBatch, scaleBatch, scaleWriters),
		"checks": fmt.Sprintf("%d callers, after %s idle; cold: every question new, fully consistent, while a writer makes a new revision "+
			"every %s (no sub-problem answered from a dispatch cache); cached: %d questions, Zipfian, each asked once first",
			scaleCallers, scaleSettle, churnEvery, scaleQuestion),
		"memory": "resident set after a GC: Nexus's is this process's (the bench's clients idle), right after the writes " +
			"(rss_mib_after_writes), after 70 s idle (rss_mib) and after the restart (rss_mib_restarted); SpiceDB's its own process's, after its import",
		"restart": "Nexus closed and opened again on its data dir, until a check answers: beside a CPU burner taking one core " +
			"(_cpu_burner) and on a quiet machine; after a clean close, which leaves a snapshot of the datastore (start_ready_s), " +
			"and with the snapshot removed, as after a crash: the relationship log read (_no_snapshot)",
		"peer": "standalone SpiceDB server " + bin + " (spicedb serve, memory datastore, its defaults otherwise)",
	}}
	p99 := map[string]float64{}
	for _, n := range sizes {
		w := newScaleWorld(n)
		res, err := scaleNexusRun(ctx, cfg, w, progress)
		if err != nil {
			return nil, fmt.Errorf("nexus at %d: %w", n, err)
		}
		o.Results = append(o.Results, res)
		p99[fmt.Sprintf("nexus/%d/cold", n)], p99[fmt.Sprintf("nexus/%d/cached", n)] = metric(res, "check_p99_cold"), metric(res, "check_p99_cached")
		res, err = scaleSpiceDBRun(ctx, cfg, bin, w, progress)
		if err != nil {
			return nil, fmt.Errorf("spicedb at %d: %w", n, err)
		}
		o.Results = append(o.Results, res)
		p99[fmt.Sprintf("spicedb/%d/cold", n)], p99[fmt.Sprintf("spicedb/%d/cached", n)] = metric(res, "check_p99_cold"), metric(res, "check_p99_cached")
	}
	if len(sizes) > 1 {
		lo, hi := sizes[0], sizes[len(sizes)-1]
		var ms []Metric
		for _, side := range []string{"nexus", "spicedb"} {
			for _, kind := range []string{"cold", "cached"} {
				ms = append(ms, Metric{Name: fmt.Sprintf("%s_check_p99_growth_%s", side, kind), Unit: "x",
					Value: round(p99[fmt.Sprintf("%s/%d/%s", side, hi, kind)]/max(p99[fmt.Sprintf("%s/%d/%s", side, lo, kind)], 1), 2)})
			}
		}
		o.Results = append(o.Results, Result{Name: fmt.Sprintf("growth %d to %d", lo, hi), Metrics: ms})
	}
	return o, nil
}

func metric(r Result, name string) float64 {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value
		}
	}
	return 0
}

// scaleResult is one side's result at one size: its import rate and
// resident memory, the side's own metrics, then the two check phases.
func scaleResult(server string, w scaleWorld, rate, rss float64, cold, cached loadStats, own ...Metric) Result {
	metrics := append([]Metric{
		{Name: "import_rels_per_s", Unit: "rels/s", Value: round(rate, 0)},
		{Name: "rss_mib", Unit: "MiB", Value: round(rss, 1)},
	}, own...)
	metrics = append(metrics,
		Metric{Name: "check_p99_cold", Unit: "us", Value: round(micros(cold.P99), 1)},
		Metric{Name: "check_p99_cached", Unit: "us", Value: round(micros(cached.P99), 1)},
		Metric{Name: "checks_per_s_cold", Unit: "checks/s", Value: round(cold.PerSecond(), 0)},
		Metric{Name: "checks_per_s_cached", Unit: "checks/s", Value: round(cached.PerSecond(), 0)},
		Metric{Name: "errors", Unit: "count", Value: float64(cold.Errors + cached.Errors)},
	)
	return Result{
		Name: fmt.Sprintf("%s relationships=%d", server, w.n),
		Params: map[string]any{"server": server, "relationships": w.n,
			"p99_lower_bound_cold": cold.Ops == 0, "p99_lower_bound_cached": cached.Ops == 0},
		Metrics: metrics,
	}
}

func scaleSpiceDBRun(ctx context.Context, cfg RunConfig, bin string, w scaleWorld, progress func(string, ...any)) (Result, error) {
	addr, pid, stop, err := startSpiceDBProcess(bin)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	if err := loadPeer(ctx, addr, scaleSchema, nil); err != nil {
		return Result{}, err
	}
	clients, writer, closeAll, err := dialSide(addr, apiSecret, apiSecret)
	if err != nil {
		return Result{}, err
	}
	defer closeAll()
	// Through its bulk import: its memory datastore copies its indexes on
	// every write and keeps every revision, so a million relationships in
	// writes of a thousand took it more than ten minutes.
	progress("spicedb: importing %d relationships", w.n)
	rate, err := importScale(ctx, writer, w, w.n)
	if err != nil {
		return Result{}, err
	}
	// Its minimize_latency reads are at a revision quantized to 5 s: wait
	// until they see the end of the import.
	if err := waitPeerSees(ctx, addr, []*v1.Relationship{w.rel(w.n - 2)}); err != nil {
		return Result{}, err
	}
	rss, err := rssMiB(pid)
	if err != nil {
		return Result{}, err
	}
	progress("spicedb: checks at %d relationships", w.n)
	cold, cached, err := checkScale(ctx, clients, writer, w, cfg.Duration, uint64(w.n))
	if err != nil {
		return Result{}, err
	}
	r := scaleResult("spicedb", w, rate, rss, cold, cached)
	r.Params["import"] = "ImportBulkRelationships"
	return r, nil
}
