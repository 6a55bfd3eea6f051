import { describe, expect, it } from "vitest";
import { layout, ticks, toTime, toX, zoom } from "./bar";

const H = 3_600_000;
const day = { start: 0, end: 24 * H, width: 960 };

describe("time and pixels", () => {
  it("map both ways across the view", () => {
    expect(toX(12 * H, day)).toBe(480);
    expect(toTime(480, day)).toBe(12 * H);
    expect(toTime(-5, day)).toBe(0);
    expect(toTime(10_000, day)).toBe(24 * H);
    for (const x of [0, 1, 333, 959]) expect(Math.round(toX(toTime(x, day), day))).toBe(x);
  });
});

describe("runs on the bar", () => {
  it("are clipped to the view and keep their times", () => {
    const b = layout([{ start: -H, end: H }, { start: 23 * H, end: 25 * H }], day);
    expect(b.map((x) => [x.left, x.width])).toEqual([
      [0, 40],
      [920, 40],
    ]);
    expect(b[0].start).toBe(-H);
  });
  it("two runs with a gap are two blocks; runs a pixel apart are one", () => {
    expect(layout([{ start: H, end: 2 * H }, { start: 3 * H, end: 4 * H }], day)).toHaveLength(2);
    expect(layout([{ start: H, end: 2 * H }, { start: 2 * H + 1000, end: 4 * H }], day)).toHaveLength(1);
  });
  it("a day of 1,000 short runs is drawn in at most width blocks, each ≥ 1 px", () => {
    const runs = Array.from({ length: 1000 }, (_, i) => ({ start: i * 86_000, end: i * 86_000 + 1000 }));
    const b = layout(runs, day);
    expect(b.length).toBeLessThanOrEqual(960);
    expect(b.every((x) => x.width >= 1)).toBe(true);
  });
  it("ignores runs outside the view", () => {
    expect(layout([{ start: 25 * H, end: 26 * H }], day)).toEqual([]);
  });
});

describe("zoom", () => {
  it("keeps the instant under the pointer and stays in the day", () => {
    const z = zoom(day, 0.25, 12 * H, day);
    expect(z.end - z.start).toBe(6 * H);
    expect(toX(12 * H, z)).toBeCloseTo(480);
    const edge = zoom(day, 0.25, 0, day);
    expect(edge.start).toBe(0);
    expect(zoom(z, 100, 12 * H, day)).toEqual(day);
    expect(zoom(day, 1e-9, 5 * H, day).end - zoom(day, 1e-9, 5 * H, day).start).toBe(60_000);
  });
});

describe("ticks", () => {
  it("are whole hours over a day and whole minutes when zoomed in", () => {
    const t = ticks({ start: Date.UTC(2026, 0, 1), end: Date.UTC(2026, 0, 2), width: 960 });
    expect(t.length).toBeGreaterThanOrEqual(6);
    expect(t.length).toBeLessThanOrEqual(12);
    const m = ticks({ start: Date.UTC(2026, 0, 1, 10, 0, 30), end: Date.UTC(2026, 0, 1, 10, 10), width: 960 });
    expect(m.every((x) => x % 60_000 === 0)).toBe(true);
  });
});
