#!/usr/bin/env bash
# A PostgreSQL cluster for the benchmarks, in bench/out/pg on port 15432 (the machine's
# own service is left alone). Prints the URL to give as BENCH_DATABASE_URL or
# database_url; `bench/pg.sh stop` stops it.
#
#   URL=$(bench/pg.sh) && BENCH_DATABASE_URL=$URL cargo run --release --example media_search
set -euo pipefail
cd "$(dirname "$0")/.."
D=$PWD/bench/out/pg
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
as_pg() { if [ "$EUID" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "${1:-}" = stop ]; then as_pg "$BIN/pg_ctl" -D "$D/data" -m fast -w stop >/dev/null; exit; fi
mkdir -p "$D"; chmod 777 "$D"
[ -d "$D/data" ] || as_pg "$BIN/initdb" -A trust -U postgres -E UTF8 -D "$D/data" >/dev/null
as_pg "$BIN/pg_ctl" -D "$D/data" -o "-p 15432 -k $D -c listen_addresses=127.0.0.1 -c shared_buffers=512MB" -l "$D/log" -w status >/dev/null 2>&1 ||
  as_pg "$BIN/pg_ctl" -D "$D/data" -o "-p 15432 -k $D -c listen_addresses=127.0.0.1 -c shared_buffers=512MB" -l "$D/log" -w start >/dev/null
"$BIN/createdb" -h 127.0.0.1 -p 15432 -U postgres bench 2>/dev/null || true
echo "postgres://postgres@127.0.0.1:15432/bench"
