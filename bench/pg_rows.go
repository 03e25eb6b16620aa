package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nexus-authz/nexus/authz"
)

// The rows of pg_matrix: what each configuration measured over its phases,
// and how that is reported.

// pgRow is one configuration of the matrix.
type pgRow struct {
	name   string
	desc   string
	e      *authz.Engine // checks: the engine asked
	cached bool
	l      *lister             // lists: the pool and engine used
	st     map[int][]loadStats // callers -> one per round
	// Cached rows, per callers, one per round (warm-up included): the
	// share of the questions the cache answered (hits), and the share of
	// the phase it was serving at all (not serving: its watch behind the
	// staleness bound, or its probe of the engine's head revision not
	// answered in time; every question then goes to the engine).
	hits, serving map[int][]float64
	// Rows with SpiceDB's read replica: its queries sent to the replica
	// and, of those, retried on the primary (the replica did not have the
	// revision yet), summed over the rounds, per callers.
	replicaQ, fallbackQ map[int]float64
	replica             bool
}

// addFallbacks adds, for a replica row, SpiceDB's replica query counters
// since q0, f0.
func (r *pgRow) addFallbacks(callers int, q0, f0 float64) {
	if !r.replica {
		return
	}
	if r.replicaQ == nil {
		r.replicaQ, r.fallbackQ = map[int]float64{}, map[int]float64{}
	}
	q1, f1 := replicaQueries()
	r.replicaQ[callers] += q1 - q0
	r.fallbackQ[callers] += f1 - f0
}

// replicaQueries reads SpiceDB's strict read replica counters from the
// default Prometheus registry: queries sent to replicas, and those that
// fell back to the primary. Only the replica engine has replicas.
func replicaQueries() (total, fallback float64) {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "spicedb_datastore_replica_strict_replicated_query_total":
				total += m.GetCounter().GetValue()
			case "spicedb_datastore_replica_strict_replicated_fallback_query_total":
				fallback += m.GetCounter().GetValue()
			}
		}
	}
	return total, fallback
}

// add records one phase: its stats and, for a cached row, the cache's
// counters before it and the share of the phase it was serving.
func (r *pgRow) add(callers int, st loadStats, before authz.CacheStats, serving float64) {
	r.st[callers] = append(r.st[callers], st)
	if !r.cached {
		return
	}
	r.hits[callers] = append(r.hits[callers], hitRatio(before, r.e.CacheStats()))
	r.serving[callers] = append(r.serving[callers], serving)
}

// watchServing samples whether e's cache is serving every 20 ms until the
// returned function is called, which returns the share of samples it was.
func watchServing(ctx context.Context, e *authz.Engine) func() float64 {
	ctx, stop := context.WithCancel(ctx)
	var yes, all atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			all.Add(1)
			if e.CacheStats().Serving {
				yes.Add(1)
			}
		}
	}()
	return func() float64 {
		stop()
		<-done
		if all.Load() == 0 {
			return 0
		}
		return float64(yes.Load()) / float64(all.Load())
	}
}

func last(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}

func hitRatio(before, after authz.CacheStats) float64 {
	answered := float64(after.Hits - before.Hits + after.SetAnswers - before.SetAnswers)
	total := answered + float64(after.Misses-before.Misses)
	if total == 0 {
		return 0
	}
	return answered / total
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func meanThroughput(sts []loadStats) float64 {
	if len(sts) == 0 {
		return 0
	}
	sum := 0.0
	for _, st := range sts {
		sum += st.PerSecond()
	}
	return sum / float64(len(sts))
}

// results are r's rows, one per concurrency level: throughput and p99 the
// means over the rounds, p50 the median of the rounds' p50s.
func (r *pgRow) results(kind string) []Result {
	var out []Result
	for _, c := range pgCallers {
		sts := r.st[c]
		if len(sts) == 0 {
			continue
		}
		var each []float64
		var p50s, p99s []time.Duration
		errs, mism := 0, 0
		for _, st := range sts {
			each = append(each, round(st.PerSecond(), 1))
			if st.Ops > 0 { // a round where nothing completed has no latency
				p50s = append(p50s, st.P50)
				p99s = append(p99s, st.P99)
			}
			errs += st.Errors
			mism += st.Tally.Mismatches
		}
		m := []Metric{{Name: "throughput", Unit: "ops/s", Value: round(meanThroughput(sts), 1)}}
		if len(p50s) > 0 {
			slices.Sort(p50s)
			var p99sum time.Duration
			for _, p := range p99s {
				p99sum += p
			}
			m = append(m,
				Metric{Name: "p50", Unit: "ms", Value: round(ms(p50s[len(p50s)/2]), 3)},
				Metric{Name: "p99", Unit: "ms", Value: round(ms(p99sum/time.Duration(len(p99s))), 3)})
		}
		m = append(m,
			Metric{Name: "errors", Unit: "count", Value: float64(errs)},
			Metric{Name: "mismatches", Unit: "count", Value: float64(mism)})
		if q := r.replicaQ[c]; r.replica && q > 0 {
			m = append(m, Metric{Name: "replica_fallback_ratio", Unit: "ratio", Value: round(r.fallbackQ[c]/q, 4)})
		}
		if r.cached {
			m = append(m,
				Metric{Name: "hit_ratio", Unit: "ratio", Value: round(mean(r.hits[c]), 4)},
				Metric{Name: "serving_ratio", Unit: "ratio", Value: round(mean(r.serving[c]), 4)})
		}
		out = append(out, Result{
			Name:    fmt.Sprintf("%s/%s callers=%d", kind, r.name, c),
			Params:  map[string]any{"callers": c, "setup": r.desc, "throughput_each_round": each},
			Metrics: m,
		})
	}
	return out
}

// loadAvg is /proc/loadavg's 1-, 5- and 15-minute figures ("" if unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
