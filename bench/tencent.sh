#!/usr/bin/env bash
# The Tencent-action API's costs (issue 28): a DescribeLiveStreamOnlineList at 1,000 live
# streams and a SearchMedia over 1 M library records, each timed through Tencent's own
# Python SDK (scripts/test-tools installs it in target/tools/tencent), and the signature
# check alone (a release unit benchmark).
#
#   bench/tencent.sh            (STREAMS=1000 RECORDS=1000000 N=50)
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${STREAMS:-1000}
RECORDS=${RECORDS:-1000000}
N=${N:-50}
. bench/common.sh
PY=target/tools/tencent/bin/python
[ -x "$PY" ] || scripts/test-tools
cargo test --release -q -p rewind --lib -- --ignored --nocapture verify_cost 2>&1 | grep figures
D=bench/out/tencent; mkdir -p "$D"
# The 1 M records (made once; the media_search benchmark's generator).
[ -f "$D/rewind.db" ] || cargo run --release -q --example media_search -- "$D" "$RECORDS" >/dev/null
SRC=bench/out/tiny.flv
[ -f "$SRC" ] || ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=10 -f lavfi -i sine=sample_rate=22050 \
  -t 20 -c:v libx264 -preset veryfast -g 10 -b:v 40k -c:a aac -b:a 24k -ac 1 -f flv "$SRC"
cat >"$D/config.toml" <<TOML
log = "warn"
[timeline]
record_all = false
[tencent_api]
secret_id = "AKIDbench"
secret_key = "benchKey"
TOML
$BIN serve --config "$D/config.toml" --data-dir "$D" --http-addr 127.0.0.1:18480 --rtmp-addr 127.0.0.1:19350 &
SRV=$!
trap 'kill $SRV $PUSH 2>/dev/null || true' EXIT
PUSH=
for _ in $(seq 100); do curl -sf -o /dev/null 127.0.0.1:18480/healthz && break; sleep 0.2; done
$BIN push "$SRC" --url rtmp://127.0.0.1:19350/live/load --count "$STREAMS" --duration 600 --ramp 30 >/dev/null 2>&1 &
PUSH=$!
for _ in $(seq 300); do
  live=$(curl -sf 127.0.0.1:18480/v1/streams | grep -o '"live":true' | wc -l || true)
  [ "$live" -ge "$STREAMS" ] && break
  sleep 1
done
echo "figures: $live live streams, rewind RSS $(rss_kb $SRV) kB"
"$PY" bench/tencent_calls.py 127.0.0.1:18480 AKIDbench benchKey "$N"
