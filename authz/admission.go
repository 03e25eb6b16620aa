package authz

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nexus-authz/nexus/errs"
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
var ErrOverloaded = errs.Sentinel(errs.ResourceExhausted, "authorization engine overloaded")

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
	cfg AdmissionConfig

	mu      sync.Mutex
	running int
	// waiting are the calls queued for a slot, in order of arrival: [0]
	// those of requests that were admitted before, [1] new ones.
	waiting [2][]*admitWaiter
	queued  atomic.Int64 // calls in waiting (those that went away are not)

	shed prometheus.Counter
	wait prometheus.Histogram
}

// admitWaiter is a call queued for a slot. Under admission.mu: granted
// when a released slot passed to it, gone when it stopped waiting first.
type admitWaiter struct {
	ready         chan struct{}
	granted, gone bool
}

// Admission per request. A request that makes several engine calls (a
// listing's bulk checks, page after page) is lost if any of them is shed:
// the work of the others is wasted. So a call of a request that was
// admitted before goes ahead of the calls of new requests: under overload,
// requests under way finish, and new ones wait or are shed before they
// have cost anything. (On PostgreSQL, at 1,000 callers listing, the
// listings' later bulk checks were shed and pages/s fell from 36 to 10.)

type requestKey struct{}

// admittedRequest is one request's record with admission.
type admittedRequest struct{ admitted atomic.Bool }

// WithRequest marks ctx as one request's: the engine calls made with it
// (or a context derived from it) after the first one admitted go ahead of
// new requests' in admission's queue. The server calls it once per RPC.
func WithRequest(ctx context.Context) context.Context {
	if _, ok := ctx.Value(requestKey{}).(*admittedRequest); ok {
		return ctx
	}
	return context.WithValue(ctx, requestKey{}, &admittedRequest{})
}

func newAdmission(cfg AdmissionConfig, postgres bool, reg prometheus.Registerer) *admission {
	cfg = cfg.withDefaults(postgres)
	a := &admission{
		cfg: cfg,
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
			}, func() float64 { return float64(a.inFlight()) }),
		)
	}
	return a
}

// admit waits for a slot and returns its release, or ErrOverloaded.
func (a *admission) admit(ctx context.Context) (func(), error) {
	if a == nil || a.cfg.Disabled {
		return func() {}, nil
	}
	req, _ := ctx.Value(requestKey{}).(*admittedRequest)
	admitted := func() (func(), error) {
		if req != nil {
			req.admitted.Store(true)
		}
		return a.release, nil
	}
	a.mu.Lock()
	if a.running < a.cfg.MaxInFlight {
		a.running++
		a.mu.Unlock()
		return admitted()
	}
	if a.queued.Load() >= int64(a.cfg.MaxQueue) {
		a.mu.Unlock()
		a.shed.Inc()
		return nil, a.overloaded("the queue is full")
	}
	w := &admitWaiter{ready: make(chan struct{})}
	class := 1
	if req != nil && req.admitted.Load() {
		class = 0
	}
	a.waiting[class] = append(a.waiting[class], w)
	a.queued.Add(1)
	a.mu.Unlock()

	start := time.Now()
	t := time.NewTimer(a.cfg.MaxWait)
	defer t.Stop()
	select {
	case <-w.ready:
		a.wait.Observe(time.Since(start).Seconds())
		return admitted()
	case <-t.C:
		if !a.leave(w) {
			return admitted() // a slot came as the time ran out
		}
		a.shed.Inc()
		return nil, a.overloaded(fmt.Sprintf("no slot within %s", a.cfg.MaxWait))
	case <-ctx.Done():
		if !a.leave(w) {
			a.release()
		}
		return nil, ctx.Err()
	}
}

// leave takes w out of the queue, unless a slot was passed to it: then it
// reports false, and the slot is w's.
func (a *admission) leave(w *admitWaiter) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.granted {
		return false
	}
	w.gone = true
	a.queued.Add(-1)
	return true
}

// release passes the slot to the first waiting call, those of requests
// admitted before first, or frees it.
func (a *admission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.waiting {
		for len(a.waiting[c]) > 0 {
			w := a.waiting[c][0]
			a.waiting[c][0] = nil
			a.waiting[c] = a.waiting[c][1:]
			if w.gone {
				continue
			}
			w.granted = true
			a.queued.Add(-1)
			close(w.ready)
			return
		}
	}
	a.running--
}

func (a *admission) inFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running
}

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
	return AdmissionStats{InFlight: e.admission.inFlight(), Queued: int(e.admission.queued.Load())}
}
