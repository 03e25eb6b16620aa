package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/identity"
	"github.com/nexus-authz/nexus/server"
)

var searchFTS = Scenario{
	Name: "search_fts",
	Description: "search.Service.Search (page of 10, minimize_latency) over 10,000 generated documents (80 words, " +
		"Zipf-skewed vocabulary of 2,000 words) of which the caller may read half (one folder grant); whole server in-process",
	Run: runSearchFTS,
}

var grepScan = Scenario{
	Name:        "grep_scan",
	Description: "files.Service.Grep of a rare RE2 pattern over 100 files of 1 MiB (100 MiB), following page tokens until done; whole server in-process",
	Run:         runGrepScan,
}

const (
	searchDocs      = 10_000
	searchDocWords  = 80
	searchVocab     = 2_000
	searchQueries   = 200
	searchSeed      = 20261127
	searchTargetP99 = 50.0 // ms, from the issue
	grepFiles       = 100
	grepFileBytes   = 1 << 20
)

// benchServer opens a whole server in a temporary data dir (on tmpfs when
// there is one: setup writes fsync) with its admin and one plain member.
type benchServer struct {
	srv        *server.Server
	admin      access.Caller
	member     access.Caller
	memberSubj authz.SubjectRef
	dirFS      string
	close      func()
}

// tmpDir makes a data dir on tmpfs when there is one (/dev/shm), else in
// the default temp dir, and says which: a bench that writes files would
// otherwise measure the disk's fsyncs.
func tmpDir(pattern string) (dir, fs string, err error) {
	root, fs := "", "default temp dir"
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		root, fs = "/dev/shm", "tmpfs (/dev/shm)"
	}
	dir, err = os.MkdirTemp(root, pattern)
	return dir, fs, err
}

func openBenchServer(ctx context.Context, name string) (*benchServer, error) {
	dir, dirFS, err := tmpDir("nexus-bench-" + name + "-*")
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.Open(ctx, server.Config{DataDir: dir, Logger: quiet})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("opening the server: %w", err)
	}
	b := &benchServer{srv: srv, dirFS: dirFS, close: func() { srv.Close(); os.RemoveAll(dir) }}
	key, err := os.ReadFile(filepath.Join(dir, server.AdminKeyFile))
	if err != nil {
		b.close()
		return nil, err
	}
	adminP, err := srv.Identity().Authenticate(ctx, strings.TrimSpace(string(key)))
	if err != nil {
		b.close()
		return nil, err
	}
	memberU, _, err := srv.Identity().CreateUser(ctx, adminP, "bench-member", "", false)
	if err != nil {
		b.close()
		return nil, err
	}
	b.admin = access.Caller{User: string(adminP.User.ID), Zone: string(adminP.Zone.ID)}
	b.member = access.Caller{User: string(memberU.ID), Zone: string(memberU.Zone)}
	b.memberSubj = identity.UserSubject(memberU.ID)
	return b, nil
}

func latencyMetrics(prefix string, lat []time.Duration) []Metric {
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return []Metric{
		{Name: prefix + "p50_ms", Unit: "ms", Value: ms(percentile(lat, 0.5))},
		{Name: prefix + "p99_ms", Unit: "ms", Value: ms(percentile(lat, 0.99))},
		{Name: prefix + "mean_ms", Unit: "ms", Value: ms(sum / time.Duration(len(lat)))},
		{Name: prefix + "max_ms", Unit: "ms", Value: ms(lat[len(lat)-1])},
		{Name: prefix + "samples", Unit: "count", Value: float64(len(lat))},
	}
}

