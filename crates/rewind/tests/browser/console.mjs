// Drives the web console in headless Chromium as an operator would, for the Rust tests
// (tests/console_e2e.rs). One JSON object per line on stdout; reads "go" lines on stdin
// where the test has to do something (push) before the page goes on.
//
// Usage: node console.mjs SCENARIO ORIGIN SHOTS_DIR [ARGS…]
//   live STREAM_ID       ready → (stdin "go") → when the stream shows, Watch; how far it played
//   key WRONG RIGHT      the key form refuses WRONG and takes RIGHT
// Every scenario ends with {"errors": [...]}: console errors and page errors seen.
import { chromium } from "playwright-core";
import readline from "node:readline";

const [scenario, origin, shots, ...args] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const go = async () => (await lines.next()).value;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--autoplay-policy=no-user-gesture-required", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // The browser logs the 401 of a wrong key the page was given to try: expected there.
    if (scenario === "key" && /status of 401/.test(m.text())) return;
    errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(new URL("/#/live", origin).href);
  if (scenario === "live") {
    const [sid] = args;
    await page.getByRole("heading", { name: "Live" }).waitFor();
    await page.screenshot({ path: `${shots}/live-empty.png` });
    out({ ready: true });
    await go();
    const item = page.locator(`[data-stream="${sid}"]`);
    await item.waitFor({ timeout: 20000 });
    out({ shown_at: Date.now(), text: await item.innerText() });
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
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: `${shots}/live-phone.png`, fullPage: true });
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
} finally {
  out({ errors });
  await browser.close();
  process.exit(0);
}
