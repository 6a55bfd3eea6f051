// A page on another origin that tries to drive rewind's open API through the browser
// (tests/hardening.rs): Chromium loads it from a server of its own on another port and
// the page sends, with fetch's no-cors mode, what a hostile page would. Prints one JSON
// line when the page has sent everything: {"sent": N} (or {"failed": "..."}).
//
// Usage: node cross_site.mjs TARGET_ORIGIN STREAM_ID
import { chromium } from "playwright-core";
import http from "node:http";

const [target, sid] = process.argv.slice(2);
const page_html = `<!doctype html><script>
const t = ${JSON.stringify(target)};
const tries = [
  ["POST", "/v1/record-templates", JSON.stringify({ name: "evil", flv: { enable: true } })],
  ["POST", "/v1/streams/${sid}/drop", ""],
  ["POST", "/v1/sources", JSON.stringify({ url: "rtsp://127.0.0.1:1/x", app: "evil", stream: "s" })],
  ["PUT", "/v1/streams/${sid}/forbid", JSON.stringify({ reason: "evil" })],
  ["DELETE", "/v1/record-templates/1", ""],
];
(async () => {
  for (const [method, path, body] of tries) {
    await fetch(t + path, { mode: "no-cors", method, headers: { "content-type": "text/plain" }, body: body || undefined }).catch(() => {});
  }
  document.title = "sent " + tries.length;
})();
</script>`;
const server = http.createServer((_, res) => res.end(page_html)).listen(0, "127.0.0.1");
await new Promise((r) => server.once("listening", r));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => document.title.startsWith("sent"), null, { timeout: 15000 });
  console.log(JSON.stringify({ sent: Number((await page.title()).split(" ")[1]) }));
} catch (e) {
  console.log(JSON.stringify({ failed: String(e) }));
} finally {
  await browser.close();
  server.close();
}
