#!/usr/bin/env bash
# Two nodes on one PostgreSQL (bench/pg.sh) and one S3 server (moto): what a request
# costs when the node asked is not the stream's (it is passed to the owner), the live
# edge on each, and how long a takeover takes after `kill -9` of the owner. Then the
# database cost of a heartbeat and of the configuration poll (examples/cluster_costs).
#
#   bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
OUT=bench/out/cluster
rm -rf "$OUT"; mkdir -p "$OUT"
SRC=bench/out/src-2500.flv
make_source "$SRC" 2500
URL=$(bench/pg.sh)
psql() { /usr/lib/postgresql/*/bin/psql -q -h 127.0.0.1 -p 15432 -U postgres "$@"; }
psql -d postgres -c "DROP DATABASE IF EXISTS cluster" -c "CREATE DATABASE cluster"
DB=${URL%/bench}/cluster
# Two days of synthetic timeline for bench.example/live/cam (from 2019-01-01), so a
# 24 h manifest is one of 2,880 fragments.
BENCH_DATABASE_URL=$DB cargo run --release -q -p rewind --example timeline_index -- "$OUT/idx" 2 >/dev/null
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; kill "$MOTO" 2>/dev/null || true; }
trap cleanup EXIT
for n in a b; do
  mkdir -p "$OUT/$n"
  printf 'database_url = "%s"\n[node]\nname = "%s"\n[timeline]\nrecord_all = true\n' "$DB" "$n" >"$OUT/$n.toml"
done
start_moto 15900 cluster "$OUT/a.toml"
sed -n '/\[storage\]/,$p' "$OUT/a.toml" >>"$OUT/b.toml"
$BIN serve --config "$OUT/a.toml" --data-dir "$OUT/a" --http-addr 127.0.0.1:18081 --rtmp-addr 127.0.0.1:11935 2>"$OUT/a.log" &
A=$!; PIDS+=("$A")
$BIN serve --config "$OUT/b.toml" --data-dir "$OUT/b" --http-addr 127.0.0.1:18082 --rtmp-addr 127.0.0.1:11936 2>"$OUT/b.log" &
PIDS+=("$!")
for p in 18081 18082; do for _ in $(seq 100); do curl -sf -o /dev/null "127.0.0.1:$p/healthz" && break; sleep 0.1; done; done
ffmpeg -v error -re -stream_loop 3 -i "$SRC" -c copy -rtmp_tcurl rtmp://bench.example/live -f flv rtmp://127.0.0.1:11935/live/cam &
PUSH=$!; PIDS+=("$PUSH")
sleep 20
S=/v1/streams/bench.example/live/cam
DAY="startTime=2019-01-01T12:00:00Z&endTime=2019-01-02T12:00:00Z"
# median_ms URL: the median of 50 GETs, in ms.
median_ms() {
  for _ in $(seq 50); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done |
    sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]*1000}'
}
# lag URL: seconds between now and the live manifest's media end.
lag() {
  end=$(curl -s -D - -o /dev/null "$1" | awk -F': ' 'tolower($1)=="x-media-end"{print $2}' | tr -d '\r')
  python3 -c "import datetime,sys; e=datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')); print(f'{(datetime.datetime.now(datetime.timezone.utc)-e).total_seconds():.2f}')" "$end"
}
echo "live manifest: owner $(median_ms "127.0.0.1:18081$S/manifest.m3u8") ms, other node $(median_ms "127.0.0.1:18082$S/manifest.m3u8") ms (median of 50)"
echo "availableMedia (day): owner $(median_ms "127.0.0.1:18081$S/availableMedia?precision=day") ms, other node $(median_ms "127.0.0.1:18082$S/availableMedia?precision=day") ms"
echo "24 h HLS manifest while live: owner $(median_ms "127.0.0.1:18081$S/manifest.m3u8?$DAY") ms, other node $(median_ms "127.0.0.1:18082$S/manifest.m3u8?$DAY") ms"
echo "live edge lag: owner $(lag "127.0.0.1:18081$S/manifest.m3u8") s, other node $(lag "127.0.0.1:18082$S/manifest.m3u8") s"
kill -9 "$A"
KILLED=$(date +%s.%N)
kill "$PUSH" 2>/dev/null || true
while :; do
  ffmpeg -v quiet -re -i "$SRC" -t 5 -c copy -rtmp_tcurl rtmp://bench.example/live -f flv rtmp://127.0.0.1:11936/live/cam &
  P=$!
  sleep 0.2
  if kill -0 "$P" 2>/dev/null && curl -s "127.0.0.1:18082$S" | grep -q '"node":"b"'; then break; fi
  wait "$P" 2>/dev/null || true
done
echo "takeover after kill -9 of the owner: $(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.2f}')" "$KILLED") s"
wait "$P" || true
sleep 2
echo "24 h HLS manifest, not live: $(median_ms "127.0.0.1:18082$S/manifest.m3u8?$DAY") ms (any node answers from the index)"
cleanup
trap - EXIT
BENCH_DATABASE_URL=$URL cargo run --release -q -p rewind --example cluster_costs
