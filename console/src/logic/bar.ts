// The timeline bar's geometry: a window of wall-clock time drawn across a width of
// pixels, runs laid out on it, zoom around a point. Times are epoch milliseconds;
// ranges are half-open [start, end).

/** A span of wall-clock time, epoch ms. */
export interface Range {
  start: number;
  end: number;
}

/** What the bar shows: [from, to) across `width` pixels. */
export interface View extends Range {
  width: number;
}

/** The x of instant `t` (may lie outside [0, width]). */
export function toX(t: number, v: View): number {
  return ((t - v.start) / (v.end - v.start)) * v.width;
}

/** The instant at pixel `x`, clamped to the view. */
export function toTime(x: number, v: View): number {
  const t = v.start + (Math.min(Math.max(x, 0), v.width) / v.width) * (v.end - v.start);
  return Math.round(t);
}

/** A run as drawn: its pixels and its real times. */
export interface Block extends Range {
  left: number;
  width: number;
}

/**
 * Runs clipped to the view as blocks at least 1 px wide; runs whose pixels touch are
 * drawn as one (a day of 1,000 short runs is at most `width` blocks).
 */
export function layout(runs: Range[], v: View): Block[] {
  const out: Block[] = [];
  const sorted = [...runs].sort((a, b) => a.start - b.start);
  for (const r of sorted) {
    if (r.end <= v.start || r.start >= v.end) continue;
    const left = Math.max(0, toX(r.start, v));
    const right = Math.min(v.width, Math.max(toX(r.end, v), left + 1));
    const last = out[out.length - 1];
    if (last && left <= last.left + last.width + 0.5) {
      last.width = Math.max(last.width, right - last.left);
      last.end = Math.max(last.end, r.end);
    } else out.push({ start: r.start, end: r.end, left, width: right - left });
  }
  return out;
}

/** The view zoomed by `factor` (<1 in) around instant `at`, kept inside `bounds`. */
export function zoom(v: View, factor: number, at: number, bounds: Range, minSpan = 60_000): View {
  const span = Math.min(bounds.end - bounds.start, Math.max(minSpan, (v.end - v.start) * factor));
  const ratio = (at - v.start) / (v.end - v.start);
  let start = at - ratio * span;
  start = Math.min(Math.max(start, bounds.start), bounds.end - span);
  return { start, end: start + span, width: v.width };
}

/** The local day containing `t`: [midnight, next midnight). */
export function dayOf(t: number): Range {
  const d = new Date(t);
  const start = new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const end = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime();
  return { start, end };
}

/** Tick marks for the view: every 1, 2, 3, 6 h, 30, 15, 5 or 1 min, about 6–12 of them. */
export function ticks(v: View): number[] {
  const span = v.end - v.start;
  const steps = [60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000];
  const step = steps.find((s) => span / s <= 12) ?? steps[steps.length - 1];
  const out: number[] = [];
  const offset = new Date(v.start).getTimezoneOffset() * 60_000;
  for (let t = Math.ceil((v.start - offset) / step) * step + offset; t < v.end; t += step) out.push(t);
  return out;
}
