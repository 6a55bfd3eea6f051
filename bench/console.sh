#!/usr/bin/env bash
# Console benchmarks (issue 19): the compressed size of the first load, and the timeline
# bar of a day with RUNS runs drawn in headless Chromium (bench/console_bar.mjs; the
# availableMedia answer is made up, so only the browser's work is timed).
#
#   bench/console.sh            (RUNS=1000 ROUNDS=7)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1000}
ROUNDS=${ROUNDS:-7}
OUT=bench/out; mkdir -p "$OUT"
. bench/common.sh
gz=0; for f in console/dist/index.html.gz console/dist/assets/*.gz; do gz=$((gz + $(stat -c %s "$f"))); done
echo "first load, compressed: $((gz / 1024)) KB (index.html and every asset, gzip as served)"
D=$(mktemp -d)
trap 'kill $RP 2>/dev/null || true; rm -rf "$D"' EXIT
$BIN serve --data-dir "$D" --rtmp-addr 127.0.0.1:19970 --http-addr 127.0.0.1:18970 --log warn 2>"$OUT/console-server.log" &
RP=$!
for _ in $(seq 100); do curl -sf 127.0.0.1:18970/healthz >/dev/null && break; sleep 0.1; done
node bench/console_bar.mjs http://127.0.0.1:18970 "$RUNS" "$ROUNDS"
