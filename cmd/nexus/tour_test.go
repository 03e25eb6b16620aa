package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeTourRunsAsWritten runs the README's five-minute tour — every
// command of its two blocks, of the curl block after them and of the
// SpiceDB section's service walk-through, in one shell, in order — against
// a fresh
// server, and compares what each prints with what the README shows under
// it: "…" stands for anything, times and ids are the run's own, and runs
// of spaces (table columns) count as one. A command the README shows
// failing (its output a "nexus: " line) must fail; the others must
// succeed, but for a check answering "denied", or "false" with
// --error-on-no-permission (status 1).
func TestReadmeTourRunsAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	steps := readmeTour(t)
	require.Greater(t, len(steps), 30, "the tour was not found in the README")

	work := t.TempDir()
	p := serve(t, filepath.Join(work, "nexus-data"))
	bin := filepath.Join(work, "bin")
	require.NoError(t, os.Mkdir(bin, 0o755))
	require.NoError(t, os.Symlink(tourBinary(t), filepath.Join(bin, "nexus")))
	require.NoError(t, os.WriteFile(filepath.Join(work, "Makefile"), []byte("all:\n\ttrue\n"), 0o644))

	sh := exec.Command("bash", "--noprofile", "--norc")
	sh.Dir = work
	sh.Env = append(os.Environ(), "NEXUS_TEST_MAIN=1", "NEXUS_URL="+p.url, "NEXUS_DATA_DIR="+filepath.Join(work, "nexus-data"),
		"PATH="+bin+":"+os.Getenv("PATH"), "NEXUS_TOKEN=")
	in, err := sh.StdinPipe()
	require.NoError(t, err)
	outPipe, err := sh.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, sh.Start())
	t.Cleanup(func() { in.Close(); _ = sh.Wait() })
	out := bufio.NewReader(outPipe)
	_, err = io.WriteString(in, "exec 2>&1\n")
	require.NoError(t, err)

	run := func(cmd string) (string, string) {
		_, err := fmt.Fprintf(in, "%s\necho \"@@rc=$?@@\"\n", cmd)
		require.NoError(t, err)
		var b strings.Builder
		for {
			line, err := out.ReadString('\n')
			require.NoError(t, err, "the shell ended during %q: %s", cmd, b.String())
			// curl's output ends without a newline: the marker may end a line.
			if before, rc, ok := strings.Cut(strings.TrimSpace(line), "@@rc="); ok {
				if before != "" {
					b.WriteString(before + "\n")
				}
				return b.String(), strings.TrimSuffix(rc, "@@")
			}
			b.WriteString(line)
		}
	}
	for _, s := range steps {
		// The README's curl lines name the default port; the test's server
		// listens on its own.
		got, rc := run(strings.ReplaceAll(s.cmd, "http://127.0.0.1:8080", p.url))
		fails := len(s.want) > 0 && strings.HasPrefix(s.want[len(s.want)-1], "nexus: ")
		denied := len(s.want) > 0 && (s.want[len(s.want)-1] == "denied" ||
			(s.want[len(s.want)-1] == "false" && strings.Contains(s.cmd, "--error-on-no-permission")))
		switch {
		case fails:
			require.NotEqual(t, "0", rc, "the README shows %q failing; it printed:\n%s", s.cmd, got)
		case denied:
			require.Equal(t, "1", rc, "%q: a denial exits 1; it printed:\n%s", s.cmd, got)
		default:
			require.Equal(t, "0", rc, "%q failed:\n%s", s.cmd, got)
		}
		if len(s.want) > 0 {
			require.True(t, tourMatch(s.want, got), "%q printed:\n%s\nthe README shows:\n%s", s.cmd, got, strings.Join(s.want, "\n"))
		}
	}
}

// tourBinary is the nexus the tour's shell runs: built without the race
// detector, whose runtime takes a second to start each of the tour's ~90
// commands (84 s for the test under -race, 8 s this way). If it cannot be
// built, the test binary stands in (NEXUS_TEST_MAIN).
func tourBinary(t *testing.T) string {
	exe := filepath.Join(t.TempDir(), "nexus")
	build := exec.Command("go", "build", "-o", exe, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Logf("building nexus for the tour failed, so the (slower) test binary runs it: %v\n%s", err, out)
		return os.Args[0]
	}
	return exe
}

type tourStep struct {
	cmd  string
	want []string // the lines the README shows under it, if any
}

// readmeTour returns the commands of the README's tour blocks and what it
// shows under each. A line that starts with "# " right below a command or
// its output is output (a file's first line); after a blank line, a
// comment.
func readmeTour(t *testing.T) []tourStep {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(b), "## A five-minute tour")
	require.True(t, ok)
	// The tour's two blocks, one session, the second using the first's
	// keys; then the same over HTTP with curl.
	var lines []string
	for range 3 {
		_, after, ok = strings.Cut(after, "```sh\n")
		require.True(t, ok)
		var block string
		block, after, ok = strings.Cut(after, "```")
		require.True(t, ok)
		lines = append(lines, strings.Split(block, "\n")...)
		lines = append(lines, "")
	}
	// Then a service's whole life, the SpiceDB section's first block.
	_, after, ok = strings.Cut(after, "## The SpiceDB API, for other services")
	require.True(t, ok)
	_, after, ok = strings.Cut(after, "```sh\n")
	require.True(t, ok)
	block, _, ok := strings.Cut(after, "```")
	require.True(t, ok)
	lines = append(lines, strings.Split(block, "\n")...)
	var steps []tourStep
	blank := true
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		// A command continued with a backslash goes on over the next lines.
		for strings.HasPrefix(line, "$ ") && strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(lines[i])
		}
		switch {
		case strings.HasPrefix(line, "$ "):
			cmd := strings.TrimPrefix(line, "$ ")
			// Building the CLI is this test's own; a file of 8 MiB is not at hand.
			if strings.Contains(cmd, "go build") || strings.Contains(cmd, "big.iso") {
				steps = append(steps, tourStep{cmd: ":"})
			} else {
				steps = append(steps, tourStep{cmd: cmd})
			}
			blank = false
		case line == "":
			blank = true
		case strings.HasPrefix(line, "#") && blank:
			// a comment
		case len(steps) > 0:
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
		}
	}
	return steps
}

var (
	tourTime   = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}`)
	tourID     = regexp.MustCompile(`\b(key|lnk|mem|user)_[a-z0-9]{26}\b`)
	tourSpaces = regexp.MustCompile(`[ \t]+`)
	// protojson puts a space after a separator or not, at random per build
	// (so that no one relies on its bytes): JSON lines compare without them.
	tourJSONSpace = regexp.MustCompile(`([,:]) `)
)

// tourMatch reports whether got shows the README's lines: the same lines,
// in order, with times and ids as placeholders, "…" matching anything.
func tourMatch(want []string, got string) bool {
	norm := func(s string) string {
		s = tourTime.ReplaceAllString(s, "TIME")
		s = tourID.ReplaceAllString(s, "${1}_…")
		s = strings.TrimSpace(tourSpaces.ReplaceAllString(s, " "))
		if strings.HasPrefix(s, "{") {
			s = tourJSONSpace.ReplaceAllString(s, "$1")
		}
		return s
	}
	// Blank lines (between tables) say nothing; the README's parse drops
	// them too.
	var lines []string
	for _, l := range strings.Split(got, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(want) {
		return false
	}
	for i, w := range want {
		w = norm(w)
		parts := strings.Split(w, "…")
		for j := range parts {
			parts[j] = regexp.QuoteMeta(parts[j])
		}
		if !regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(norm(lines[i])) {
			return false
		}
	}
	return true
}
