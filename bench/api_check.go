package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"github.com/authzed/spicedb/pkg/cmd/server"
	"github.com/authzed/spicedb/pkg/cmd/util"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	nexus "github.com/nexus-authz/nexus"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/authz/memdb"
	"github.com/nexus-authz/nexus/identity"
	nexusserver "github.com/nexus-authz/nexus/server"
)

var apiCheckVsSpiceDB = Scenario{
	Name: "api_check_vs_spicedb_server",
	Description: "CheckPermission over loopback TCP through the authzed-go client, Zipfian document#view@user questions, " +
		"minimize_latency, and a nested-groups workload with 1% membership writes: Nexus (its SpiceDB API, through the " +
		"decision cache) vs a standalone SpiceDB server (bin/spicedb or SPICEDB_BIN, memory datastore) or, without one, " +
		"a plain SpiceDB gRPC server in the same process over Nexus's memdb, with the same schema and relationships",
	Run: runAPICheck,
}

var apiCallers = []int{64, 1000}

const (
	apiDocs      = 5000
	apiUsers     = 1000
	apiViewers   = 3 // viewers per document
	apiQuestions = 20_000
	apiZipfS     = 1.1
	apiConns     = 8 // gRPC connections per side; callers share them round-robin
	apiRounds    = 3 // each figure is the median of this many phases
	apiSecret    = "bench-preshared-key"
)

const apiSchema = `
definition document {
    relation viewer: user
    relation editor: user
    permission view = viewer + editor
}
`

type apiQuestion struct {
	doc, user string
	allowed   bool
}

