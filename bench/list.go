package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/server"
)

var listBulkVsNaive = Scenario{
	Name: "list_bulk_vs_naive",
	Description: "files.Service.List of a 1000-entry page of a 10,000-file folder the caller may half read " +
		"(batched checks) vs the naive loop of one Check per entry; whole server in-process, minimize_latency",
	Run: runListBulkVsNaive,
}

// The folder listed, and what is in it.
const (
	// The zone's root: the only folder a plain member may open without a
	// grant that every entry in it inherits (read flows down through
	// parent; reading a root is open to every member of the zone, and what
	// it lists is filtered entry by entry).
	listFolder    = "/"
	listSubfolder = "/sub" // readable through one grant on the folder
	listFiles     = 10_000 // files directly in listFolder
	listReadable  = 5_000  // of those, readable by the member through direct grants
	listSubFiles  = 50     // files in listSubfolder
	listPageSize  = 1000
	listSeed      = 20240817
	// Measured rounds: at least listMinRounds, then until the measured
	// time reaches -duration, at most listMaxRounds; and none started once
	// the phase has run for listBudget(-duration).
	listMinRounds    = 5
	listMaxRounds    = 50
	listFullListings = 3
)

// Targets from the issue.
const (
	listTargetSpeedup = 20.0
	listTargetPageMS  = 20.0
)

