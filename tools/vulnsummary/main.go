// Command vulnsummary reads govulncheck's JSON stream (govulncheck -format
// json) on stdin and prints the vulnerabilities the code reaches (a
// finding whose trace names a function), one line each: ID, module, found
// and fixed versions, summary. It exits 3 if any is in a module (which
// go.mod can upgrade), and also for the standard library with
// -stdlib-fatal; else 0. Findings in imported packages or required
// modules that the code does not call are counted, not listed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
}

type message struct {
	Config *struct {
		DB        string `json:"db"`
		GoVersion string `json:"go_version"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV   string  `json:"osv"`
		Fixed string  `json:"fixed_version"`
		Trace []frame `json:"trace"`
	} `json:"finding"`
}

type key struct{ id, module string }

func main() {
	stdlibFatal := flag.Bool("stdlib-fatal", false, "exit 3 for reachable vulnerabilities in the standard library too")
	flag.Parse()
	summaries := map[string]string{}
	reached := map[key][2]string{} // found, fixed
	unreached := map[string]bool{}
	dec := json.NewDecoder(os.Stdin)
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "vulnsummary: reading govulncheck's output:", err)
			os.Exit(2)
		}
		switch {
		case m.Config != nil:
			fmt.Printf("vulncheck: database %s, %s\n", m.Config.DB, m.Config.GoVersion)
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := m.Finding
			if f.Trace[0].Function == "" {
				unreached[f.OSV] = true
				continue
			}
			reached[key{f.OSV, f.Trace[0].Module}] = [2]string{f.Trace[0].Version, f.Fixed}
		}
	}
	keys := make([]key, 0, len(reached))
	for k := range reached {
		keys = append(keys, k)
		delete(unreached, k.id)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].module != keys[j].module {
			return keys[i].module < keys[j].module
		}
		return keys[i].id < keys[j].id
	})
	modIDs, stdIDs := map[string]bool{}, map[string]bool{}
	for _, k := range keys {
		v := reached[k]
		fixed := v[1]
		if fixed == "" {
			fixed = "no fix yet"
		}
		fmt.Printf("REACHABLE  %s  %s@%s  fixed in %s  %s\n", k.id, k.module, v[0], fixed, summaries[k.id])
		if k.module == "stdlib" {
			stdIDs[k.id] = true
		} else {
			modIDs[k.id] = true
		}
	}
	modules, stdlib := len(modIDs), len(stdIDs)
	fmt.Printf("vulncheck: %d vulnerabilities reached in modules, %d in the standard library; %d more in code that is not called\n", modules, stdlib, len(unreached))
	if stdlib > 0 && !*stdlibFatal {
		fmt.Println("vulncheck: WARNING: the standard library's are fixed only by a newer Go toolchain (the version above); they do not fail this run (VULNCHECK_STDLIB=fatal makes them)")
	}
	if modules > 0 || (stdlib > 0 && *stdlibFatal) {
		os.Exit(3)
	}
}
