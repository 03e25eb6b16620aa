package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/storage/postgres"
)

var pgMatrix = Scenario{
	Name: "pg_matrix",
	Description: "production mode on PostgreSQL: authz checks (Zipfian questions, minimize_latency) and folder " +
		"listings (rows + bulk permission filter) at 64 and 1,000 callers, primary only vs primary + replica, " +
		"direct vs PgBouncer, decision cache off vs on, interleaved in one run under a steady write load; " +
		"replication lag under that load. Needs NEXUS_BENCH_POSTGRES (make bench-pg starts a local cluster)",
	Run:       runPgMatrix,
	OnlyNamed: true,
}

const (
	pgQuestions     = 10_000 // distinct check questions, drawn Zipf(s = 1.1)
	pgZipfS         = 1.1
	pgRounds        = 2 // every configuration is measured once per round
	pgBestQuestions = 200
	pgWarmQuestions = 1000                  // about 84% of the Zipf draws
	pgWriteEvery    = 20 * time.Millisecond // one write per tick: 50 writes/s
	pgLagInterval   = 50 * time.Millisecond
	pgSettle        = time.Second // pause before each phase
	pgPoolConns     = 16          // our pools and SpiceDB's read pools, each
)

var pgCallers = []int{64, 1000}

// Targets from issue 7.
const (
	pgTargetCachedVsPrimary = 5.0
	pgTargetLagP99MS        = 500.0
)

