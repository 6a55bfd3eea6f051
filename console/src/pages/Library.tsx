// Library: search the media library with every filter of GET /v1/media, paged; play HLS
// and MP4 recordings in the page, download any file, delete with confirmation.
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, get } from "../logic/api";
import { PLAY_SECS, download, usableUrl } from "../logic/download";
import { local, span, utc } from "../logic/time";
import { Player } from "../Player";

interface Media {
  file_id: string;
  domain: string;
  app: string;
  stream: string;
  format: "flv" | "hls" | "mp4" | "aac";
  source: string;
  task_id?: string | null;
  start_time: string;
  end_time: string;
  duration: number;
  file_size: number;
  file_name: string;
}

const FILTERS = ["domain", "app", "stream", "format", "source", "task_id", "start_time", "end_time"] as const;
type Filters = Record<(typeof FILTERS)[number] | "sort", string>;
const EMPTY: Filters = { domain: "", app: "", stream: "", format: "", source: "", task_id: "", start_time: "", end_time: "", sort: "-start_time" };

function size(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.ceil(n / 1e3)} KB`;
}

export function Library() {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [pages, setPages] = useState<string[]>([""]);
  const [result, setResult] = useState<{ media: Media[]; total: number; next_page_token?: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [playing, setPlaying] = useState<{ m: Media; url: string } | null>(null);
  const token = pages[pages.length - 1];
  const load = () => {
    const q = new URLSearchParams({ page_size: "20" });
    for (const [k, v] of Object.entries(applied)) if (v) q.set(k, v);
    if (token) q.set("page_token", token);
    get<{ media: Media[]; total: number; next_page_token?: string | null }>(`/v1/media?${q}`).then(
      (r) => {
        setResult(r);
        setError(null);
      },
      (e) => setError(e instanceof ApiError ? e.message : String(e)),
    );
  };
  useEffect(load, [applied, token]);
  const play = async (m: Media) => {
    const path = `/v1/media/${encodeURIComponent(m.file_id)}/content`;
    try {
      setPlaying({ m, url: m.format === "hls" ? path : await usableUrl(path, PLAY_SECS) });
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  const remove = async (m: Media) => {
    if (!confirm(`Delete ${m.file_name}? Its bytes are removed too.`)) return;
    try {
      await call("DELETE", `/v1/media/${encodeURIComponent(m.file_id)}`);
      if (playing?.m.file_id === m.file_id) setPlaying(null);
      load();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  return (
    <section>
      <h2>Library</h2>
      <form
        class="form filters"
        onSubmit={(e) => {
          e.preventDefault();
          setPages([""]);
          setApplied(filters);
        }}
      >
        {FILTERS.map((f) => (
          <label key={f}>
            {f.replace("_", " ")}
            {f === "format" || f === "source" ? (
              <select value={filters[f]} onChange={(e) => setFilters({ ...filters, [f]: e.currentTarget.value })}>
                <option value="">any</option>
                {(f === "format" ? ["flv", "hls", "mp4", "aac"] : ["rule", "task", "event"]).map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            ) : (
              <input
                name={f}
                value={filters[f]}
                placeholder={f.endsWith("time") ? "2026-12-05T10:00:00Z" : ""}
                onInput={(e) => setFilters({ ...filters, [f]: e.currentTarget.value })}
              />
            )}
          </label>
        ))}
        <label>
          sort
          <select value={filters.sort} onChange={(e) => setFilters({ ...filters, sort: e.currentTarget.value })}>
            <option value="-start_time">newest first</option>
            <option value="start_time">oldest first</option>
          </select>
        </label>
        <button type="submit">Search</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {result && (
        <p class="meta" data-testid="total">
          {result.total} file{result.total === 1 ? "" : "s"}
        </p>
      )}
      <table class="media">
        <tbody>
          {result?.media.map((m) => (
            <tr key={m.file_id} data-file={m.file_id} data-format={m.format}>
              <td>
                {m.domain}/{m.app}/{m.stream}
                <div class="meta">{m.file_name}</div>
              </td>
              <td>{m.format}</td>
              <td title={`${utc(m.start_time)} – ${utc(m.end_time)}`}>{local(m.start_time)}</td>
              <td>{span(m.duration * 1000)}</td>
              <td>{size(m.file_size)}</td>
              <td>{m.source}</td>
              <td class="actions">
                {(m.format === "hls" || m.format === "mp4" || m.format === "aac") && <button onClick={() => play(m)}>Play</button>}
                <button onClick={() => download(`/v1/media/${encodeURIComponent(m.file_id)}/content`, m.file_name).catch((e) => setError(String(e)))}>
                  Download
                </button>
                <button class="danger" onClick={() => remove(m)}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="actions">
        <button disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>
          Previous
        </button>
        <button disabled={!result?.next_page_token} onClick={() => result?.next_page_token && setPages([...pages, result.next_page_token])}>
          Next
        </button>
      </div>
      {playing && (
        <div class="watch">
          <h3>{playing.m.file_name}</h3>
          {playing.m.format === "hls" ? <Player src={playing.url} /> : <video class="plain" src={playing.url} controls autoplay muted />}
        </div>
      )}
    </section>
  );
}
