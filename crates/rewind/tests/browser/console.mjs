// Drives the web console in headless Chromium as an operator would, for the Rust tests
// (tests/console_e2e.rs). One JSON object per line on stdout; reads "go" lines on stdin
// where the test has to do something (push) before the page goes on.
//
// Usage: node console.mjs SCENARIO ORIGIN SHOTS_DIR [ARGS…]
//   live STREAM_ID       ready → (stdin "go") → when the stream shows, Watch; how far it played
//   key WRONG RIGHT      the key form refuses WRONG and takes RIGHT
//   timeline STREAM_ID FILE  calendar, runs on the bar, click-to-play, export to FILE
//   library FILE KEY     with the API key KEY: filter, play MP4 and HLS, download the MP4
//                        to FILE, delete the FLV; which requests carried what
//   settings BAD GOOD    a template with a bad value shows the API's message; a good one is made
//   forbid STREAM_ID     Forbid a live stream (with a reason) → the Forbidden list shows it →
//                        (stdin "go") → Lift; the list no longer has it
// Every scenario ends with {"errors": [...]}: console errors and page errors seen.
import { chromium } from "playwright-core";
import readline from "node:readline";

const [scenario, origin, shots, ...args] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const go = async () => (await lines.next()).value;
// At phone width: a full-page screenshot, and how far the page is wider than the screen.
const phone = async (page, name) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  await page.screenshot({ path: `${shots}/${name}-phone.png`, fullPage: true });
  out({ phone_overflow: await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth) });
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--autoplay-policy=no-user-gesture-required", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // The browser logs the refusal of what a scenario submits wrong on purpose (a wrong
    // key: 401; a bad template: 400) as a failed load: expected there, nowhere else.
    if (scenario === "key" && /status of 401/.test(m.text())) return;
    if (scenario === "settings" && /status of 400/.test(m.text())) return;
    errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  const start = scenario === "timeline" ? `/#/timeline/${args[0]}` : "/#/live";
  await page.goto(new URL(start, origin).href);
  if (scenario === "live") {
    const [sid] = args;
    await page.getByRole("heading", { name: "Live" }).waitFor();
    await page.screenshot({ path: `${shots}/live-empty.png` });
    out({ ready: true });
    await go();
    const item = page.locator(`[data-stream="${sid}"]`);
    await item.waitFor({ timeout: 20000 });
    const shown_at = Date.now();
    // The codecs come with the first frames, which on a loaded machine may follow the
    // publish by more than one of the page's polls.
    await item.filter({ hasText: "avc1." }).filter({ hasText: "mp4a." }).waitFor({ timeout: 10000 }).catch(() => {});
    out({ shown_at, text: await item.innerText() });
    // Watch is offered once the timeline holds the stream's first fragment.
    await item.getByRole("button", { name: "Watch" }).click({ timeout: 15000 });
    const played = await page
      .waitForFunction(() => (document.querySelector(".player video")?.currentTime ?? 0) > 2, null, { timeout: 30000 })
      .then(() => page.evaluate(() => document.querySelector(".player video").currentTime))
      .catch(() => 0);
    out({ played });
    await page.screenshot({ path: `${shots}/live.png` });
    await page.getByText("Push URL").click();
    out({ push_url: await page.getByTestId("push-url").innerText() });
    await phone(page, "live");
  } else if (scenario === "timeline") {
    const [sid, download] = args;
    const d = new Date();
    const today = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    await page.locator(`[data-testid="calendar"] [data-day="${today}"].has-media`).waitFor({ timeout: 10000 });
    out({ calendar_marks_today: true });
    const runs = page.getByTestId("run");
    await runs.first().waitFor({ timeout: 10000 });
    // Seconds apart on a 24-hour bar are one pixel: zoom in where the media is until the
    // gap shows (the bar zooms around the pointer).
    const bar0 = page.getByTestId("bar");
    for (let i = 0; i < 10 && (await runs.count()) < 2; i++) {
      const box = await runs.first().boundingBox();
      const barBox = await bar0.boundingBox();
      await bar0.hover({ position: { x: box.x - barBox.x + box.width / 2, y: 40 } });
      await page.getByRole("button", { name: "Zoom in" }).click();
      await page.waitForTimeout(100);
    }
    const spans = await runs.evaluateAll((els) => els.map((e) => [Number(e.dataset.start), Number(e.dataset.end)]));
    out({ runs: spans });
    // Zoom in on the second run, then click 30 % into it.
    const [s, e] = spans[1];
    const bar = page.getByTestId("bar");
    const pick = Math.round(s + 0.3 * (e - s));
    const clickAt = async (t) => {
      const box = await bar.boundingBox();
      const [vs, ve] = await bar.evaluate((el) => [Number(el.dataset.start), Number(el.dataset.end)]);
      await bar.click({ position: { x: ((t - vs) / (ve - vs)) * box.width, y: 10 } });
    };
    // Hovering a run shows a preview the browser decoded from the fragment there.
    {
      const box = await bar.boundingBox();
      const [vs, ve] = await bar.evaluate((el) => [Number(el.dataset.start), Number(el.dataset.end)]);
      const mid = (spans[0][0] + spans[0][1]) / 2;
      await bar.hover({ position: { x: ((mid - vs) / (ve - vs)) * box.width, y: 10 } });
      // (A newer preview may replace the element meanwhile: read it once it has a picture.)
      const size = await page
        .waitForFunction(() => {
          const v = document.querySelector('[data-testid="preview"][data-ready]');
          return v && v.videoWidth > 0 ? [v.videoWidth, v.videoHeight] : null;
        }, null, { timeout: 10000 })
        .then((h) => h.jsonValue());
      out({ preview: size });
    }
    await clickAt(pick);
    const video = page.locator(".player video");
    // The first wall-clock time shown once playing, then playback going on from there.
    await page.waitForFunction(() => document.querySelector('[data-testid="wallclock"]')?.dataset.utcMs, null, { timeout: 30000 });
    const first = await page.evaluate(() => ({
      wall: Number(document.querySelector('[data-testid="wallclock"]').dataset.utcMs),
      currentTime: document.querySelector(".player video").currentTime,
    }));
    await page.waitForFunction((t0) => document.querySelector(".player video").currentTime > t0 + 1.5, first.currentTime, { timeout: 30000 });
    const later = await page.evaluate(() => ({
      wall: Number(document.querySelector('[data-testid="wallclock"]').dataset.utcMs),
      currentTime: document.querySelector(".player video").currentTime,
    }));
    const chosen = Number(await page.getByTestId("watch").getAttribute("data-start-at"));
    const perPixel = await bar.evaluate((el) => (Number(el.dataset.end) - Number(el.dataset.start)) / el.clientWidth);
    out({ picked: pick, chosen, perPixel, first, later });
    await video.evaluate((v) => v.pause());
    await page.screenshot({ path: `${shots}/timeline.png` });
    await page.getByTestId("in").fill(new Date(s + 1000).toISOString());
    await page.getByTestId("out").fill(new Date(s + 5000).toISOString());
    const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export clip.mp4" }).click()]);
    await dl.saveAs(download);
    out({ exported: download, in: s + 1000, out: s + 5000 });
    await page.getByRole("button", { name: "Copy locator URL" }).click();
    out({ locator: await page.getByTestId("locator-url").innerText() });
    await phone(page, "timeline");
  } else if (scenario === "library") {
    const [download, key] = args;
    // Every request the page makes: the key must be in none of their URLs, and media
    // must come through signed URLs (a <video> element cannot send a header).
    const urls = [];
    page.on("request", (r) => urls.push(r.url()));
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Use key" }).click();
    page.on("dialog", (d) => d.accept());
    await page.getByRole("link", { name: "Library" }).click();
    await page.waitForFunction(() => document.querySelectorAll("tr[data-file]").length >= 3, null, { timeout: 10000 });
    out({ total: await page.getByTestId("total").innerText() });
    // Filtered by format: only the MP4, which plays in the page.
    await page.locator("select").first().selectOption("mp4");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForFunction(() => [...document.querySelectorAll("tr[data-file]")].every((r) => r.dataset.format === "mp4"));
    const mp4 = page.locator('tr[data-format="mp4"]');
    await mp4.getByRole("button", { name: "Play" }).click();
    await page.waitForFunction(() => (document.querySelector("video.plain")?.currentTime ?? 0) > 1, null, { timeout: 20000 });
    out({ mp4_played: true });
    const [dl] = await Promise.all([page.waitForEvent("download"), mp4.getByRole("button", { name: "Download" }).click()]);
    await dl.saveAs(download);
    out({ downloaded: download });
    // Every format again; the HLS recording plays; the FLV is deleted.
    await page.locator("select").first().selectOption("");
    await page.getByRole("button", { name: "Search" }).click();
    await page.locator('tr[data-format="hls"]').getByRole("button", { name: "Play" }).click();
    await page.waitForFunction(() => (document.querySelector(".player video")?.currentTime ?? 0) > 1, null, { timeout: 20000 });
    out({ hls_played: true });
    await page.locator('tr[data-format="flv"]').getByRole("button", { name: "Delete" }).click();
    await page.waitForFunction(() => !document.querySelector('tr[data-format="flv"]'), null, { timeout: 10000 });
    out({ deleted: true, total: await page.getByTestId("total").innerText() });
    out({
      urls_with_key: urls.filter((u) => u.includes(key)),
      signed: urls.filter((u) => new URL(u).pathname.startsWith("/v1/signed/")).map((u) => new URL(u).pathname),
      unsigned_media: urls.filter((u) => new URL(u).pathname.startsWith("/v1/media/") && new URL(u).pathname.split("/").length > 4),
    });
    await page.screenshot({ path: `${shots}/library.png`, fullPage: true });
    await phone(page, "library");
  } else if (scenario === "settings") {
    const [bad, good] = args;
    await page.getByRole("link", { name: "Settings" }).click();
    const templates = page.locator('[data-kind="Templates"]');
    await templates.getByRole("button", { name: "New" }).click();
    await templates.getByLabel("JSON").fill(bad);
    await templates.getByRole("button", { name: "Save" }).click();
    const err = templates.getByRole("alert");
    await err.waitFor({ timeout: 5000 });
    out({ shown_error: await err.innerText() });
    await templates.getByLabel("JSON").fill(good);
    await templates.getByRole("button", { name: "Save" }).click();
    await templates.getByText("· console-made").waitFor({ timeout: 5000 });
    out({ created: true });
    const nodes = page.locator('[data-kind="Nodes"]');
    await nodes.locator("summary").click();
    await nodes.locator(".items li").first().waitFor({ timeout: 5000 });
    out({ node: await nodes.locator(".items li").first().innerText() });
    await page.screenshot({ path: `${shots}/settings.png`, fullPage: true });
    await page.locator("details summary").evaluateAll((all) => all.forEach((d) => d.parentElement.setAttribute("open", "")));
    await phone(page, "settings");
  } else if (scenario === "forbid") {
    const [sid] = args;
    const item = page.getByTestId("live-list").locator(`[data-stream="${sid}"]`);
    await item.waitFor({ timeout: 20000 });
    page.once("dialog", (d) => d.accept("noisy camera"));
    await item.getByRole("button", { name: "Forbid" }).click();
    const forbidden = page.getByTestId("forbidden-list").locator(`[data-stream="${sid}"]`);
    await forbidden.waitFor({ timeout: 5000 });
    // The dropped publisher leaves the live list.
    await item.waitFor({ state: "detached", timeout: 15000 });
    out({ forbidden: await forbidden.innerText() });
    await page.screenshot({ path: `${shots}/forbidden.png` });
    await go();
    await forbidden.getByRole("button", { name: "Lift" }).click();
    await forbidden.waitFor({ state: "detached", timeout: 5000 });
    out({ lifted: true });
    await phone(page, "forbid");
  } else if (scenario === "key") {
    const [wrong, right] = args;
    const input = page.getByLabel("API key");
    await input.waitFor();
    await page.screenshot({ path: `${shots}/key.png` });
    await input.fill(wrong);
    await page.getByRole("button", { name: "Use key" }).click();
    await page.getByText("That key was refused.").waitFor({ timeout: 5000 });
    out({ refused: true });
    await page.getByLabel("API key").fill(right);
    await page.getByRole("button", { name: "Use key" }).click();
    await page.getByRole("heading", { name: "Live" }).waitFor({ timeout: 5000 });
    out({ access: await page.getByTestId("access").innerText(), url: page.url() });
    await page.reload();
    await page.getByRole("heading", { name: "Live" }).waitFor({ timeout: 5000 });
    out({ kept_after_reload: true });
  } else throw new Error(`unknown scenario ${scenario}`);
} catch (e) {
  out({ failed: String(e) });
  await browser.contexts()[0]?.pages()[0]?.screenshot({ path: `${shots}/failed-${scenario}.png` }).catch(() => {});
} finally {
  out({ errors });
  await browser.close();
  process.exit(0);
}
