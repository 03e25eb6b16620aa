#!/bin/sh
# test-repeat.sh: run the tests that start servers, clusters or watches
# N times each (go test -count=N -run PATTERN per package), then the whole
# suite (make test) WHOLE times with a CPU burner beside it, and print how
# many runs and failures. See `make test-repeat` for the knobs; every knob
# is an environment variable.
set -u
GO=${GO:-go}
MAKE=${MAKE:-make}
N=${N:-20}
WHOLE=${WHOLE:-3}
FLAGS=${REPEAT_FLAGS:--race}
BURN_PROCS=${BURN_PROCS:-1}
BURN_SECONDS=${BURN_SECONDS:-3600}
# package|pattern, one a line: the suites that start servers, clusters or
# watches, narrowed to the tests that do (see the Makefile for timings).
SUITES=${REPEAT_SUITES:-"./authz|^(TestCache|TestPostgres|TestBulkCheck)
./server|^(TestSpiceDBAPI|TestOpenPostgres|TestPostgres|TestDataSurvivesRestartAndShutdownIsClean|TestHiddenAndMissingAnswerAlike)
./cmd/nexus|^(TestPostgresTwoNodesAreOneService|TestPostgresPrimaryDownWritesFailFast|TestCrashKeepsEveryAcknowledgedWrite)"}

log=$(mktemp)
burner=""
cleanup() {
	[ -n "$burner" ] && kill "$burner" 2>/dev/null && wait "$burner" 2>/dev/null
	rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

summary=""
total_runs=0
total_fails=0
note() { summary="$summary$1
"; }

# failures prints the names of the top-level tests that failed in $log.
failures() { grep -E '^--- FAIL: ' "$log" | awk '{print $3}' | sort | uniq -c | awk '{printf " %s(x%s)", $2, $1}'; }

if [ "$N" -gt 0 ]; then
	echo "$SUITES" | while IFS='|' read -r pkg pattern; do
		[ -n "$pkg" ] || continue
		start=$(date +%s)
		$GO test $FLAGS -count="$N" -timeout 60m -run "$pattern" "$pkg" >"$log" 2>&1
		rc=$?
		secs=$(($(date +%s) - start))
		tests=$($GO test -list "$pattern" "$pkg" 2>/dev/null | grep -c '^Test')
		nfail=$(grep -cE '^--- FAIL: ' "$log")
		[ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ] && nfail=1 # a panic, a timeout, a build failure
		if [ "$rc" -ne 0 ]; then
			tail -50 "$log" >&2 # the reason, outside the summary
		fi
		echo "repeat $pkg -run '$pattern': $N x $tests tests, $((N * tests)) runs, $nfail failed$(failures) in ${secs}s"
	done | tee "$log.summary"
	summary=$(cat "$log.summary"; rm -f "$log.summary")
fi

whole_runs=0
whole_fails=0
i=1
while [ "$i" -le "$WHOLE" ]; do
	timeout "$BURN_SECONDS" sh tools/cpuburn.sh "$BURN_SECONDS" "$BURN_PROCS" &
	burner=$!
	start=$(date +%s)
	$MAKE --no-print-directory test >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	kill "$burner" 2>/dev/null; wait "$burner" 2>/dev/null; burner=""
	whole_runs=$((whole_runs + 1))
	if [ "$rc" -ne 0 ]; then
		whole_fails=$((whole_fails + 1))
		grep -E '^(--- FAIL|FAIL|panic:)' "$log" | head -40
	fi
	line="whole suite (make test) under $BURN_PROCS CPU burner(s), run $i/$WHOLE: $([ "$rc" -eq 0 ] && echo ok || echo FAILED)$(failures) in ${secs}s"
	echo "$line"
	summary="$summary
$line"
	i=$((i + 1))
done

echo
echo "== test-repeat summary"
echo "$summary" | sed '/^$/d'
pkg_fails=$(echo "$summary" | sed -n 's/^repeat .* runs, \([0-9]*\) failed.*/\1/p' | awk '{s+=$1} END {print s+0}')
echo "repeated packages: $pkg_fails failure(s); whole suite: $whole_runs run(s), $whole_fails failed"
[ "$pkg_fails" -eq 0 ] && [ "$whole_fails" -eq 0 ]
