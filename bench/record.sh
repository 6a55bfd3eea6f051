#!/usr/bin/env bash
# Recording benchmark, side by side: rewind and nginx with its RTMP module both record
# the same N real-time pushes of a ~2.2 Mbps H.264+AAC FLV to FLV + HLS.
# Reports CPU-seconds per stream-second for each, their ratio, and rewind's RSS growth
# per recorded stream.
#
#   bench/record.sh [N ...]          (default: 10 50)
#   DURATION=60 ROUNDS=3 bench/record.sh 10
#
# CPU time on shared virtual machines is noisy (±50 % between identical runs here), so
# each N runs ROUNDS rounds, alternating rewind and nginx, and the medians are reported.
set -euo pipefail
cd "$(dirname "$0")/.."
NS=("$@"); [ ${#NS[@]} -gt 0 ] || NS=(10 50)
DURATION=${DURATION:-40}
ROUNDS=${ROUNDS:-3}
OUT=bench/out; mkdir -p "$OUT"
[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || { apt-get update -qq && apt-get install -y -qq nginx libnginx-mod-rtmp >/dev/null; }
. bench/common.sh
SRC=$OUT/2m2.flv
make_source "$SRC" 2050
push() { # url count
  $BIN push "$SRC" --url "$1" --count "$2" --duration "$DURATION" --ramp 3 >/dev/null 2>&1
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
printf "%5s %22s %22s %8s %18s\n" N rewind_cpu_s/stream_s nginx_cpu_s/stream_s ratio rewind_rss_MB/str
for N in "${NS[@]}"; do
 RWS=""; NGS=""; RSSS=""
 for ROUND in $(seq "$ROUNDS"); do
  # --- rewind
  D=$(mktemp -d)
  cat >"$D/rewind.toml" <<CFG
[[record_templates]]
template_id = 1
name = "flv+hls"
flv = { enable = true }
hls = { enable = true }
[[record_rules]]
domain = "*"
template_id = 1
CFG
  TOKIO_WORKER_THREADS=${BENCH_WORKERS:-2} $BIN serve --config "$D/rewind.toml" --data-dir "$D/data" --rtmp-addr 127.0.0.1:19945 --http-addr 127.0.0.1:18945 --log warn 2>"$OUT/rec-rewind-$N.log" &
  RP=$!
  for _ in $(seq 50); do curl -sf 127.0.0.1:18945/healthz >/dev/null && break; sleep 0.1; done
  R0=$(rss_kb $RP); C0=$(ticks $RP)
  push rtmp://127.0.0.1:19945/live/s "$N" &
  PP=$!; PEAK=$R0
  while kill -0 $PP 2>/dev/null; do sleep 1; R=$(rss_kb $RP); [ "$R" -gt "$PEAK" ] && PEAK=$R; done
  wait $PP || true
  C1=$(ticks $RP)
  kill -TERM $RP; wait $RP || true
  FILES=$(find "$D/data/media" -type f | wc -l)
  RW=$(awk -v a="$C0" -v b="$C1" -v t="$TCK" -v n="$N" -v d="$DURATION" 'BEGIN{printf "%.5f", (b-a)/t/(n*d)}')
  RSS=$(awk -v p="$PEAK" -v r="$R0" -v n="$N" 'BEGIN{printf "%.3f", (p-r)/1024/n}')
  rm -rf "$D"
  # --- nginx-rtmp
  D=$(mktemp -d); mkdir -p "$D/flv" "$D/hls" "$D/logs"
  cat >"$D/nginx.conf" <<CFG
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
user root;
worker_processes 1;
daemon off;
pid $D/nginx.pid;
error_log $D/logs/error.log warn;
events { worker_connections 4096; }
rtmp {
  server {
    listen 127.0.0.1:19946;
    application live {
      live on;
      record all;
      record_path $D/flv;
      record_unique on;
      hls on;
      hls_path $D/hls;
      hls_nested on;
    }
  }
}
CFG
  nginx -c "$D/nginx.conf" -p "$D" &
  NP=$!
  sleep 1
  PIDS="$NP $(pgrep -P $NP | tr '\n' ' ')"
  N0=$(ticks $PIDS)
  push rtmp://127.0.0.1:19946/live/s "$N"
  N1=$(ticks $PIDS)
  kill -QUIT $NP; wait $NP || true
  NFILES=$(find "$D/flv" "$D/hls" -type f | wc -l)
  NG=$(awk -v a="$N0" -v b="$N1" -v t="$TCK" -v n="$N" -v d="$DURATION" 'BEGIN{printf "%.5f", (b-a)/t/(n*d)}')
  rm -rf "$D"
  echo "  round $ROUND: rewind $RW, nginx $NG, rewind RSS/stream $RSS MB (files: rewind $FILES, nginx $NFILES)" >&2
  RWS="$RWS $RW"; NGS="$NGS $NG"; RSSS="$RSSS $RSS"
 done
  RW=$(echo "$RWS" | median); NG=$(echo "$NGS" | median); RSS=$(echo "$RSSS" | median)
  RATIO=$(awk -v a="$RW" -v b="$NG" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }')
  printf "%5s %22s %22s %8s %18s\n" "$N" "$RW" "$NG" "$RATIO" "$RSS"
done
