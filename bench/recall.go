package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/storage"
	"github.com/nexus-authz/nexus/storage/sqlite"
)

var recallMemories = Scenario{
	Name: "recall",
	Description: "memory.Service.Recall (limit 10, minimize_latency) over 100,000 memories (12 words each) of which the caller " +
		"owns half; rows inserted through memory.SQLStore in one transaction per 5,000 and relationships through " +
		"Engine.Write in batches of 1,000 (not 100,000 Remember calls, each an engine write and a commit)",
	Run: runRecall,
}

const (
	recallN         = 100_000
	recallWords     = 12
	recallQueries   = 200
	recallTargetP99 = 20.0 // ms, from the issue
)

func runRecall(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("recall: "+format, args...) }
	dir, dirFS, err := tmpDir("nexus-bench-recall-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "nexus.db"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := sqlite.MigrateAll(ctx, db,
		sqlite.Domain{Name: "authz", Migrations: authz.SQLiteMigrations()},
		sqlite.Domain{Name: "memory", Migrations: memory.SQLiteMigrations()}); err != nil {
		return nil, err
	}
	eng, err := authz.New(ctx, authz.Config{Schema: nexus.Schema, Log: &authz.SQLLog{DB: db},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	zone := "zbench"
	if _, err := eng.Write(ctx, []authz.Update{
		authz.TouchRel(authz.Rel(authz.Obj("zone", zone), "member", authz.Subject("user", "caller"))),
		authz.TouchRel(authz.Rel(authz.Obj("zone", zone), "member", authz.Subject("user", "other"))),
	}); err != nil {
		return nil, err
	}

	progress("inserting %d memories (%s)", recallN, dirFS)
	start := time.Now()
	vocab := newVocabulary(searchVocab, searchSeed)
	rng := rand.New(rand.NewPCG(searchSeed, 3))
	now := time.Now()
	var updates []authz.Update
	store := memory.SQLStore{}
	for off := 0; off < recallN; off += 5000 {
		err := storage.InTx(ctx, db, func(tx *sql.Tx) error {
			for i := off; i < off+5000; i++ {
				owner := []string{"caller", "other"}[i%2]
				m := memory.Memory{ID: memory.ID(fmt.Sprintf("mem_bench%06d", i)), Zone: zone, Owner: owner, Author: owner,
					Scope: memory.ScopeUser, Text: vocab.text(rng, recallWords), Tags: []string{fmt.Sprintf("t%d", i%10)},
					Importance: rng.Float64(), CreatedAt: now.Add(-time.Duration(rng.IntN(365*24)) * time.Hour)}
				if err := store.Insert(ctx, tx, m); err != nil {
					return err
				}
				obj := authz.Obj("memory", string(m.ID))
				updates = append(updates,
					authz.TouchRel(authz.Rel(obj, "zone", authz.Subject("zone", zone))),
					authz.TouchRel(authz.Rel(obj, "owner", authz.Subject("user", owner))))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var last authz.Token
	for off := 0; off < len(updates); off += 1000 {
		if last, err = eng.Write(ctx, updates[off:min(off+1000, len(updates))]); err != nil {
			return nil, err
		}
	}
	setup := time.Since(start)
	progress("inserted in %s; measuring", setup.Round(time.Millisecond))

	svc := memory.NewService(db, store, eng, nil)
	caller := access.Caller{User: "caller", Zone: zone}
	queries := vocab.queries(rng, recallQueries)
	// Warm up once at the last write's revision, so every later
	// minimize_latency read sees all relationships.
	if _, err := svc.Recall(ctx, caller, queries[0], nil, 10, authz.AtLeastAsFresh(last)); err != nil {
		return nil, err
	}
	var lat []time.Duration
	got, foreign := 0, 0
	phase := time.Now()
	for i := 0; ; i++ {
		if i >= recallQueries && time.Since(phase) >= cfg.Duration {
			break
		}
		q := queries[i%len(queries)]
		t0 := time.Now()
		rs, err := svc.Recall(ctx, caller, q, nil, 10, authz.MinimizeLatency())
		if err != nil {
			return nil, fmt.Errorf("recall %q: %w", q, err)
		}
		lat = append(lat, time.Since(t0))
		got += len(rs)
		for _, r := range rs {
			if r.Memory.Owner != "caller" {
				foreign++
			}
		}
	}
	if foreign > 0 {
		return nil, fmt.Errorf("recall returned %d memories of another user", foreign)
	}
	metrics := latencyMetrics("recall_", lat)
	metrics = append(metrics,
		Metric{Name: "recall_results_per_query", Unit: "count", Value: float64(got) / float64(len(lat))},
		Metric{Name: "recall_target_p99_ms", Unit: "ms", Value: recallTargetP99},
		Metric{Name: "setup_s", Unit: "s", Value: setup.Seconds()},
	)
	return &Outcome{
		Params: map[string]any{"memories": recallN, "readable": recallN / 2, "words": recallWords, "vocabulary": searchVocab,
			"queries": recallQueries, "limit": 10, "data_dir_fs": dirFS},
		Results: []Result{{Name: "caller owns half", Metrics: metrics}},
	}, nil
}
