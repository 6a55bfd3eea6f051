// The console: one page, tabs by URL hash, the public API only.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, apiKey, get, setApiKey } from "./logic/api";
import { Library } from "./pages/Library";
import { Live } from "./pages/Live";
import { Settings } from "./pages/Settings";
import { Timeline } from "./pages/Timeline";
import "./style.css";

type Access = "checking" | "open" | "key" | "needs-key";

/** The tabs: (hash route, name). */
const TABS = [
  ["#/live", "Live"],
  ["#/timeline", "Timeline"],
  ["#/library", "Library"],
  ["#/settings", "Settings"],
] as const;

function useHash(): string {
  const [hash, setHash] = useState(location.hash || "#/live");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/live");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function KeyForm({ onKey, wrong }: { onKey: (k: string) => void; wrong: boolean }) {
  const [k, setK] = useState("");
  return (
    <form
      class="key"
      onSubmit={(e) => {
        e.preventDefault();
        onKey(k);
      }}
    >
      <h2>API key</h2>
      <p>This server asks for its API key. It is kept in this tab until you close it, and sent as a header only.</p>
      {wrong && <p class="error" role="alert">That key was refused.</p>}
      <input type="password" autocomplete="current-password" value={k} onInput={(e) => setK(e.currentTarget.value)} aria-label="API key" />
      <button type="submit">Use key</button>
    </form>
  );
}

function App() {
  const [access, setAccess] = useState<Access>("checking");
  const [wrong, setWrong] = useState(false);
  const hash = useHash();
  const check = async () => {
    try {
      // Asked without a key first, so a page that needs one shows no refused request.
      const health = await get<{ api_key_required?: boolean }>("/healthz");
      if (health.api_key_required && !apiKey()) {
        setAccess("needs-key");
        return;
      }
      await get("/v1/nodes");
      setAccess(apiKey() ? "key" : "open");
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        setWrong(apiKey() !== null);
        setApiKey(null);
        setAccess("needs-key");
      } else setAccess("open");
    }
  };
  useEffect(() => {
    void check();
  }, []);
  if (access === "checking") return <p>…</p>;
  if (access === "needs-key")
    return (
      <KeyForm
        wrong={wrong}
        onKey={(k) => {
          setApiKey(k);
          void check();
        }}
      />
    );
  return (
    <>
      <header>
        <h1>rewind</h1>
        <nav>
          {TABS.map(([path, name]) => (
            <a key={path} href={path} aria-current={hash.startsWith(path) ? "page" : undefined}>
              {name}
            </a>
          ))}
        </nav>
        <span class="access" data-testid="access">
          {access === "open" ? "API is open: no api_key is set" : "signed in with the API key"}
          {access === "key" && (
            <button
              onClick={() => {
                setApiKey(null);
                setAccess("needs-key");
              }}
            >
              Forget key
            </button>
          )}
        </span>
      </header>
      <main>
        {hash.startsWith("#/live") && <Live />}
        {hash.startsWith("#/library") && <Library />}
        {hash.startsWith("#/settings") && <Settings />}
        {hash.startsWith("#/timeline") && <Timeline sid={decodeURIComponent(hash.slice("#/timeline/".length)) || null} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