func runAPICheck(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("api_check_vs_spicedb_server: "+format, args...) }
	rels, qs := apiWorld()

	nested := buildNestedWorld()
	allRels := append(slices.Clip(rels), nested.rels...)
	schema := nexus.Schema + apiSchema + apiNestedSchema

	progress("starting Nexus")
	nexusAddr, nexusKey, nexusWriteKey, stopNexus, err := startNexusForBench(ctx, schema, allRels)
	if err != nil {
		return nil, err
	}
	defer stopNexus()
	peer := "in-process SpiceDB gRPC server over Nexus's memdb (no standalone binary: set SPICEDB_BIN or build bin/spicedb)"
	var spiceAddr string
	var stopSpice func()
	if bin := spiceDBBinary(); bin != "" {
		progress("starting a standalone SpiceDB server: %s", bin)
		spiceAddr, stopSpice, err = startSpiceDBBinary(ctx, bin, schema, allRels)
		if err != nil {
			progress("the standalone SpiceDB server failed (%v): using the in-process one", err)
		} else {
			peer = "standalone SpiceDB server binary " + bin + " (spicedb serve, memory datastore, its defaults otherwise)"
		}
	}
	if stopSpice == nil {
		progress("starting a plain SpiceDB gRPC server in this process")
		spiceAddr, stopSpice, err = startSpiceDBForBench(ctx, schema, allRels)
		if err != nil {
			return nil, err
		}
	}
	defer stopSpice()

	warm := min(max(cfg.Duration/10, 200*time.Millisecond), time.Second)
	o := &Outcome{Params: map[string]any{
		"documents": apiDocs, "users": apiUsers, "relationships": len(rels), "distinct_questions": len(qs),
		"zipf_s": apiZipfS, "connections_per_side": apiConns, "rounds": apiRounds, "consistency": "minimize_latency",
		"transport": "loopback TCP, h2c, authzed-go client", "peer": peer,
		"nested_users": nestedUsers, "nested_teams": nestedTeams, "nested_parent_teams": nestedParents,
		"nested_documents": nestedDocs, "nested_relationships": len(nested.rels), "nested_distinct_questions": len(nested.qs),
		"nested_write_fraction": 1.0 / nestedWriteEvery, "nested_callers": nestedCallers,
		"nested_warm_up": "every nested question asked once on each side before the rounds (CheckBulkPermissions)",
	}}
	tput := map[string]map[int]float64{"nexus": {}, "spicedb": {}}
	p99 := map[string]map[int]float64{"nexus": {}, "spicedb": {}}
	sides := []struct {
		name, addr, key, writeKey string
		clients                   []*authzed.Client
		writer                    *authzed.Client
	}{{name: "nexus", addr: nexusAddr, key: nexusKey, writeKey: nexusWriteKey}, {name: "spicedb", addr: spiceAddr, key: apiSecret, writeKey: apiSecret}}
	for i := range sides {
		var err error
		var closeAll func()
		if sides[i].clients, sides[i].writer, closeAll, err = dialSide(sides[i].addr, sides[i].key, sides[i].writeKey); err != nil {
			return nil, err
		}
		defer closeAll()
	}
	// The two servers take turns, phase by phase, for apiRounds rounds, and
	// each figure is the median over the rounds: on a shared machine the
	// load changes from one phase to the next, and this spreads it over both.
	type key struct {
		side    string
		callers int
	}
	runs := map[key][]loadStats{}
	nestedWrites := map[string][]time.Duration{}
	nestedWriteErrs := map[string]int{}
	for _, side := range sides {
		progress("%s: asking the %d nested questions once (warm-up)", side.name, len(nested.qs))
		if err := warmNested(ctx, side.clients[0], nested.qs); err != nil {
			return nil, fmt.Errorf("%s: %w", side.name, err)
		}
	}
	for round := range apiRounds {
		for _, callers := range apiCallers {
			for _, side := range sides {
				progress("round %d/%d: %s: %d callers for %s", round+1, apiRounds, side.name, callers, cfg.Duration)
				zipfs := make([]*rand.Zipf, callers)
				for i := range zipfs {
					zipfs[i] = rand.NewZipf(rand.New(rand.NewPCG(uint64(i), uint64(round))), apiZipfS, 1, uint64(len(qs)-1))
				}
				clients := side.clients
				st, err := runClosedLoop(ctx, callers, warm, cfg.Duration, func(ctx context.Context, caller, _ int) (tally, error) {
					q := qs[zipfs[caller].Uint64()]
					resp, err := clients[caller%apiConns].CheckPermission(ctx, &v1.CheckPermissionRequest{
						Resource:   &v1.ObjectReference{ObjectType: "document", ObjectId: q.doc},
						Permission: "view",
						Subject:    &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: q.user}},
					})
					if err != nil {
						return tally{}, err
					}
					allowed := resp.GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
					t := tally{Decisions: 1}
					if allowed {
						t.Allowed = 1
					}
					if allowed != q.allowed {
						t.Mismatches = 1
					}
					return t, nil
				})
				if err != nil {
					return nil, fmt.Errorf("%s, %d callers: %w", side.name, callers, err)
				}
				runs[key{side.name, callers}] = append(runs[key{side.name, callers}], st)
			}
		}
		// The nested-groups workload, the two sides in turn (the order
		// alternating from round to round).
		for i := range sides {
			side := sides[i]
			if round%2 == 1 {
				side = sides[len(sides)-1-i]
			}
			progress("round %d/%d: nested groups, 1%% writes: %s: %d callers for %s", round+1, apiRounds, side.name, nestedCallers, cfg.Duration)
			ops := newNestedOps(nested.qs, side.clients, side.writer, nestedCallers, uint64(round))
			st, err := runClosedLoop(ctx, nestedCallers, warm, cfg.Duration, ops.op)
			if err != nil {
				return nil, fmt.Errorf("nested groups, %s: %w", side.name, err)
			}
			k := key{"nested/" + side.name, nestedCallers}
			runs[k] = append(runs[k], st)
			slices.Sort(ops.writeLat)
			nestedWrites[side.name] = append(nestedWrites[side.name], ops.writeLat...)
			nestedWriteErrs[side.name] += ops.writeErr
		}
	}
	median := func(sts []loadStats, f func(loadStats) float64) float64 {
		xs := make([]float64, len(sts))
		for i, st := range sts {
			xs[i] = f(st)
		}
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	for _, callers := range apiCallers {
		for _, side := range sides {
			sts := runs[key{side.name, callers}]
			errs, shed, mismatches, each := sumRounds(sts)
			tput[side.name][callers] = median(sts, loadStats.PerSecond)
			p99[side.name][callers] = median(sts, func(st loadStats) float64 { return micros(st.P99) })
			o.Results = append(o.Results, Result{
				Name:   fmt.Sprintf("%s callers=%d", side.name, callers),
				Params: map[string]any{"server": side.name, "callers": callers, "throughput_each_round": each},
				Metrics: []Metric{
					{Name: "throughput", Unit: "checks/s", Value: round(tput[side.name][callers], 1)},
					{Name: "p50_latency", Unit: "us", Value: round(median(sts, func(st loadStats) float64 { return micros(st.P50) }), 1)},
					{Name: "p99_latency", Unit: "us", Value: round(p99[side.name][callers], 1)},
					{Name: "errors", Unit: "count", Value: float64(errs)},
					{Name: "shed", Unit: "count", Value: float64(shed)},
					{Name: "mismatches", Unit: "count", Value: float64(mismatches)},
				},
			})
		}
	}
	for _, side := range sides {
		k := key{"nested/" + side.name, nestedCallers}
		sts := runs[k]
		errs, shed, mismatches, each := sumRounds(sts)
		tput[k.side] = map[int]float64{nestedCallers: median(sts, loadStats.PerSecond)}
		p99[k.side] = map[int]float64{nestedCallers: median(sts, func(st loadStats) float64 { return micros(st.P99) })}
		wl := nestedWrites[side.name]
		slices.Sort(wl)
		metrics := []Metric{
			{Name: "throughput", Unit: "checks/s", Value: round(tput[k.side][nestedCallers], 1)},
			{Name: "p50_latency", Unit: "us", Value: round(median(sts, func(st loadStats) float64 { return micros(st.P50) }), 1)},
			{Name: "p99_latency", Unit: "us", Value: round(p99[k.side][nestedCallers], 1)},
			{Name: "errors", Unit: "count", Value: float64(errs)},
			{Name: "shed", Unit: "count", Value: float64(shed)},
			{Name: "mismatches", Unit: "count", Value: float64(mismatches)},
			{Name: "writes", Unit: "count", Value: float64(len(wl))},
			{Name: "write_errors", Unit: "count", Value: float64(nestedWriteErrs[side.name])},
		}
		if len(wl) > 0 {
			metrics = append(metrics,
				Metric{Name: "write_p50", Unit: "ms", Value: round(ms(percentile(wl, 0.5)), 3)},
				Metric{Name: "write_p99", Unit: "ms", Value: round(ms(percentile(wl, 0.99)), 3)})
		}
		o.Results = append(o.Results, Result{
			Name:    fmt.Sprintf("nested/%s callers=%d", side.name, nestedCallers),
			Params:  map[string]any{"server": side.name, "callers": nestedCallers, "throughput_each_round": each, "write_fraction": 1.0 / nestedWriteEvery},
			Metrics: metrics,
		})
	}
	nestedRatio := round(tput["nested/nexus"][nestedCallers]/tput["nested/spicedb"][nestedCallers], 2)
	nestedP99Ratio := round(p99["nested/nexus"][nestedCallers]/p99["nested/spicedb"][nestedCallers], 2)
	o.Params["nested_throughput_ratio"] = nestedRatio
	o.Params["nested_p99_ratio"] = nestedP99Ratio
	o.Results = append(o.Results, Result{
		Name:   fmt.Sprintf("nested/nexus/spicedb callers=%d", nestedCallers),
		Params: map[string]any{"callers": nestedCallers},
		Metrics: []Metric{
			{Name: "throughput_ratio", Unit: "x", Value: nestedRatio},
			{Name: "p99_ratio", Unit: "x", Value: nestedP99Ratio},
		},
	})
	for _, callers := range apiCallers {
		o.Results = append(o.Results, Result{
			Name:   fmt.Sprintf("nexus/spicedb callers=%d", callers),
			Params: map[string]any{"callers": callers},
			Metrics: []Metric{
				{Name: "throughput_ratio", Unit: "x", Value: round(tput["nexus"][callers]/tput["spicedb"][callers], 2)},
				{Name: "p99_ratio", Unit: "x", Value: round(p99["nexus"][callers]/p99["spicedb"][callers], 2)},
			},
		})
	}
	return o, nil
}

