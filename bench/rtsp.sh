#!/usr/bin/env bash
# RTSP pull benchmark (issue 18): N cameras pulled over RTSP against the same N streams
# pushed over RTMP, both recorded to FLV + HLS + the timeline; and how long a camera
# that comes back takes to be recorded again.
#
#   bench/rtsp.sh [N]            (default 20)
#   DURATION=30 ROUNDS=3 bench/rtsp.sh 20
#   TRANSPORT=udp bench/rtsp.sh 20   (the cameras pulled over RTP/UDP; default tcp)
#
# The cameras are GStreamer's RTSP server (tests/common/rtsp_server.py, --file) playing
# one ~2.2 Mbps 720p30 H.264+AAC file (no B-frames) to each client in real time; the pushes are
# rewind's load generator sending the same file. Only rewind's CPU is counted, over a
# steady window after every stream is live. RSS per stream is the growth over an idle
# server, less the GOP cache (rewind_hub_gop_cache_bytes), divided by N, averaged over
# the window. Cameras and pushes start spread over 3 s, so their key frames are not in step.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
DURATION=${DURATION:-30}
ROUNDS=${ROUNDS:-3}
TRANSPORT=${TRANSPORT:-tcp}
OUT=bench/out; mkdir -p "$OUT"
. bench/common.sh
# As bench/record.sh's source (720p30, ~2.2 Mbps H.264 + AAC), 120 s long and without
# B-frames, as IP cameras send (RTP carries presentation times only).
SRC=$OUT/2m2-120-nob.flv
[ -f "$SRC" ] || ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 \
  -t 120 -c:v libx264 -preset veryfast -bf 0 -pix_fmt yuv420p -g 60 -b:v 2050k -maxrate 2050k -bufsize 4100k \
  -c:a aac -b:a 128k -ac 2 -f flv "$SRC"
PY=/usr/bin/python3; [ -x $PY ] || PY=python3
HTTP=127.0.0.1:18955
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
metric() { curl -sf "$HTTP/metrics" | awk -v m="$1" '$1==m{print $2}'; }

start_cameras() { # sets GP
  $PY crates/rewind/tests/common/rtsp_server.py 18554 --file "$PWD/$SRC" >"$OUT/rtsp-gst.log" 2>&1 &
  GP=$!
  for _ in $(seq 100); do grep -q ready "$OUT/rtsp-gst.log" 2>/dev/null && break; sleep 0.1; done
}

start_rewind() { # DIR; sets RP
  cat >"$1/rewind.toml" <<CFG
[timeline]
record_all = true
[[record_templates]]
template_id = 1
name = "flv+hls"
flv = { enable = true }
hls = { enable = true }
[[record_rules]]
domain = "*"
template_id = 1
CFG
  TOKIO_WORKER_THREADS=${BENCH_WORKERS:-2} $BIN serve --config "$1/rewind.toml" --data-dir "$1/data" \
    --rtmp-addr 127.0.0.1:19955 --http-addr $HTTP --log warn 2>"$OUT/rtsp-rewind.log" &
  RP=$!
  for _ in $(seq 50); do curl -sf $HTTP/healthz >/dev/null && break; sleep 0.1; done
}

live_count() { curl -sf "$HTTP/v1/streams" | grep -o '"live":true' | wc -l; }

# measure: after every stream is live and 5 s settled, CPU ticks over DURATION, and RSS
# (less the GOP cache) sampled every 5 s of it and averaged: one instant can land just
# after the streams' GOP caches were emptied and before the allocator gave their pages
# back, which reads as a few hundred KiB per stream more than there is.
measure() { # sets CPU (per stream-second) and RSSK (KiB per stream, less GOP cache)
  for _ in $(seq 300); do [ "$(live_count)" -ge "$N" ] && break; sleep 0.1; done
  [ "$(live_count)" -ge "$N" ] || { echo "only $(live_count) of $N live" >&2; exit 1; }
  sleep 5
  local t0 t1 samples="" s
  t0=$(ticks $RP)
  for ((s = 0; s < DURATION; s += 5)); do
    sleep 5
    samples+="$(rss_kb $RP) $(metric rewind_hub_gop_cache_bytes)"$'\n'
  done
  t1=$(ticks $RP)
  CPU=$(awk -v a="$t0" -v b="$t1" -v t="$TCK" -v n="$N" -v d="$DURATION" 'BEGIN{printf "%.5f", (b-a)/t/(n*d)}')
  RSSK=$(echo -n "$samples" | awk -v i="$IDLE" -v n="$N" '{s += ($1 - i - $2/1024) / n; c++} END{printf "%.0f", s/c}')
}