func runPgMatrix(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("pg_matrix: "+format, args...) }
	loadStart := loadAvg()
	topo, err := openPgTopology(ctx)
	if err != nil {
		return nil, err
	}
	defer topo.drop()

	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	openDB := func(url string, conns int) (*sql.DB, error) {
		db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: conns})
		if err == nil {
			closers = append(closers, func() { db.Close() })
		}
		return db, err
	}
	engine := func(spicedbURL string, replicas []string, db *sql.DB, cache bool) (*authz.Engine, error) {
		e, err := pgEngine(ctx, spicedbURL, replicas, db, cache)
		if err == nil {
			closers = append(closers, func() { e.Close() })
		}
		return e, err
	}
	primaryDB, err := openDB(topo.primary, pgPoolConns)
	if err != nil {
		return nil, err
	}
	writerDB, err := openDB(topo.primary, 2)
	if err != nil {
		return nil, err
	}

	spec := defaultWorldSpec()
	w := buildWorld(spec)
	questions, err := w.questions(pgQuestions, spec.Seed+2)
	if err != nil {
		return nil, err
	}
	listQs, err := w.listQuestions(spec.Seed + 3)
	if err != nil {
		return nil, err
	}
	spicedbPrimary := postgres.WithSearchPath(topo.primary, postgres.SpiceDBSchema)

	setupStart := time.Now()
	primary, err := engine(spicedbPrimary, nil, primaryDB, false)
	if err != nil {
		return nil, err
	}
	progress("writing %d relationships and %d entries to the primary", len(w.updates), len(w.folders)+len(w.files))
	if _, err := w.load(ctx, primary); err != nil {
		return nil, err
	}
	if err := insertWorldEntries(ctx, primaryDB, w); err != nil {
		return nil, err
	}

	checks := []*pgRow{{name: "primary", desc: "cache off, primary only, direct", e: primary}}
	lists := []*pgRow{{name: "primary", desc: "rows and SpiceDB reads on the primary, direct, cache off", l: newLister(primaryDB, primary, w.zone.ID)}}
	var replicaDB *sql.DB
	if topo.replica != "" {
		if replicaDB, err = openDB(topo.replica, pgPoolConns); err != nil {
			return nil, err
		}
		withReplica, err := engine(spicedbPrimary, []string{postgres.WithSearchPath(topo.replica, postgres.SpiceDBSchema)}, primaryDB, false)
		if err != nil {
			return nil, err
		}
		checks = append(checks, &pgRow{name: "primary+replica", desc: "cache off, SpiceDB read replica option, direct", e: withReplica, replica: true})
		lists = append(lists, &pgRow{name: "replica", desc: "rows from the replica's pool, SpiceDB with the replica, direct, cache off", l: newLister(replicaDB, withReplica, w.zone.ID), replica: true})
	} else {
		progress("no NEXUS_BENCH_POSTGRES_REPLICA: the replica rows and the lag are skipped")
	}
	if topo.bouncer != "" {
		viaBouncer, err := engine(topo.bouncer, nil, primaryDB, false)
		if err != nil {
			return nil, fmt.Errorf("SpiceDB through PgBouncer: %w", err)
		}
		checks = append(checks, &pgRow{name: "pgbouncer", desc: "cache off, primary only, through PgBouncer", e: viaBouncer})
	} else {
		progress("no NEXUS_BENCH_PGBOUNCER: the PgBouncer row is skipped")
	}
	cached, err := engine(spicedbPrimary, nil, primaryDB, true)
	if err != nil {
		return nil, err
	}
	checks = append(checks, &pgRow{name: "cached", desc: "decision cache on, primary only, direct", e: cached, cached: true})
	for _, r := range append(slices.Clone(checks), lists...) {
		r.st, r.hits, r.serving = map[int][]loadStats{}, map[int][]float64{}, map[int][]float64{}
	}

	// Warm the cache as a node in service is warm for its hot questions:
	// the pgWarmQuestions most asked (Zipf ranks come first in questions),
	// once, in bulk. The rest fill during the phases' warm-ups.
	warmStart := time.Now()
	items := make([]authz.CheckItem, min(pgWarmQuestions, len(questions)))
	for i := range items {
		items[i] = questions[i].item
	}
	for off := 0; off < len(items); off += 1000 {
		if _, err := cached.CheckBulk(ctx, items[off:min(off+1000, len(items))], authz.MinimizeLatency()); err != nil {
			return nil, fmt.Errorf("warming the cache: %w", err)
		}
	}
	progress("cache warmed with %d questions in %s", len(items), time.Since(warmStart).Round(time.Millisecond))
	setup := time.Since(setupStart)

	// The write load and the lag sampler run through every measured phase.
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	writer := &pgWriter{e: primary, db: writerDB, w: w, every: pgWriteEvery}
	done := make(chan struct{}, 2)
	go func() { writer.run(bg); done <- struct{}{} }()
	var sampler *lagSampler
	if replicaDB != nil {
		sampler = &lagSampler{primary: writerDB, replica: replicaDB, interval: pgLagInterval}
		go func() { sampler.run(bg); done <- struct{}{} }()
	} else {
		done <- struct{}{}
	}

	best := &pgRow{name: "cached_best_case_200_repeated", desc: "decision cache on, the same 200 questions round robin (best case)", e: cached, cached: true,
		st: map[int][]loadStats{}, hits: map[int][]float64{}, serving: map[int][]float64{}}
	warm := min(max(cfg.Duration/5, time.Second), 2*time.Second)
	measureStart := time.Now()
	// All rounds at 64 callers first, then at 1,000: the 1,000-caller
	// phases leave the machine busy for a while after their window
	// (cancelled queries, pools reconnecting), and each phase starts after
	// a pause for the last one's work to drain.
	settle := func() {
		select {
		case <-ctx.Done():
		case <-time.After(pgSettle):
		}
	}
	for _, callers := range pgCallers {
		for round := range pgRounds {
			for _, r := range interleave(checks, round) {
				settle()
				progress("round %d/%d: check %s, %d callers for %s", round+1, pgRounds, r.name, callers, cfg.Duration)
				before := r.e.CacheStats()
				serving := watchServing(ctx, r.e)
				q0, f0 := replicaQueries()
				st, err := runClosedLoop(ctx, callers, warm, cfg.Duration, checkOp(r.e, questions, callers, len(questions)))
				if err != nil && !noneSucceeded(ctx, st) {
					return nil, fmt.Errorf("check %s, %d callers: %w", r.name, callers, err)
				}
				r.add(callers, st, before, serving())
				r.addFallbacks(callers, q0, f0)
				if r.cached {
					progress("  cache: hit ratio %.3f, serving %.3f of the phase", last(r.hits[callers]), last(r.serving[callers]))
				}
			}
			for _, r := range interleave(lists, round) {
				settle()
				progress("round %d/%d: list %s, %d callers for %s", round+1, pgRounds, r.name, callers, cfg.Duration)
				q0, f0 := replicaQueries()
				st, err := runClosedLoop(ctx, callers, warm, cfg.Duration, listOp(r.l, listQs, callers))
				if err != nil && !noneSucceeded(ctx, st) {
					return nil, fmt.Errorf("list %s, %d callers: %w", r.name, callers, err)
				}
				r.add(callers, st, authz.CacheStats{}, 0)
				r.addFallbacks(callers, q0, f0)
			}
		}
		if callers != pgCallers[0] {
			continue
		}
		// The best case of the cache, labelled as such: 200 questions asked
		// over and over, as the first version of this benchmark did.
		settle()
		progress("best case: cached, %d repeated questions, %d callers for %s", pgBestQuestions, callers, cfg.Duration)
		before := cached.CacheStats()
		serving := watchServing(ctx, cached)
		st, err := runClosedLoop(ctx, callers, warm, cfg.Duration, checkOp(cached, questions[:pgBestQuestions], callers, 0))
		if err != nil && !noneSucceeded(ctx, st) {
			return nil, fmt.Errorf("best case: %w", err)
		}
		best.add(callers, st, before, serving())
	}
	measured := time.Since(measureStart)
	stopBG()
	<-done
	<-done

	o := &Outcome{Params: map[string]any{
		"topology":        topo.describe(),
		"users":           len(w.users),
		"folders":         len(w.folders),
		"files":           len(w.files),
		"relationships":   len(w.updates),
		"check_questions": len(questions),
		"list_questions":  len(listQs),
		"zipf_s":          pgZipfS,
		"consistency":     "minimize_latency",
		"rounds":          pgRounds,
		"duration_s":      cfg.Duration.Seconds(),
		"warmup_s":        warm.Seconds(),
		"pool_conns":      pgPoolConns,
		"write_load":      fmt.Sprintf("%d writes/s on the primary: half relationship writes (SpiceDB), half row updates (paths_entries)", int(time.Second/pgWriteEvery)),
		"setup_s":         round(setup.Seconds(), 1),
		"measured_s":      round(measured.Seconds(), 1),
		"loadavg_start":   loadStart,
		"loadavg_end":     loadAvg(),
		"seed":            spec.Seed,
	}}
	for _, r := range checks {
		o.Results = append(o.Results, r.results("check")...)
	}
	o.Results = append(o.Results, best.results("check")...)
	for _, r := range lists {
		o.Results = append(o.Results, r.results("list")...)
	}

	// Write latency (synchronous_commit as the server says: remote_apply
	// with deploy/local-pg.sh) and replication lag.
	o.Results = append(o.Results,
		Result{Name: "write/relationship", Params: map[string]any{"errors": writer.errs}, Metrics: lagMetrics(writer.relLat)},
		Result{Name: "write/row_update", Metrics: lagMetrics(writer.rowLat)})
	if writer.firstErr != nil {
		progress("writer: %d errors, the first: %v", writer.errs, writer.firstErr)
	}
	if sampler != nil {
		o.Results = append(o.Results,
			Result{Name: "lag/replay_lag (pg_stat_replication)", Params: map[string]any{"interval_ms": pgLagInterval.Milliseconds()}, Metrics: lagMetrics(sampler.replay)},
			Result{Name: "lag/router (wal lsn age)", Params: map[string]any{"interval_ms": pgLagInterval.Milliseconds()}, Metrics: lagMetrics(sampler.router)})
		if len(sampler.replay) > 0 {
			s := slices.Clone(sampler.replay)
			slices.Sort(s)
			o.Params["replication_lag_p50_ms"] = round(ms(percentile(s, 0.5)), 3)
			o.Params["replication_lag_p99_ms"] = round(ms(percentile(s, 0.99)), 3)
		}
	}

	// The figures: ratios of throughputs measured in the same run.
	tput := func(rows []*pgRow, name string, callers int) float64 {
		for _, r := range rows {
			if r.name == name {
				return meanThroughput(r.st[callers])
			}
		}
		return 0
	}
	figure := func(name string, num, den float64, target float64) {
		if num == 0 || den == 0 {
			return
		}
		v := round(num/den, 2)
		o.Params[name] = v
		m := []Metric{{Name: "ratio", Unit: "x", Value: v}}
		if target > 0 {
			m = append(m, Metric{Name: "target", Unit: "x", Value: target})
		}
		o.Results = append(o.Results, Result{Name: "figure/" + name, Metrics: m})
	}
	for _, c := range pgCallers {
		sfx := ""
		if c != pgCallers[0] {
			sfx = fmt.Sprintf("_callers%d", c)
		}
		target := 0.0
		if sfx == "" {
			target = pgTargetCachedVsPrimary
		}
		figure("pg_check_cached_vs_primary_only"+sfx, tput(checks, "cached", c), tput(checks, "primary", c), target)
		figure("pg_check_replica_vs_primary_only"+sfx, tput(checks, "primary+replica", c), tput(checks, "primary", c), 0)
		figure("pg_check_pgbouncer_vs_direct"+sfx, tput(checks, "pgbouncer", c), tput(checks, "primary", c), 0)
		figure("pg_list_replica_vs_primary_only"+sfx, tput(lists, "replica", c), tput(lists, "primary", c), 0)
	}
	o.Params["targets"] = fmt.Sprintf("pg_check_cached_vs_primary_only >= %g, replication_lag_p99_ms <= %g", pgTargetCachedVsPrimary, pgTargetLagP99MS)
	return o, nil
}