// apiWorld returns the documents' viewers and the questions about them:
// half about a real viewer, half about a random user.
func apiWorld() ([]*v1.Relationship, []apiQuestion) {
	rng := rand.New(rand.NewPCG(8, 8))
	var rels []*v1.Relationship
	viewers := map[[2]string]bool{}
	for d := range apiDocs {
		for range apiViewers {
			u := fmt.Sprintf("u%d", rng.IntN(apiUsers))
			doc := fmt.Sprintf("d%d", d)
			if viewers[[2]string{doc, u}] {
				continue
			}
			viewers[[2]string{doc, u}] = true
			rels = append(rels, &v1.Relationship{
				Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: doc}, Relation: "viewer",
				Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: u}},
			})
		}
	}
	// Questions: half about a real viewer, half about a random user.
	qs := make([]apiQuestion, apiQuestions)
	for i := range qs {
		if i%2 == 0 {
			r := rels[rng.IntN(len(rels))]
			qs[i] = apiQuestion{doc: r.Resource.ObjectId, user: r.Subject.Object.ObjectId}
		} else {
			qs[i] = apiQuestion{doc: fmt.Sprintf("d%d", rng.IntN(apiDocs)), user: fmt.Sprintf("u%d", rng.IntN(apiUsers))}
		}
		qs[i].allowed = viewers[[2]string{qs[i].doc, qs[i].user}]
	}
	return rels, qs
}

