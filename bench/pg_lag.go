package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/postgres"
)

// The production-mode benchmark's write load and replication lag sampler.

// pgWriter writes at a steady rate on the primary, beside the read phases:
// every tick one relationship write through an engine (a viewer grant or
// revoke on a random file for a user who asks no question, so the
// questions' answers never change, but the decision cache still evicts the
// file's decisions and SpiceDB's revisions move) and one update of a
// random file's row in our tables.
type pgWriter struct {
	e     *authz.Engine
	db    *sql.DB
	w     *world
	every time.Duration

	mu        sync.Mutex
	relLat    []time.Duration
	rowLat    []time.Duration
	errs      int
	firstErr  error
	startedAt time.Time
	stoppedAt time.Time
}

func (p *pgWriter) run(ctx context.Context) {
	rng := rand.New(rand.NewPCG(7, 11))
	t := time.NewTicker(p.every)
	defer t.Stop()
	p.mu.Lock()
	p.startedAt = time.Now()
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.stoppedAt = time.Now()
		p.mu.Unlock()
	}()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f := p.w.files[rng.IntN(len(p.w.files))]
		var err error
		t0 := time.Now()
		if i%2 == 0 {
			u := authz.Subject("user", fmt.Sprintf("writer%03d", rng.IntN(100)))
			up := authz.TouchRel(authz.Rel(f.obj, "viewer", u))
			if rng.IntN(2) == 0 {
				up = authz.DeleteRel(up.Rel)
			}
			_, err = p.e.Write(ctx, []authz.Update{up})
		} else {
			_, err = p.db.ExecContext(ctx, `UPDATE paths_entries SET modified_at = ?, version = version + 1 WHERE id = ?`,
				storage.FormatTime(time.Now()), f.obj.ID)
		}
		lat := time.Since(t0)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		switch {
		case err != nil:
			p.errs++
			if p.firstErr == nil {
				p.firstErr = err
			}
		case i%2 == 0:
			p.relLat = append(p.relLat, lat)
		default:
			p.rowLat = append(p.rowLat, lat)
		}
		p.mu.Unlock()
	}
}

// lagSampler samples the replica's lag every interval, two ways:
//
//   - replay_lag of pg_stat_replication on the primary: PostgreSQL's own
//     measure, the time from the primary flushing WAL to the standby
//     reporting it applied (NULL, skipped, once the standby has caught up
//     and the primary is idle);
//   - the router's (storage/postgres.Router): how long ago the
//     primary first reached a WAL position the replica has not replayed,
//     from the primary's pg_current_wal_lsn() sampled with timestamps and
//     the replica's pg_last_wal_replay_lsn(); its resolution is the probe
//     interval.
type lagSampler struct {
	primary, replica *sql.DB
	interval         time.Duration

	mu     sync.Mutex
	replay []time.Duration
	router []time.Duration
	bytes  []int64
	errs   int
}

func (s *lagSampler) run(ctx context.Context) {
	r := postgres.NewRouter(s.primary, []postgres.Replica{{Name: "replica", DB: s.replica}},
		postgres.RouterConfig{ProbeInterval: s.interval})
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.ProbeOnce(ctx)
		var lag sql.NullFloat64
		err := s.primary.QueryRowContext(ctx, `SELECT EXTRACT(epoch FROM max(replay_lag))::float8 FROM pg_stat_replication`).Scan(&lag)
		if ctx.Err() != nil {
			return
		}
		st := r.Status()
		s.mu.Lock()
		if err != nil {
			s.errs++
		} else if lag.Valid {
			s.replay = append(s.replay, time.Duration(lag.Float64*float64(time.Second)))
		}
		if len(st) == 1 && st[0].Healthy {
			s.router = append(s.router, st[0].Lag)
			s.bytes = append(s.bytes, st[0].LagBytes)
		} else {
			s.errs++
		}
		s.mu.Unlock()
	}
}

// lagMetrics summarizes samples: p50, p99 and max in ms, and the count.
func lagMetrics(xs []time.Duration) []Metric {
	if len(xs) == 0 {
		return []Metric{{Name: "samples", Unit: "count", Value: 0}}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return []Metric{
		{Name: "p50", Unit: "ms", Value: round(ms(percentile(s, 0.5)), 3)},
		{Name: "p99", Unit: "ms", Value: round(ms(percentile(s, 0.99)), 3)},
		{Name: "max", Unit: "ms", Value: round(ms(s[len(s)-1]), 3)},
		{Name: "samples", Unit: "count", Value: float64(len(s))},
	}
}
