#!/bin/sh
# cpuburn.sh SECONDS [PROCS]: keep PROCS cores busy (default 1) for at most
# SECONDS, then exit; killing it (TERM, INT) stops every loop at once. Used
# by tools/test-repeat.sh to run the suite on a loaded machine.
set -eu
secs=${1:?usage: cpuburn.sh SECONDS [PROCS]}
procs=${2:-1}
pids=""
trap 'kill $pids 2>/dev/null; exit 0' INT TERM
i=0
while [ "$i" -lt "$procs" ]; do
	# timeout bounds each loop even if this script is killed with KILL.
	timeout "$secs" sh -c 'while :; do :; done' &
	pids="$pids $!"
	i=$((i + 1))
done
wait $pids 2>/dev/null || true
