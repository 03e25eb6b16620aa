package soak

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/zeebo/blake3"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
)

// The shape of the load: each worker owns folders /soak/wW/dJ with files
// fK in each, and toggles viewer grants on its folders for the users.
// One writer per path and per grant keeps the ledger's order the server's.
const (
	foldersPerWorker = 3
	filesPerFolder   = 4
	users            = 3
	sampleSize       = 400 // decisions compared at the end, at most
)

// Chaos is one kind of disruption. Do disrupts and recovers: when it
// returns, the service is up again (or Do failed).
type Chaos struct {
	Name   string
	Weight int
	Do     func(ctx context.Context) error
}

// Config is one soak run.
type Config struct {
	Mode     string // "embedded" or "postgres", for the report
	Node     *Node  // the node under load
	Workers  int
	Duration time.Duration
	Seed     uint64
	// Chaos is picked at random, one every MinGap to MaxGap.
	Chaos          []Chaos
	MinGap, MaxGap time.Duration
	// Once, if set, runs once at OnceAt (a fraction of Duration) instead of
	// a random pick (a failover).
	Once   *Chaos
	OnceAt float64
	// Fresh returns a fresh process on the same data to compare decisions
	// with, and to verify the acknowledged writes on; the node under load
	// has answered the sample first.
	Fresh func(ctx context.Context) (*Node, error)
	// FreshIs says what Fresh starts, for the report.
	FreshIs string
	Log     func(format string, args ...any)
}

// Report is what a run counted.
type Report struct {
	Mode                       string
	Duration                   time.Duration
	Ops, Acked, Failed         int64
	Writes, GrantChanges       int64
	Checks, ChecksCompared     int64
	Kills                      map[string]int
	AckedFileWrites, Paths     int // acknowledged file writes recorded, paths with one
	AckedWritesChecked         int // acknowledged file versions found with their hash
	GrantsChecked              int // grant states checked against the ledger
	DecisionsCompared          int // sample decisions compared: node, fresh process, ledger
	LostWrites, Divergences    int
	Problems                   []string
	ServerErrors               []string // the first error lines of the nodes' logs
	FreshIs                    string
	failedByCode               sync.Map
	problemsMu                 sync.Mutex
	checksCompared, divergence atomic.Int64
}

func (r *Report) problem(format string, args ...any) {
	r.problemsMu.Lock()
	defer r.problemsMu.Unlock()
	if len(r.Problems) < 50 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// String is the report's table.
func (r *Report) String() string {
	var kills []string
	total := 0
	for k, v := range r.Kills {
		kills = append(kills, fmt.Sprintf("%s=%d", k, v))
		total += v
	}
	sort.Strings(kills)
	var codes []string
	r.failedByCode.Range(func(k, v any) bool {
		codes = append(codes, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(codes)
	return fmt.Sprintf(`soak %s (%s of load)
  operations:              %d (acknowledged %d, failed %d: %s)
    file writes:           %d
    grant/revoke:          %d
    checks:                %d (%d compared with the ledger while loading)
  kills:                   %d (%s)
  acknowledged writes checked: %d file versions (of %d acknowledged, on %d paths) + %d grant states
  decisions compared:      %d (node under load vs fresh process vs ledger; the fresh process: %s)
  lost acknowledged writes: %d
  divergences:             %d`,
		r.Mode, r.Duration.Round(time.Second), r.Ops, r.Acked, r.Failed, strings.Join(codes, " "),
		r.Writes, r.GrantChanges, r.Checks, r.ChecksCompared,
		total, strings.Join(kills, ", "),
		r.AckedWritesChecked, r.AckedFileWrites, r.Paths, r.GrantsChecked,
		r.DecisionsCompared, r.FreshIs, r.LostWrites, r.Divergences)
}

type clients struct {
	files nexusv1connect.FileServiceClient
	share nexusv1connect.ShareServiceClient
	ids   nexusv1connect.IdentityServiceClient
}

func newClients(url, key string) clients {
	hc := &http.Client{Timeout: 20 * time.Second}
	auth := connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+key)
			return next(ctx, req)
		}
	}))
	return clients{
		files: nexusv1connect.NewFileServiceClient(hc, url, auth),
		share: nexusv1connect.NewShareServiceClient(hc, url, auth),
		ids:   nexusv1connect.NewIdentityServiceClient(hc, url, auth),
	}
}

func folderPath(w, j int) string  { return fmt.Sprintf("/soak/w%d/d%d", w, j) }
func filePath(w, j, k int) string { return fmt.Sprintf("/soak/w%d/d%d/f%d.txt", w, j, k) }
func userName(x int) string       { return fmt.Sprintf("soaku%d", x) }
func hashOf(b []byte) string      { s := blake3.Sum256(b); return hex.EncodeToString(s[:]) }
func full() *nexusv1.Consistency {
	return &nexusv1.Consistency{Requirement: &nexusv1.Consistency_FullyConsistent{FullyConsistent: true}}
}
func fresh(tok string) *nexusv1.Consistency {
	return &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}}
}

