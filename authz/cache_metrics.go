package authz

import (
	"sync/atomic"
	"time"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/prometheus/client_golang/prometheus"
)

// cacheMetrics counts on the hot path with plain atomics, which Prometheus
// reads when scraped.
type cacheMetrics struct {
	hits, misses, evicted, setAnswers, coalesced atomic.Uint64

	flushes   *prometheus.CounterVec
	restarts  prometheus.Counter
	lagEvents prometheus.Counter
	probes    *prometheus.CounterVec
	setSizes  prometheus.Histogram
	lag       prometheus.Histogram
}

func newCacheMetrics() *cacheMetrics {
	return &cacheMetrics{
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexus_authz_cache_flushes_total",
			Help: "Times the decision cache was emptied, by reason (watch_started, watch_broken, schema_changed, wide_change).",
		}, []string{"reason"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nexus_authz_cache_watch_restarts_total",
			Help: "Times the decision cache's watch broke and was restarted.",
		}),
		lagEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nexus_authz_cache_lagging_total",
			Help: "Times the decision cache stopped answering because its watch fell behind the staleness bound.",
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexus_authz_cache_probes_total",
			Help: "Freshness probes of the decision cache where other nodes write (PostgreSQL), by what they waited for: announced (the other nodes' announced writes) or head (every change SpiceDB committed, when another node was mid-write).",
		}, []string{"source"}),
		setSizes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nexus_authz_cache_set_ids",
			Help:    "Sizes of the accessible sets built (resource ids).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 11),
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nexus_authz_cache_eviction_lag_seconds",
			Help:    "Time from a committed change to the decision cache having evicted what it affects.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
	}
}

func (m *cacheMetrics) register(reg prometheus.Registerer, c *cache) {
	if reg == nil {
		return
	}
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	reg.MustRegister(
		counter("nexus_authz_cache_hits_total", "Permission questions answered from the decision cache.", &m.hits),
		counter("nexus_authz_cache_misses_total", "Permission questions the engine answered (the cache could not, or was bypassed).", &m.misses),
		counter("nexus_authz_cache_set_answers_total", "Permission questions answered from an accessible set.", &m.setAnswers),
		counter("nexus_authz_cache_evictions_total", "Resources whose cached decisions a change evicted.", &m.evicted),
		counter("nexus_authz_cache_coalesced_total", "Misses that shared an identical concurrent miss's engine evaluation (the lock table).", &m.coalesced),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "nexus_authz_cache_serving",
			Help: "1 when the decision cache answers (its watch runs and keeps up), else 0.",
		}, func() float64 {
			if c.serving() {
				return 1
			}
			return 0
		}),
		m.flushes, m.restarts, m.lagEvents, m.probes, m.setSizes, m.lag,
	)
}

// observeLag records how long ago rev was committed, when the revision
// carries its time (the embedded datastore's revisions are timestamps).
func (m *cacheMetrics) observeLag(rev datastore.Revision) {
	if ts, ok := rev.(interface{ TimestampNanoSec() int64 }); ok {
		m.lag.Observe(time.Since(time.Unix(0, ts.TimestampNanoSec())).Seconds())
	}
}

// CacheStats is a snapshot of the decision cache's counters.
type CacheStats struct {
	Hits       uint64 // questions answered from a cached decision
	Misses     uint64 // questions the engine answered
	SetAnswers uint64 // questions answered from an accessible set
	Evictions  uint64 // resources evicted by changes
	Coalesced  uint64 // misses that shared another's engine evaluation
	Serving    bool   // the cache answers (its watch runs and keeps up)
	// SetsBuilding is how many accessible sets are being built (or wait
	// for a builder) in the background.
	SetsBuilding int
}

// CacheStats returns the decision cache's counters; zero when it is off.
func (e *Engine) CacheStats() CacheStats {
	if e.cache == nil {
		return CacheStats{}
	}
	m := e.cache.m
	return CacheStats{
		Hits:       m.hits.Load(),
		Misses:     m.misses.Load(),
		SetAnswers: m.setAnswers.Load(),
		Evictions:  m.evicted.Load(),
		Coalesced:  m.coalesced.Load(),
		Serving:    e.cache.serving(),

		SetsBuilding: int(e.cache.sets.pending.Load()),
	}
}
