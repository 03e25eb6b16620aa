package authz

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Admission control. Engine work (a cache miss, a bulk check, a lookup)
// runs with bounded concurrency; a call that finds every slot taken waits
// in a bounded queue for at most MaxWait, and is shed beyond either bound
// with ErrOverloaded, which the API answers as ResourceExhausted with a
// retry hint. Under overload the engine keeps working at the concurrency
// it does best at, admitted calls keep a short latency, and the rest learn
// at once that they should come back, instead of all of them waiting
// seconds. Cache hits never come here.

// ErrOverloaded is engine work shed by admission control: retry after
// RetryAfter.
var ErrOverloaded = errors.New("authorization engine overloaded")

// AdmissionConfig bounds the engine work in flight.
type AdmissionConfig struct {
	// MaxInFlight is how many engine calls run at once. Zero means
	// DefaultMaxInFlightPerCPU times GOMAXPROCS on the embedded default,
	// DefaultMaxInFlightPerCPUPostgres times it on PostgreSQL.
	MaxInFlight int
	// MaxQueue is how many calls may wait for a slot. Zero means
	// DefaultMaxQueuePerCPU times GOMAXPROCS.
	MaxQueue int
	// MaxWait is how long a call waits for a slot before it is shed. Zero
	// means DefaultMaxWait.
	MaxWait time.Duration
	// Disabled admits everything at once (for measuring without it).
	Disabled bool
}

// Defaults for AdmissionConfig. The engine is CPU-bound on the embedded
// default: SpiceDB fans one check out over goroutines of its own, so two
// checks per core keep the cores busy, and more only make every goroutine
// of the node (the relationship writes among them) wait longer for a core
// (measured with the decision_cache benchmark on 2 cores: at 8 per CPU,
// fewer checks per second and writes 3-5x slower than at 2). On PostgreSQL
// a check mostly waits on the pool's connections, so more run at once.
const (
	DefaultMaxInFlightPerCPU         = 2
	DefaultMaxInFlightPerCPUPostgres = 8
	DefaultMaxQueuePerCPU            = 256
	DefaultMaxWait                   = 100 * time.Millisecond
)

// RetryAfter is the hint given with ErrOverloaded.
const RetryAfter = 100 * time.Millisecond

func (c AdmissionConfig) withDefaults(postgres bool) AdmissionConfig {
	cpus := runtime.GOMAXPROCS(0)
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlightPerCPU * cpus
		if postgres {
			c.MaxInFlight = DefaultMaxInFlightPerCPUPostgres * cpus
		}
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = DefaultMaxQueuePerCPU * cpus
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	return c
}

type admission struct {
	cfg    AdmissionConfig
	slots  chan struct{}
	queued atomic.Int64

	shed prometheus.Counter
	wait prometheus.Histogram
}

func newAdmission(cfg AdmissionConfig, postgres bool, reg prometheus.Registerer) *admission {
	cfg = cfg.withDefaults(postgres)
	a := &admission{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.MaxInFlight),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nexus_authz_admission_shed_total",
			Help: "Engine calls refused with ResourceExhausted: the queue was full or the wait too long.",
		}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nexus_authz_admission_wait_seconds",
			Help:    "How long admitted engine calls waited for a slot.",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
	}
	if reg != nil {
		reg.MustRegister(a.shed, a.wait,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "nexus_authz_admission_queue_depth",
				Help: "Engine calls waiting for a slot.",
			}, func() float64 { return float64(a.queued.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "nexus_authz_admission_in_flight",
				Help: "Engine calls running.",
			}, func() float64 { return float64(len(a.slots)) }),
		)
	}
	return a
}

// admit waits for a slot and returns its release, or ErrOverloaded.
func (a *admission) admit(ctx context.Context) (func(), error) {
	if a == nil || a.cfg.Disabled {
		return func() {}, nil
	}
	select {
	case a.slots <- struct{}{}:
		return a.release, nil
	default:
	}
	if a.queued.Add(1) > int64(a.cfg.MaxQueue) {
		a.queued.Add(-1)
		a.shed.Inc()
		return nil, a.overloaded("the queue is full")
	}
	defer a.queued.Add(-1)
	start := time.Now()
	t := time.NewTimer(a.cfg.MaxWait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		a.wait.Observe(time.Since(start).Seconds())
		return a.release, nil
	case <-t.C:
		a.shed.Inc()
		return nil, a.overloaded(fmt.Sprintf("no slot within %s", a.cfg.MaxWait))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *admission) release() { <-a.slots }

func (a *admission) overloaded(why string) error {
	return fmt.Errorf("authz: %w (%s, %d calls running); retry in %s", ErrOverloaded, why, a.cfg.MaxInFlight, RetryAfter)
}

// Stats is a snapshot of the admission counters, for tests and benchmarks.
type AdmissionStats struct {
	InFlight, Queued int
}

// AdmissionStats returns how many engine calls run and wait now.
func (e *Engine) AdmissionStats() AdmissionStats {
	if e.admission == nil {
		return AdmissionStats{}
	}
	return AdmissionStats{InFlight: len(e.admission.slots), Queued: int(e.admission.queued.Load())}
}