func runListBulkVsNaive(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("list_bulk_vs_naive: "+format, args...) }

	// The data dir goes on tmpfs when there is one: every files.Write
	// fsyncs its blob, its directory and two SQLite commits, which on a disk
	// makes building the folder take minutes; List itself writes nothing.
	dir, dirFS, err := tmpDir("nexus-bench-list-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	setupStart := time.Now()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Without the decision cache: this compares bulk checks with one check
	// per entry in the engine itself (decision_cache measures the cache).
	srv, err := server.Open(ctx, server.Config{DataDir: dir, Logger: quiet, Cache: authz.CacheConfig{Disabled: true}})
	if err != nil {
		return nil, fmt.Errorf("opening the server: %w", err)
	}
	defer srv.Close()
	fs, eng := srv.Files(), srv.Engine()

	key, err := os.ReadFile(filepath.Join(dir, server.AdminKeyFile))
	if err != nil {
		return nil, err
	}
	adminP, err := srv.Identity().Authenticate(ctx, strings.TrimSpace(string(key)))
	if err != nil {
		return nil, fmt.Errorf("authenticating the admin: %w", err)
	}
	memberU, _, err := srv.Identity().CreateUser(ctx, adminP, "bench-member", "", false)
	if err != nil {
		return nil, fmt.Errorf("creating the member: %w", err)
	}
	admin := access.Caller{User: string(adminP.User.ID), Zone: string(adminP.Zone.ID)}
	member := access.Caller{User: string(memberU.ID), Zone: string(memberU.Zone)}
	memberSubj := identity.UserSubject(memberU.ID)

	// The folder, as the zone admin: listFiles files in the root, and a
	// subfolder with a few files of its own.
	if _, _, err := fs.Mkdir(ctx, admin, listSubfolder, false); err != nil {
		return nil, err
	}
	for i := range listSubFiles {
		p := fmt.Sprintf("%s/s%03d.txt", listSubfolder, i)
		if _, _, err := fs.Write(ctx, admin, p, []byte(p+"\n"), files.WriteOptions{}); err != nil {
			return nil, fmt.Errorf("writing %s: %w", p, err)
		}
	}
	progress("writing %d files into %s through files.Write (%d callers)", listFiles, listFolder, setupWorkers)
	createStart := time.Now()
	if err := createFiles(ctx, fs, admin, progress); err != nil {
		return nil, err
	}
	createTime := time.Since(createStart)
	progress("wrote %d files in %s (%.0f files/s)", listFiles, createTime.Round(time.Millisecond), listFiles/createTime.Seconds())

	// Every child of the folder in name order, as the admin (who reads all) lists
	// them: the candidates of the member's listing.
	children, err := listAll(ctx, fs, admin, listFolder)
	if err != nil {
		return nil, fmt.Errorf("listing %s as the admin: %w", listFolder, err)
	}
	if len(children) != listFiles+1 {
		return nil, fmt.Errorf("the admin sees %d children of %s, want %d", len(children), listFolder, listFiles+1)
	}

	// The member's grants: viewer on the subfolder, and viewer on listReadable
	// of the files picked at random (so every page is about half readable).
	rng := rand.New(rand.NewPCG(listSeed, listSeed^0x9e3779b97f4a7c15))
	var fileEntries []paths.Entry
	var sub paths.Entry
	for _, it := range children {
		if it.Entry.Kind == paths.File {
			fileEntries = append(fileEntries, it.Entry)
		} else {
			sub = it.Entry
		}
	}
	readable := map[paths.EntryID]bool{sub.ID: true} // the reference model
	updates := []authz.Update{authz.TouchRel(authz.Rel(sub.Object(), "viewer", memberSubj))}
	for _, i := range rng.Perm(len(fileEntries))[:listReadable] {
		e := fileEntries[i]
		readable[e.ID] = true
		updates = append(updates, authz.TouchRel(authz.Rel(e.Object(), "viewer", memberSubj)))
	}
	grantStart := time.Now()
	writes := 0
	for off := 0; off < len(updates); off += 1000 {
		if _, err := eng.Write(ctx, updates[off:min(off+1000, len(updates))]); err != nil {
			return nil, fmt.Errorf("writing grants: %w", err)
		}
		writes++
	}
	// Writes are serialized: once the last grant is visible to a
	// minimize_latency read, every one is.
	last := updates[len(updates)-1].Rel
	if err := waitVisible(ctx, eng, authz.CheckItem{Resource: last.Resource, Permission: "read", Subject: memberSubj}); err != nil {
		return nil, err
	}
	grantTime := time.Since(grantStart)
	setup := time.Since(setupStart)
	progress("granted the member %d of %d children (%d writes, %s); measuring", len(readable), len(children), writes, grantTime.Round(time.Millisecond))

	cands := make([]paths.Entry, len(children))
	for i, it := range children {
		cands[i] = it.Entry
	}

	// One round measures, in alternating order, (a) List of the first page,
	// (b) the naive loop producing the same page with one Check per
	// candidate, and (c) the bulk checks alone that (a) makes. Before each,
	// wait for a new quantized revision, so no measurement is answered from
	// the dispatch cache another one filled.
	quant := authz.DefaultRevisionQuantization
	fresh := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(quant + 10*time.Millisecond):
			return nil
		}
	}
	var listT, naiveT, bulkT, lookupT []time.Duration
	var lookedUp int
	var examined, returned, naiveChecks, bulkCalls int
	mismatches := 0
	measured := time.Duration(0)
	phaseStart := time.Now()
	rnd := 0
	for ; rnd < listMaxRounds+1; rnd++ {
		if rnd > listMinRounds && measured >= cfg.Duration {
			break
		}
		if rnd > 1 && time.Since(phaseStart) > listBudget(cfg.Duration) {
			progress("stopping after %d rounds: the phase has run for %s", rnd-1, time.Since(phaseStart).Round(time.Millisecond))
			break
		}
		var page []files.Item
		var naive naiveResult
		var bulkDur time.Duration
		steps := []func() error{
			func() error {
				t0 := time.Now()
				var err error
				page, _, err = fs.List(ctx, member, listFolder, listPageSize, "", authz.MinimizeLatency())
				if err == nil && rnd > 0 {
					listT = append(listT, time.Since(t0))
				}
				return err
			},
			func() error {
				t0 := time.Now()
				var err error
				naive, err = naiveList(ctx, eng, memberSubj, cands, listPageSize)
				if err == nil && rnd > 0 {
					naiveT = append(naiveT, time.Since(t0))
				}
				return err
			},
		}
		if rnd%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := fresh(); err != nil {
				return nil, err
			}
			if err := step(); err != nil {
				return nil, err
			}
		}
		// (c): what bulk checks cost alone over exactly the candidates a
		// full page needs, in one call: the floor for List's check time
		// (List itself sizes its batches adaptively and may check a few
		// more).
		if err := fresh(); err != nil {
			return nil, err
		}
		listExamined := naive.examined
		batch := max(listExamined, 1)
		t0 := time.Now()
		calls, err := bulkOnly(ctx, eng, memberSubj, cands[:listExamined], batch)
		if err != nil {
			return nil, err
		}
		bulkDur = time.Since(t0)
		// (d): the accessible set the decision cache (next issue) would
		// keep: every file the member may read, in one LookupResources.
		if err := fresh(); err != nil {
			return nil, err
		}
		t0 = time.Now()
		ids, err := eng.LookupResources(ctx, "file", "read", memberSubj, authz.MinimizeLatency())
		if err != nil {
			return nil, err
		}
		lookupDur := time.Since(t0)
		lookedUp = len(ids)
		if rnd == 0 {
			continue // warm-up
		}
		bulkT = append(bulkT, bulkDur)
		lookupT = append(lookupT, lookupDur)
		measured += listT[len(listT)-1] + naiveT[len(naiveT)-1] + bulkDur
		mismatches += comparePages(page, naive.page, cands[:naive.examined], naive.allowed, readable)
		examined, returned, naiveChecks, bulkCalls = listExamined, len(page), naive.examined, calls
	}
	rounds := rnd - 1

	// The whole listing, page by page, as the member.
	var fullT []time.Duration
	var fullPages, fullEntries, fullMismatches int
	fullStart := time.Now()
	for i := range listFullListings {
		if i > 0 && time.Since(fullStart) > listBudget(cfg.Duration)/2 {
			break
		}
		if err := fresh(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		got, pages, err := listPages(ctx, fs, member, listFolder, listPageSize)
		if err != nil {
			return nil, fmt.Errorf("paging %s as the member: %w", listFolder, err)
		}
		fullT = append(fullT, time.Since(t0))
		fullPages, fullEntries = pages, len(got)
		n := 0
		for _, it := range got {
			if !readable[it.Entry.ID] {
				n++
			}
		}
		fullMismatches += n + max(0, len(readable)-(len(got)-n))
	}

	listMed, naiveMed, bulkMed, fullMed := median(listT), median(naiveT), median(bulkT), median(fullT)
	speedup := float64(naiveMed) / float64(listMed)
	if mismatches+fullMismatches > 0 {
		progress("WARNING: %d answers differ between List, the naive loop and the reference model", mismatches+fullMismatches)
	}
	meets := speedup >= listTargetSpeedup && ms(listMed) <= listTargetPageMS
	progress("page of %d: List %.2f ms, naive %.2f ms: %.1fx (targets: >= %.0fx and <= %.0f ms: %v)",
		listPageSize, ms(listMed), ms(naiveMed), speedup, listTargetSpeedup, listTargetPageMS, meets)

	return &Outcome{
		Params: map[string]any{
			"files":                 listFiles,
			"children":              len(children),
			"readable_children":     len(readable),
			"readable_via":          fmt.Sprintf("viewer on %d files directly + viewer on %s (%d files inside)", listReadable, listSubfolder, listSubFiles),
			"page_size":             listPageSize,
			"consistency":           "minimize_latency",
			"revision_quantization": quant.String(),
			"create_s":              round3(createTime.Seconds()),
			"data_dir":              dirFS,
			"grant_writes":          writes,
			"setup_s":               round3(setup.Seconds()),
			"seed":                  listSeed,
			"target_speedup":        listTargetSpeedup,
			"target_page_ms":        listTargetPageMS,
		},
		Results: []Result{
			{
				Name: fmt.Sprintf("page=%d", listPageSize),
				Params: map[string]any{
					"rounds":           rounds,
					"bulk_check_calls": bulkCalls,
				},
				Metrics: []Metric{
					{Name: "list_page_ms", Unit: "ms", Value: round(ms(listMed), 2)},
					{Name: "naive_page_ms", Unit: "ms", Value: round(ms(naiveMed), 2)},
					{Name: "list_bulk_vs_naive", Unit: "x", Value: round(speedup, 1)},
					{Name: "bulk_checks_ms", Unit: "ms", Value: round(ms(bulkMed), 2)},
					{Name: "lookup_resources_ms", Unit: "ms", Value: round(ms(median(lookupT)), 2)},
					{Name: "lookup_resources_ids", Unit: "count", Value: float64(lookedUp)},
					{Name: "naive_per_check", Unit: "us", Value: round(micros(naiveMed)/float64(max(naiveChecks, 1)), 1)},
					{Name: "entries_returned", Unit: "count", Value: float64(returned)},
					{Name: "page_candidates", Unit: "count", Value: float64(examined)},
					{Name: "naive_checks", Unit: "count", Value: float64(naiveChecks)},
					{Name: "rounds", Unit: "count", Value: float64(rounds)},
					{Name: "mismatches", Unit: "count", Value: float64(mismatches)},
				},
			},
			{
				Name:   "all_pages",
				Params: map[string]any{"listings": len(fullT)},
				Metrics: []Metric{
					{Name: "full_listing_ms", Unit: "ms", Value: round(ms(fullMed), 2)},
					{Name: "pages", Unit: "count", Value: float64(fullPages)},
					{Name: "entries_returned", Unit: "count", Value: float64(fullEntries)},
					{Name: "mismatches", Unit: "count", Value: float64(fullMismatches)},
				},
			},
		},
	}, nil
}