// Run runs the load with chaos for cfg.Duration, then verifies.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	key, err := cfg.Node.AdminKey()
	if err != nil {
		return nil, err
	}
	r := &Report{Mode: cfg.Mode, Kills: map[string]int{}, FreshIs: cfg.FreshIs}
	l := NewLedger()
	c := newClients(cfg.Node.URL, key)
	if err := setup(ctx, c, cfg.Workers); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}

	// gen changes before and after every disruption: a worker uses a
	// consistency token only in the generation it got it in.
	var gen atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			(&worker{id: w, c: c, l: l, r: r, gen: &gen, start: start, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(w)))}).run(loadCtx)
		}()
	}

	// The chaos, until the deadline.
	rng := rand.New(rand.NewPCG(cfg.Seed, 1<<32))
	deadline := start.Add(cfg.Duration)
	onceAt := start.Add(time.Duration(float64(cfg.Duration) * cfg.OnceAt))
	onceDone := cfg.Once == nil
	var chaosErr error
	for chaosErr == nil {
		gap := cfg.MinGap + time.Duration(rng.Int64N(int64(cfg.MaxGap-cfg.MinGap)+1))
		next := time.Now().Add(gap)
		if !onceDone && next.After(onceAt) {
			next = onceAt
		}
		if next.After(deadline) {
			waitCtx(ctx, time.Until(deadline))
			break
		}
		waitCtx(ctx, time.Until(next))
		if ctx.Err() != nil {
			break
		}
		ch := pick(rng, cfg.Chaos)
		if !onceDone && !time.Now().Before(onceAt) {
			ch, onceDone = *cfg.Once, true
		}
		gen.Add(1)
		t0 := time.Now()
		chaosErr = ch.Do(ctx)
		gen.Add(1)
		r.Kills[ch.Name]++
		cfg.Log("%s at %s (recovered in %s)", ch.Name, t0.Sub(start).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	}
	stopLoad()
	wg.Wait()
	r.Duration = time.Since(start)
	if chaosErr != nil {
		return r, fmt.Errorf("chaos: %w", chaosErr)
	}
	r.ChecksCompared = r.checksCompared.Load()
	r.Divergences += int(r.divergence.Load())
	r.AckedFileWrites, r.Paths, _ = l.Counts()
	cfg.Log("load stopped: %d operations; verifying", r.Ops)

	// The sample, asked of the node that was under load...
	sample := sampleOf(l, cfg.Workers, rand.New(rand.NewPCG(cfg.Seed, 2<<32)))
	before, err := decide(ctx, c, sample)
	if err != nil {
		return r, fmt.Errorf("decisions of the node under load: %w\n%s", err, cfg.Node.tail())
	}
	// ...then of a fresh process on the same data, which also shows every
	// acknowledged write.
	fn, err := cfg.Fresh(ctx)
	if err != nil {
		return r, fmt.Errorf("fresh process: %w", err)
	}
	fc := newClients(fn.URL, key)
	if err := verifyWrites(ctx, fc, l, r); err != nil {
		return r, fmt.Errorf("verifying on the fresh process: %w\n%s", err, fn.tail())
	}
	after, err := decide(ctx, fc, sample)
	if err != nil {
		return r, fmt.Errorf("decisions of the fresh process: %w", err)
	}
	r.ServerErrors = append(cfg.Node.ErrorLines(), fn.ErrorLines()...)
	if fn == cfg.Node {
		r.ServerErrors = fn.ErrorLines()
	}
	for i, p := range sample {
		granted, _ := l.Grant(p.grant) // resolved by verifyWrites
		r.DecisionsCompared++
		if before[i] != after[i] || after[i] != granted {
			r.Divergences++
			r.problem("divergence: read %s for user:%s: node under load %v, fresh process %v, ledger %v; the grant's last calls: %s",
				p.path, p.grant.User, before[i], after[i], granted, strings.Join(l.History(p.grant), "; "))
		}
	}
	return r, nil
}

// NodeKills are the node's disruptions: kill -9 and restart; kill -9,
// then kill -9 again while it starts (recovering), then restart; and a
// clean stop and start (on the embedded default, a start from the
// datastore's snapshot, which the kills that follow must not trust once
// a write came after it).
func NodeKills(n *Node, seed uint64) []Chaos {
	rng := rand.New(rand.NewPCG(seed, 3<<32))
	return []Chaos{
		{Name: "node kill -9", Weight: 3, Do: func(context.Context) error { n.Kill(); return n.Start() }},
		{Name: "node stop and start", Weight: 2, Do: func(context.Context) error { n.Stop(); return n.Start() }},
		{Name: "node kill -9, again while starting", Weight: 1, Do: func(ctx context.Context) error {
			n.Kill()
			if err := n.Launch(); err != nil {
				return err
			}
			waitCtx(ctx, time.Duration(20+rng.IntN(600))*time.Millisecond)
			n.Kill()
			return n.Start()
		}},
	}
}

func pick(rng *rand.Rand, cs []Chaos) Chaos {
	total := 0
	for _, c := range cs {
		total += c.Weight
	}
	n := rng.IntN(total)
	for _, c := range cs {
		if n < c.Weight {
			return c
		}
		n -= c.Weight
	}
	return cs[len(cs)-1]
}

