// URLs the console builds: API paths of a stream, and push URLs with their secrets.
import { md5 } from "./md5";

/** A stream's three-part name. */
export interface StreamName {
  domain: string;
  app: string;
  stream: string;
}

/** `/v1/streams/{domain}/{app}/{stream}` plus `rest`, each part escaped. */
export function streamPath(s: StreamName, rest = ""): string {
  return `/v1/streams/${[s.domain, s.app, s.stream].map(encodeURIComponent).join("/")}${rest}`;
}

/** What a push URL is made of. */
export interface PushUrlInput extends StreamName {
  /** The host pushers reach this server at (the console's own, by default). */
  host: string;
  /** The RTMP port (1935 by default). */
  port: number;
  /** The domain's push key; none: no secret. */
  key?: string;
  /** When the URL stops working (Unix seconds). */
  expiresAt?: number;
}

/**
 * `rtmp://host[:port]/app/stream?…`: the domain goes in `vhost` when the host is not
 * the domain itself; with a key, `txTime` (hex Unix expiry) and
 * `txSecret = md5(key + stream + txTime)`.
 */
export function pushUrl(p: PushUrlInput): string {
  const port = p.port === 1935 ? "" : `:${p.port}`;
  const query: string[] = [];
  if (p.host !== p.domain) query.push(`vhost=${encodeURIComponent(p.domain)}`);
  if (p.key) {
    const txTime = Math.floor(p.expiresAt ?? Date.now() / 1000 + 86400).toString(16).toUpperCase();
    query.push(`txSecret=${md5(p.key + p.stream + txTime)}`, `txTime=${txTime}`);
  }
  const q = query.length ? `?${query.join("&")}` : "";
  return `rtmp://${p.host}${port}/${encodeURIComponent(p.app)}/${encodeURIComponent(p.stream)}${q}`;
}