func runSearchFTS(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("search_fts: "+format, args...) }
	b, err := openBenchServer(ctx, "search")
	if err != nil {
		return nil, err
	}
	defer b.close()
	fs := b.srv.Files()
	for _, d := range []string{"/a", "/b"} {
		if _, _, err := fs.Mkdir(ctx, b.admin, d, false); err != nil {
			return nil, err
		}
	}
	vocab := newVocabulary(searchVocab, searchSeed)
	rng := rand.New(rand.NewPCG(searchSeed, 1))
	progress("writing %d documents through files.Write (%s)", searchDocs, b.dirFS)
	start := time.Now()
	texts := make([]string, searchDocs)
	for i := range texts {
		texts[i] = vocab.text(rng, searchDocWords)
	}
	if err := inParallel(ctx, searchDocs, func(ctx context.Context, i int) error {
		p := fmt.Sprintf("/%s/d%05d.txt", []string{"a", "b"}[i%2], i)
		if _, _, err := fs.Write(ctx, b.admin, p, []byte(texts[i]), files.WriteOptions{}); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	writeTime := time.Since(start)
	start = time.Now()
	n, err := b.srv.Indexer().CatchUp(ctx, 0)
	if err != nil {
		return nil, err
	}
	indexTime := time.Since(start)
	progress("wrote in %s; indexed %d in %s", writeTime.Round(time.Millisecond), n, indexTime.Round(time.Millisecond))

	// The member reads /a (half the documents) through one grant.
	r, err := fs.Stat(ctx, b.admin, "/a", authz.MinimizeLatency())
	if err != nil {
		return nil, err
	}
	if _, err := b.srv.Engine().Write(ctx, []authz.Update{authz.TouchRel(authz.Rel(r.Entry.Object(), "viewer", b.memberSubj))}); err != nil {
		return nil, err
	}
	if err := waitVisible(ctx, b.srv.Engine(), authz.CheckItem{Resource: r.Entry.Object(), Permission: "read", Subject: b.memberSubj}); err != nil {
		return nil, err
	}

	svc := b.srv.Search()
	caller := access.Caller{User: b.member.User, Zone: b.member.Zone}
	queries := vocab.queries(rng, searchQueries)
	var lat []time.Duration
	hits, hidden := 0, 0
	phase := time.Now()
	for i := 0; ; i++ {
		if i >= searchQueries && time.Since(phase) >= cfg.Duration {
			break
		}
		q := queries[i%len(queries)]
		t0 := time.Now()
		rs, _, err := svc.Search(ctx, caller, q, 10, "", authz.MinimizeLatency())
		if err != nil {
			return nil, fmt.Errorf("search %q: %w", q, err)
		}
		lat = append(lat, time.Since(t0))
		hits += len(rs)
		for _, r := range rs {
			if !r.Path.IsWithin(paths.MustParse("/a")) {
				hidden++
			}
		}
	}
	if hidden > 0 {
		return nil, fmt.Errorf("the member got %d hits outside /a", hidden)
	}
	metrics := latencyMetrics("search_", lat)
	metrics = append(metrics,
		Metric{Name: "search_hits_per_query", Unit: "count", Value: float64(hits) / float64(len(lat))},
		Metric{Name: "index_docs_per_s", Unit: "docs/s", Value: float64(n) / indexTime.Seconds()},
		Metric{Name: "search_target_p99_ms", Unit: "ms", Value: searchTargetP99},
	)
	return &Outcome{
		Params: map[string]any{"documents": searchDocs, "readable": searchDocs / 2, "words_per_doc": searchDocWords,
			"vocabulary": searchVocab, "queries": searchQueries, "page_size": 10, "data_dir_fs": b.dirFS},
		Results: []Result{{Name: "member reads half", Metrics: metrics}},
	}, nil
}

func runGrepScan(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("grep_scan: "+format, args...) }
	b, err := openBenchServer(ctx, "grep")
	if err != nil {
		return nil, err
	}
	defer b.close()
	fs := b.srv.Files()
	vocab := newVocabulary(searchVocab, searchSeed)
	rng := rand.New(rand.NewPCG(searchSeed, 2))
	progress("writing %d files of %d bytes (%s)", grepFiles, grepFileBytes, b.dirFS)
	want := 0
	for i := range grepFiles {
		var sb strings.Builder
		for sb.Len() < grepFileBytes {
			sb.WriteString(vocab.text(rng, 12))
			if rng.IntN(2000) == 0 {
				fmt.Fprintf(&sb, "marker zq%04d found here\n", rng.IntN(10000))
				want++
			}
		}
		data := []byte(sb.String())[:grepFileBytes]
		if _, _, err := fs.Write(ctx, b.admin, fmt.Sprintf("/g/f%03d.txt", i), data, files.WriteOptions{CreateParents: true}); err != nil {
			return nil, err
		}
	}
	var rates []float64
	var best time.Duration
	var scanned int64
	matches := 0
	phase := time.Now()
	for round := 0; round < 3 || (time.Since(phase) < cfg.Duration && round < 10); round++ {
		t0 := time.Now()
		tok := ""
		scanned, matches = 0, 0
		for {
			res, err := fs.Grep(ctx, b.admin, files.GrepOptions{Pattern: `zq[0-9]{4}\b`, MaxMatches: files.MaxGrepMatches, PageToken: tok}, authz.MinimizeLatency())
			if err != nil {
				return nil, err
			}
			scanned += res.BytesScanned
			matches += len(res.Matches)
			if !res.Partial {
				break
			}
			tok = res.NextPageToken
		}
		d := time.Since(t0)
		if best == 0 || d < best {
			best = d
		}
		rates = append(rates, float64(scanned)/1e6/d.Seconds())
	}
	if matches < want-5 || matches > want {
		return nil, fmt.Errorf("grep found %d matches; %d markers were written", matches, want)
	}
	slices.Sort(rates)
	progress("scanned %.1f MB per round, %d rounds, %d matches", float64(scanned)/1e6, len(rates), matches)
	return &Outcome{
		Params: map[string]any{"files": grepFiles, "file_bytes": grepFileBytes, "pattern": `zq[0-9]{4}\b`, "data_dir_fs": b.dirFS},
		Results: []Result{{Name: "admin reads all", Metrics: []Metric{
			{Name: "grep_mb_per_s", Unit: "MB/s", Value: rates[len(rates)/2]},
			{Name: "grep_best_mb_per_s", Unit: "MB/s", Value: rates[len(rates)-1]},
			{Name: "grep_scanned_mb", Unit: "MB", Value: float64(scanned) / 1e6},
			{Name: "grep_best_round_ms", Unit: "ms", Value: float64(best.Microseconds()) / 1000},
			{Name: "grep_matches", Unit: "count", Value: float64(matches)},
		}}},
	}, nil
}
