package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// reportFormat names the layout of the JSON file; bump it on an
// incompatible change.
const reportFormat = "nexus-bench/1"

// Outcome is what a scenario returns.
type Outcome struct {
	// Params describe the setup shared by all results (world size, ...).
	Params map[string]any
	// Results are the named measurements, in display order.
	Results []Result
}

// Result is one named measurement of a scenario, such as "callers=64".
type Result struct {
	Name    string         `json:"name"`
	Params  map[string]any `json:"params,omitempty"`
	Metrics []Metric       `json:"metrics"`
}

// Metric is one figure with its unit.
type Metric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

// Env describes where and when a scenario ran.
type Env struct {
	Timestamp  string `json:"timestamp"` // RFC 3339, UTC
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	Commit     string `json:"commit,omitempty"`
	Modified   *bool  `json:"commit_modified,omitempty"` // only when the build says
}

// ScenarioRecord is one scenario's entry in the JSON file.
type ScenarioRecord struct {
	Scenario    string         `json:"scenario"`
	Description string         `json:"description"`
	Env         Env            `json:"env"`
	Params      map[string]any `json:"params,omitempty"`
	Results     []Result       `json:"results"`
}

// fileReport is the JSON file. Scenarios are kept as raw JSON so records
// written by other versions of this program survive a merge unchanged.
type fileReport struct {
	Format    string            `json:"format"`
	UpdatedAt string            `json:"updated_at"`
	Scenarios []json.RawMessage `json:"scenarios"`
}

func currentEnv() Env {
	env := Env{
		Timestamp:  time.Now().UTC().Format(time.RFC3339),
		GoVersion:  runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				env.Commit = s.Value
			case "vcs.modified":
				m := s.Value == "true"
				env.Modified = &m
			}
		}
	}
	if env.Commit == "" {
		// go run does not stamp VCS information; ask git, if it is there.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output(); err == nil {
			env.Commit = strings.TrimSpace(string(out))
		}
	}
	return env
}

// loadReport reads path. A missing file is an empty report; a file that is
// not a report is an error, so it is never overwritten by accident.
func loadReport(path string) (*fileReport, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &fileReport{Format: reportFormat}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var r fileReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s exists but is not a results file (%v); move it away or pick another -out", path, err)
	}
	if r.Format != reportFormat {
		return nil, fmt.Errorf("%s has format %q, this program writes %q; move it away or pick another -out", path, r.Format, reportFormat)
	}
	return &r, nil
}

// writeReport merges records into existing and writes path atomically.
// Existing scenarios keep their place; new ones are appended.
func writeReport(path string, existing *fileReport, records []ScenarioRecord) error {
	fresh := map[string]json.RawMessage{}
	for _, rec := range records {
		raw, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", rec.Scenario, err)
		}
		fresh[rec.Scenario] = raw
	}
	out := fileReport{Format: reportFormat, UpdatedAt: time.Now().UTC().Format(time.RFC3339)}
	used := map[string]bool{}
	for _, raw := range existing.Scenarios {
		var head struct {
			Scenario string `json:"scenario"`
		}
		if err := json.Unmarshal(raw, &head); err == nil {
			if r, ok := fresh[head.Scenario]; ok {
				if !used[head.Scenario] {
					out.Scenarios = append(out.Scenarios, r)
					used[head.Scenario] = true
				}
				continue
			}
		}
		out.Scenarios = append(out.Scenarios, raw)
	}
	for _, rec := range records {
		if !used[rec.Scenario] {
			out.Scenarios = append(out.Scenarios, fresh[rec.Scenario])
			used[rec.Scenario] = true
		}
	}

	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, data, "", "  "); err != nil {
		return err
	}
	pretty.WriteByte('\n')

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".bench-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pretty.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// printTable prints one block per scenario, one row per result, one column
// per metric.
func printTable(w io.Writer, env Env, records []ScenarioRecord) {
	commit := env.Commit
	if commit == "" {
		commit = "unknown"
	} else if len(commit) > 12 {
		commit = commit[:12]
	}
	fmt.Fprintf(w, "Nexus bench  %s  GOMAXPROCS=%d  NumCPU=%d  %s/%s  commit %s  %s\n",
		env.GoVersion, env.GOMAXPROCS, env.NumCPU, env.GOOS, env.GOARCH, commit, env.Timestamp)
	for _, rec := range records {
		fmt.Fprintf(w, "\n%s: %s\n", rec.Scenario, rec.Description)
		if len(rec.Params) > 0 {
			fmt.Fprintf(w, "  %s\n", formatParams(rec.Params))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		// Columns: the union of metric names, in first-seen order.
		var cols []Metric
		seen := map[string]bool{}
		for _, r := range rec.Results {
			for _, m := range r.Metrics {
				if !seen[m.Name] {
					seen[m.Name] = true
					cols = append(cols, m)
				}
			}
		}
		fmt.Fprint(tw, "result\t")
		for _, c := range cols {
			fmt.Fprintf(tw, "%s (%s)\t", c.Name, c.Unit)
		}
		fmt.Fprintln(tw)
		for _, r := range rec.Results {
			fmt.Fprintf(tw, "%s\t", r.Name)
			for _, c := range cols {
				v := "-"
				for _, m := range r.Metrics {
					if m.Name == c.Name {
						v = formatValue(m)
					}
				}
				fmt.Fprintf(tw, "%s\t", v)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
}

func formatValue(m Metric) string {
	switch {
	case math.IsNaN(m.Value):
		return "n/a"
	case m.Unit == "ratio":
		return fmt.Sprintf("%.3f", m.Value)
	case m.Value == math.Trunc(m.Value) || math.Abs(m.Value) >= 1000:
		return fmt.Sprintf("%.0f", m.Value)
	default:
		return fmt.Sprintf("%.1f", m.Value)
	}
}

func formatParams(p map[string]any) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, p[k])
	}
	return strings.Join(parts, " ")
}
