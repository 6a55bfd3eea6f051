# Shared by the benchmark scripts: tools, the release build, the source FLV, and
# /proc readings. Source it from the repository root.

command -v ffmpeg >/dev/null || { apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null; }
cargo build --release -q -p rewind
BIN=target/release/rewind
TCK=$(getconf CLK_TCK)

# make_source FILE VIDEO_KBPS: 30 s of 720p30 H.264 at VIDEO_KBPS + 128 kbps AAC.
make_source() {
  [ -f "$1" ] && return
  ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 \
    -t 30 -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -b:v "${2}k" -maxrate "${2}k" -bufsize "$((2 * $2))k" \
    -c:a aac -b:a 128k -ac 2 -f flv "$1"
}

# ticks PID...: user+system CPU ticks of these processes, summed.
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

# start_moto PORT PREFIX CONFIG: moto's S3 server (target/tools, as the tests use) on
# PORT with a bucket "bench", and a [storage] section for keys under PREFIX appended to
# the rewind CONFIG file. Sets MOTO (its pid).
start_moto() {
  target/tools/moto/bin/moto_server -H 127.0.0.1 -p "$1" >/dev/null 2>&1 &
  MOTO=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "127.0.0.1:$1" && break; sleep 0.1; done
  curl -sf -X PUT "127.0.0.1:$1/bench" >/dev/null
  printf '[storage]\nurl = "s3://bench/%s"\nendpoint = "http://127.0.0.1:%s"\nallow_http = true\naccess_key_id = "k"\nsecret_access_key = "s"\n' "$2" "$1" >>"$3"
}
