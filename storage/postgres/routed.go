package postgres

import (
	"context"
	"database/sql"
	"sync"
)

// Routed is a database for the stores (storage.DB) that routes each query
// by its context through a Router:
//
//   - transactions (BeginTx) and ExecContext go to the primary;
//   - a query whose context was marked WithMinLSN goes to a replica that has
//     replayed that position and is within the lag bound, else the primary;
//   - every other query goes to the primary.
//
// Reads go to replicas only when asked: a context nobody marked (background
// work such as garbage collection or the search indexer, the reads a write
// does before its transaction) reads from the primary, where a stale read
// could lead to a wrong write. Within one marked context, the first replica
// chosen serves every later read (it only moves forward), so a request never
// sees one replica's newer rows and then another's older ones.
type Routed struct {
	r *Router
}

// NewRouted returns a database routing through r.
func NewRouted(r *Router) *Routed { return &Routed{r: r} }

// Router returns the router.
func (d *Routed) Router() *Router { return d.r }

type routeKey struct{}

// route is what a marked context carries.
type route struct {
	minLSN  LSN
	primary bool

	mu     sync.Mutex
	pinned *sql.DB
}

// WithMinLSN marks ctx as a read that may be served by a replica that has
// replayed lsn (0: any replica within the lag bound). A later mark replaces
// an earlier one.
func WithMinLSN(ctx context.Context, lsn LSN) context.Context {
	return context.WithValue(ctx, routeKey{}, &route{minLSN: lsn})
}

// WithPrimary marks ctx as reading from the primary only (fully consistent
// reads, and reads that decide a write).
func WithPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, routeKey{}, &route{primary: true})
}

// MinLSN returns the position ctx's reads must see, and whether ctx may
// read from a replica at all.
func MinLSN(ctx context.Context) (LSN, bool) {
	rt, ok := ctx.Value(routeKey{}).(*route)
	if !ok || rt.primary {
		return 0, false
	}
	return rt.minLSN, true
}

// reader picks the pool for a read under ctx.
func (d *Routed) reader(ctx context.Context) *sql.DB {
	rt, ok := ctx.Value(routeKey{}).(*route)
	if !ok || rt.primary {
		d.r.m.reads.WithLabelValues(string(ToPrimary)).Inc()
		return d.r.primary
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.pinned != nil {
		d.r.m.reads.WithLabelValues(d.r.target(rt.pinned)).Inc()
		return rt.pinned
	}
	db, _ := d.r.ReadContext(ctx, rt.minLSN)
	rt.pinned = db
	return db
}

// ExecContext runs on the primary.
func (d *Routed) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.r.primary.ExecContext(ctx, query, args...)
}

// QueryContext runs where ctx says.
func (d *Routed) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.reader(ctx).QueryContext(ctx, query, args...)
}

// QueryRowContext runs where ctx says.
func (d *Routed) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.reader(ctx).QueryRowContext(ctx, query, args...)
}

// BeginTx begins a transaction on the primary.
func (d *Routed) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	return d.r.primary.BeginTx(ctx, opts)
}
