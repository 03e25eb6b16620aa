package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"time"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
)

var decisionCache = Scenario{
	Name: "decision_cache",
	Description: "authz.Engine.Check, Zipfian file#read@user questions with 1% writes (viewer grants and revokes on " +
		"random files), minimize_latency: the same world in an engine without and one with the decision cache, " +
		"side by side; revoke-to-invisible time under load; a 10,000-file listing filtered by accessible sets vs bulk checks",
	Run: runDecisionCache,
}

// cachePhases are the measured phases of each engine, in order; the first
// gives the headline figures.
var cachePhases = []struct {
	name      string
	callers   int
	readOnly  bool
	contended bool // a burner process takes one core for the whole phase
}{
	{"callers=64", 64, false, false},
	{"callers=64/contended", 64, false, true},
	{"callers=10000", 10_000, false, false},
	{"callers=64/read_only", 64, true, false},
}

// The phases that give the contended and the overload figures.
const (
	contendedPhase = "callers=64/contended"
	overloadPhase  = "callers=10000"
)

const (
	cacheQuestions  = 30_000
	cacheZipfS      = 1.1
	cacheWriteEvery = 100 // one operation in this many is a write
	revokeProbes    = 200
	// cacheWriters is how many clients make the 1% writes: a service's
	// writes come from many requests at once, and the engine commits
	// concurrent writes in groups, as `nexus serve` does.
	cacheWriters = 16
	listFiles10k = 10_000
	listPage     = 1000
	// writeSlack is how many checks the callers may run ahead of 1% writes:
	// enough to keep every writer busy.
	writeSlack = 2 * cacheWriters * cacheWriteEvery
)