// noneSucceeded reports whether a phase ended with no operation completed
// inside its window (every one slower than the window, or failing): a
// result (zero throughput), not a reason to stop the run.
func noneSucceeded(ctx context.Context, st loadStats) bool {
	return ctx.Err() == nil && st.Elapsed > 0 && st.Ops == 0
}

// interleave returns rows in the order of a round: as given on even
// rounds, reversed on odd ones, so no configuration always runs first.
func interleave(rows []*pgRow, round int) []*pgRow {
	out := slices.Clone(rows)
	if round%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// checkOp asks qs: Zipf-distributed when n > 0 (the same sequence for
// every configuration, callers seeded by index), round robin otherwise.
func checkOp(e *authz.Engine, qs []question, callers, n int) func(ctx context.Context, caller, iter int) (tally, error) {
	zipfs := make([]*rand.Zipf, callers)
	if n > 0 {
		for i := range zipfs {
			zipfs[i] = rand.NewZipf(rand.New(rand.NewPCG(uint64(i), 77)), pgZipfS, 1, uint64(n-1))
		}
	}
	return func(ctx context.Context, caller, iter int) (tally, error) {
		// Yield first, as a handler does when it goes back to the network
		// (see zipfLoad.run); the time in the run queue is not latency.
		var t tally
		g0 := time.Now()
		runtime.Gosched()
		t.Wait = time.Since(g0)
		var q question
		if n > 0 {
			q = qs[zipfs[caller].Uint64()]
		} else {
			q = qs[(caller*len(qs)/callers+iter)%len(qs)]
		}
		d, err := e.Check(ctx, q.item, authz.MinimizeLatency())
		if err != nil {
			return tally{}, err
		}
		t.Decisions = 1
		if d.Allowed {
			t.Allowed = 1
		}
		if d.Allowed != q.want {
			t.Mismatches = 1
		}
		return t, nil
	}
}

// listOp lists folders drawn Zipf-distributed from qs.
func listOp(l *lister, qs []listQuestion, callers int) func(ctx context.Context, caller, iter int) (tally, error) {
	zipfs := make([]*rand.Zipf, callers)
	for i := range zipfs {
		zipfs[i] = rand.NewZipf(rand.New(rand.NewPCG(uint64(i), 78)), pgZipfS, 1, uint64(len(qs)-1))
	}
	return func(ctx context.Context, caller, iter int) (tally, error) {
		var t tally
		g0 := time.Now()
		runtime.Gosched()
		t.Wait = time.Since(g0)
		q := qs[zipfs[caller].Uint64()]
		// One listing is one request, as the server marks each RPC.
		n, err := l.list(authz.WithRequest(ctx), q)
		if err != nil {
			return tally{}, err
		}
		t.Decisions = 1
		if n != q.want {
			t.Mismatches = 1
		}
		return t, nil
	}
}
