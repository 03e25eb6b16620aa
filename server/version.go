package server

import (
	"runtime/debug"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is the build's version: the module's version when built from a
// tagged module, else "devel", with the VCS revision the binary was built
// from (and "+dirty" when the work tree had changes), as `nexus --version`
// prints it and the start log and nexus_build_info report it.
var Version = sync.OnceValue(func() string {
	v, rev, dirty := "devel", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v = mv
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	// Go stamps a pseudo-version (v0.0.0-TIME-REVISION[+dirty]) that
	// names the revision already; anything else gets it added.
	if short := rev[:min(len(rev), 12)]; short != "" && !strings.Contains(v, short) {
		v += " " + short
		if dirty {
			v += "+dirty"
		}
	}
	return v
})

// buildInfo is the nexus_build_info gauge: 1, labelled with the version.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "nexus_build_info",
		Help:        "Always 1; the version label is the running build's (as nexus --version prints it).",
		ConstLabels: prometheus.Labels{"version": Version()},
	})
	g.Set(1)
	return g
}
