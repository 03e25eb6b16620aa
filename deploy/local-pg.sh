#!/usr/bin/env bash
# A local production-mode database for Nexus: a PostgreSQL primary, a
# streaming replica (synchronous, remote_apply: nothing acknowledged is lost
# on failover) and PgBouncer in transaction pooling mode, on local ports, in
# one directory. PostgreSQL and PgBouncer refuse to run as root: as root the
# servers run as user postgres.
#
#   deploy/local-pg.sh up   DIR   create (first time) and start; prints the URLs
#   deploy/local-pg.sh down DIR   stop everything
#   deploy/local-pg.sh env  DIR   print the environment for nexus (source it)
#
# Ports: PRIMARY_PORT (55432), REPLICA_PORT (55433), BOUNCER_PORT (56432).
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,13p' "$0" >&2; exit 2; }
PRIMARY_PORT=${PRIMARY_PORT:-55432}
REPLICA_PORT=${REPLICA_PORT:-55433}
BOUNCER_PORT=${BOUNCER_PORT:-56432}
bin=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "initdb not found: install PostgreSQL's server package (postgresql-15)" >&2; exit 1; }

as=()
if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi

# PgBouncer: Debian's package, installed here when missing and root may.
if [ "$cmd" = up ] && ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "local-pg: installing Debian's pgbouncer" >&2
    apt-get update -q >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer >/dev/null
  else
    echo "pgbouncer not found: install it (Debian: apt-get install pgbouncer)" >&2
    exit 1
  fi
fi
run() { "${as[@]}" "$@"; }

env_out() {
  cat <<ENV
export NEXUS_POSTGRES='postgres://postgres@127.0.0.1:${BOUNCER_PORT}/nexus?sslmode=disable'
export NEXUS_SPICEDB_POSTGRES='postgres://postgres@127.0.0.1:${BOUNCER_PORT}/nexus_spicedb?sslmode=disable'
# direct to the primary, for nexus migrate (not through PgBouncer):
export NEXUS_MIGRATE_POSTGRES='postgres://postgres@127.0.0.1:${PRIMARY_PORT}/nexus?sslmode=disable'
# the replica, for reads (nexus serve --postgres-replica):
export NEXUS_POSTGRES_REPLICAS='postgres://postgres@127.0.0.1:${REPLICA_PORT}/nexus?sslmode=disable'
# both servers, for failover without PgBouncer:
export NEXUS_FAILOVER_POSTGRES='postgres://postgres@127.0.0.1:${PRIMARY_PORT},127.0.0.1:${REPLICA_PORT}/nexus?sslmode=disable&target_session_attrs=read-write'
ENV
}

up() {
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if [ ! -d "$dir/primary" ]; then
    run "$bin/initdb" -D "$dir/primary" -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=trust >/dev/null
    cat >>"$dir/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$dir'
track_commit_timestamp = on          # SpiceDB's Watch (cross-node cache eviction)
wal_level = replica
max_wal_senders = 10
hot_standby = on
synchronous_standby_names = '*'      # zero-loss failover: commits wait for the replica ...
synchronous_commit = remote_apply    # ... to have applied them
max_connections = 300
CONF
    run "$bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null
    run "$bin/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$dir/replica" -R -X stream -c fast
    cat >>"$dir/replica/postgresql.conf" <<CONF
port = $REPLICA_PORT
synchronous_standby_names = ''
CONF
    run "$bin/pg_ctl" -D "$dir/replica" -l "$dir/replica.log" -w start >/dev/null
    run "$bin/psql" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -qc 'CREATE DATABASE nexus'
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
nexus         = host=127.0.0.1 port=$PRIMARY_PORT dbname=nexus
nexus_spicedb = host=127.0.0.1 port=$PRIMARY_PORT dbname=nexus connect_query='SET search_path TO spicedb'
; any other database name goes to the primary as is (make bench-pg's throwaway databases)
* = host=127.0.0.1 port=$PRIMARY_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
ignore_startup_parameters = extra_float_digits
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
INI
    echo '"postgres" ""' >"$dir/userlist.txt"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"/pgbouncer.ini "$dir"/userlist.txt
  else
    for node in primary replica; do
      [ -f "$dir/$node/postmaster.pid" ] || run "$bin/pg_ctl" -D "$dir/$node" -l "$dir/$node.log" -w start >/dev/null
    done
  fi
  if ! [ -f "$dir/pgbouncer.pid" ] || ! kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
    run pgbouncer -d "$dir/pgbouncer.ini"
  fi
  echo "primary 127.0.0.1:$PRIMARY_PORT, replica 127.0.0.1:$REPLICA_PORT (streaming, synchronous), PgBouncer 127.0.0.1:$BOUNCER_PORT"
  env_out
}

down() {
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pgbouncer.pid" ]; then kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; fi
  for node in replica primary; do
    if [ -f "$dir/$node/postmaster.pid" ]; then run "$bin/pg_ctl" -D "$dir/$node" -m fast -w stop >/dev/null || true; fi
  done
  echo "stopped"
}

case $cmd in
  up) up ;;
  down) down ;;
  env) env_out ;;
  *) echo "unknown command $cmd (up, down, env)" >&2; exit 2 ;;
esac
