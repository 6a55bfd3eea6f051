// Times as the console shows them: the browser's zone on the page, UTC on hover.

/** `2026-12-05 14:03:07` in the browser's zone. */
export function local(t: Date | string | number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `2026-12-05T13:03:07Z`, for the hover text. */
export function utc(t: Date | string | number): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A span in words: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`. */
export function span(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
