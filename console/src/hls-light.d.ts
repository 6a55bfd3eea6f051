// hls.js's light build (no subtitles, DRM or alternate audio: smaller) has the full
// build's API; its package ships one declaration file for both.
declare module "hls.js/light" {
  export * from "hls.js";
  export { default } from "hls.js";
}
