// An HLS player (hls.js). With an API key it plays a short-lived signed URL of the
// playlist (its segments are inside the signature's scope), so the key is never in a URL.
import Hls from "hls.js/light";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./logic/api";
import { PLAY_SECS, usableUrl } from "./logic/download";

/** Plays `src`; `onTime` gets the wall-clock instant being shown (from the playlist's
 * EXT-X-PROGRAM-DATE-TIME) as playback moves. */
export function Player({ src, onTime, startAt }: { src: string; onTime?: (wall: Date | null) => void; startAt?: number }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const v = video.current;
    if (!v) return;
    setError(null);
    let hls: Hls | null = null;
    let gone = false;
    const tick = () => onTime?.(hls?.playingDate ?? null);
    usableUrl(src, PLAY_SECS).then(
      (url) => {
        if (!gone) hls = start(v, url);
      },
      (e) => setError(e instanceof ApiError ? e.message : String(e)),
    );
    v.addEventListener("timeupdate", tick);
    return () => {
      gone = true;
      v.removeEventListener("timeupdate", tick);
      hls?.destroy();
    };
  }, [src, startAt]);

  const start = (v: HTMLVideoElement, url: string): Hls => {
    const hls = new Hls({
      liveSyncDurationCount: 2,
      autoStartLoad: startAt === undefined,
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
    // Start at the instant asked for, not at the key frame before it: the playlist's
    // first EXT-X-PROGRAM-DATE-TIME says where its time 0 is.
    if (startAt !== undefined) {
      hls.once(Hls.Events.LEVEL_LOADED, (_e, data) => {
        const pdt = data.details.fragments[0]?.programDateTime;
        hls.startLoad(pdt ? Math.max(0, (startAt - pdt) / 1000) : -1);
      });
    }
    hls.loadSource(url);
    hls.attachMedia(v);
    v.muted = true;
    void v.play().catch(() => {});
    return hls;
  };
  return (
    <div class="player">
      <video ref={video} controls playsInline muted />
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}
