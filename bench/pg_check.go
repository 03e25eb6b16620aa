package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/internal/server"
	"github.com/nexus-authz/nexus/internal/storage/postgres"
)

var pgCheck = Scenario{
	Name: "pg_check",
	Description: "production mode: authz.Engine.Check on SpiceDB's postgres datastore (primary only, direct), " +
		"minimize_latency, with and without Nexus's decision cache; needs NEXUS_BENCH_POSTGRES " +
		"(a server URL with track_commit_timestamp on; a throwaway database is created on it)",
	Run:       runPgCheck,
	OnlyNamed: true,
}

// pgCheckCallers are the concurrency levels measured.
var pgCheckCallers = []int{1, 64}

// pgCheckQuestions is how many distinct questions are asked, over and over:
// few enough that the cache warms within the warm-up even when uncached
// checks are slow (a few hundred per second on a loaded 2-core machine).
const pgCheckQuestions = 200

func runPgCheck(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	serverURL := os.Getenv("NEXUS_BENCH_POSTGRES")
	if serverURL == "" {
		return nil, fmt.Errorf("pg_check needs NEXUS_BENCH_POSTGRES, e.g. from deploy/local-pg.sh: NEXUS_BENCH_POSTGRES=postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable")
	}
	dbURL, drop, err := benchDatabase(ctx, serverURL)
	if err != nil {
		return nil, err
	}
	defer drop()
	if err := server.MigratePostgres(ctx, dbURL); err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, dbURL, postgres.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()

	spec := defaultWorldSpec()
	w := buildWorld(spec)
	questions, err := w.questions(pgCheckQuestions, spec.Seed+1)
	if err != nil {
		return nil, err
	}
	o := &Outcome{Params: map[string]any{
		"users": len(w.users), "files": len(w.files), "relationships": len(w.updates),
		"consistency": "minimize_latency", "distinct_questions": pgCheckQuestions, "seed": spec.Seed,
		"topology": "one PostgreSQL primary on the same machine, no replica, no PgBouncer",
	}}
	loaded := false
	for _, cached := range []bool{false, true} {
		e, err := newPgEngine(ctx, dbURL, db, !cached)
		if err != nil {
			return nil, err
		}
		if !loaded {
			cfg.Progress("pg_check: writing %d relationships to PostgreSQL", len(w.updates))
			if _, err := w.load(ctx, e); err != nil {
				e.Close()
				return nil, err
			}
			loaded = true
		}
		for _, callers := range pgCheckCallers {
			warm := max(cfg.Duration/2, 2e9)
			cfg.Progress("pg_check: cache=%v, %d callers for %s", cached, callers, cfg.Duration)
			st, err := runClosedLoop(ctx, callers, warm, cfg.Duration, func(ctx context.Context, caller, iter int) (tally, error) {
				q := questions[(caller*len(questions)/callers+iter)%len(questions)]
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
				e.Close()
				return nil, err
			}
			name := "primary_only"
			if cached {
				name = "cached"
			}
			metrics := checkMetrics(st)
			if cached {
				// Over the warm-up and the run: whether the cache answered.
				cs := e.CacheStats()
				ratio := 0.0
				if total := cs.Hits + cs.SetAnswers + cs.Misses; total > 0 {
					ratio = float64(cs.Hits+cs.SetAnswers) / float64(total)
				}
				serving := 0.0
				if cs.Serving {
					serving = 1
				}
				metrics = append(metrics,
					Metric{Name: "cache_hit_ratio", Unit: "ratio", Value: round(ratio, 4)},
					Metric{Name: "cache_serving", Unit: "bool", Value: serving})
			}
			o.Results = append(o.Results, Result{
				Name:    fmt.Sprintf("%s callers=%d", name, callers),
				Params:  map[string]any{"callers": callers, "cache": cached, "duration_s": cfg.Duration.Seconds()},
				Metrics: metrics,
			})
		}
		e.Close()
	}
	if n := len(pgCheckCallers); len(o.Results) == 2*n {
		// At the highest concurrency: uncached is result n-1, cached 2n-1.
		base, c := o.Results[n-1].Metrics[0].Value, o.Results[2*n-1].Metrics[0].Value
		if base > 0 {
			o.Results = append(o.Results, Result{Name: "ratio", Metrics: []Metric{
				{Name: "pg_check_cached_vs_primary_only", Unit: "x", Value: round(c/base, 2)},
			}})
		}
	}
	return o, nil
}

func newPgEngine(ctx context.Context, dbURL string, db *sql.DB, noCache bool) (*authz.Engine, error) {
	return authz.New(ctx, authz.Config{
		Schema: nexus.Schema,
		Cache:  authz.CacheConfig{Disabled: noCache},
		Postgres: &authz.PostgresConfig{
			URL: postgres.WithSearchPath(dbURL, postgres.SpiceDBSchema), DB: db,
		},
	})
}

// benchDatabase creates a database on the server at serverURL and returns
// its URL and a function that drops it.
func benchDatabase(ctx context.Context, serverURL string) (string, func(), error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "nexus_bench_" + hex.EncodeToString(b)
	exec := func(stmt string) error {
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			return fmt.Errorf("NEXUS_BENCH_POSTGRES: %w", err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, stmt)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() { _ = exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") }, nil
}
