package postgres

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

var errNotReplica = errors.New("not a replica (pg_last_wal_replay_lsn is NULL): a promoted replica, or the primary's URL given as a replica")

type routerMetrics struct {
	reads      *prometheus.CounterVec
	fallbacks  *prometheus.CounterVec
	healthy    *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	lagBytes   *prometheus.GaugeVec
}

func newRouterMetrics(reg prometheus.Registerer) *routerMetrics {
	m := &routerMetrics{
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexus_pg_reads_total", Help: "Reads routed, by target (primary or replica).",
		}, []string{"target"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexus_pg_read_fallbacks_total", Help: "Reads sent to the primary because no replica could serve them, by reason (unhealthy, lagging, behind_caller).",
		}, []string{"reason"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nexus_pg_replica_healthy", Help: "1 if the replica answered its last probe.",
		}, []string{"replica"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nexus_pg_replica_lag_seconds", Help: "Replication lag per replica in seconds (0 when caught up).",
		}, []string{"replica"}),
		lagBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nexus_pg_replica_lag_bytes", Help: "Replication lag per replica in bytes of WAL not yet replayed.",
		}, []string{"replica"}),
	}
	if reg != nil {
		reg.MustRegister(m.reads, m.fallbacks, m.healthy, m.lagSeconds, m.lagBytes)
	}
	return m
}

// RouterMetrics are a router's counters, for tests and status pages.
type RouterMetrics struct {
	Reads, Fallbacks *prometheus.CounterVec
}

// Metrics returns r's counters.
func (r *Router) Metrics() RouterMetrics {
	return RouterMetrics{Reads: r.m.reads, Fallbacks: r.m.fallbacks}
}
