// Writes FILE.gz beside every text asset of dist/, so the server sends compressed bytes
// without compressing at run time. gzip's header has no time here: the same build gives
// the same bytes (the test command rebuilds and compares).
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(js|css|html|svg|json)$/.test(name)) writeFileSync(`${p}.gz`, gzipSync(readFileSync(p), { level: 9 }));
  }
}
walk("dist");
