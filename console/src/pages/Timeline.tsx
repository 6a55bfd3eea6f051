// Timeline: a stream's archive — a calendar of the days with media, a 24-hour bar of
// recorded runs and gaps that zooms to minutes, play from any instant (wall-clock time
// shown), and a range exported as clip.mp4 or shared as a locator URL.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, authHeaders, call, get } from "../logic/api";
import { download } from "../logic/download";
import { type Range, type View, dayOf, layout, ticks, toTime, toX, zoom } from "../logic/bar";
import { local, utc } from "../logic/time";
import { type StreamName, streamPath } from "../logic/urls";
import { Player } from "../Player";

const iso = (t: number) => new Date(t).toISOString();
const ymd = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
/** Half the width of a tick label ("01:40 PM" at .65rem), in px. */
const TICK_LABEL_HALF = 26;

function parseSid(sid: string): StreamName | null {
  const [domain, app, stream] = sid.split("/");
  return domain && app && stream ? { domain, app, stream } : null;
}

export function Timeline({ sid }: { sid: string | null }) {
  const [streams, setStreams] = useState<string[]>([]);
  useEffect(() => {
    get<{ streams: { id: string }[] }>("/v1/streams?all=true").then((r) => setStreams(r.streams.map((s) => s.id)), () => {});
  }, []);
  const chosen = sid ?? streams[0] ?? null;
  const name = chosen ? parseSid(chosen) : null;
  return (
    <section>
      <h2>Timeline</h2>
      <label>
        Stream{" "}
        <select value={chosen ?? ""} onChange={(e) => (location.hash = `#/timeline/${e.currentTarget.value}`)}>
          {streams.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      {name ? <Archive key={chosen} name={name} /> : <p class="empty">No stream has been published yet.</p>}
    </section>
  );
}

function Archive({ name }: { name: StreamName }) {
  const [day, setDay] = useState<Range>(() => dayOf(Date.now()));
  const [error, setError] = useState<string | null>(null);
  const [playFrom, setPlayFrom] = useState<number | null>(null);
  const [wall, setWall] = useState<Date | null>(null);
  const [inText, setInText] = useState("");
  const [outText, setOutText] = useState("");
  const parse = (s: string) => {
    const t = Date.parse(s);
    return Number.isNaN(t) ? null : t;
  };
  const inT = parse(inText);
  const outT = parse(outText);
  const [shared, setShared] = useState<string | null>(null);
  const fail = (e: unknown) => setError(e instanceof ApiError ? e.message : String(e));
  const src = playFrom === null ? null : streamPath(name, `/manifest.m3u8?startTime=${iso(playFrom)}&endTime=${iso(Math.min(day.end, playFrom + 12 * 3600_000))}`);
  const exportClip = async () => {
    if (inT === null || outT === null || outT <= inT) return setError("Set an in point before the out point.");
    setError(null);
    try {
      const path = streamPath(name, `/clip.mp4?startTime=${iso(inT)}&endTime=${iso(outT)}`);
      await download(path, `${name.stream}_${iso(inT).replace(/[:.]/g, "-")}.mp4`);
    } catch (e) {
      fail(e);
    }
  };
  const share = async () => {
    if (inT === null || outT === null || outT <= inT) return setError("Set an in point before the out point.");
    try {
      const r = await call<{ urls: { hls: string } }>("POST", "/v1/locators", {
        stream: `${name.domain}/${name.app}/${name.stream}`,
        start_time: iso(inT),
        end_time: iso(outT),
      });
      setShared(new URL(r.urls.hls, location.href).href);
      await navigator.clipboard?.writeText(new URL(r.urls.hls, location.href).href).catch(() => {});
    } catch (e) {
      fail(e);
    }
  };
  return (
    <div class="archive">
      {error && <p class="error" role="alert">{error}</p>}
      <div class="archive-top">
        <Calendar name={name} day={day} onDay={setDay} onError={fail} />
        <div class="archive-main">
          <Bar name={name} day={day} onPick={setPlayFrom} onError={fail} marks={[inT, outT]} />
          {src && (
            <div class="watch" data-testid="watch" data-start-at={playFrom ?? ""}>
              <Player src={src} onTime={setWall} startAt={playFrom ?? undefined} />
              <p class="wallclock" data-testid="wallclock" data-utc-ms={wall?.getTime() ?? ""} title={wall ? utc(wall) : ""}>
                {wall ? local(wall) : "…"}
              </p>
            </div>
          )}
          <div class="form range">
            <label>
              In <input data-testid="in" value={inText} placeholder="2026-12-05T10:00:00Z" onInput={(e) => setInText(e.currentTarget.value)} />
            </label>
            <button onClick={() => wall && setInText(iso(wall.getTime()))} disabled={!wall}>
              Set in here
            </button>
            <label>
              Out <input data-testid="out" value={outText} placeholder="2026-12-05T10:05:00Z" onInput={(e) => setOutText(e.currentTarget.value)} />
            </label>
            <button onClick={() => wall && setOutText(iso(wall.getTime()))} disabled={!wall}>
              Set out here
            </button>
            <button onClick={exportClip}>Export clip.mp4</button>
            <button onClick={share}>Copy locator URL</button>
          </div>
          {shared && <code class="url" data-testid="locator-url">{shared}</code>}
        </div>
      </div>
    </div>
  );
}

function Calendar({ name, day, onDay, onError }: { name: StreamName; day: Range; onDay: (d: Range) => void; onError: (e: unknown) => void }) {
  const first = new Date(day.start);
  const [month, setMonth] = useState(() => new Date(first.getFullYear(), first.getMonth(), 1));
  const [days, setDays] = useState<Set<string>>(new Set());
  useEffect(() => {
    const last = new Date(month.getFullYear(), month.getMonth() + 1, 0);
    get<{ timeRanges: { start: string; end: string }[] }>(
      streamPath(name, `/availableMedia?precision=day&startTime=${ymd(month)}&endTime=${ymd(last)}`),
    ).then((r) => {
      const s = new Set<string>();
      for (const tr of r.timeRanges) {
        for (let d = new Date(`${tr.start}T00:00:00`); ymd(d) <= tr.end; d.setDate(d.getDate() + 1)) s.add(ymd(d));
      }
      setDays(s);
    }, onError);
  }, [name, month]);
  const cells: (Date | null)[] = [];
  const lead = (month.getDay() + 6) % 7;
  for (let i = 0; i < lead; i++) cells.push(null);
  for (let d = 1; d <= new Date(month.getFullYear(), month.getMonth() + 1, 0).getDate(); d++) cells.push(new Date(month.getFullYear(), month.getMonth(), d));
  const shown = ymd(new Date(day.start));
  return (
    <div class="calendar" data-testid="calendar">
      <div class="cal-head">
        <button aria-label="Previous month" onClick={() => setMonth(new Date(month.getFullYear(), month.getMonth() - 1, 1))}>‹</button>
        <span>{month.toLocaleDateString(undefined, { year: "numeric", month: "long" })}</span>
        <button aria-label="Next month" onClick={() => setMonth(new Date(month.getFullYear(), month.getMonth() + 1, 1))}>›</button>
      </div>
      <div class="cal-grid">
        {["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"].map((d) => (
          <span key={d} class="cal-dow">{d}</span>
        ))}
        {cells.map((c, i) =>
          c ? (
            <button
              key={i}
              data-day={ymd(c)}
              class={`${days.has(ymd(c)) ? "has-media" : ""} ${ymd(c) === shown ? "chosen" : ""}`}
              disabled={!days.has(ymd(c))}
              onClick={() => onDay(dayOf(c.getTime()))}
            >
              {c.getDate()}
            </button>
          ) : (
            <span key={i} />
          ),
        )}
      </div>
    </div>
  );
}

function Bar({ name, day, onPick, onError, marks }: { name: StreamName; day: Range; onPick: (t: number) => void; onError: (e: unknown) => void; marks: (number | null)[] }) {
  const el = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(960);
  const [view, setView] = useState<View>({ ...day, width: 960 });
  const [runs, setRuns] = useState<Range[]>([]);
  const [hover, setHover] = useState<number | null>(null);
  // Where zooming centres: the last place the pointer was on the bar (kept when it
  // leaves for the buttons), else the end of the latest run.
  const [focus, setFocus] = useState<number | null>(null);
  useEffect(() => setView({ ...day, width }), [day]);
  useEffect(() => {
    const measure = () => el.current && setWidth(el.current.clientWidth || 960);
    measure();
    addEventListener("resize", measure);
    return () => removeEventListener("resize", measure);
  }, []);
  useEffect(() => {
    const load = () =>
      get<{ timeRanges: { start: string; end: string }[] }>(
        streamPath(name, `/availableMedia?precision=full&startTime=${iso(day.start)}&endTime=${iso(Math.min(day.end, Date.now() + 60_000))}`),
      ).then((r) => setRuns(r.timeRanges.map((x) => ({ start: Date.parse(x.start), end: Date.parse(x.end) }))), onError);
    void load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [name, day]);
  const v = { ...view, width };
  const blocks = useMemo(() => layout(runs, v), [runs, v.start, v.end, width]);
  const at = (e: MouseEvent) => toTime(e.clientX - (el.current?.getBoundingClientRect().left ?? 0), v);
  const preview = usePreview(name, runs);
  return (
    <div class="bar-wrap">
      <div class="bar-tools">
        <button onClick={() => setView(zoom(v, 0.25, focus ?? runs[runs.length - 1]?.end ?? (v.start + v.end) / 2, day))}>
          Zoom in
        </button>
        <button onClick={() => setView(zoom(v, 4, (v.start + v.end) / 2, day))}>Zoom out</button>
        <button onClick={() => setView({ ...day, width })}>Whole day</button>
        <span class="meta">
          {local(v.start)} – {local(v.end)} · {runs.length} run{runs.length === 1 ? "" : "s"}
        </span>
      </div>
      <div
        ref={el}
        class="bar"
        data-testid="bar"
        data-start={v.start}
        data-end={v.end}
        onClick={(e) => onPick(at(e))}
        onMouseMove={(e) => {
          setHover(at(e));
          setFocus(at(e));
          preview.want(at(e));
        }}
        onWheel={(e) => {
          e.preventDefault();
          setView(zoom(v, e.deltaY < 0 ? 0.5 : 2, at(e), day));
        }}
        onMouseLeave={() => {
          setHover(null);
          preview.want(null);
        }}
        title={hover === null ? "" : `${local(hover)} (${utc(hover)})`}
      >
        {blocks.map((b) => (
          <div key={b.start} class="run" data-testid="run" data-start={b.start} data-end={b.end} style={{ left: `${b.left}px`, width: `${b.width}px` }} />
        ))}
        {marks.map((m, i) => m !== null && <div key={i} class="mark" style={{ left: `${toX(m, v)}px` }} />)}
        {preview.shown && hover !== null && (
          <video
            key={preview.shown.url}
            class="preview"
            data-testid="preview"
            src={preview.shown.url}
            muted
            preload="auto"
            style={{ left: `${Math.min(Math.max(toX(preview.shown.at, v) - 80, 0), width - 160)}px` }}
            onLoadedData={(e) => (e.currentTarget.dataset.ready = String(preview.shown?.at))}
          />
        )}
        {/* A label is centred on its tick: one too near an edge would widen the page. */}
        {ticks(v)
          .filter((t) => toX(t, v) >= TICK_LABEL_HALF && toX(t, v) <= width - TICK_LABEL_HALF)
          .map((t) => (
            <span key={t} class="tick" style={{ left: `${toX(t, v)}px` }}>
              {new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}
            </span>
          ))}
      </div>
    </div>
  );
}

/**
 * Hover previews without server-side decoding: the fragment under the pointer (the
 * key frame and its GOP, a `clip.mp4` of one millisecond) fetched with the key header
 * and shown by the browser's own decoder. At most one fetch at a time, none closer
 * than 300 ms; only over recorded runs.
 */
function usePreview(name: StreamName, runs: Range[]) {
  const [shown, setShown] = useState<{ url: string; at: number } | null>(null);
  const state = useRef<{ busy: boolean; last: number; wanted: number | null }>({ busy: false, last: 0, wanted: null });
  const fetchOne = async () => {
    const s = state.current;
    const t = s.wanted;
    if (s.busy || t === null || !runs.some((r) => r.start <= t && t < r.end)) return;
    if (Date.now() - s.last < 300) {
      setTimeout(fetchOne, 300 - (Date.now() - s.last));
      return;
    }
    s.busy = true;
    s.last = Date.now();
    try {
      const r = await fetch(streamPath(name, `/clip.mp4?startTime=${iso(t)}&endTime=${iso(t + 1)}`), { headers: authHeaders() });
      if (r.ok) {
        const url = URL.createObjectURL(await r.blob());
        setShown((old) => {
          if (old) URL.revokeObjectURL(old.url);
          return { url, at: t };
        });
      }
    } finally {
      s.busy = false;
      if (state.current.wanted !== t) void fetchOne();
    }
  };
  useEffect(() => () => shown && URL.revokeObjectURL(shown.url), []);
  return {
    shown,
    want: (t: number | null) => {
      state.current.wanted = t;
      if (t !== null) void fetchOne();
    },
  };
}
