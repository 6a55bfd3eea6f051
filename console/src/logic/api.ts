// The public API (docs/openapi.yaml), with the key from this browser session: sent as a
// header, never put into a URL.

/** An answer with `{"error":{"code","message"}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const KEY = "rewind.apiKey";

/** The key this tab was given (kept for the browser session only). */
export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}

/** Keeps (or, with null, forgets) the key for this browser session. */
export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** Headers every request carries. */
export function authHeaders(): Record<string, string> {
  const k = apiKey();
  return k ? { Authorization: `Bearer ${k}` } : {};
}

/** Calls the API; a JSON answer, or null for 204; ApiError otherwise. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 204) return null as T;
  const text = await r.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (!r.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(r.status, e?.code ?? `HTTP ${r.status}`, e?.message ?? (text || r.statusText));
  }
  return json as T;
}

export const get = <T>(path: string) => call<T>("GET", path);
