// Settings: templates, rules, domains, record tasks, events, failed callbacks, RTSP
// sources and nodes. Each kind is listed from the API and edited as the JSON the API
// takes (every field), so what the API says about a bad value is shown as it is.
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, get } from "../logic/api";
import { streamPath } from "../logic/urls";

type Item = Record<string, unknown>;

interface Kind {
  title: string;
  list: string;
  field: string;
  label: (i: Item) => string;
  create?: { path: string; example: Item };
  edit?: (i: Item) => { method: string; path: string; body: Item };
  remove?: (i: Item) => string;
  actions?: { name: string; run: (i: Item) => Promise<unknown>; show?: (i: Item) => boolean }[];
}

const enc = encodeURIComponent;
const strip = (i: Item, ...keys: string[]) => Object.fromEntries(Object.entries(i).filter(([k]) => !keys.includes(k)));

const KINDS: Kind[] = [
  {
    title: "Templates",
    list: "/v1/record-templates",
    field: "templates",
    label: (t) => `${t.template_id} · ${t.name}`,
    create: { path: "/v1/record-templates", example: { name: "all", flv: { enable: true }, hls: { enable: true }, mp4: { enable: false } } },
    edit: (t) => ({ method: "PUT", path: `/v1/record-templates/${t.template_id}`, body: strip(t, "template_id", "source") }),
    remove: (t) => `/v1/record-templates/${t.template_id}`,
  },
  {
    title: "Rules",
    list: "/v1/record-rules",
    field: "rules",
    label: (r) => `${r.domain}/${r.app || "*"}/${r.stream || "*"} → template ${r.template_id}`,
    create: { path: "/v1/record-rules", example: { domain: "default", app: "", stream: "", template_id: 1 } },
    remove: (r) => `/v1/record-rules?domain=${enc(String(r.domain))}&app=${enc(String(r.app ?? ""))}&stream=${enc(String(r.stream ?? ""))}`,
  },
  {
    title: "Domains",
    list: "/v1/domains",
    field: "domains",
    label: (d) => `${d.domain}${d.push_auth ? " · push keys" : ""}${d.callback ? " · callback" : ""}`,
    create: { path: "/v1/domains/{domain}", example: { domain: "live.example.com", push_auth: { primary_key: "change-me" }, callback: null } },
    edit: (d) => ({ method: "PUT", path: `/v1/domains/${enc(String(d.domain))}`, body: strip(d, "domain", "source") }),
    remove: (d) => `/v1/domains/${enc(String(d.domain))}`,
  },
  {
    title: "Record tasks",
    list: "/v1/record-tasks",
    field: "tasks",
    label: (t) => `${t.task_id} · ${t.domain}/${t.app}/${t.stream} · ${t.state}`,
    create: {
      path: "/v1/record-tasks",
      example: { domain: "default", app: "live", stream: "cam1", end_time: new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z/, "Z") },
    },
    remove: (t) => `/v1/record-tasks/${enc(String(t.task_id))}`,
    actions: [
      {
        name: "Stop",
        run: (t) => call("POST", `/v1/record-tasks/${enc(String(t.task_id))}/stop`),
        show: (t) => ["scheduled", "recording", "waiting"].includes(String(t.state)),
      },
    ],
  },
  {
    title: "Failed callbacks",
    list: "/v1/callbacks/failed",
    field: "callbacks",
    label: (c) => `${c.event_id} · ${(c.event as Item | undefined)?.stream_id ?? ""} · ${c.last_error ?? ""}`,
    remove: (c) => `/v1/callbacks/${enc(String(c.event_id))}`,
    actions: [{ name: "Resend", run: (c) => call("POST", `/v1/callbacks/${enc(String(c.event_id))}/resend`) }],
  },
  {
    title: "RTSP sources",
    list: "/v1/sources",
    field: "sources",
    label: (s) => `${s.source_id} · ${s.state}${s.last_error ? ` · ${s.last_error}` : ""} · ${s.url}`,
    create: { path: "/v1/sources", example: { url: "rtsp://user:password@10.0.0.21:554/stream1", app: "cams", stream: "gate", transport: "tcp" } },
    edit: (s) => ({
      method: "PUT",
      path: `/v1/sources/${enc(String(s.source_id))}`,
      body: { url: s.url, domain: s.domain, app: s.app, stream: s.stream, transport: s.transport, enable: s.enable, rtp_timeout_secs: s.rtp_timeout_secs },
    }),
    remove: (s) => `/v1/sources/${enc(String(s.source_id))}`,
  },
  { title: "Nodes", list: "/v1/nodes", field: "nodes", label: (n) => `${n.name} · ${n.up ? "up" : "down"} · ${n.advertise_url}` },
];

