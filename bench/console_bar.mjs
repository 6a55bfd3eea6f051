// Renders the console's timeline bar for one day holding RUNS runs in headless Chromium
// and reports how long the page took from the availableMedia answer to the bar drawn
// (DOM updated and the next frame painted). The answer is made up here (page.route), so
// the figure is the browser's work alone. Used by bench/console.sh.
//
//   node bench/console_bar.mjs ORIGIN RUNS ROUNDS
import { createRequire } from "node:module";
const require = createRequire(new URL("../crates/rewind/tests/browser/", import.meta.url));
const { chromium } = require("playwright-core");

const [origin, runsArg, roundsArg] = process.argv.slice(2);
const RUNS = Number(runsArg ?? 1000);
const ROUNDS = Number(roundsArg ?? 7);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
});
const results = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const day0 = new Date();
    day0.setHours(0, 0, 0, 0);
    const dayMs = 86_400_000;
    // RUNS runs over the whole day in groups of three (20 s runs 30 s apart), a group
    // every 3·24 h/RUNS: at the whole-day zoom (~100 s a pixel) runs whose pixels touch
    // are one block, so each group is a block ~2.5 px from the next — about as many
    // blocks as the bar can show apart.
    const group = (3 * dayMs) / RUNS;
    const ranges = [];
    for (let i = 0; ranges.length < RUNS; i++) {
      const s = day0.getTime() + i * group;
      for (const a of [0, 30_000, 60_000].slice(0, RUNS - ranges.length)) {
        ranges.push({ start: new Date(s + a).toISOString(), end: new Date(s + a + 20_000).toISOString() });
      }
    }
    await page.route("**/availableMedia?precision=full*", (r) =>
      r.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ timeRanges: ranges }) }),
    );
    await page.route("**/availableMedia?precision=day*", (r) =>
      r.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ timeRanges: [{ start: day0.toISOString().slice(0, 10), end: day0.toISOString().slice(0, 10) }] }) }),
    );
    // Watch the bar from before the page starts: the time the first run element appears,
    // then the frame after it.
    await page.addInitScript(() => {
      window.__bar = { drawn: null };
      new MutationObserver(() => {
        if (window.__bar.drawn === null && document.querySelector(".run")) {
          const t = performance.now();
          requestAnimationFrame(() => requestAnimationFrame(() => (window.__bar.drawn = { dom: t, painted: performance.now() })));
        }
      }).observe(document, { childList: true, subtree: true });
    });
    await page.goto(new URL("/#/timeline/default/live/bench", origin).href);
    await page.waitForFunction(() => window.__bar.drawn !== null, null, { timeout: 20000 });
    const r = await page.evaluate(() => {
      const answer = performance.getEntriesByType("resource").find((e) => e.name.includes("precision=full"));
      return { answered: answer.responseEnd, ...window.__bar.drawn, blocks: document.querySelectorAll(".run").length };
    });
    results.push({ dom_ms: r.dom - r.answered, painted_ms: r.painted - r.answered, blocks: r.blocks });
    await page.close();
  }
} finally {
  await browser.close();
}
const med = (k) => results.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
console.log(JSON.stringify({ runs: RUNS, rounds: ROUNDS, blocks: results[0].blocks, dom_ms: med("dom_ms"), painted_ms: med("painted_ms") }));
