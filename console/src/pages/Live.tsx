// Live: every live stream (cluster-wide), a live player, drop, forbid (and lift), and a
// push-URL helper.
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, get } from "../logic/api";
import { local, span, utc } from "../logic/time";
import { pushUrl, streamPath } from "../logic/urls";
import { Player } from "../Player";

interface Stream {
  id: string;
  domain: string;
  app: string;
  stream: string;
  live: boolean;
  node?: string | null;
  started_at?: string | null;
  publisher_addr?: string | null;
  bitrate_kbps?: number | null;
  timeline_end?: string | null;
  video?: { codec: string; width: number; height: number; fps: number } | null;
  audio?: { codec: string; sample_rate: number; channels: number } | null;
}

interface Forbid {
  domain: string;
  app: string;
  stream: string;
  reason: string;
  resume_at: string;
}

function describe(s: Stream): string {
  const v = s.video ? `${s.video.codec} ${s.video.width}×${s.video.height} ${s.video.fps} fps` : "no video";
  const a = s.audio ? `${s.audio.codec} ${s.audio.sample_rate / 1000} kHz` : "no audio";
  return `${v} · ${a}`;
}

export function Live() {
  const [streams, setStreams] = useState<Stream[] | null>(null);
  const [forbids, setForbids] = useState<Forbid[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [playing, setPlaying] = useState<Stream | null>(null);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const r = await get<{ streams: Stream[] }>("/v1/streams");
        const f = await get<{ forbids: Forbid[] }>("/v1/forbidden-streams");
        if (!stop) {
          setStreams(r.streams.filter((s) => s.live));
          setForbids(f.forbids);
          setError(null);
          setNow(Date.now());
        }
      } catch (e) {
        if (!stop) setError((e as Error).message);
      }
    };
    void poll();
    const t = setInterval(poll, 1000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, []);

  const drop = async (s: Stream) => {
    if (!confirm(`Drop the publisher of ${s.id}? It may push again.`)) return;
    try {
      await call("POST", streamPath(s, "/drop"));
    } catch (e) {
      alert(e instanceof ApiError ? e.message : String(e));
    }
  };

  const forbid = async (s: Stream) => {
    const reason = prompt(`Forbid ${s.id} for 7 days: its publisher is dropped and every push refused. Reason?`);
    if (reason === null) return;
    try {
      await call("PUT", streamPath(s, "/forbid"), { reason });
    } catch (e) {
      alert(e instanceof ApiError ? e.message : String(e));
    }
  };

  const lift = async (f: Forbid) => {
    try {
      await call("DELETE", streamPath(f, "/forbid"));
      setForbids((all) => all.filter((x) => x !== f));
    } catch (e) {
      alert(e instanceof ApiError ? e.message : String(e));
    }
  };

  return (
    <section>
      <h2>Live</h2>
      {error && <p class="error" role="alert">{error}</p>}
      {streams?.length === 0 && <p class="empty">Nothing is live. Push to rtmp://{location.hostname}/live/NAME (or use the helper below).</p>}
      <ul class="streams" data-testid="live-list">
        {streams?.map((s) => (
          <li key={s.id} data-stream={s.id}>
            <div class="name">{s.id}</div>
            <div class="meta">{describe(s)} · {s.bitrate_kbps ?? 0} kbps</div>
            <div class="meta">
              {s.started_at && (
                <span title={utc(s.started_at)}>
                  since {local(s.started_at)} ({span(now - Date.parse(s.started_at))})
                </span>
              )}
              {s.publisher_addr && <span> · from {s.publisher_addr}</span>}
              {s.node && <span> · on {s.node}</span>}
            </div>
            <div class="actions">
              <button
                onClick={() => setPlaying(s)}
                disabled={!s.timeline_end}
                title={s.timeline_end ? "Play live from the timeline" : "Not archived into the timeline (yet)"}
              >
                Watch
              </button>
              <a href={`#/timeline/${s.id}`}>Timeline</a>
              <button class="danger" onClick={() => drop(s)}>Drop</button>
              <button class="danger" onClick={() => forbid(s)}>Forbid</button>
            </div>
          </li>
        ))}
      </ul>
      {forbids.length > 0 && (
        <>
          <h3>Forbidden</h3>
          <ul class="streams" data-testid="forbidden-list">
            {forbids.map((f) => {
              const id = `${f.domain}/${f.app}/${f.stream}`;
              return (
                <li key={id} data-stream={id}>
                  <div class="name">{id}</div>
                  <div class="meta">
                    <span title={utc(f.resume_at)}>refused until {local(f.resume_at)}</span>
                    {f.reason && <span> · {f.reason}</span>}
                  </div>
                  <div class="actions">
                    <button onClick={() => lift(f)}>Lift</button>
                  </div>
                </li>
              );
            })}
          </ul>
        </>
      )}
      {playing && (
        <div class="watch">
          <h3>{playing.id}</h3>
          <Player src={streamPath(playing, "/manifest.m3u8")} />
        </div>
      )}
      <PushHelper />
    </section>
  );
}

interface Domain {
  domain: string;
  push_auth?: { primary_key: string } | null;
}

function PushHelper() {
  const [domains, setDomains] = useState<Domain[]>([]);
  const [domain, setDomain] = useState("default");
  const [app, setApp] = useState("live");
  const [stream, setStream] = useState("cam1");
  const [port, setPort] = useState(1935);
  const [hours, setHours] = useState(24);
  useEffect(() => {
    get<{ domains: Domain[] }>("/v1/domains").then((r) => setDomains(r.domains), () => {});
  }, []);
  const key = domains.find((d) => d.domain === domain)?.push_auth?.primary_key;
  const url = pushUrl({
    host: location.hostname,
    port,
    domain,
    app,
    stream,
    key,
    expiresAt: Math.floor(Date.now() / 1000) + hours * 3600,
  });
  return (
    <details class="helper">
      <summary>Push URL</summary>
      <div class="form">
        <label>
          Domain
          <input list="domains" value={domain} onInput={(e) => setDomain(e.currentTarget.value)} />
          <datalist id="domains">
            {domains.map((d) => (
              <option key={d.domain} value={d.domain} />
            ))}
          </datalist>
        </label>
        <label>
          App <input value={app} onInput={(e) => setApp(e.currentTarget.value)} />
        </label>
        <label>
          Stream <input value={stream} onInput={(e) => setStream(e.currentTarget.value)} />
        </label>
        <label>
          RTMP port <input type="number" value={port} onInput={(e) => setPort(Number(e.currentTarget.value) || 1935)} />
        </label>
        {key && (
          <label>
            Valid for (hours) <input type="number" value={hours} onInput={(e) => setHours(Number(e.currentTarget.value) || 1)} />
          </label>
        )}
      </div>
      <code class="url" data-testid="push-url">{url}</code>
      <p class="hint">{key ? "Signed with the domain's primary push key." : "This domain has no push keys: any push is accepted."}</p>
    </details>
  );
}