function message(e: unknown): string {
  return e instanceof ApiError ? `${e.message} (${e.code})` : String(e);
}

function Editor({ initial, onSave, onCancel }: { initial: Item; onSave: (body: Item) => Promise<void>; onCancel: () => void }) {
  const [text, setText] = useState(JSON.stringify(initial, null, 2));
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      class="editor"
      onSubmit={async (e) => {
        e.preventDefault();
        let body: Item;
        try {
          body = JSON.parse(text);
        } catch (err) {
          return setError(`Not JSON: ${(err as Error).message}`);
        }
        try {
          await onSave(body);
        } catch (err) {
          setError(message(err));
        }
      }}
    >
      <textarea aria-label="JSON" rows={Math.min(20, text.split("\n").length + 1)} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button type="submit">Save</button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Section({ kind }: { kind: Kind }) {
  const [items, setItems] = useState<Item[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Item | "new" | null>(null);
  const load = () =>
    get<Record<string, Item[]>>(kind.list).then(
      (r) => setItems(r[kind.field] ?? []),
      (e) => setError(message(e)),
    );
  useEffect(() => void load(), []);
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setError(null);
      await load();
    } catch (e) {
      setError(message(e));
    }
  };
  return (
    <details class="kind" data-kind={kind.title} open={kind.title === "Templates"}>
      <summary>
        {kind.title} {items && <span class="meta">({items.length})</span>}
      </summary>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ul class="items">
        {items?.map((i, n) => (
          <li key={n}>
            <span>{kind.label(i)}</span>
            <span class="actions">
              {kind.edit && <button onClick={() => setEditing(i)}>Edit</button>}
              {kind.actions?.filter((a) => a.show?.(i) ?? true).map((a) => (
                <button key={a.name} onClick={() => act(() => a.run(i))}>
                  {a.name}
                </button>
              ))}
              {kind.remove && (
                <button class="danger" onClick={() => confirm(`Delete ${kind.label(i)}?`) && act(() => call("DELETE", kind.remove!(i)))}>
                  Delete
                </button>
              )}
            </span>
            {editing === i && kind.edit && (
              <Editor
                initial={kind.edit(i).body}
                onCancel={() => setEditing(null)}
                onSave={async (body) => {
                  const e = kind.edit!(i);
                  await call(e.method, e.path, body);
                  setEditing(null);
                  await load();
                }}
              />
            )}
          </li>
        ))}
      </ul>
      {kind.title === "Failed callbacks" && items && items.length > 0 && (
        <button onClick={() => act(() => call("POST", "/v1/callbacks/failed/resend"))}>Resend all</button>
      )}
      {kind.create && (editing === "new" ? (
        <Editor
          initial={kind.create.example}
          onCancel={() => setEditing(null)}
          onSave={async (body) => {
            const path = kind.create!.path.replace("{domain}", enc(String(body.domain ?? "")));
            await call(path.includes("/v1/domains/") ? "PUT" : "POST", path, path.includes("/v1/domains/") ? strip(body, "domain") : body);
            setEditing(null);
            await load();
          }}
        />
      ) : (
        <button onClick={() => setEditing("new")}>New</button>
      ))}
    </details>
  );
}

function EventButton() {
  const [sid, setSid] = useState("default/live/cam1");
  const [body, setBody] = useState({ pre_roll: 10, post_roll: 20, max_duration: 300 });
  const [said, setSaid] = useState<string | null>(null);
  const send = async () => {
    const [domain, app, stream] = sid.split("/");
    try {
      const r = await call<{ event_id: string; task_id: string }>("POST", streamPath({ domain, app, stream }, "/events"), body);
      setSaid(`Event ${r.event_id}: clip task ${r.task_id}`);
    } catch (e) {
      setSaid(message(e));
    }
  };
  return (
    <details class="kind" data-kind="Event">
      <summary>Event clip</summary>
      <div class="form">
        <label>
          Stream <input value={sid} onInput={(e) => setSid(e.currentTarget.value)} />
        </label>
        {(["pre_roll", "post_roll", "max_duration"] as const).map((k) => (
          <label key={k}>
            {k.replace("_", " ")} (s)
            <input type="number" value={body[k]} onInput={(e) => setBody({ ...body, [k]: Number(e.currentTarget.value) })} />
          </label>
        ))}
        <button onClick={send}>Event now</button>
      </div>
      {said && <p data-testid="event-result">{said}</p>}
    </details>
  );
}

export function Settings() {
  return (
    <section>
      <h2>Settings</h2>
      {KINDS.slice(0, 4).map((k) => (
        <Section key={k.title} kind={k} />
      ))}
      <EventButton />
      {KINDS.slice(4).map((k) => (
        <Section key={k.title} kind={k} />
      ))}
    </section>
  );
}
