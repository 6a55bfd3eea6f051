#!/usr/bin/env bash
# Recording benchmark, side by side: rewind and nginx with its RTMP module both record
# the same N real-time pushes of a ~2.2 Mbps H.264+AAC FLV to FLV + HLS.
# Reports CPU-seconds per stream-second for each, their ratio, and rewind's RSS growth
# per recorded stream.
#
#   bench/record.sh [N ...]          (default: 10 50)
#   DURATION=60 ROUNDS=3 bench/record.sh 10
#   TOGETHER=1 bench/record.sh 50    (both servers at once, each with its own N pushers)
#   TOGETHER=1 STEADY=1 bench/record.sh 50   (CPU over the steady middle of the pushes only)
#   TIMELINE=1 bench/record.sh 50    (rewind also archives every stream into its timeline)
#   STORAGE=s3 TIMELINE=1 bench/record.sh 50  (rewind keeps everything in an S3 bucket:
#                                    moto's server from target/tools, as the tests use;
#                                    the CPU window then ends when the spool is empty)
#
# CPU time on shared virtual machines is noisy (±50 % between identical runs here), so
# each N runs ROUNDS rounds and the medians are reported. By default the servers take
# turns; with TOGETHER=1 they run at the same time over the same window, so whatever
# the machine does to one it does to the other and their ratio is steadier.
# By default the CPU is counted from before the first push connects to after the last one
# ends and rewind has finished its files, so each push's fixed costs (connect, file and
# library set-up, closing and syncing the files) are spread over DURATION; STEADY=1
# counts from 5 s after the start to 3 s before the end (needs TOGETHER=1 and
# DURATION > 10): the cost of recording itself.
set -euo pipefail
cd "$(dirname "$0")/.."
NS=("$@"); [ ${#NS[@]} -gt 0 ] || NS=(10 50)
DURATION=${DURATION:-40}
ROUNDS=${ROUNDS:-3}
TOGETHER=${TOGETHER:-0}
STEADY=${STEADY:-0}
TIMELINE=${TIMELINE:-0}
STORAGE=${STORAGE:-local}
OUT=bench/out; mkdir -p "$OUT"
[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || { apt-get update -qq && apt-get install -y -qq nginx libnginx-mod-rtmp >/dev/null; }
. bench/common.sh
SRC=$OUT/2m2.flv
make_source "$SRC" 2050
push() { # url count
  $BIN push "$SRC" --url "$1" --count "$2" --duration "$DURATION" --ramp 3 >/dev/null 2>&1
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
per_stream_s() { awk -v a="$1" -v b="$2" -v t="$TCK" -v n="$3" -v d="$WINDOW" 'BEGIN{printf "%.5f", (b-a)/t/(n*d)}'; }
WINDOW=$DURATION
if [ "$STEADY" = 1 ]; then
  [ "$TOGETHER" = 1 ] && [ "$DURATION" -gt 10 ] || { echo "STEADY=1 needs TOGETHER=1 and DURATION > 10" >&2; exit 2; }
  WINDOW=$((DURATION - 8))
fi

# start_rewind DIR: sets RP (pid).
start_rewind() {
  : >"$1/rewind.toml"
  [ "$TIMELINE" = 1 ] && printf '[timeline]\nrecord_all = true\n' >>"$1/rewind.toml"
  if [ "$STORAGE" = s3 ]; then
    start_moto 19947 rec "$1/rewind.toml"
  fi
  cat >>"$1/rewind.toml" <<CFG
[[record_templates]]
template_id = 1
name = "flv+hls"
flv = { enable = true }
hls = { enable = true }
[[record_rules]]
domain = "*"
template_id = 1
CFG
  TOKIO_WORKER_THREADS=${BENCH_WORKERS:-2} $BIN serve --config "$1/rewind.toml" --data-dir "$1/data" --rtmp-addr 127.0.0.1:19945 --http-addr 127.0.0.1:18945 --log warn 2>"$OUT/rec-rewind-$N.log" &
  RP=$!
  for _ in $(seq 50); do curl -sf 127.0.0.1:18945/healthz >/dev/null && break; sleep 0.1; done
}

# start_nginx DIR: sets NPIDS (master and worker).
start_nginx() {
  mkdir -p "$1/flv" "$1/hls" "$1/logs"
  cat >"$1/nginx.conf" <<CFG
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
user root;
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 4096; }
rtmp {
  server {
    listen 127.0.0.1:19946;
    application live {
      live on;
      record all;
      record_path $1/flv;
      record_unique on;
      hls on;
      hls_path $1/hls;
      hls_nested on;
    }
  }
}
CFG
  nginx -c "$1/nginx.conf" -p "$1" &
  NP=$!
  sleep 1
  NPIDS="$NP $(pgrep -P $NP | tr '\n' ' ')"
}

printf "%5s %22s %22s %8s %18s\n" N rewind_cpu_s/stream_s nginx_cpu_s/stream_s ratio rewind_rss_MB/str
for N in "${NS[@]}"; do
 RWS=""; NGS=""; RSSS=""; RATIOS=""
 for ROUND in $(seq "$ROUNDS"); do
  RD=$(mktemp -d); ND=$(mktemp -d)
  start_rewind "$RD"
  [ "$TOGETHER" = 1 ] && start_nginx "$ND"
  R0=$(rss_kb $RP); C0=$(ticks $RP); [ "$TOGETHER" = 1 ] && N0=$(ticks $NPIDS)
  push rtmp://127.0.0.1:19945/live/s "$N" &
  PP=$!; PEAK=$R0
  [ "$TOGETHER" = 1 ] && { push rtmp://127.0.0.1:19946/live/s "$N" & NPP=$!; }
  if [ "$STEADY" = 1 ]; then
    sleep 5; C0=$(ticks $RP); N0=$(ticks $NPIDS)
    sleep "$WINDOW"; C1=$(ticks $RP); N1=$(ticks $NPIDS)
    R=$(rss_kb $RP); [ "$R" -gt "$PEAK" ] && PEAK=$R
  fi
  while kill -0 $PP 2>/dev/null; do sleep 1; R=$(rss_kb $RP); [ "$R" -gt "$PEAK" ] && PEAK=$R; done
  wait $PP || true
  # Pushers gone, rewind still finishes its files (flush, sync, library): count that too.
  for _ in $(seq 100); do
    curl -sf 127.0.0.1:18945/metrics | grep -q '^rewind_recorders_active 0$' && break
    sleep 0.1
  done
  if [ "$STORAGE" = s3 ]; then
    for _ in $(seq 600); do
      curl -sf 127.0.0.1:18945/metrics | grep -q '^rewind_storage_spool_bytes 0$' && break
      sleep 0.1
    done
  fi
  [ "$STEADY" = 1 ] || C1=$(ticks $RP)
  if [ "$TOGETHER" = 1 ]; then wait $NPP || true; [ "$STEADY" = 1 ] || N1=$(ticks $NPIDS); fi
  kill -TERM $RP; wait $RP || true
  FILES=$(find "$RD/data/media" -type f | wc -l)
  if [ "$STORAGE" = s3 ]; then
    FILES=$(curl -s -H 'Authorization: AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0' \
      "127.0.0.1:19947/bench?list-type=2&prefix=rec/media/&max-keys=100000" | grep -o '<Key>' | wc -l)
    kill $MOTO; wait $MOTO 2>/dev/null || true
  fi
  RW=$(per_stream_s "$C0" "$C1" "$N")
  RSS=$(awk -v p="$PEAK" -v r="$R0" -v n="$N" 'BEGIN{printf "%.3f", (p-r)/1024/n}')
  if [ "$TOGETHER" != 1 ]; then
    start_nginx "$ND"
    N0=$(ticks $NPIDS)
    push rtmp://127.0.0.1:19946/live/s "$N"
    N1=$(ticks $NPIDS)
  fi
  kill -QUIT $NP; wait $NP || true
  NFILES=$(find "$ND/flv" "$ND/hls" -type f | wc -l)
  NG=$(per_stream_s "$N0" "$N1" "$N")
  rm -rf "$RD" "$ND"
  R=$(awk -v a="$RW" -v b="$NG" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }')
  echo "  round $ROUND: rewind $RW, nginx $NG, ratio $R, rewind RSS/stream $RSS MB (files: rewind $FILES, nginx $NFILES)" >&2
  RWS="$RWS $RW"; NGS="$NGS $NG"; RSSS="$RSSS $RSS"; RATIOS="$RATIOS $R"
 done
  RW=$(echo "$RWS" | median); NG=$(echo "$NGS" | median); RSS=$(echo "$RSSS" | median)
  RATIO=$(awk -v a="$RW" -v b="$NG" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }')
  printf "%5s %22s %22s %8s %18s   (median of round ratios: %s)\n" "$N" "$RW" "$NG" "$RATIO" "$RSS" "$(echo "$RATIOS" | median)"
done
