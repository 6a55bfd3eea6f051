import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// Everything the console loads is built here and embedded in the rewind binary:
// no CDN, no internet. Hashed names, so a new build never meets an old cached file.
export default defineConfig({
  plugins: [preact()],
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    modulePreload: { polyfill: false },
  },
  test: { include: ["src/**/*.test.ts"] },
});