func runDecisionCache(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("decision_cache: "+format, args...) }
	spec := defaultWorldSpec()
	w := buildWorld(spec)
	questions, err := w.questions(cacheQuestions, spec.Seed+2)
	if err != nil {
		return nil, err
	}
	// The memory datastore keeps a snapshot per write for the GC window;
	// at thousands of writes a second a minute of them is gigabytes.
	base := authz.Config{Schema: nexus.Schema, GCWindow: 5 * time.Second}
	uncachedCfg, cachedCfg := base, base
	uncachedCfg.Cache.Disabled = true

	warm := min(max(cfg.Duration/10, 200*time.Millisecond), time.Second)
	o := &Outcome{Params: map[string]any{
		"users": len(w.users), "files": len(w.files), "folders": len(w.folders),
		"relationships": len(w.updates), "distinct_questions": len(questions),
		"zipf_s": cacheZipfS, "write_fraction": 1.0 / cacheWriteEvery,
		"consistency": "minimize_latency", "seed": spec.Seed,
		"cache_staleness": authz.DefaultCacheStaleness.String(),
	}}

	var throughput = map[string]map[string]float64{"uncached": {}, "cached": {}}
	hitRatios := map[string]float64{}
	servingRatios := map[string]float64{}
	overload := map[string]loadStats{}
	for _, mode := range []string{"uncached", "cached"} {
		c := uncachedCfg
		if mode == "cached" {
			c = cachedCfg
		}
		e, closeLog, err := newLoggedEngine(ctx, c)
		if err != nil {
			return nil, err
		}
		defer closeLog()
		progress("%s: loading %d relationships", mode, len(w.updates))
		if _, err := w.load(ctx, e); err != nil {
			closeLog()
			return nil, err
		}
		// Ask every question once, in bulk: the measured phases see a warm
		// engine (SpiceDB's own dispatch cache) and a warm decision cache.
		items := make([]authz.CheckItem, len(questions))
		for i, q := range questions {
			items[i] = q.item
		}
		warmStart := time.Now()
		if _, err := e.CheckBulk(ctx, items, authz.MinimizeLatency()); err != nil {
			closeLog()
			return nil, err
		}
		// The bulk check starts building accessible sets (one per user) in
		// the background; they are part of the warm-up, not of the first
		// phase's CPU.
		for e.CacheStats().SetsBuilding > 0 && time.Since(warmStart) < 2*time.Minute {
			time.Sleep(10 * time.Millisecond)
		}
		o.Params[mode+"_warm_up_s"] = round(time.Since(warmStart).Seconds(), 2)
		for _, ph := range cachePhases {
			callers := ph.callers
			progress("%s: %d callers for %s (%s)", mode, callers, cfg.Duration, ph.name)
			var burn *burner
			if ph.contended {
				if burn, err = startBurner(warm + cfg.Duration + 5*time.Second); err != nil {
					closeLog()
					return nil, err
				}
			}
			before := e.CacheStats()
			serving := sampleServing(ctx, e, warm)
			load := newZipfLoad(e, w, questions)
			load.readOnly = ph.readOnly
			// Labelled, so one phase of a -cpuprofile can be looked at alone
			// (go tool pprof -tagfocus phase=cached/callers=64).
			var st loadStats
			var writeFraction float64
			pprof.Do(ctx, pprof.Labels("phase", mode+"/"+ph.name), func(ctx context.Context) {
				st, writeFraction, err = load.run(ctx, callers, warm, cfg.Duration)
			})
			servingRatio := serving()
			if burn != nil {
				burn.stop()
			}
			if err != nil {
				closeLog()
				return nil, fmt.Errorf("%s, %d callers: %w", mode, callers, err)
			}
			after := e.CacheStats()
			checks := float64(st.Tally.Decisions) / st.Elapsed.Seconds()
			throughput[mode][ph.name] = checks
			metrics := []Metric{
				{Name: "throughput", Unit: "checks/s", Value: round(checks, 1)},
				{Name: "p50_latency", Unit: "us", Value: round(micros(st.P50), 1)},
				{Name: "p99_latency", Unit: "us", Value: round(micros(st.P99), 1)},
				{Name: "operations", Unit: "count", Value: float64(st.Ops)},
				{Name: "shed", Unit: "count", Value: float64(st.Shed)},
				{Name: "other_errors", Unit: "count", Value: float64(st.Errors - st.Shed)},
				{Name: "write_fraction", Unit: "ratio", Value: round(writeFraction, 4)},
			}
			if n := len(load.writeLat); n > 0 {
				metrics = append(metrics,
					Metric{Name: "write_p50", Unit: "ms", Value: round(ms(percentile(load.writeLat, 0.5)), 3)},
					Metric{Name: "write_p99", Unit: "ms", Value: round(ms(percentile(load.writeLat, 0.99)), 3)})
			}
			if mode == "cached" {
				ratio := hitRatio(before, after)
				hitRatios[ph.name] = ratio
				servingRatios[ph.name] = servingRatio
				metrics = append(metrics,
					Metric{Name: "hit_ratio", Unit: "ratio", Value: round(ratio, 4)},
					Metric{Name: "serving_ratio", Unit: "ratio", Value: round(servingRatio, 4)})
			}
			if ph.name == overloadPhase {
				overload[mode] = st
			}
			o.Results = append(o.Results, Result{Name: mode + "/" + ph.name, Params: map[string]any{"callers": callers, "writes": !ph.readOnly, "cpu_burner": ph.contended}, Metrics: metrics})
		}
		if mode == "cached" {
			progress("cached: revoke visibility, %d probes under 64 callers of load", revokeProbes)
			vis, err := revokeVisibility(ctx, e, w, questions)
			if err != nil {
				closeLog()
				return nil, err
			}
			o.Results = append(o.Results, Result{Name: "cached/revoke_visibility", Params: map[string]any{"probes": revokeProbes, "load_callers": 64}, Metrics: []Metric{
				{Name: "p50", Unit: "ms", Value: round(ms(percentile(vis, 0.5)), 3)},
				{Name: "p99", Unit: "ms", Value: round(ms(percentile(vis, 0.99)), 3)},
				{Name: "max", Unit: "ms", Value: round(ms(vis[len(vis)-1]), 3)},
			}})
			o.Params["revoke_visibility_p99_ms"] = round(ms(percentile(vis, 0.99)), 3)
		}
		closeLog()
	}

	progress("listing: %d files, half readable, pages of %d: bulk checks vs accessible sets", listFiles10k, listPage)
	bulkPage, setPage, err := listBitmapVsBulk(ctx, cfg.Duration, base)
	if err != nil {
		return nil, err
	}
	o.Results = append(o.Results, Result{Name: "list_10k", Params: map[string]any{"files": listFiles10k, "readable": listFiles10k / 2, "page": listPage}, Metrics: []Metric{
		{Name: "bulk_page", Unit: "ms", Value: round(ms(bulkPage), 3)},
		{Name: "bitmap_page", Unit: "ms", Value: round(ms(setPage), 3)},
	}})

	for _, ph := range cachePhases {
		o.Params["cached_vs_uncached_"+ph.name] = round(throughput["cached"][ph.name]/throughput["uncached"][ph.name], 1)
	}
	o.Params["cached_vs_uncached_check_throughput"] = o.Params["cached_vs_uncached_"+cachePhases[0].name]
	o.Params["cache_hit_ratio"] = round(hitRatios[cachePhases[0].name], 4)
	o.Params["contended_cache_hit_ratio"] = round(hitRatios[contendedPhase], 4)
	o.Params["contended_serving_ratio"] = round(servingRatios[contendedPhase], 4)
	o.Params["contended_cached_vs_uncached_check_throughput"] = o.Params["cached_vs_uncached_"+contendedPhase]
	for _, mode := range []string{"uncached", "cached"} {
		st := overload[mode]
		o.Params["overload_"+mode+"_p99_admitted_ms"] = round(ms(st.P99), 3)
		o.Params["overload_"+mode+"_shed"] = st.Shed
		o.Params["overload_"+mode+"_other_errors"] = st.Errors - st.Shed
	}
	o.Params["list_bitmap_vs_bulk"] = round(float64(bulkPage)/float64(setPage), 1)
	o.Results = append(o.Results, Result{Name: "figures", Metrics: []Metric{
		{Name: "cached_vs_uncached_check_throughput", Unit: "x", Value: o.Params["cached_vs_uncached_check_throughput"].(float64)},
		{Name: "cache_hit_ratio", Unit: "ratio", Value: o.Params["cache_hit_ratio"].(float64)},
		{Name: "contended_cached_vs_uncached_check_throughput", Unit: "x", Value: o.Params["contended_cached_vs_uncached_check_throughput"].(float64)},
		{Name: "contended_cache_hit_ratio", Unit: "ratio", Value: o.Params["contended_cache_hit_ratio"].(float64)},
		{Name: "contended_serving_ratio", Unit: "ratio", Value: o.Params["contended_serving_ratio"].(float64)},
		{Name: "overload_cached_p99_admitted_ms", Unit: "ms", Value: o.Params["overload_cached_p99_admitted_ms"].(float64)},
		{Name: "overload_uncached_p99_admitted_ms", Unit: "ms", Value: o.Params["overload_uncached_p99_admitted_ms"].(float64)},
		{Name: "overload_cached_shed", Unit: "count", Value: float64(overload["cached"].Shed)},
		{Name: "overload_uncached_shed", Unit: "count", Value: float64(overload["uncached"].Shed)},
		{Name: "overload_other_errors", Unit: "count", Value: float64(overload["cached"].Errors - overload["cached"].Shed + overload["uncached"].Errors - overload["uncached"].Shed)},
		{Name: "list_bitmap_vs_bulk", Unit: "x", Value: o.Params["list_bitmap_vs_bulk"].(float64)},
		{Name: "revoke_visibility_p99_ms", Unit: "ms", Value: o.Params["revoke_visibility_p99_ms"].(float64)},
	}})
	return o, nil
}

