// Plays an HLS playlist through hls.js in headless Chromium, as a viewer would, and
// prints one JSON line: {"ok", "ended", "currentTime", "duration", "errors", "fatal"}.
// Usage: node play_hls.mjs ORIGIN PLAYLIST_PATH
// The page is opened on ORIGIN (the server under test) so the playlist is same-origin.
import { chromium } from "playwright-core";
import { fileURLToPath } from "node:url";
import path from "node:path";

const [origin, playlist] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/healthz`);
  await page.addScriptTag({ path: path.join(here, "node_modules/hls.js/dist/hls.min.js") });
  const result = await page.evaluate(async (src) => {
    if (!window.Hls.isSupported()) return { ok: false, fatal: "hls.js: MediaSource not supported" };
    const video = document.createElement("video");
    video.muted = true;
    document.body.appendChild(video);
    const hls = new window.Hls({ enableWorker: false });
    const errors = [];
    let fatal = null;
    hls.on(window.Hls.Events.ERROR, (_, d) => {
      errors.push(`${d.type}/${d.details}${d.fatal ? " (fatal)" : ""}`);
      if (d.fatal) fatal = `${d.type}/${d.details}`;
    });
    hls.loadSource(src);
    hls.attachMedia(video);
    video.playbackRate = 4;
    hls.on(window.Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) => errors.push(`play: ${e}`)));
    const deadline = Date.now() + 60_000;
    while (!video.ended && !fatal && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      ok: video.ended && !fatal,
      ended: video.ended,
      currentTime: video.currentTime,
      duration: video.duration,
      errors,
      fatal,
      videoError: video.error ? `${video.error.code} ${video.error.message}` : null,
    };
  }, playlist);
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
