#!/usr/bin/env bash
# Ingest benchmark: server CPU-seconds per stream-second and RSS per stream while
# `rewind push` sends N concurrent real-time copies of a ~2 Mbps H.264+AAC FLV.
#
#   bench/ingest.sh [N ...]        (default: 1 10 100 500)
#   DURATION=30 bench/ingest.sh 10
#
# Prints one line per N. RSS per stream excludes the GOPs held for joining readers
# (rewind_hub_gop_cache_bytes), as the goal states.
set -euo pipefail
cd "$(dirname "$0")/.."
NS=("$@"); [ ${#NS[@]} -gt 0 ] || NS=(1 10 100 500)
DURATION=${DURATION:-30}
OUT=bench/out; mkdir -p "$OUT"
. bench/common.sh
SRC=$OUT/2mbps.flv
make_source "$SRC" 1900
printf "%6s %10s %14s %12s %10s %12s %12s\n" N bitrate_kbps cpu_s/stream_s rss_MB/stream gop_KB/str peak_rss_MB pusher_cpu_s
for N in "${NS[@]}"; do
  DATA=$(mktemp -d)
  $BIN serve --data-dir "$DATA" --rtmp-addr 127.0.0.1:19935 --http-addr 127.0.0.1:18935 --log warn 2>"$OUT/server-$N.log" &
  SPID=$!
  for _ in $(seq 50); do curl -sf 127.0.0.1:18935/healthz >/dev/null && break; sleep 0.1; done
  RSS0=$(rss_kb $SPID); C0=$(ticks $SPID)
  RAMP=$(awk -v n="$N" 'BEGIN{print (n>50)?5:1}')
  ( TIMEFORMAT='%U %S'; time $BIN push "$SRC" --url rtmp://127.0.0.1:19935/live/s --count "$N" \
      --duration "$DURATION" --ramp "$RAMP" >"$OUT/push-$N.log" 2>&1 ) 2>"$OUT/push-time-$N" &
  PPID_=$!
  PEAK=0; KBPS=0; : >"$OUT/samples-$N"
  while kill -0 $PPID_ 2>/dev/null; do
    sleep 1
    R=$(rss_kb $SPID); [ "$R" -gt "$PEAK" ] && PEAK=$R
    GOP=$(curl -s 127.0.0.1:18935/metrics | awk '/^rewind_hub_gop_cache_bytes/{print $2}')
    LIVE=$(curl -s 127.0.0.1:18935/metrics | awk '/^rewind_publishes_active/{print $2}')
    echo "$R ${GOP:-0} ${LIVE:-0}" >>"$OUT/samples-$N"
    K=$(curl -s 127.0.0.1:18935/v1/streams | python3 -c 'import json,sys; s=json.load(sys.stdin)["streams"]; print(s[0]["bitrate_kbps"] if s else 0)')
    [ "$K" -gt 0 ] && KBPS=$K
  done
  wait $PPID_ || true
  PCPU=$(awk '{printf "%.2f", $1+$2}' "$OUT/push-time-$N")
  C1=$(ticks $SPID)
  kill -TERM $SPID; wait $SPID || true
  rm -rf "$DATA"
  # RSS per stream: mean over samples with every stream live of (RSS - idle RSS - GOP bytes) / N.
  RSSN=$(awk -v n="$N" -v r0="$RSS0" '$3==n {s+=($1-r0)*1024-$2; c++} END{ if(c) printf "%.3f", s/c/n/1048576; else print "n/a" }' "$OUT/samples-$N")
  GOPN=$(awk -v n="$N" '$3==n {s+=$2; c++} END{ if(c) printf "%.0f", s/c/n/1024; else print "n/a" }' "$OUT/samples-$N")
  awk -v n="$N" -v d="$DURATION" -v c0="$C0" -v c1="$C1" -v t="$TCK" -v pk="$PEAK" -v k="$KBPS" -v pc="$PCPU" -v rs="$RSSN" -v g="$GOPN" \
    'BEGIN{ printf "%6d %10d %14.5f %12s %10s %12.1f %12s\n", n, k, (c1-c0)/t/(n*d), rs, g, pk/1024, pc }'
done