// sampleServing samples e's CacheStats().Serving every 5 ms from warm on,
// until the returned function is called; that returns the fraction of the
// samples in which the cache was serving (0 without a cache).
func sampleServing(ctx context.Context, e *authz.Engine, warm time.Duration) func() float64 {
	stop := make(chan struct{})
	res := make(chan float64, 1)
	go func() {
		var n, on int
		defer func() { res <- float64(on) / float64(max(n, 1)) }()
		select {
		case <-time.After(warm):
		case <-stop:
			return
		case <-ctx.Done():
			return
		}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				n++
				if e.CacheStats().Serving {
					on++
				}
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() float64 { close(stop); return <-res }
}

// revokeVisibility measures, under load, the time from an acknowledged
// revoke to the first minimize_latency check that denies, for a decision
// the cache held.
func revokeVisibility(ctx context.Context, e *authz.Engine, w *world, qs []question) ([]time.Duration, error) {
	loadCtx, stop := context.WithCancel(ctx)
	defer stop()
	var loadErr atomic.Value
	go func() {
		load := newZipfLoad(e, w, qs)
		_, _, err := load.run(loadCtx, 64, 0, time.Hour)
		if err != nil && !errors.Is(err, context.Canceled) {
			loadErr.Store(err)
		}
	}()
	prober := authz.Subject("user", "revoke-prober")
	var out []time.Duration
	for i := range revokeProbes {
		f := authz.Obj("file", fmt.Sprintf("probe-%d", i))
		item := authz.CheckItem{Resource: f, Permission: "read", Subject: prober}
		tok, err := e.Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(f, "viewer", prober))})
		if err != nil {
			return nil, err
		}
		// Held by the cache: allowed at the grant's token, then as a hit.
		for {
			d, err := checkRetrying(ctx, e, item, authz.AtLeastAsFresh(tok))
			if err != nil {
				return nil, err
			}
			if d.Allowed {
				break
			}
		}
		if err := waitAllowed(ctx, e, item); err != nil {
			return nil, err
		}
		if _, err := e.Write(ctx, []authz.Update{authz.DeleteRel(authz.Rel(f, "viewer", prober))}); err != nil {
			return nil, err
		}
		acked := time.Now()
		for {
			d, err := checkRetrying(ctx, e, item, authz.MinimizeLatency())
			if err != nil {
				return nil, err
			}
			if !d.Allowed {
				break
			}
			if time.Since(acked) > 30*time.Second {
				return nil, fmt.Errorf("a revoke stayed invisible for 30 s")
			}
		}
		out = append(out, time.Since(acked))
	}
	stop()
	if err, ok := loadErr.Load().(error); ok {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// checkRetrying is e.Check that asks again at once when the call is shed
// by admission control (the probes measure the cache, not the queue).
func checkRetrying(ctx context.Context, e *authz.Engine, item authz.CheckItem, c authz.Consistency) (authz.Decision, error) {
	for {
		d, err := e.Check(ctx, item, c)
		if err == nil || !isShed(err) || ctx.Err() != nil {
			return d, err
		}
		time.Sleep(time.Millisecond)
	}
}

func waitAllowed(ctx context.Context, e *authz.Engine, item authz.CheckItem) error {
	for range 10_000 {
		d, err := checkRetrying(ctx, e, item, authz.MinimizeLatency())
		if err != nil {
			return err
		}
		if d.Allowed {
			return nil
		}
		time.Sleep(100 * time.Microsecond)
	}
	return fmt.Errorf("%s never became visible", item)
}

// listBitmapVsBulk times the permission filter of a 10,000-file folder's
// listing, a page of 1000 at a time: bulk checks in an engine without the
// cache, and accessible sets in one with only the sets (no cached
// decisions), once the set is built.
func listBitmapVsBulk(ctx context.Context, d time.Duration, base authz.Config) (bulk, set time.Duration, err error) {
	user := authz.Subject("user", "lister")
	folder := authz.Obj("folder", "big")
	var ups []authz.Update
	items := make([]authz.CheckItem, listFiles10k)
	for i := range listFiles10k {
		f := authz.Obj("file", fmt.Sprintf("big-%05d", i))
		ups = append(ups, authz.TouchRel(authz.Rel(f, "parent", folder.AsSubject())))
		if i%2 == 0 {
			ups = append(ups, authz.TouchRel(authz.Rel(f, "viewer", user)))
		}
		items[i] = authz.CheckItem{Resource: f, Permission: "read", Subject: user}
	}
	measure := func(cfg authz.Config) (time.Duration, error) {
		e, err := authz.New(ctx, cfg)
		if err != nil {
			return 0, err
		}
		defer e.Close()
		var tok authz.Token
		for off := 0; off < len(ups); off += 1000 {
			if tok, err = e.Write(ctx, ups[off:min(off+1000, len(ups))]); err != nil {
				return 0, err
			}
		}
		page := func(p int) error {
			ds, err := e.CheckBulk(ctx, items[p*listPage:(p+1)*listPage], authz.AtLeastAsFresh(tok))
			if err != nil {
				return err
			}
			for i, dd := range ds {
				if dd.Allowed != ((p*listPage+i)%2 == 0) {
					return fmt.Errorf("page %d item %d: wrong answer %v", p, i, dd.Allowed)
				}
			}
			return nil
		}
		// Warm up until the sets answer (or, without a cache, once).
		for range 200 {
			if err := page(0); err != nil {
				return 0, err
			}
			st := e.CacheStats()
			if cfg.Cache.Disabled || (st.SetAnswers > 0 && st.SetAnswers >= st.Misses) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		start, n := time.Now(), 0
		for time.Since(start) < d {
			if err := page(n % (listFiles10k / listPage)); err != nil {
				return 0, err
			}
			n++
		}
		return time.Since(start) / time.Duration(n), nil
	}
	bulkCfg, setCfg := base, base
	bulkCfg.Cache.Disabled = true
	setCfg.Cache.SetsOnly = true
	if bulk, err = measure(bulkCfg); err != nil {
		return 0, 0, err
	}
	if set, err = measure(setCfg); err != nil {
		return 0, 0, err
	}
	return bulk, set, nil
}
