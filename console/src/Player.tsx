// An HLS player (hls.js) whose requests carry the session's API key as a header, so
// the key is never in a URL.
import Hls from "hls.js/light";
import { useEffect, useRef, useState } from "preact/hooks";
import { authHeaders } from "./logic/api";

export function Player({ src }: { src: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const v = video.current;
    if (!v) return;
    setError(null);
    const hls = new Hls({
      xhrSetup: (xhr) => {
        for (const [k, val] of Object.entries(authHeaders())) xhr.setRequestHeader(k, val);
      },
      liveSyncDurationCount: 2,
      // A stream that just went live has no fragment to list yet (the API answers 404
      // until its first GOP is archived): keep asking for a while.
      manifestLoadPolicy: {
        default: {
          maxTimeToFirstByteMs: 10000,
          maxLoadTimeMs: 20000,
          timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
          errorRetry: { maxNumRetry: 15, retryDelayMs: 1000, maxRetryDelayMs: 2000, shouldRetry: () => true },
        },
      },
    });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      const body = (data.response as { data?: unknown } | undefined)?.data;
      let message = data.details;
      if (typeof body === "string") {
        try {
          message = JSON.parse(body).error.message;
        } catch {
          /* not the API's error */
        }
      }
      setError(message);
    });
    hls.loadSource(src);
    hls.attachMedia(v);
    v.muted = true;
    void v.play().catch(() => {});
    return () => hls.destroy();
  }, [src]);
  return (
    <div class="player">
      <video ref={video} controls playsInline muted />
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}
