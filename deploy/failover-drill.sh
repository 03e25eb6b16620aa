#!/usr/bin/env bash
# The failover drill, on the cluster of deploy/local-pg.sh (run `up` first):
# a nexus node on the multi-host URL (target_session_attrs=read-write), reading
# from the replica too (NEXUS_POSTGRES_REPLICAS), writes; the primary is
# stopped hard; reads and checks go on from the replica; writes fail fast
# with `unavailable`; the replica is promoted; writes resume and everything acknowledged is there
# (synchronous_commit = remote_apply).
#
#   deploy/failover-drill.sh DIR [ADDR]     (ADDR: 127.0.0.1:18080)
#
# Afterwards the old primary is stale: start over with
#   deploy/local-pg.sh down DIR && rm -rf DIR && deploy/local-pg.sh up DIR
set -euo pipefail
dir=${1:?usage: deploy/failover-drill.sh DIR [ADDR]}; addr=${2:-127.0.0.1:18080}
dir=$(cd "$dir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
eval "$("$here/local-pg.sh" env "$dir")"
# The drill's node talks to both servers directly; PgBouncer points at the
# old primary and would have to be repointed after the promotion.
unset NEXUS_POSTGRES NEXUS_SPICEDB_POSTGRES
bin=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as=(); if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi

nexus=${NEXUS_BIN:-}
if [ -z "$nexus" ]; then
  echo "== building nexus"
  (cd "$here/.." && go build -o "$dir/nexus" ./cmd/nexus); nexus=$dir/nexus
fi
step() { printf '\n== %s\n' "$*"; }
timed() { local s=$(date +%s%N); set +e; "$@"; local rc=$?; set -e; echo "   (exit $rc, $(( ($(date +%s%N) - s) / 1000000 )) ms)"; }

step "migrate (directly on the primary)"
"$nexus" migrate --postgres "$NEXUS_MIGRATE_POSTGRES"

step "start a node on $NEXUS_FAILOVER_POSTGRES, reading from $NEXUS_POSTGRES_REPLICAS"
rm -rf "$dir/node"
"$nexus" serve --postgres "$NEXUS_FAILOVER_POSTGRES" --data-dir "$dir/node" --addr "$addr" 2>"$dir/node.log" &
node=$!
trap 'kill $node 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
# The node wrote an admin key if it bootstrapped the database; on a database
# other nodes bootstrapped (the README's walk-through), theirs is the key.
key=$(cat "$dir/node/admin.key" 2>/dev/null || cat "$dir"/*/admin.key 2>/dev/null | head -1)
[ -n "$key" ] || { echo "no admin key in $dir/*/admin.key; see $dir/node.log" >&2; exit 1; }
export NEXUS_URL=http://$addr NEXUS_TOKEN=$key
echo "before the failover" >"$dir/note.txt"
"$nexus" fs put "$dir/note.txt" /drill/before.txt

step "stop the primary hard (pg_ctl -m immediate)"
"${as[@]}" "$bin/pg_ctl" -D "$dir/primary" -m immediate -w stop

step "reads and checks while the primary is down are answered by the replica"
timed "$nexus" fs cat /drill/before.txt
timed "$nexus" check /drill/before.txt read user:admin

step "a write while the primary is down fails fast"
timed "$nexus" fs put "$dir/note.txt" /drill/during.txt

step "promote the replica"
"${as[@]}" "$bin/pg_ctl" -D "$dir/replica" -w promote

step "writes resume on the new primary"
for i in $(seq 50); do
  if "$nexus" fs put "$dir/note.txt" /drill/after.txt 2>/dev/null; then break; fi
  sleep 0.2
done
"$nexus" fs ls /drill
step "what was acknowledged before the failover is there"
"$nexus" fs cat /drill/before.txt
