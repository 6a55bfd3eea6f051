// Saving or playing an API file with the tab's key: a plain path when the API is open,
// else a short-lived signed URL from `POST /v1/signed-urls` (the key never goes into a
// URL, and the browser streams the file itself, with Range, instead of holding it).
import { apiKey, call } from "./api";

/** How long a player's URL stays good: longer than anyone watches one recording. */
export const PLAY_SECS = 4 * 3600;
/** How long a download link stays good: the download starts at once. */
export const DOWNLOAD_SECS = 600;

/** A URL the browser can fetch `path` (under /v1/media/… or /v1/streams/…) from. */
export async function usableUrl(path: string, secs: number): Promise<string> {
  if (!apiKey()) return path;
  const r = await call<{ url: string }>("POST", "/v1/signed-urls", { path, expires_in_secs: secs });
  return r.url;
}

/** Downloads `path` as `name`. */
export async function download(path: string, name: string): Promise<void> {
  const a = document.createElement("a");
  a.href = await usableUrl(path, DOWNLOAD_SECS);
  a.download = name;
  a.click();
}
