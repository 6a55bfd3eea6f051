#!/usr/bin/env bash
# Timeline benchmark (issue 4): a synthetic index of one stream recorded for a year in
# 2 s fragments (~15.8 M fragments, built by examples/timeline_index.rs, which also
# times the library calls), then over HTTP: a 24 h HLS manifest, availableMedia by day
# and by year, and fragment serving by rewind vs nginx (sendfile) on the same files.
#
#   bench/timeline.sh            (DAYS=365 REQUESTS=2000 CONCURRENCY=8)
set -euo pipefail
cd "$(dirname "$0")/.."
DAYS=${DAYS:-365}
REQUESTS=${REQUESTS:-2000}
CONCURRENCY=${CONCURRENCY:-8}
OUT=bench/out; mkdir -p "$OUT"
command -v ab >/dev/null || { apt-get update -qq && apt-get install -y -qq apache2-utils >/dev/null; }
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; }
. bench/common.sh
D=$OUT/timeline-index
cargo run --release -q --example timeline_index -- "$D" "$DAYS"

HTTP=127.0.0.1:18960
$BIN serve --data-dir "$D" --rtmp-addr 127.0.0.1:19960 --http-addr $HTTP --log warn 2>"$OUT/timeline-server.log" &
RP=$!
trap 'kill $RP 2>/dev/null || true; [ -f "$OUT/nginx-tl/nginx.pid" ] && kill "$(cat "$OUT/nginx-tl/nginx.pid")" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf $HTTP/healthz >/dev/null && break; sleep 0.1; done
S=bench.example/live/cam
median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
timed() { for _ in $(seq 15); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done | median | awk '{printf "%.1f ms", $1*1000}'; }
echo "HTTP 24 h HLS manifest:            $(timed "$HTTP/v1/streams/$S/manifest.m3u8?startTime=2019-07-02T00:00:00Z&endTime=2019-07-03T00:00:00Z") ($(curl -s "$HTTP/v1/streams/$S/manifest.m3u8?startTime=2019-07-02T00:00:00Z&endTime=2019-07-03T00:00:00Z" | grep -c EXTINF) segments)"
echo "HTTP 24 h DASH manifest:           $(timed "$HTTP/v1/streams/$S/manifest.mpd?startTime=2019-07-02T00:00:00Z&endTime=2019-07-03T00:00:00Z")"
echo "HTTP availableMedia day, 31 days:  $(timed "$HTTP/v1/streams/$S/availableMedia?precision=day&startTime=2019-07-01&endTime=2019-07-31")"
echo "HTTP availableMedia year:          $(timed "$HTTP/v1/streams/$S/availableMedia?precision=year")"

# Fragment serving: real bytes for one chunk, a 500 KB fragment range of it, side by side.
CHUNK=$(curl -s "$HTTP/v1/streams/$S/manifest.m3u8?startTime=2019-07-02T12:00:00Z&endTime=2019-07-02T12:01:00Z" | grep -m1 '^timeline/chunks/' | sed 's|timeline/chunks/||')
CDIR="$D/timeline/bench.example/live/cam"; mkdir -p "$CDIR"
[ -f "$CDIR/$CHUNK" ] || head -c 7500000 /dev/urandom >"$CDIR/$CHUNK"
N=$OUT/nginx-tl; mkdir -p "$N/logs"
cat >"$N/nginx.conf" <<CFG
user root;
worker_processes 1;
daemon on;
pid $PWD/$N/nginx.pid;
error_log $PWD/$N/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  server { listen 127.0.0.1:18961; root $PWD/$CDIR; }
}
CFG
nginx -c "$PWD/$N/nginx.conf" -p "$PWD/$N"
sleep 0.5
RANGE="Range: bytes=1000000-1499999"
rate() { ab -q -k -n "$REQUESTS" -c "$CONCURRENCY" -H "$RANGE" "$1" 2>/dev/null | awk '/Transfer rate/{print $3}'; }
for round in 1 2 3; do
  RW=$(rate "http://$HTTP/v1/streams/$S/timeline/chunks/$CHUNK")
  NG=$(rate "http://127.0.0.1:18961/$CHUNK")
  echo "fragment serving round $round: rewind $RW KB/s, nginx sendfile $NG KB/s, ratio $(awk -v a="$RW" -v b="$NG" 'BEGIN{printf "%.2f", a/b}')"
done
