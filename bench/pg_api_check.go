package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	authzed "github.com/authzed/authzed-go/v1"

	nexus "github.com/nexus-authz/nexus"
	nexusserver "github.com/nexus-authz/nexus/server"
)

var pgAPICheckVsSpiceDB = Scenario{
	Name: "pg_api_check_vs_spicedb_server",
	Description: "CheckPermission over the SpiceDB v1 API, nested groups, Zipfian questions, 1% membership writes, " +
		"64 callers: Nexus in production mode vs a standalone SpiceDB server on the postgres datastore, " +
		"each in its own database on the same PostgreSQL server (NEXUS_BENCH_POSTGRES), alternating rounds",
	Run:       runPgAPICheck,
	OnlyNamed: true,
}

const pgAPITargetRatio = 2.0

func runPgAPICheck(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("pg_api_check_vs_spicedb_server: "+format, args...) }
	serverURL := os.Getenv("NEXUS_BENCH_POSTGRES")
	if serverURL == "" {
		return nil, fmt.Errorf("needs NEXUS_BENCH_POSTGRES (make bench-pg starts a local PostgreSQL itself)")
	}
	bin := spiceDBBinary()
	if bin == "" {
		return nil, fmt.Errorf("needs a standalone SpiceDB binary: SPICEDB_BIN, or bin/spicedb (make bin/spicedb builds the version go.mod pins)")
	}
	if err := needCommitTimestamps(ctx, serverURL); err != nil {
		return nil, err
	}
	nested := buildNestedWorld()
	schema := nexus.Schema + apiNestedSchema

	// Nexus's database, migrated as `nexus migrate` does.
	nexusURL, _, dropNexus, err := benchDatabase(ctx, serverURL)
	if err != nil {
		return nil, err
	}
	defer dropNexus()
	if err := nexusserver.MigratePostgres(ctx, nexusURL); err != nil {
		return nil, err
	}
	progress("starting Nexus in production mode")
	nexusAddr, nexusKey, nexusWriteKey, stopNexus, nexusSrv, err := startNexusForBenchWith(ctx, nexusserver.Config{Postgres: nexusURL}, schema, nested.rels)
	if err != nil {
		return nil, err
	}
	defer stopNexus()

	// SpiceDB's database, migrated by SpiceDB itself.
	spiceURL, _, dropSpice, err := benchDatabase(ctx, serverURL)
	if err != nil {
		return nil, err
	}
	defer dropSpice()
	progress("migrating and starting a standalone SpiceDB server on the postgres datastore: %s", bin)
	if out, err := exec.CommandContext(ctx, bin, "datastore", "migrate", "head", "--datastore-engine", "postgres",
		"--datastore-conn-uri", spiceURL, "--skip-release-check").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("spicedb datastore migrate: %w: %s", err, out)
	}
	spiceAddr, stopSpice, err := startSpiceDBBinary(ctx, bin, schema, nested.rels, "--datastore-engine", "postgres", "--datastore-conn-uri", spiceURL)
	if err != nil {
		return nil, err
	}
	defer stopSpice()

	type side struct {
		name, addr, key, writeKey string
		clients                   []*authzed.Client
		writer                    *authzed.Client
		runs                      []loadStats
		writeLat                  []time.Duration
		writeErrs                 int
	}
	sides := []*side{{name: "nexus", addr: nexusAddr, key: nexusKey, writeKey: nexusWriteKey}, {name: "spicedb", addr: spiceAddr, key: apiSecret, writeKey: apiSecret}}
	for _, s := range sides {
		var err error
		var closeAll func()
		if s.clients, s.writer, closeAll, err = dialSide(s.addr, s.key, s.writeKey); err != nil {
			return nil, err
		}
		defer closeAll()
	}
	for _, s := range sides {
		progress("%s: asking the %d questions once (warm-up)", s.name, len(nested.qs))
		if err := warmNested(ctx, s.clients[0], nested.qs); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	warm := min(max(cfg.Duration/10, 200*time.Millisecond), time.Second)
	cacheBefore := nexusSrv.Engine().CacheStats()
	for round := range apiRounds {
		for i := range sides {
			s := sides[i]
			if round%2 == 1 {
				s = sides[len(sides)-1-i]
			}
			progress("round %d/%d: %s: %d callers for %s", round+1, apiRounds, s.name, nestedCallers, cfg.Duration)
			ops := newNestedOps(nested.qs, s.clients, s.writer, nestedCallers, uint64(round))
			st, err := runClosedLoop(ctx, nestedCallers, warm, cfg.Duration, ops.op)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			s.runs = append(s.runs, st)
			s.writeLat = append(s.writeLat, ops.writeLat...)
			s.writeErrs += ops.writeErr
		}
	}
	o := &Outcome{Params: map[string]any{
		"postgres": "one server, track_commit_timestamp on, each side in its own database", "rounds": apiRounds,
		"warm_up":      "every question asked once on each side before the rounds (CheckBulkPermissions)",
		"nested_users": nestedUsers, "nested_teams": nestedTeams, "nested_parent_teams": nestedParents,
		"nested_documents": nestedDocs, "relationships": len(nested.rels), "write_fraction": 1.0 / nestedWriteEvery,
		"peer": "standalone SpiceDB server binary " + bin + " (spicedb serve, postgres datastore, its defaults otherwise)",
	}}
	cache := nexusSrv.Engine().CacheStats()
	hits, misses := cache.Hits+cache.SetAnswers-cacheBefore.Hits-cacheBefore.SetAnswers, cache.Misses-cacheBefore.Misses
	o.Params["nexus_cache_hit_ratio"] = round(float64(hits)/float64(max(hits+misses, 1)), 3)
	o.Params["nexus_cache_coalesced"] = cache.Coalesced - cacheBefore.Coalesced
	o.Params["nexus_cache_serving_at_end"] = cache.Serving
	tput := map[string]float64{}
	p99 := map[string]float64{}
	for _, s := range sides {
		errs, shed, mismatches, each := sumRounds(s.runs)
		tput[s.name] = medianOf(s.runs, loadStats.PerSecond)
		p99[s.name] = medianOf(s.runs, func(st loadStats) float64 { return micros(st.P99) })
		slices.Sort(s.writeLat)
		metrics := []Metric{
			{Name: "throughput", Unit: "checks/s", Value: round(tput[s.name], 1)},
			{Name: "p50_latency", Unit: "us", Value: round(medianOf(s.runs, func(st loadStats) float64 { return micros(st.P50) }), 1)},
			{Name: "p99_latency", Unit: "us", Value: round(p99[s.name], 1)},
			{Name: "errors", Unit: "count", Value: float64(errs)},
			{Name: "shed", Unit: "count", Value: float64(shed)},
			{Name: "mismatches", Unit: "count", Value: float64(mismatches)},
			{Name: "writes", Unit: "count", Value: float64(len(s.writeLat))},
			{Name: "write_errors", Unit: "count", Value: float64(s.writeErrs)},
		}
		if len(s.writeLat) > 0 {
			metrics = append(metrics, Metric{Name: "write_p99", Unit: "ms", Value: round(ms(percentile(s.writeLat, 0.99)), 3)})
		}
		o.Results = append(o.Results, Result{
			Name:    fmt.Sprintf("%s callers=%d", s.name, nestedCallers),
			Params:  map[string]any{"server": s.name, "throughput_each_round": each},
			Metrics: metrics,
		})
	}
	o.Results = append(o.Results, Result{
		Name:   fmt.Sprintf("nexus/spicedb callers=%d", nestedCallers),
		Params: map[string]any{"target": pgAPITargetRatio},
		Metrics: []Metric{
			{Name: "throughput_ratio", Unit: "x", Value: round(tput["nexus"]/tput["spicedb"], 2)},
			{Name: "p99_ratio", Unit: "x", Value: round(p99["nexus"]/p99["spicedb"], 2)},
		},
	})
	return o, nil
}

// medianOf is the median of f over the rounds.
func medianOf(sts []loadStats, f func(loadStats) float64) float64 {
	xs := make([]float64, len(sts))
	for i, st := range sts {
		xs[i] = f(st)
	}
	return medianF(xs)
}
