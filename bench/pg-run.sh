#!/usr/bin/env bash
# make bench-pg: the production-mode benchmarks (scenarios pg_matrix and
# pg_api_check_vs_spicedb_server; BENCH_PG_SCENARIOS picks some) into OUT,
# each measured phase DURATION long.
#
#   bench/pg-run.sh [OUT [DURATION]]
#
# With NEXUS_BENCH_POSTGRES set (and optionally NEXUS_BENCH_POSTGRES_REPLICA
# and NEXUS_BENCH_PGBOUNCER; see bench/pg_env.go) it runs against those
# servers. Otherwise it creates a primary, a synchronous streaming replica
# and PgBouncer with deploy/local-pg.sh in a temporary directory on free
# ports (as user postgres when run as root), runs the benchmark, and stops
# and removes them, whatever happens.
set -euo pipefail
out=${1:-bench/results/latest-pg.json}
duration=${2:-5s}
GO=${GO:-go}
cd "$(dirname "$0")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nexus-bench-pg-XXXXXX")
chmod 755 "$tmp" # the servers run as user postgres under root
cluster=""
cleanup() {
  if [ -n "$cluster" ]; then deploy/local-pg.sh down "$cluster" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Build first, so the servers do not idle through a cold build.
echo "bench-pg: building ./bench" >&2
"$GO" build -o "$tmp/bench" ./bench
# BENCH_PG_SCENARIOS picks some of them (comma-separated).
scenarios=${BENCH_PG_SCENARIOS:-pg_matrix,pg_api_check_vs_spicedb_server}
# BENCH_FLAGS adds flags (-cpuprofile FILE, -blockprofile FILE).
run() { "$tmp/bench" -out "$out" -scenarios "$scenarios" -duration "$duration" ${BENCH_FLAGS:-}; }

if [ -n "${NEXUS_BENCH_POSTGRES:-}" ]; then
  run
  exit
fi

# A free port: one nothing listens on, and not taken by this script yet.
taken=" "
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 20000))
    case $taken in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      taken="$taken$p "
      echo "$p"
      return
    fi
  done
  echo "bench-pg: no free port found" >&2
  return 1
}
PRIMARY_PORT=$(free_port); taken="$taken$PRIMARY_PORT "
REPLICA_PORT=$(free_port); taken="$taken$REPLICA_PORT "
BOUNCER_PORT=$(free_port)
export PRIMARY_PORT REPLICA_PORT BOUNCER_PORT

cluster="$tmp/pg"
echo "bench-pg: starting a primary, a replica and PgBouncer in $cluster (deploy/local-pg.sh)" >&2
deploy/local-pg.sh up "$cluster" >"$tmp/up.log"
head -1 "$tmp/up.log" >&2
server() { echo "postgres://postgres@127.0.0.1:$1/postgres?sslmode=disable"; }
NEXUS_BENCH_POSTGRES=$(server "$PRIMARY_PORT") \
NEXUS_BENCH_POSTGRES_REPLICA=$(server "$REPLICA_PORT") \
NEXUS_BENCH_PGBOUNCER=$(server "$BOUNCER_PORT") \
  run
