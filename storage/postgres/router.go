package postgres

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxReplicaLag is how far behind the primary a replica may be and
// still serve reads (--max-replica-lag).
const DefaultMaxReplicaLag = 500 * time.Millisecond

// RouterConfig configures a Router.
type RouterConfig struct {
	// MaxLag: a replica further behind is skipped. Zero is
	// DefaultMaxReplicaLag.
	MaxLag time.Duration
	// ProbeInterval is how often replicas are probed (replay position,
	// lag). Zero is 100 ms. A replica that fails a probe is probed again
	// with backoff, up to MaxBackoff (zero: 5 s).
	ProbeInterval, MaxBackoff time.Duration
	// Registerer receives the router's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Replica is one read replica's pool.
type Replica struct {
	Name string // for metrics and logs, e.g. its host:port
	DB   *sql.DB
}

// Target says where a read went.
type Target string

const (
	ToPrimary Target = "primary"
	ToReplica Target = "replica"
)

// Router sends writes and transactions to the primary and reads to a
// healthy replica that has replayed the caller's last write (its LSN), else
// to the primary. Replicas are probed in the background (Run).
type Router struct {
	primary  *sql.DB
	replicas []*replicaState
	cfg      RouterConfig
	next     atomic.Uint64
	m        *routerMetrics

	// hist holds the primary's WAL position at each probe, oldest first: a
	// replica's lag is the age of the oldest position it has not replayed.
	histMu sync.Mutex
	hist   []lsnAt
}

type lsnAt struct {
	lsn LSN
	at  time.Time
}

// histWindow is how much history the lag measure keeps: lags beyond it
// read as the window, far past any sane bound.
const histWindow = time.Minute

func (r *Router) record(lsn LSN, at time.Time) {
	r.histMu.Lock()
	defer r.histMu.Unlock()
	if n := len(r.hist); n == 0 || r.hist[n-1].lsn < lsn {
		r.hist = append(r.hist, lsnAt{lsn, at})
	}
	i := 0
	for i < len(r.hist)-1 && at.Sub(r.hist[i].at) > histWindow {
		i++
	}
	r.hist = r.hist[i:]
}

// lagOf returns how long ago the primary first reached a position beyond
// replayed (0 if replayed covers every position seen).
func (r *Router) lagOf(replayed LSN, now time.Time) time.Duration {
	r.histMu.Lock()
	defer r.histMu.Unlock()
	for _, h := range r.hist {
		if h.lsn > replayed {
			return now.Sub(h.at)
		}
	}
	return 0
}

type replicaState struct {
	Replica
	mu        sync.Mutex
	healthy   bool
	replayed  LSN
	lag       time.Duration
	lagBytes  int64
	failures  int
	nextProbe time.Time
}

// NewRouter returns a Router; call Run to start probing. Until the first
// probe of a replica, reads go to the primary.
func NewRouter(primary *sql.DB, replicas []Replica, cfg RouterConfig) *Router {
	if cfg.MaxLag == 0 {
		cfg.MaxLag = DefaultMaxReplicaLag
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = 100 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	r := &Router{primary: primary, cfg: cfg, m: newRouterMetrics(cfg.Registerer)}
	for _, rep := range replicas {
		r.replicas = append(r.replicas, &replicaState{Replica: rep})
	}
	return r
}

// Primary is the pool for writes and transactions.
func (r *Router) Primary() *sql.DB { return r.primary }

// WriteLSN returns the primary's current WAL position: after a write has
// committed, a read at this LSN sees it. The consistency token handed to the
// caller carries it.
func (r *Router) WriteLSN(ctx context.Context) (LSN, error) {
	var s string
	if err := r.primary.QueryRowContext(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s); err != nil {
		return 0, err
	}
	return ParseLSN(s)
}

// Read returns the pool for a read that must see everything up to minLSN (0:
// no write to see): a healthy replica within the lag bound that has
// replayed minLSN by its last probe, chosen round robin, else the primary.
func (r *Router) Read(minLSN LSN) (*sql.DB, Target) { return r.read(nil, minLSN) }

// ReadContext is Read, except that a healthy replica within the lag bound
// whose last probe is behind minLSN is asked for its replay position now (a
// write made a moment ago is usually replayed within a millisecond, long
// before the next probe): read-your-writes reads go to a replica whenever
// it has the write, at the cost of one small query to it.
func (r *Router) ReadContext(ctx context.Context, minLSN LSN) (*sql.DB, Target) {
	return r.read(ctx, minLSN)
}

func (r *Router) read(ctx context.Context, minLSN LSN) (*sql.DB, Target) {
	n := len(r.replicas)
	if n == 0 {
		r.m.reads.WithLabelValues(string(ToPrimary)).Inc()
		return r.primary, ToPrimary
	}
	start := int(r.next.Add(1) % uint64(n))
	reason := "unhealthy"
	for i := range n {
		rep := r.replicas[(start+i)%n]
		rep.mu.Lock()
		healthy, replayed, lag := rep.healthy, rep.replayed, rep.lag
		rep.mu.Unlock()
		switch {
		case !healthy:
			continue
		case lag > r.cfg.MaxLag:
			reason = "lagging"
			continue
		case replayed < minLSN:
			reason = "behind_caller"
			if ctx == nil || !r.caughtUp(ctx, rep, minLSN) {
				continue
			}
		}
		r.m.reads.WithLabelValues(string(ToReplica)).Inc()
		return rep.DB, ToReplica
	}
	r.m.reads.WithLabelValues(string(ToPrimary)).Inc()
	r.m.fallbacks.WithLabelValues(reason).Inc()
	return r.primary, ToPrimary
}

// caughtUp asks rep whether it has replayed minLSN, and records its
// position if it has.
//
// It runs under the caller's context, with no deadline of its own: a query
// cut off by a deadline costs its connection (pgx closes it), and under
// load the new connections that churn opens are slower than the answer. A
// replica too slow to answer is caught by its probes' deadline instead.
func (r *Router) caughtUp(ctx context.Context, rep *replicaState, minLSN LSN) bool {
	var s sql.NullString
	if err := rep.DB.QueryRowContext(ctx, `SELECT pg_last_wal_replay_lsn()::text`).Scan(&s); err != nil || !s.Valid {
		return false
	}
	lsn, err := ParseLSN(s.String)
	if err != nil || lsn < minLSN {
		return false
	}
	rep.mu.Lock()
	rep.replayed = max(rep.replayed, lsn)
	rep.mu.Unlock()
	return true
}

// Run probes the replicas until ctx is done.
func (r *Router) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.ProbeInterval)
	defer t.Stop()
	for {
		r.ProbeOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ProbeOnce probes every replica due for a probe, and the primary's
// position to measure lag in bytes.
func (r *Router) ProbeOnce(ctx context.Context) {
	if len(r.replicas) == 0 {
		return
	}
	primaryLSN, perr := r.WriteLSN(ctx)
	if perr == nil {
		r.record(primaryLSN, time.Now())
	}
	var wg sync.WaitGroup
	for _, rep := range r.replicas {
		wg.Go(func() { r.probe(ctx, rep, primaryLSN, perr == nil) })
	}
	wg.Wait()
}

func (r *Router) probe(ctx context.Context, rep *replicaState, primaryLSN LSN, havePrimary bool) {
	rep.mu.Lock()
	due := !time.Now().Before(rep.nextProbe)
	rep.mu.Unlock()
	if !due {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.ProbeInterval*5)
	defer cancel()
	var lsnText sql.NullString
	err := rep.DB.QueryRowContext(pctx, `SELECT pg_last_wal_replay_lsn()::text`).Scan(&lsnText)
	var replayed LSN
	if err == nil {
		if !lsnText.Valid {
			err = errNotReplica
		} else {
			replayed, err = ParseLSN(lsnText.String)
		}
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if err != nil {
		rep.healthy = false
		rep.failures++
		backoff := min(r.cfg.ProbeInterval<<min(rep.failures, 16), r.cfg.MaxBackoff)
		rep.nextProbe = time.Now().Add(backoff)
		r.m.healthy.WithLabelValues(rep.Name).Set(0)
		return
	}
	rep.failures, rep.nextProbe = 0, time.Time{}
	rep.healthy = true
	rep.replayed = replayed
	// Lag in time: how long ago the primary wrote the oldest WAL the replica
	// has not replayed (so an idle primary means no lag, and a paused replay
	// shows a growing one). Lag in bytes: WAL written but not replayed.
	rep.lag = r.lagOf(replayed, time.Now())
	if havePrimary {
		rep.lagBytes = max(int64(primaryLSN)-int64(replayed), 0)
	}
	r.m.healthy.WithLabelValues(rep.Name).Set(1)
	r.m.lagSeconds.WithLabelValues(rep.Name).Set(rep.lag.Seconds())
	r.m.lagBytes.WithLabelValues(rep.Name).Set(float64(rep.lagBytes))
}

// ReplicaStatus is what the router last learned of a replica.
type ReplicaStatus struct {
	Name     string
	Healthy  bool
	Replayed LSN
	Lag      time.Duration
	LagBytes int64
}

// Status returns each replica's last probe.
func (r *Router) Status() []ReplicaStatus {
	out := make([]ReplicaStatus, len(r.replicas))
	for i, rep := range r.replicas {
		rep.mu.Lock()
		out[i] = ReplicaStatus{Name: rep.Name, Healthy: rep.healthy, Replayed: rep.replayed, Lag: rep.lag, LagBytes: rep.lagBytes}
		rep.mu.Unlock()
	}
	return out
}

// target names where db is: the primary or a replica.
func (r *Router) target(db *sql.DB) string {
	if db == r.primary {
		return string(ToPrimary)
	}
	return string(ToReplica)
}
