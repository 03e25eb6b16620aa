package main

import (
	"context"
	"fmt"
	"math"
	"time"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
)

var checkUncached = Scenario{
	Name: "check_uncached",
	Description: "authz.Engine.Check of file#read@user, minimize_latency, no Nexus decision cache " +
		"(SpiceDB's own dispatch cache is on), half allowed / half denied, closed loop",
	Run: runCheckUncached,
}

// checkUncachedCallers are the concurrency levels measured, in order.
var checkUncachedCallers = []int{1, 64}

// questionsPerLevel is how many distinct questions each concurrency level
// draws from; a run that asks more than this repeats them in order.
const questionsPerLevel = 30_000

func runCheckUncached(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	spec := defaultWorldSpec()
	w := buildWorld(spec)
	questions, err := w.questions(questionsPerLevel*len(checkUncachedCallers), spec.Seed+1)
	if err != nil {
		return nil, err
	}

	setupStart := time.Now()
	e, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Cache: authz.CacheConfig{Disabled: true}})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	cfg.Progress("check_uncached: writing %d relationships (%d users, %d groups, %d folders, %d files)",
		len(w.updates), len(w.users), len(allGroups), len(w.folders), len(w.files))
	writes, err := w.load(ctx, e)
	if err != nil {
		return nil, err
	}
	setup := time.Since(setupStart)

	warm := min(max(cfg.Duration/10, 200*time.Millisecond), time.Second)
	o := &Outcome{Params: map[string]any{
		"users":                 len(w.users),
		"groups":                len(allGroups),
		"folders":               len(w.folders),
		"files":                 len(w.files),
		"tree_depth":            len(spec.Fanout) + 1,
		"relationships":         len(w.updates),
		"write_calls":           writes,
		"setup_s":               round(setup.Seconds(), 3),
		"consistency":           "minimize_latency",
		"revision_quantization": authz.DefaultRevisionQuantization.String(),
		"seed":                  spec.Seed,
	}}
	for k, callers := range checkUncachedCallers {
		qs := questions[k*questionsPerLevel : (k+1)*questionsPerLevel]
		cfg.Progress("check_uncached: %d caller(s) for %s (after %s warm-up)", callers, cfg.Duration, warm)
		st, err := runClosedLoop(ctx, callers, warm, cfg.Duration, func(ctx context.Context, caller, iter int) (tally, error) {
			// Callers start spread over the questions and walk them in order.
			q := qs[(caller*len(qs)/callers+iter)%len(qs)]
			d, err := e.Check(ctx, q.item, authz.MinimizeLatency())
			if err != nil {
				return tally{}, err
			}
			t := tally{Decisions: 1}
			if d.Allowed {
				t.Allowed = 1
			}
			if d.Allowed != q.want {
				t.Mismatches = 1
			}
			return t, nil
		})
		if err != nil {
			return nil, fmt.Errorf("%d callers: %w", callers, err)
		}
		if st.Tally.Mismatches > 0 {
			cfg.Progress("check_uncached: WARNING: %d of %d decisions differ from the reference model", st.Tally.Mismatches, st.Tally.Decisions)
		}
		o.Results = append(o.Results, Result{
			Name: fmt.Sprintf("callers=%d", callers),
			Params: map[string]any{
				"callers":            callers,
				"duration_s":         cfg.Duration.Seconds(),
				"warmup_s":           warm.Seconds(),
				"distinct_questions": len(qs),
			},
			Metrics: checkMetrics(st),
		})
	}
	return o, nil
}

// checkMetrics are the figures of a run of single checks.
func checkMetrics(st loadStats) []Metric {
	allowed := 0.0
	if st.Tally.Decisions > 0 {
		allowed = float64(st.Tally.Allowed) / float64(st.Tally.Decisions)
	}
	return []Metric{
		{Name: "throughput", Unit: "checks/s", Value: round(st.PerSecond(), 1)},
		{Name: "p50_latency", Unit: "us", Value: round(micros(st.P50), 1)},
		{Name: "p99_latency", Unit: "us", Value: round(micros(st.P99), 1)},
		{Name: "allowed_fraction", Unit: "ratio", Value: round(allowed, 4)},
		{Name: "checks", Unit: "count", Value: float64(st.Ops)},
		{Name: "errors", Unit: "count", Value: float64(st.Errors)},
		{Name: "mismatches", Unit: "count", Value: float64(st.Tally.Mismatches)},
	}
}

func round(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}
