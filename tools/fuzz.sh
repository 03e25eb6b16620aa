#!/bin/sh
# fuzz.sh: run every native fuzz target (func FuzzXxx in a _test.go file)
# for FUZZTIME each, one after another: go test -run '^$' -fuzz '^Name$'
# -fuzztime FUZZTIME ./pkg. The targets are found by grep, so a new one
# runs without a change here; FUZZ_TARGETS (a regexp on "pkg Name") narrows
# them. make test runs the same targets over their seed corpus (and the
# crashers kept in testdata/fuzz/) as ordinary tests. A failing target
# leaves its input in pkg/testdata/fuzz/Name/: fix the bug and commit it
# as a regression test. Prints one line a target, then the failures; fails
# if any target failed.
set -u
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZ_TARGETS=${FUZZ_TARGETS:-.}
cd "$(dirname "$0")/.."

targets=$(git ls-files '*_test.go' | xargs grep -H '^func Fuzz[A-Za-z0-9_]*(f \*testing.F)' |
	sed 's|^\(.*\)/[^/]*_test.go:func \(Fuzz[A-Za-z0-9_]*\)(.*|./\1 \2|' | sort | grep -E "$FUZZ_TARGETS")
if [ -z "$targets" ]; then
	echo "fuzz: no targets match $FUZZ_TARGETS"
	exit 1
fi
echo "fuzz: $(echo "$targets" | wc -l) targets, $FUZZTIME each"
failed=""
passed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
trap 'exit 130' INT TERM
echo "$targets" | {
	while read -r pkg name; do
		start=$(date +%s)
		$GO test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1
		rc=$?
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1)
		if [ $rc -eq 0 ]; then
			passed=$((passed + 1))
			echo "ok    $pkg $name ($(($(date +%s) - start)) s, $execs)"
		elif ! grep -q 'Failing input written to' "$log" && grep -q '^    context deadline exceeded$' "$log"; then
			# go test's fuzzer can end a run with this when -fuzztime runs
			# out while it minimizes a new interesting input: no input
			# failed.
			passed=$((passed + 1))
			echo "ok    $pkg $name ($(($(date +%s) - start)) s, $execs; ended by -fuzztime while minimizing, no failing input)"
		else
			failed="$failed $pkg:$name"
			echo "FAIL  $pkg $name"
			cat "$log" >&2
		fi
	done
	echo
	echo "fuzz: $passed passed, $(echo $failed | wc -w) failed"
	if [ -n "$failed" ]; then
		echo "fuzz: failed:$failed (new inputs in testdata/fuzz/:)"
		git status --porcelain -- '*/testdata/fuzz/*'
		exit 1
	fi
}
