// Plays a manifest in a real browser player in headless Chromium, as a viewer would,
// and prints one JSON line of what happened.
//
// Usage: node play.mjs PLAYER ORIGIN URL [OPTIONS_JSON]
//   PLAYER: hls (hls.js), dash (dash.js) or shaka (Shaka Player)
//   ORIGIN: the server under test (the page is opened there, so requests are same-origin)
//   OPTIONS_JSON: {"rate": 4, "seek": 12.5, "live": 20, "timeout": 60}
//     rate: playback rate (VOD); seek: seconds to seek to once playing;
//     live: play for this many seconds at rate 1, then report (no `ended` expected).
// Prints {ok, ended, buffered, currentTime, duration, played, seekedTo, liveEdgeLag, errors, fatal,
// seeks, requests}: `seeks` are the times the element was seeked to (by the player or
// the test), `requests` each segment's name, status and finish time (ms from the
// start), so that a run that played short says what the player fetched and skipped.
// With Shaka, `bufferedByType` is what each SourceBuffer holds (player.getBufferedInfo()):
// `buffered` is their intersection, so an empty `buffered` alone does not say which
// track the player stopped feeding.
import { chromium } from "playwright-core";
import { fileURLToPath } from "node:url";
import path from "node:path";

const [player, origin, rel, optsJson] = process.argv.slice(2);
const url = new URL(rel, origin).href;
// PLAY_DEBUG=1 turns the players' debug logs on; a failed run then reports their tail.
const opts = { rate: 4, timeout: 60, debug: !!process.env.PLAY_DEBUG, ...(optsJson ? JSON.parse(optsJson) : {}) };
const here = path.dirname(fileURLToPath(import.meta.url));
const scripts = {
  hls: "node_modules/hls.js/dist/hls.min.js",
  dash: "node_modules/dashjs/dist/modern/umd/dash.all.min.js",
  shaka: "node_modules/shaka-player/dist/shaka-player.compiled.js",
};
if (!scripts[player]) throw new Error(`unknown player ${player}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
  ],
});
try {
  const page = await browser.newPage();
  const logs = [];
  const tail = [];
  page.on("console", (m) => {
    if (opts.debug) {
      tail.push(m.text().slice(0, 300));
      if (tail.length > 40) tail.shift();
    }
    if (m.type() === "error" && !m.location()?.url?.endsWith("/favicon.ico")) logs.push(m.text().slice(0, 300));
  });
  const t0 = Date.now();
  const requests = [];
  const note = (r, status) => {
    const u = new URL(r.url());
    if (u.pathname === "/healthz") return;
    requests.push(`${u.pathname.split("/").slice(-2).join("/")} ${status} ${Date.now() - t0}`);
  };
  page.on("requestfinished", async (r) => note(r, (await r.response())?.status() ?? "?"));
  page.on("requestfailed", (r) => note(r, `failed:${r.failure()?.errorText ?? ""}`));
  await page.goto(`${origin}/healthz`);
  await page.addScriptTag({ path: path.join(here, scripts[player]) });
  const result = await page.evaluate(
    async ({ player, url, opts }) => {
      const video = document.createElement("video");
      video.muted = true;
      document.body.appendChild(video);
      const errors = [];
      let fatal = null;
      let liveEdge = () => NaN;
      // The wall-clock time (ms) of what is on screen, as each player reports it.
      let utcOf = () => NaN;
      // Shaka only: each SourceBuffer's ranges, {audio: [[start, end]], video: ...}.
      let bufferedByType = () => undefined;
      if (player === "hls") {
        if (!window.Hls.isSupported()) return { ok: false, fatal: "hls.js: MediaSource not supported" };
        const hls = new window.Hls({ enableWorker: false, debug: !!opts.debug });
        hls.on(window.Hls.Events.ERROR, (_, d) => {
          errors.push(`${d.type}/${d.details}${d.fatal ? " (fatal)" : ""}`);
          if (d.fatal) fatal = `${d.type}/${d.details}`;
        });
        hls.loadSource(url);
        hls.attachMedia(video);
        liveEdge = () => hls.liveSyncPosition ?? NaN;
        utcOf = () => hls.playingDate?.getTime() ?? NaN;
      } else if (player === "dash") {
        const p = window.dashjs.MediaPlayer().create();
        p.updateSettings({ debug: { logLevel: opts.debug ? 4 : 1 } });
        p.on(window.dashjs.MediaPlayer.events.ERROR, (e) => {
          const what = `${e.error?.code ?? ""} ${e.error?.message ?? JSON.stringify(e.error ?? e)}`.slice(0, 300);
          errors.push(what);
          fatal = what;
        });
        p.initialize(video, url, false);
        liveEdge = () => (p.isDynamic() ? p.duration() : NaN);
        utcOf = () => {
          try {
            return p.timeAsUTC() * 1000;
          } catch {
            return NaN;
          }
        };
      } else {
        window.shaka.polyfill.installAll();
        const p = new window.shaka.Player();
        // Shaka 5.2.6 to 5.2.12 keep a prefetched init segment's request after a seek
        // aborted it and hand the dead request back on every retry: a seek while the next
        // period's init is loading stalls for good, silently (1 run in 14 here). Without
        // prefetch (Shaka's default before 4.14) the init is fetched again. Operators who
        // serve rewind's multi-period manifests to Shaka need the same setting
        // (docs/design/timeline.md, "Players").
        p.configure({ streaming: { segmentPrefetchLimit: 0 } });
        await p.attach(video);
        p.addEventListener("error", (e) => {
          const what = `shaka ${e.detail?.code} ${JSON.stringify(e.detail?.data ?? []).slice(0, 200)}`;
          errors.push(what);
          if (e.detail?.severity === 2) fatal = what;
        });
        try {
          await p.load(url);
        } catch (e) {
          fatal = `shaka load ${e.code} ${JSON.stringify(e.data ?? []).slice(0, 200)}`;
        }
        liveEdge = () => (p.isLive() ? p.seekRange().end : NaN);
        utcOf = () => p.getPlayheadTimeAsDate()?.getTime() ?? NaN;
        bufferedByType = () => {
          const info = p.getBufferedInfo();
          const out = {};
          for (const type of ["audio", "video", "text"]) {
            if (info[type]?.length) out[type] = info[type].map((r) => [r.start, r.end]);
            else if (type !== "text") out[type] = [];
          }
          return out;
        };
      }
      const seeks = [];
      video.addEventListener("seeking", () => seeks.push(Math.round(video.currentTime * 1000) / 1000));
      const started = new Promise((r) => video.addEventListener("playing", r, { once: true }));
      video.addEventListener("loadedmetadata", () => {
        if (!opts.live) video.playbackRate = opts.rate;
        video.play().catch((e) => errors.push(`play: ${e}`));
      });
      let seekedTo = null;
      const deadline = Date.now() + opts.timeout * 1000;
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      if (opts.seek !== undefined) {
        await Promise.race([started, sleep(opts.timeout * 1000)]);
        video.currentTime = opts.seek;
        await Promise.race([new Promise((r) => video.addEventListener("seeked", r, { once: true })), sleep(10000)]);
        seekedTo = video.currentTime;
      }
      let lag = NaN;
      let utcLag = NaN;
      if (opts.live) {
        // live: play this long; with `untilEnded`, on until the stream ends (or timeout).
        const until = Date.now() + (opts.untilEnded ? opts.timeout : opts.live) * 1000;
        while (Date.now() < until && !fatal && !video.ended) await sleep(200);
        lag = liveEdge() - video.currentTime;
        utcLag = (Date.now() - utcOf()) / 1000;
      } else {
        while (!video.ended && !fatal && Date.now() < deadline) await sleep(100);
      }
      let played = 0;
      for (let i = 0; i < video.played.length; i++) played += video.played.end(i) - video.played.start(i);
      // What the element holds (the intersection of its tracks' buffers): when a player
      // stops short of the end, this says which end it waits at.
      const buffered = [];
      for (let i = 0; i < video.buffered.length; i++) buffered.push([video.buffered.start(i), video.buffered.end(i)]);
      return {
        ok: !fatal && (opts.live && !opts.untilEnded ? video.currentTime > 0 : video.ended),
        buffered,
        bufferedByType: bufferedByType(),
        ended: video.ended,
        currentTime: video.currentTime,
        duration: video.duration,
        played,
        seekedTo,
        liveEdgeLag: lag,
        utcLag,
        utc: Number.isFinite(utcOf()) ? new Date(utcOf()).toISOString() : null,
        errors,
        fatal,
        seeks,
        videoError: video.error ? `${video.error.code} ${video.error.message}` : null,
      };
    },
    { player, url, opts },
  );
  result.consoleErrors = logs.slice(0, 10);
  result.requests = requests.slice(0, 80);
  if (opts.debug && !result.ok) result.logTail = tail;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