pull_round() {
  local d; d=$(mktemp -d)
  start_rewind "$d"
  IDLE=$(rss_kb $RP)
  for i in $(seq "$N"); do
    curl -sf -XPOST $HTTP/v1/sources -d "{\"url\":\"rtsp://127.0.0.1:18554/file\",\"app\":\"bench\",\"stream\":\"c$i\",\"transport\":\"$TRANSPORT\"}" >/dev/null
    sleep "$(awk -v n="$N" 'BEGIN{print 3/n}')" # spread over 3 s, as the pushes' --ramp 3
  done
  measure
  kill $RP; wait $RP 2>/dev/null || true
  rm -rf "$d"
}

push_round() {
  local d; d=$(mktemp -d)
  start_rewind "$d"
  IDLE=$(rss_kb $RP)
  $BIN push "$SRC" --url rtmp://127.0.0.1:19955/bench/p --count "$N" --duration $((DURATION + 20)) --ramp 3 >/dev/null 2>&1 &
  local pp=$!
  measure
  kill $pp 2>/dev/null || true
  kill $RP; wait $RP 2>/dev/null || true
  rm -rf "$d"
}

RP=""
start_cameras
trap 'kill $GP $RP 2>/dev/null || true' EXIT
PULL=() PUSH=() PULLR=() PUSHR=()
for r in $(seq "$ROUNDS"); do
  pull_round; PULL+=("$CPU"); PULLR+=("$RSSK")
  push_round; PUSH+=("$CPU"); PUSHR+=("$RSSK")
  echo "round $r: pull ${PULL[-1]} cpu-s/stream-s, ${PULLR[-1]} KiB/stream; push ${PUSH[-1]}, ${PUSHR[-1]} KiB/stream"
done
P=$(echo "${PULL[*]}" | median); Q=$(echo "${PUSH[*]}" | median)
echo "N=$N median over $ROUNDS rounds: RTSP pull $P, RTMP push $Q cpu-s per stream-s; ratio $(awk -v a="$P" -v b="$Q" 'BEGIN{printf "%.2f", a/b}')"
echo "RSS per stream (less GOP cache): pull $(echo "${PULLR[*]}" | median) KiB, push $(echo "${PUSHR[*]}" | median) KiB"

# A camera that comes back: the server killed for 3 s, started again; time from its
# "ready" to the source live again (its recorders started), three times.
d=$(mktemp -d)
start_rewind "$d"
curl -sf -XPOST $HTTP/v1/sources -d '{"url":"rtsp://127.0.0.1:18554/h264","app":"bench","stream":"back"}' >/dev/null
state() { curl -sf "$HTTP/v1/sources/bench.back" | grep -o '"state":"[a-z]*"' | cut -d'"' -f4; }
for _ in 1 2 3; do
  for _ in $(seq 200); do [ "$(state)" = live ] && break; sleep 0.05; done
  kill $GP; wait $GP 2>/dev/null || true
  for _ in $(seq 200); do [ "$(state)" = retrying ] && break; sleep 0.05; done
  sleep 3
  start_cameras
  t0=$(date +%s.%N)
  for _ in $(seq 800); do [ "$(state)" = live ] && break; sleep 0.02; done
  echo "camera back: recording again after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"
done
kill $RP; wait $RP 2>/dev/null || true
rm -rf "$d"
