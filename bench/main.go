// Command bench runs Nexus load benchmarks in-process and reports them.
//
//	go run ./bench [-out bench/results/latest.json] [-duration 5s] [-scenarios a,b]
//
// Each scenario is a named entry of the registry below and returns named
// results, each a list of metrics with units. The program prints a table to
// stdout and merges the results into the JSON file given by -out: the
// scenarios that ran replace their earlier records, the others are kept, so a
// scenario can be rerun alone. Progress goes to stderr.
//
// To add a scenario, write a func(ctx, RunConfig) (*Outcome, error) in a file
// of its own and add it to registry.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"
)

// Scenario is one named benchmark.
type Scenario struct {
	Name        string
	Description string
	Run         func(ctx context.Context, cfg RunConfig) (*Outcome, error)
	// OnlyNamed scenarios run only when -scenarios names them (they need
	// something set up first, such as a PostgreSQL server: make bench-pg).
	OnlyNamed bool
}

// RunConfig is what every scenario is given.
type RunConfig struct {
	// Duration is how long each measured phase of the scenario runs.
	Duration time.Duration
	// Progress receives one-line progress messages (stderr).
	Progress func(format string, args ...any)
}

// registry lists the scenarios in the order they run.
var registry = []Scenario{
	checkUncached,
	decisionCache,
	listBulkVsNaive,
	searchFTS,
	grepScan,
	recallMemories,
	mcpScenario,
	apiCheckVsSpiceDB,
	watchLag,
	writeThroughputVsSerial,
	pgMatrix,
	pgAPICheckVsSpiceDB,
	embeddedScale,
}

func main() {
	burnIfAsked()
	os.Exit(run())
}

func run() int {
	out := flag.String("out", "bench/results/latest.json", "JSON file the results are merged into (its directory is created)")
	duration := flag.Duration("duration", 5*time.Second, "how long each measured phase of a scenario runs")
	names := flag.String("scenarios", "", "comma-separated scenarios to run (default: all); known: "+strings.Join(scenarioNames(), ", "))
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	traceOut := flag.String("trace", "", "write a runtime execution trace of the whole run to this file (go tool trace -pprof=sched shows where goroutines waited for a core; keep -duration short, it grows ~100 MB a second)")
	blockProfile := flag.String("blockprofile", "", "write a profile of where goroutines waited (blocking and mutexes) of the whole run to this file")
	flag.Parse()
	if flag.NArg() > 0 {
		return fail("unexpected arguments %q; see -h", flag.Args())
	}
	if *duration <= 0 {
		return fail("-duration must be positive, not %s", *duration)
	}
	selected, err := selectScenarios(*names)
	if err != nil {
		return fail("%v", err)
	}

	// Read the existing file first, so a damaged one stops us before the
	// scenarios spend minutes running.
	existing, err := loadReport(*out)
	if err != nil {
		return fail("%v", err)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fail("%v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail("%v", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	if *traceOut != "" {
		f, err := os.Create(*traceOut)
		if err != nil {
			return fail("%v", err)
		}
		if err := trace.Start(f); err != nil {
			return fail("%v", err)
		}
		defer func() { trace.Stop(); f.Close() }()
	}

	if *blockProfile != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
		defer func() {
			f, err := os.Create(*blockProfile)
			if err == nil {
				err = pprof.Lookup("block").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: block profile: %v\n", err)
			}
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env := currentEnv()
	cfg := RunConfig{
		Duration: *duration,
		Progress: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
		},
	}
	var records []ScenarioRecord
	failed := false
	for _, s := range selected {
		cfg.Progress("%s: starting", s.Name)
		start := time.Now()
		o, err := s.Run(ctx, cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s failed: %v\n", s.Name, err)
			failed = true
			if ctx.Err() != nil {
				break
			}
			continue
		}
		cfg.Progress("%s: done in %s", s.Name, time.Since(start).Round(time.Millisecond))
		recEnv := env
		recEnv.Timestamp = start.UTC().Format(time.RFC3339)
		records = append(records, ScenarioRecord{
			Scenario:    s.Name,
			Description: s.Description,
			Env:         recEnv,
			Params:      o.Params,
			Results:     o.Results,
		})
	}

	printTable(os.Stdout, env, records)
	if len(records) > 0 {
		if err := writeReport(*out, existing, records); err != nil {
			return fail("%v", err)
		}
		fmt.Printf("\nresults written to %s\n", *out)
	}
	if failed {
		return 1
	}
	return 0
}

func scenarioNames() []string {
	var names []string
	for _, s := range registry {
		names = append(names, s.Name)
	}
	return names
}

func selectScenarios(list string) ([]Scenario, error) {
	if strings.TrimSpace(list) == "" {
		var out []Scenario
		for _, s := range registry {
			if !s.OnlyNamed {
				out = append(out, s)
			}
		}
		return out, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		found := false
		for _, s := range registry {
			if s.Name == n {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q; known: %s", n, strings.Join(scenarioNames(), ", "))
		}
		want[n] = true
	}
	var out []Scenario
	for _, s := range registry {
		if want[s.Name] {
			out = append(out, s)
		}
	}
	return out, nil
}

// fail reports a usage or setup error and returns the exit status for it.
func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	return 2
}