// listBudget bounds the measuring phase when the machine is slow.
func listBudget(d time.Duration) time.Duration { return max(5*d, 30*time.Second) }

// createFiles writes listFiles files into listFolder through files.Write,
// one after the other. (Concurrent callers are slower: they queue on the
// engine's write lock and on SQLite's single writer, and wait out the busy
// timeout's back-off.)
func createFiles(ctx context.Context, fs *files.Service, admin access.Caller, progress func(string, ...any)) error {
	var done atomic.Int64
	return inParallel(ctx, listFiles, func(ctx context.Context, i int) error {
		p := paths.Path(listFolder).Join(fmt.Sprintf("f%05d.txt", i)).String()
		if _, _, err := fs.Write(ctx, admin, p, []byte(p+"\n"), files.WriteOptions{ExpectedVersion: files.MustNotExist}); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		if n := done.Add(1); n%2500 == 0 && n < listFiles {
			progress("  %d files written", n)
		}
		return nil
	})
}

// naiveResult is what the naive loop found.
type naiveResult struct {
	page     []paths.Entry
	allowed  []bool // per candidate examined
	examined int
}

// naiveList builds a page the naive way: the candidates in name order, one
// minimize_latency Check each, until the page is full. The candidates are
// given already read from the store, so this times the checks alone (List's
// figure also includes its store reads).
func naiveList(ctx context.Context, eng *authz.Engine, subj authz.SubjectRef, cands []paths.Entry, pageSize int) (naiveResult, error) {
	r := naiveResult{allowed: make([]bool, 0, 2*pageSize)}
	for _, e := range cands {
		d, err := eng.Check(ctx, authz.CheckItem{Resource: e.Object(), Permission: "read", Subject: subj}, authz.MinimizeLatency())
		if err != nil {
			return r, err
		}
		r.examined++
		r.allowed = append(r.allowed, d.Allowed)
		if d.Allowed {
			r.page = append(r.page, e)
			if len(r.page) == pageSize {
				break
			}
		}
	}
	return r, nil
}

