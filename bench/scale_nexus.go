package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	nexus "github.com/nexus-authz/nexus"
	nexusserver "github.com/nexus-authz/nexus/server"
)

// The Nexus side of embedded_scale: a server in this process on a data dir
// that outlives it, its run at one size, and its restarts.

// scaleNexus is a Nexus server in this process on a data dir that
// outlives it, so it can be restarted.
type scaleNexus struct {
	srv    *nexusserver.Server
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func openScaleNexus(ctx context.Context, dir string) (*scaleNexus, error) {
	srv, err := nexusserver.Open(ctx, nexusserver.Config{DataDir: dir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, err
	}
	ln, err := nexusserver.Listen("127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n := &scaleNexus{srv: srv, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- srv.Serve(runCtx, ln) }()
	return n, nil
}

func (n *scaleNexus) close() { n.cancel(); <-n.done; n.srv.Close() }

// settle collects garbage and returns the heap to the OS, as a reading of
// resident memory after a GC asks.
func settle() { runtime.GC(); debug.FreeOSMemory() }

func scaleNexusRun(ctx context.Context, cfg RunConfig, w scaleWorld, progress func(string, ...any)) (Result, error) {
	dir, err := os.MkdirTemp("", "nexus-bench-scale-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	nx, err := openScaleNexus(ctx, dir)
	if err != nil {
		return Result{}, err
	}
	checkKey, writeKey, err := benchKeys(ctx, nx.srv, dir)
	if err == nil {
		_, err = nx.srv.Engine().WriteSchema(ctx, nexus.Schema+scaleSchema)
	}
	if err != nil {
		nx.close()
		return Result{}, err
	}
	clients, writer, closeAll, err := dialSide(nx.addr, checkKey, writeKey)
	if err != nil {
		nx.close()
		return Result{}, err
	}
	progress("nexus: importing %d relationships", w.n)
	imported := w.n * 9 / 10
	stopProfile := profilePhase(fmt.Sprintf("import-%d", w.n))
	rate, err := importScale(ctx, writer, w, imported)
	stopProfile()
	var writeRate float64
	if err == nil {
		writeRate, err = writeScale(ctx, writer, w, imported, w.n)
	}
	progress("nexus: imported %.0f relationships/s, wrote %.0f/s", rate, writeRate)
	var entryRate float64
	if err == nil {
		progress("nexus: creating %d folders", w.entries())
		entryRate, err = makeEntries(ctx, nx.srv, dir, w.entries())
		progress("nexus: %.0f folders/s", entryRate)
	}
	if err != nil {
		closeAll()
		nx.close()
		return Result{}, err
	}
	// Right after the writes, and once idle past the longest deadline of
	// their calls: each in-process call's state on the server side of the
	// connection outlives the call until its deadline's timer fires (up to
	// groupTimeout, 30 s, for a group commit), and at 655 folders a second
	// that held ~11 KB a folder.
	busy, err := readMemory(fmt.Sprintf("busy-%d", w.n))
	var idle memReading
	if err == nil {
		progress("nexus: %.0f MiB resident after the writes; idle for %s", busy.rssMiB, scaleIdle)
		time.Sleep(scaleIdle)
		idle, err = readMemory(fmt.Sprintf("idle-%d", w.n))
		writeHeapProfile(fmt.Sprintf("heap-%d", w.n))
	}
	if err != nil {
		closeAll()
		nx.close()
		return Result{}, err
	}
	closeAll()
	nx.close()
	nx = nil

	// Restarts beside a burner taking one core (a restart on a busy
	// machine) and on a quiet one; after a clean close (the datastore's
	// snapshot loaded) and as after a crash (the snapshot removed: the
	// relationship log read). The last one's server is measured on.
	var ready time.Duration
	starts := map[string]float64{}
	for _, r := range []struct {
		name           string
		burn, snapshot bool
	}{
		{"start_ready_s_cpu_burner", true, true},
		{"start_ready_s_no_snapshot_cpu_burner", true, false},
		{"start_ready_s_no_snapshot", false, false},
		{"start_ready_s", false, true},
	} {
		if nx != nil {
			// A closed server's datastore stays reachable until the
			// timers of its calls' deadlines fire (up to groupTimeout,
			// 30 s): wait them out, so no restart and no reading of
			// memory meets the one before's.
			nx.close()
			time.Sleep(restartGap)
		}
		progress("nexus: restarting on %d relationships (%s)", w.n, r.name)
		if nx, ready, err = restartScale(ctx, dir, w, checkKey, writeKey, r.burn, r.snapshot); err != nil {
			return Result{}, err
		}
		starts[r.name] = round(ready.Seconds(), 2)
		progress("nexus: ready after %.1f s", ready.Seconds())
	}
	defer nx.close()
	clients, writer, closeAll, err = dialSide(nx.addr, checkKey, writeKey)
	if err != nil {
		return Result{}, err
	}
	defer closeAll()
	restarted, err := readMemory(fmt.Sprintf("restarted-%d", w.n))
	if err != nil {
		return Result{}, err
	}

	progress("nexus: checks at %d relationships", w.n)
	cold, cached, err := checkScale(ctx, clients, writer, w, cfg.Duration, uint64(w.n))
	if err != nil {
		return Result{}, err
	}
	return scaleResult("nexus", w, rate, idle.rssMiB, cold, cached,
		Metric{Name: "rss_mib_after_writes", Unit: "MiB", Value: round(busy.rssMiB, 1)},
		Metric{Name: "heap_mib_after_writes", Unit: "MiB", Value: round(busy.heapBytes/(1<<20), 1)},
		Metric{Name: "heap_mib", Unit: "MiB", Value: round(idle.heapBytes/(1<<20), 1)},
		Metric{Name: "heap_bytes_per_relationship", Unit: "B", Value: round(idle.heapBytes/float64(w.n), 0)},
		Metric{Name: "rss_mib_restarted", Unit: "MiB", Value: round(restarted.rssMiB, 1)},
		Metric{Name: "heap_mib_restarted", Unit: "MiB", Value: round(restarted.heapBytes/(1<<20), 1)},
		Metric{Name: "start_ready_s", Unit: "s", Value: starts["start_ready_s"]},
		Metric{Name: "start_ready_s_cpu_burner", Unit: "s", Value: starts["start_ready_s_cpu_burner"]},
		Metric{Name: "start_ready_s_no_snapshot", Unit: "s", Value: starts["start_ready_s_no_snapshot"]},
		Metric{Name: "start_ready_s_no_snapshot_cpu_burner", Unit: "s", Value: starts["start_ready_s_no_snapshot_cpu_burner"]},
		Metric{Name: "write_rels_per_s", Unit: "rels/s", Value: round(writeRate, 0)},
		Metric{Name: "entries", Unit: "count", Value: float64(w.entries())},
		Metric{Name: "mkdir_per_s", Unit: "entries/s", Value: round(entryRate, 0)},
	), nil
}

// restartGap is the wait between a close and the next restart.
const restartGap = 45 * time.Second

// restartScale opens Nexus on dir, the garbage of what ran before
// collected first, and reports how long until its first check answers;
// burn runs a burner on one core meanwhile; without snapshot, the
// datastore's snapshot the last close wrote is removed first, as a crash
// would have left it stale.
func restartScale(ctx context.Context, dir string, w scaleWorld, checkKey, writeKey string, burn, snapshot bool) (*scaleNexus, time.Duration, error) {
	settle()
	name := fmt.Sprintf("restart-%d", w.n)
	if !snapshot {
		if err := os.Remove(filepath.Join(dir, nexusserver.SnapshotFile)); err != nil {
			return nil, 0, fmt.Errorf("no snapshot to remove: %w", err)
		}
		name += "-log"
	}
	if burn {
		b, err := startBurner(time.Minute)
		if err != nil {
			return nil, 0, err
		}
		defer b.stop()
		name += "-burner"
	}
	stopProfile := profilePhase(name)
	start := time.Now()
	nx, err := openScaleNexus(ctx, dir)
	stopProfile()
	if err != nil {
		return nil, 0, err
	}
	clients, _, closeAll, err := dialSide(nx.addr, checkKey, writeKey)
	if err == nil {
		_, err = clients[0].CheckPermission(ctx, w.question(0, 0))
		closeAll()
	}
	if err != nil {
		nx.close()
		return nil, 0, fmt.Errorf("first check after the restart: %w", err)
	}
	return nx, time.Since(start), nil
}
