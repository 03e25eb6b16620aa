package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/server"
)

var writeThroughputVsSerial = Scenario{
	Name: "write_throughput_vs_serial",
	Description: "64 writers creating files through files.Service on the embedded default, data dir on disk " +
		"(every commit fsyncs): relationship writes committed in groups (the default) vs one at a time " +
		"(WriteGroup 1); two servers side by side, alternating rounds, idle and with a CPU burner",
	Run: runWriteThroughputVsSerial,
}

const (
	writeCallers      = 64
	writeRounds       = 3
	writeTargetFactor = 5.0
)

func runWriteThroughputVsSerial(ctx context.Context, cfg RunConfig) (*Outcome, error) {
	progress := func(format string, args ...any) { cfg.Progress("write_throughput_vs_serial: "+format, args...) }
	type side struct {
		name  string
		group int
		srv   *server.Server
		fs    *files.Service
		admin access.Caller
		rates []float64
		lat   []time.Duration
		errs  int
	}
	sides := []*side{{name: "grouped", group: 0}, {name: "serial", group: 1}}
	for _, s := range sides {
		// On disk, not tmpfs: what grouping saves is fsyncs.
		dir, err := os.MkdirTemp("", "nexus-bench-write-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		if s.srv, err = server.Open(ctx, server.Config{DataDir: dir, Logger: quiet, WriteGroup: s.group}); err != nil {
			return nil, fmt.Errorf("opening the %s server: %w", s.name, err)
		}
		defer s.srv.Close()
		key, err := os.ReadFile(filepath.Join(dir, server.AdminKeyFile))
		if err != nil {
			return nil, err
		}
		p, err := s.srv.Identity().Authenticate(ctx, strings.TrimSpace(string(key)))
		if err != nil {
			return nil, fmt.Errorf("authenticating the admin: %w", err)
		}
		s.fs = s.srv.Files()
		s.admin = access.Caller{User: string(p.User.ID), Zone: string(p.Zone.ID)}
		if _, _, err := s.fs.Mkdir(ctx, s.admin, "/w", false); err != nil {
			return nil, err
		}
	}

	d := cfg.Duration * 2 / 5
	warm := d / 5
	var results []Result
	for _, contended := range []bool{false, true} {
		phase := "idle"
		if contended {
			phase = "contended"
		}
		var ratios []float64
		for _, s := range sides {
			s.rates, s.lat, s.errs = nil, nil, 0
		}
		for r := range writeRounds {
			order := sides
			if r%2 == 1 {
				order = []*side{sides[1], sides[0]}
			}
			rates := map[string]float64{}
			for _, s := range order {
				var burn *burner
				if contended {
					var err error
					if burn, err = startBurner(warm + d + 5*time.Second); err != nil {
						return nil, err
					}
				}
				progress("%s, round %d/%d: %s, %d writers for %s", phase, r+1, writeRounds, s.name, writeCallers, d)
				st, err := runClosedLoop(ctx, writeCallers, warm, d, func(ctx context.Context, caller, iter int) (tally, error) {
					p := fmt.Sprintf("/w/%s-r%d-c%02d-%06d.txt", phase, r, caller, iter)
					_, _, err := s.fs.Write(ctx, s.admin, p, []byte(p+"\n"), files.WriteOptions{ExpectedVersion: files.MustNotExist})
					return tally{}, err
				})
				if burn != nil {
					burn.stop()
				}
				if err != nil {
					return nil, err
				}
				rates[s.name] = st.PerSecond()
				s.rates = append(s.rates, st.PerSecond())
				s.lat = append(s.lat, st.P99)
				s.errs += st.Errors
			}
			if rates["serial"] > 0 {
				ratios = append(ratios, rates["grouped"]/rates["serial"])
			}
		}
		for _, s := range sides {
			results = append(results, Result{
				Name:   phase + "/" + s.name,
				Params: map[string]any{"writers": writeCallers, "cpu_burner": contended, "files_per_s_each_round": roundAll(s.rates, 1)},
				Metrics: []Metric{
					{Name: "files_per_s", Unit: "1/s", Value: round(medianF(s.rates), 1)},
					{Name: "p99_worst_round", Unit: "ms", Value: round(ms(slices.Max(s.lat)), 2)},
					{Name: "errors", Unit: "count", Value: float64(s.errs)},
				},
			})
		}
		results = append(results, Result{
			Name:   phase + "/ratio",
			Params: map[string]any{"target": writeTargetFactor, "each_round": roundAll(ratios, 2)},
			Metrics: []Metric{
				{Name: "write_throughput_vs_serial", Unit: "x", Value: round(medianF(ratios), 2)},
				{Name: "worst_round", Unit: "x", Value: round(slices.Min(ratios), 2)},
			},
		})
	}
	return &Outcome{Params: map[string]any{"data_dir": "default temp dir (disk)", "rounds": writeRounds}, Results: results}, nil
}

func medianF(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func roundAll(xs []float64, decimals int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = round(x, decimals)
	}
	return out
}