// startNexusForBench runs a Nexus server on a loopback port with the
// document definition and rels, and returns its address and a check key.
func startNexusForBench(ctx context.Context, schema string, rels []*v1.Relationship) (string, string, string, func(), error) {
	addr, key, writeKey, stop, _, err := startNexusForBenchWith(ctx, nexusserver.Config{}, schema, rels)
	return addr, key, writeKey, stop, err
}

// startNexusForBenchWith is startNexusForBench with cfg (its DataDir and
// Logger are set here): on PostgreSQL, for one.
func startNexusForBenchWith(ctx context.Context, cfg nexusserver.Config, schema string, rels []*v1.Relationship) (string, string, string, func(), *nexusserver.Server, error) {
	dir, err := os.MkdirTemp("", "nexus-bench-api-")
	if err != nil {
		return "", "", "", nil, nil, err
	}
	// Warnings (the decision cache stopping, internal errors) go to
	// stderr with the progress: they explain a figure.
	cfg.DataDir, cfg.Logger = dir, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := nexusserver.Open(ctx, cfg)
	if err != nil {
		os.RemoveAll(dir)
		return "", "", "", nil, nil, err
	}
	ln, err := nexusserver.Listen("127.0.0.1:0")
	if err != nil {
		srv.Close()
		os.RemoveAll(dir)
		return "", "", "", nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(runCtx, ln) }()
	stop := func() { cancel(); <-done; srv.Close(); os.RemoveAll(dir) }

	fail := func(err error) (string, string, string, func(), *nexusserver.Server, error) {
		stop()
		return "", "", "", nil, nil, err
	}
	key, writeKey, err := benchKeys(ctx, srv, dir)
	if err != nil {
		return fail(err)
	}
	e := srv.Engine()
	if _, err := e.WriteSchema(ctx, schema); err != nil {
		return fail(err)
	}
	for off := 0; off < len(rels); off += 1000 {
		batch := rels[off:min(off+1000, len(rels))]
		updates := make([]authz.Update, len(batch))
		for i, r := range batch {
			updates[i] = authz.TouchRel(authz.Rel(authz.Obj(r.Resource.ObjectType, r.Resource.ObjectId), r.Relation,
				authz.SubjectSet(r.Subject.Object.ObjectType, r.Subject.Object.ObjectId, r.Subject.OptionalRelation)))
		}
		if _, err := e.Write(ctx, updates); err != nil {
			return fail(err)
		}
	}
	return ln.Addr().String(), key, writeKey, stop, srv, nil
}

