#!/usr/bin/env bash
# Reading back from S3 (issue 16): time to first byte of a timeline segment, an HLS
# recording's segment and a DASH part served by rewind from the bucket (moto's server
# from target/tools, as the tests use), over loopback; the local folder for comparison.
#
#   bench/s3_read.sh            (REQUESTS=50)
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-50}
OUT=bench/out; mkdir -p "$OUT"
. bench/common.sh
SRC=$OUT/2m2.flv
make_source "$SRC" 2050
median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
ttfb() { for _ in $(seq "$REQUESTS"); do curl -s -o /dev/null -H "Range: bytes=$2" -w '%{time_starttransfer}\n' "$1"; done | median | awk '{printf "%.2f ms", $1*1000}'; }

run() { # STORAGE
  local D; D=$(mktemp -d)
  printf '[timeline]\nrecord_all = true\n[[record_templates]]\ntemplate_id = 1\nname = "hls"\nhls = { enable = true }\n[[record_rules]]\ndomain = "*"\ntemplate_id = 1\n' >"$D/rewind.toml"
  local MOTO=""
  if [ "$1" = s3 ]; then
    start_moto 19967 read "$D/rewind.toml"
  fi
  $BIN serve --config "$D/rewind.toml" --data-dir "$D/data" --rtmp-addr 127.0.0.1:19965 --http-addr 127.0.0.1:18965 --log warn 2>"$OUT/s3-read-$1.log" &
  local RP=$!
  for _ in $(seq 100); do curl -sf 127.0.0.1:18965/healthz >/dev/null && break; sleep 0.1; done
  $BIN push "$SRC" --url rtmp://127.0.0.1:19965/live/r --count 1 --duration 35 >/dev/null 2>&1
  for _ in $(seq 300); do
    curl -sf 127.0.0.1:18965/metrics | grep -q '^rewind_recorders_active 0$' &&
      curl -sf 127.0.0.1:18965/metrics | grep -q '^rewind_storage_spool_bytes 0$' && break
    sleep 0.1
  done
  local H=http://127.0.0.1:18965
  local M; M=$(curl -s "$H/v1/streams/default/live/r/manifest.m3u8" | grep -m1 -B1 '^timeline/chunks/' || true)
  local CHUNK; CHUNK=$(echo "$M" | grep '^timeline/chunks/')
  local LEN; LEN=$(echo "$M" | grep -o 'BYTERANGE:[0-9]*' | cut -d: -f2)
  local ID; ID=$(curl -s "$H/v1/media?format=hls" | grep -o '"file_id":"[^"]*"' | head -1 | cut -d'"' -f4)
  local SEG; SEG=$(curl -s "$H/v1/media/$ID/content" | grep -m1 '\.ts$')
  local PART; PART=$(curl -s "$H/v1/streams/default/live/r/manifest.mpd" | grep -o 't="[0-9]*"' | head -1 | cut -d'"' -f2)
  echo "$1: timeline segment (${LEN} B range) $(ttfb "$H/v1/streams/default/live/r/$CHUNK" "0-$((LEN - 1))"), HLS recording segment $(ttfb "$H/v1/media/$ID/$SEG" "0-"), DASH part $(ttfb "$H/v1/streams/default/live/r/timeline/v/$PART.m4s" "0-")"
  kill $RP; wait $RP 2>/dev/null || true
  [ -n "$MOTO" ] && { kill $MOTO; wait $MOTO 2>/dev/null || true; }
  rm -rf "$D"
}
run local
run s3
