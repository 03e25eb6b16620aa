package authz

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	calls     *prometheus.CounterVec
	items     *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	decisions *prometheus.CounterVec
	dsWrites  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexus_authz_engine_calls_total",
			Help: "Calls to the authorization engine, by method and result (ok or error).",
		}, []string{"method", "result"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexus_authz_engine_items_total",
			Help: "Items asked of the authorization engine (checks in a bulk check, updates in a write), by method.",
		}, []string{"method"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nexus_authz_engine_seconds",
			Help:    "Latency of authorization engine calls, by method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"method"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexus_authz_decisions_total",
			Help: "Permission decisions made by the engine, by outcome (allowed, denied, or failed: an item of a bulk check the engine could not decide, denied).",
		}, []string{"outcome"}),
		dsWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexus_authz_datastore_writes_total",
			Help: "Relationship writes to the embedded default's datastore, by path: direct (straight into it, validated as SpiceDB validates) or spicedb (through SpiceDB's WriteRelationships, for writes SpiceDB must refuse with its own error). PostgreSQL's writes go through the outbox: nexus_authz_outbox_applied_total.",
		}, []string{"path"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.items, m.latency, m.decisions, m.dsWrites)
	}
	return m
}

func (m *metrics) observe(method string, start time.Time, items int, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.calls.WithLabelValues(method, result).Inc()
	m.items.WithLabelValues(method).Add(float64(items))
	m.latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

func (m *metrics) decision(allowed bool) {
	if allowed {
		m.decisions.WithLabelValues("allowed").Inc()
	} else {
		m.decisions.WithLabelValues("denied").Inc()
	}
}

// failed counts an item of a bulk check the engine could not decide.
func (m *metrics) failed() { m.decisions.WithLabelValues("failed").Inc() }