// setup creates the users and the folders (with retries: it may run just
// after a start).
func setup(ctx context.Context, c clients, workers int) error {
	for x := range users {
		_, err := c.ids.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: userName(x)}))
		if err != nil && connect.CodeOf(err) != connect.CodeAlreadyExists {
			return err
		}
	}
	for w := range workers {
		for j := range foldersPerWorker {
			_, err := c.files.Mkdir(ctx, connect.NewRequest(&nexusv1.MkdirRequest{Path: folderPath(w, j), Parents: true}))
			if err != nil && connect.CodeOf(err) != connect.CodeAlreadyExists {
				return err
			}
		}
	}
	// Before any grant, no user reads a file: the ledger's model.
	_, err := c.files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/soak/probe.txt", Data: []byte("probe")}))
	if err != nil {
		return err
	}
	d, err := c.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "/soak/probe.txt", Permission: "read", Subject: "user:" + userName(0), Consistency: full()}))
	if err != nil {
		return err
	}
	if d.Msg.GetAllowed() {
		return errors.New("a user without a grant reads a new file: the ledger's model (only grants give access) does not fit the schema")
	}
	return nil
}

type probe struct {
	path  string
	grant GrantKey
}

// sampleOf picks up to sampleSize (file, user) pairs among acknowledged
// files.
func sampleOf(l *Ledger, workers int, rng *rand.Rand) []probe {
	var all []probe
	for w := range workers {
		for j := range foldersPerWorker {
			for k := range filesPerFolder {
				if !l.Exists(filePath(w, j, k)) {
					continue
				}
				for x := range users {
					all = append(all, probe{path: filePath(w, j, k), grant: GrantKey{Folder: folderPath(w, j), User: userName(x)}})
				}
			}
		}
	}
	rng.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
	if len(all) > sampleSize {
		all = all[:sampleSize]
	}
	return all
}

// decide asks each probe at full consistency, retrying while the node
// comes up.
func decide(ctx context.Context, c clients, sample []probe) ([]bool, error) {
	out := make([]bool, len(sample))
	for i, p := range sample {
		err := retry(ctx, func() error {
			resp, err := c.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: p.path, Permission: "read", Subject: "user:" + p.grant.User, Consistency: full()}))
			if err == nil {
				out[i] = resp.Msg.GetAllowed()
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// verifyWrites checks every path and grant of the ledger against what c's
// node shows, at full consistency, and resolves the grants in the ledger.
func verifyWrites(ctx context.Context, c clients, l *Ledger, r *Report) error {
	paths := l.Paths()
	sort.Strings(paths)
	for _, path := range paths {
		o := Observed{Versions: map[int64]string{}}
		err := retry(ctx, func() error {
			vs, err := c.files.ListVersions(ctx, connect.NewRequest(&nexusv1.ListVersionsRequest{Path: path, Consistency: full()}))
			if connect.CodeOf(err) == connect.CodeNotFound {
				return nil
			}
			if err != nil {
				return err
			}
			for _, v := range vs.Msg.GetVersions() {
				o.Versions[v.GetVersion()] = v.GetContentHash()
			}
			rd, err := c.files.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: path, Consistency: full()}))
			if err != nil {
				return err
			}
			o.Current = hashOf(rd.Msg.GetData())
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		checked, bad := l.CheckFile(path, o)
		r.AckedWritesChecked += checked
		r.LostWrites += len(bad)
		for _, b := range bad {
			r.problem("lost: %s", b)
		}
	}
	keys := l.GrantKeys()
	byFolder := map[string][]GrantKey{}
	for _, k := range keys {
		byFolder[k.Folder] = append(byFolder[k.Folder], k)
	}
	for folder, ks := range byFolder {
		viewers := map[string]bool{}
		err := retry(ctx, func() error {
			resp, err := c.share.ListGrants(ctx, connect.NewRequest(&nexusv1.ListGrantsRequest{Path: folder, Consistency: full()}))
			if err != nil {
				return err
			}
			for _, g := range resp.Msg.GetGrants() {
				if !g.GetInherited() && g.GetRole() == nexusv1.Role_ROLE_VIEWER {
					viewers[strings.TrimPrefix(g.GetSubject(), "user:")] = true
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", folder, err)
		}
		for _, k := range ks {
			r.GrantsChecked++
			if !l.ResolveGrant(k, viewers[k.User]) {
				r.LostWrites++
				want, _ := l.Grant(k)
				r.problem("lost: viewer grant of %s to user:%s is %v, the last acknowledged change left it %v", k.Folder, k.User, viewers[k.User], want)
			}
		}
	}
	return nil
}

// retry retries f for up to a minute while it fails as a node that is not
// up yet fails.
func retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		code := connect.CodeOf(err)
		if err == nil || (code != connect.CodeUnavailable && code != connect.CodeUnknown) || time.Now().After(deadline) {
			return err
		}
		waitCtx(ctx, 100*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
