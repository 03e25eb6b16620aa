package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"

	nexus "github.com/nexus-authz/nexus"
)

var watchLag = Scenario{
	Name: "watch_lag",
	Description: "WatchService.Watch over the SpiceDB API: the time from a WriteRelationships call's start to its " +
		"update arriving on a watch of the document type, for a write every 10 ms while 64 callers check " +
		"(api_check_vs_spicedb_server's questions); Nexus vs a standalone SpiceDB server side by side",
	Run: runWatchLag,
}

const (
	watchLagCallers = 64
	watchLagEvery   = 10 * time.Millisecond
	watchLagGrace   = 5 * time.Second // an update later than this after the phase is lost
)

func runWatchLag(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("watch_lag: "+format, args...) }
	rels, qs := apiWorld()
	schema := nexus.Schema + apiSchema
	progress("starting Nexus")
	nexusAddr, nexusKey, nexusWriteKey, stopNexus, err := startNexusForBench(ctx, schema, rels)
	if err != nil {
		return nil, err
	}
	defer stopNexus()
	bin := spiceDBBinary()
	if bin == "" {
		return nil, errors.New("watch_lag needs a standalone SpiceDB server: build bin/spicedb (make bin/spicedb) or set SPICEDB_BIN")
	}
	progress("starting a standalone SpiceDB server: %s", bin)
	spiceAddr, stopSpice, err := startSpiceDBBinary(ctx, bin, schema, rels)
	if err != nil {
		return nil, err
	}
	defer stopSpice()

	o := &Outcome{Params: map[string]any{
		"callers": watchLagCallers, "write_every": watchLagEvery.String(), "lost_after": watchLagGrace.String(),
		"watch": "optional_object_types [document], from the head", "transport": "loopback TCP, h2c, authzed-go client",
		"peer": "standalone SpiceDB server " + bin + " (spicedb serve, memory datastore)",
	}}
	p99 := map[string]float64{}
	for _, side := range []struct{ name, addr, key, writeKey string }{
		{"nexus", nexusAddr, nexusKey, nexusWriteKey}, {"spicedb", spiceAddr, apiSecret, apiSecret},
	} {
		clients, writer, closeAll, err := dialSide(side.addr, side.key, side.writeKey)
		if err != nil {
			return nil, err
		}
		progress("%s: a write every %s beside %d callers for %s", side.name, watchLagEvery, watchLagCallers, cfg.Duration)
		lags, lost, checks, err := watchLagPhase(ctx, cfg.Duration, clients, writer, qs)
		closeAll()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", side.name, err)
		}
		slices.Sort(lags)
		p99[side.name] = ms(percentile(lags, 0.99))
		o.Results = append(o.Results, Result{
			Name:   side.name,
			Params: map[string]any{"server": side.name},
			Metrics: []Metric{
				{Name: "watch_lag_p50_ms", Unit: "ms", Value: round(ms(percentile(lags, 0.5)), 2)},
				{Name: "watch_lag_p99_ms", Unit: "ms", Value: round(p99[side.name], 2)},
				{Name: "updates", Unit: "count", Value: float64(len(lags))},
				{Name: "lost", Unit: "count", Value: float64(lost)},
				{Name: "checks_per_s", Unit: "checks/s", Value: round(checks.PerSecond(), 1)},
				{Name: "check_p99", Unit: "us", Value: round(micros(checks.P99), 1)},
				{Name: "check_errors", Unit: "count", Value: float64(checks.Errors)},
			},
		})
	}
	o.Results = append(o.Results, Result{
		Name:    "nexus/spicedb",
		Metrics: []Metric{{Name: "watch_lag_p99_ratio", Unit: "x", Value: round(p99["nexus"]/p99["spicedb"], 2)}},
	})
	return o, nil
}

// watchLagPhase watches the document type, writes a new viewer every
// watchLagEvery while callers check, and returns each write's lag (from
// the call's start to its update's arrival), the writes whose update never
// came, and the checks' figures.
func watchLagPhase(ctx context.Context, d time.Duration, clients []*authzed.Client, writer *authzed.Client, qs []apiQuestion) ([]time.Duration, int, loadStats, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := writer.Watch(wctx, &v1.WatchRequest{OptionalObjectTypes: []string{"document"}})
	if err != nil {
		return nil, 0, loadStats{}, err
	}
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lags []time.Duration
	received := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				received <- err
				return
			}
			at := time.Now()
			mu.Lock()
			for _, u := range resp.GetUpdates() {
				id := u.GetRelationship().GetResource().GetObjectId()
				if t0, ok := sent[id]; ok {
					lags = append(lags, at.Sub(t0))
					delete(sent, id)
				}
			}
			mu.Unlock()
		}
	}()
	// The watch is open once the server has it; a first write tells.
	time.Sleep(200 * time.Millisecond)

	writes := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(watchLagEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				writes <- nil
				return
			case <-tick.C:
			}
			id := fmt.Sprintf("watched%d", i)
			mu.Lock()
			sent[id] = time.Now()
			mu.Unlock()
			_, err := writer.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{
				Operation: v1.RelationshipUpdate_OPERATION_TOUCH,
				Relationship: &v1.Relationship{
					Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: id}, Relation: "viewer",
					Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "u1"}},
				},
			}}})
			if err != nil {
				writes <- err
				return
			}
		}
	}()
	zipfs := make([]*rand.Zipf, watchLagCallers)
	for i := range zipfs {
		zipfs[i] = rand.NewZipf(rand.New(rand.NewPCG(uint64(i), 7)), apiZipfS, 1, uint64(len(qs)-1))
	}
	checks, err := runClosedLoop(ctx, watchLagCallers, 0, d, func(ctx context.Context, caller, _ int) (tally, error) {
		q := qs[zipfs[caller].Uint64()]
		_, err := clients[caller%apiConns].CheckPermission(ctx, &v1.CheckPermissionRequest{
			Resource:   &v1.ObjectReference{ObjectType: "document", ObjectId: q.doc},
			Permission: "view",
			Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: q.user}},
		})
		return tally{Decisions: 1}, err
	})
	close(stop)
	if werr := <-writes; werr != nil {
		return nil, 0, loadStats{}, fmt.Errorf("write: %w", werr)
	}
	if err != nil {
		return nil, 0, loadStats{}, err
	}
	deadline := time.Now().Add(watchLagGrace)
	for {
		mu.Lock()
		left := len(sent)
		mu.Unlock()
		if left == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-received:
			if !errors.Is(err, io.EOF) {
				return nil, 0, loadStats{}, fmt.Errorf("watch: %w", err)
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(lags), len(sent), checks, nil
}
