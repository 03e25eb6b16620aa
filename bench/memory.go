package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
)

// memReading is this process's memory after a GC.
type memReading struct {
	rssMiB, heapBytes float64
}

// readMemory collects garbage and returns the heap to the OS (settle),
// then reads the resident set and the Go heap, and writes the breakdown
// as NAME (writeMemoryBreakdown).
func readMemory(name string) (memReading, error) {
	settle()
	rss, err := rssMiB(os.Getpid())
	if err != nil {
		return memReading{}, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	writeMemoryBreakdown(name)
	return memReading{rssMiB: rss, heapBytes: float64(ms.HeapAlloc)}, nil
}

// writeMemoryBreakdown writes where this process's resident memory is to
// $BENCH_SCALE_PROFILES/memory-NAME.txt, when that is set: the Go
// runtime's memory classes, then the process's mappings by resident size
// (anonymous ones together), so memory outside the Go heap (SQLite's
// allocator, the binary, stacks) is told apart from the heap.
func writeMemoryBreakdown(name string) {
	f := profileFile("memory-" + name + ".txt")
	if f == nil {
		return
	}
	defer f.Close()
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	fmt.Fprintln(f, "# Go runtime memory classes (MiB)")
	for _, s := range samples {
		fmt.Fprintf(f, "%10.1f  %s\n", float64(s.Value.Uint64())/(1<<20), s.Name)
	}
	fmt.Fprintln(f, "\n# resident memory by mapping (MiB)")
	if err := writeMappings(f); err != nil {
		fmt.Fprintln(f, "no mappings:", err)
	}
}

// writeMappings sums /proc/self/smaps's Rss by mapped file, anonymous
// mappings under their own name, largest first.
func writeMappings(w io.Writer) error {
	sm, err := os.Open("/proc/self/smaps")
	if err != nil {
		return err
	}
	defer sm.Close()
	rss := map[string]int{}
	var current string
	sc := bufio.NewScanner(sm)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"):
			current = "[anonymous]"
			if len(fields) >= 6 {
				current = fields[5]
			}
		case len(fields) == 3 && fields[0] == "Rss:":
			kb, _ := strconv.Atoi(fields[1])
			rss[current] += kb
		}
	}
	names := make([]string, 0, len(rss))
	for n := range rss {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return rss[names[i]] > rss[names[j]] })
	for _, n := range names {
		if rss[n] >= 1024 {
			fmt.Fprintf(w, "%10.1f  %s\n", float64(rss[n])/1024, n)
		}
	}
	return sc.Err()
}
