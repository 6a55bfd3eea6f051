// Saving or playing an API file with the tab's key: a plain link when the API is open,
// else fetched with the key header into a blob (the key never goes into a URL).
import { ApiError, apiKey, authHeaders } from "./api";

/** A URL the browser can use for `path` (revoke blob: URLs when done). */
export async function usableUrl(path: string): Promise<string> {
  if (!apiKey()) return path;
  const r = await fetch(path, { headers: authHeaders() });
  if (!r.ok) {
    const body = await r.json().catch(() => null);
    throw new ApiError(r.status, body?.error?.code ?? "", body?.error?.message ?? r.statusText);
  }
  return URL.createObjectURL(await r.blob());
}

/** Downloads `path` as `name`. */
export async function download(path: string, name: string): Promise<void> {
  const url = await usableUrl(path);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  if (url.startsWith("blob:")) setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