// bulkOnly runs the bulk checks List makes for cands, batch items a call.
func bulkOnly(ctx context.Context, eng *authz.Engine, subj authz.SubjectRef, cands []paths.Entry, batch int) (int, error) {
	calls := 0
	for off := 0; off < len(cands); off += batch {
		chunk := cands[off:min(off+batch, len(cands))]
		items := make([]authz.CheckItem, len(chunk))
		for i, e := range chunk {
			items[i] = authz.CheckItem{Resource: e.Object(), Permission: "read", Subject: subj}
		}
		if _, err := eng.CheckBulk(ctx, items, authz.MinimizeLatency()); err != nil {
			return calls, err
		}
		calls++
	}
	return calls, nil
}

// comparePages counts the disagreements between List's page, the naive
// page, the naive loop's answers and the reference model.
func comparePages(list []files.Item, naive []paths.Entry, examined []paths.Entry, allowed []bool, model map[paths.EntryID]bool) int {
	n := 0
	for i, e := range examined {
		if allowed[i] != model[e.ID] {
			n++
		}
	}
	if len(list) != len(naive) {
		n += max(len(list), len(naive)) - min(len(list), len(naive))
	}
	for i := range min(len(list), len(naive)) {
		if list[i].Entry.ID != naive[i].ID {
			n++
		}
	}
	return n
}

// listAll pages through the folder at path as c.
func listAll(ctx context.Context, fs *files.Service, c access.Caller, path string) ([]files.Item, error) {
	items, _, err := listPages(ctx, fs, c, path, files.MaxPageSize)
	return items, err
}

func listPages(ctx context.Context, fs *files.Service, c access.Caller, path string, pageSize int) ([]files.Item, int, error) {
	var out []files.Item
	tok := ""
	pages := 0
	for {
		page, next, err := fs.List(ctx, c, path, pageSize, tok, authz.MinimizeLatency())
		if err != nil {
			return nil, pages, err
		}
		pages++
		out = append(out, page...)
		if next == "" {
			return out, pages, nil
		}
		if pages > 1000 {
			return nil, pages, errors.New("more than 1000 pages: the listing does not end")
		}
		tok = next
	}
}

// waitVisible polls item with minimize_latency until it is allowed.
func waitVisible(ctx context.Context, eng *authz.Engine, item authz.CheckItem) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := eng.Check(ctx, item, authz.MinimizeLatency())
		if err != nil {
			return fmt.Errorf("waiting for the grants to be visible: %w", err)
		}
		if d.Allowed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the last grant is still invisible to minimize_latency reads after 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func median(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	return (s[(n-1)/2] + s[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func round3(x float64) float64 { return round(x, 3) }