// benchKeys makes the bench's check key and write key as the admin
// whose key the server's first start wrote to dir.
func benchKeys(ctx context.Context, srv *nexusserver.Server, dir string) (check, write string, err error) {
	adminKey, err := os.ReadFile(filepath.Join(dir, nexusserver.AdminKeyFile))
	if err != nil {
		return "", "", err
	}
	admin, err := srv.Identity().Authenticate(ctx, strings.TrimSpace(string(adminKey)))
	if err != nil {
		return "", "", err
	}
	if _, check, err = srv.Identity().CreateScopedAPIKey(ctx, admin, "", "bench", 0, identity.ScopeCheck); err != nil {
		return "", "", err
	}
	_, write, err = srv.Identity().CreateScopedAPIKey(ctx, admin, "", "bench-writes", 0, identity.ScopeWrite)
	return check, write, err
}

// startSpiceDBForBench runs a plain SpiceDB gRPC server on a loopback port,
// over Nexus's memdb, configured as the engine inside Nexus is (caches,
// revision quantization), with the same schema and rels.
func startSpiceDBForBench(ctx context.Context, schema string, rels []*v1.Relationship) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	ds, err := memdb.NewMemdbDatastore(1024, authz.DefaultRevisionQuantization, authz.DefaultGCWindow)
	if err != nil {
		return "", nil, err
	}
	srv, err := server.NewConfigWithOptionsAndDefaults(
		server.WithDatastore(ds),
		server.WithGRPCServer(util.GRPCServerConfig{Network: "tcp", Address: addr, Enabled: true, MaxConnAge: time.Hour}),
		server.WithPresharedSecureKey(apiSecret),
		server.WithHTTPGateway(util.HTTPServerConfig{HTTPEnabled: false}),
		server.WithMetricsAPI(util.HTTPServerConfig{HTTPEnabled: false}),
		server.WithDispatchServer(util.GRPCServerConfig{Enabled: false}),
		server.WithSilentlyDisableTelemetry(true),
		server.WithTelemetryEndpoint(""),
		server.WithDisableVersionResponse(true),
		server.WithEnableMemoryProtectionMiddleware(false),
		server.WithNamespaceCacheConfig(server.CacheConfig{Name: "namespace", Enabled: true, MaxCost: "32MiB"}),
		server.WithDispatchCacheConfig(server.CacheConfig{Name: "dispatch", Enabled: true, MaxCost: "256MiB"}),
		server.WithClusterDispatchCacheConfig(server.CacheConfig{Name: "cluster_dispatch", Enabled: false}),
	).Complete(ctx)
	if err != nil {
		ds.Close()
		return "", nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	stop := func() { cancel(); <-done; ds.Close() }

	if err := loadPeer(ctx, addr, schema, rels); err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

// sumRounds adds up the rounds' errors, shed calls and mismatches, and
// lists each round's throughput.
func sumRounds(sts []loadStats) (errs, shed, mismatches int, each []float64) {
	for _, st := range sts {
		errs += st.Errors
		shed += st.Shed
		mismatches += st.Tally.Mismatches
		each = append(each, round(st.PerSecond(), 0))
	}
	return errs, shed, mismatches, each
}

// dialSide opens apiConns clients with key and one writer with writeKey to
// the SpiceDB API at addr; closeAll closes them.
func dialSide(addr, key, writeKey string) (clients []*authzed.Client, writer *authzed.Client, closeAll func(), err error) {
	var all []*authzed.Client
	closeAll = func() {
		for _, c := range all {
			c.Close()
		}
	}
	for j := range apiConns + 1 {
		k := key
		if j == apiConns {
			k = writeKey
		}
		c, err := authzed.NewClient(addr, grpcutil.WithInsecureBearerToken(k), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		all = append(all, c)
	}
	return all[:apiConns], all[apiConns], closeAll, nil
}
