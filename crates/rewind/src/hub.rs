//! The hub: one per live stream, fanning frames out from the publisher to readers
//! (recorders, timeline, live playback).
//!
//! Architecture invariant: a slow reader never blocks the publisher or other readers.
//! Frames are shared (`Frame` clones are two reference counts), never copied per reader.

use crate::config::HubConfig;
use crate::lock::lock;
use rewind_media::{CodecConfig, Duration90k, Frame, Time90k, Track};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What a reader gets next.
#[derive(Debug)]
pub enum HubEvent {
    /// The next frame.
    Frame(Frame),
    /// The reader fell behind and `missed` frames were lost; the next `Frame` is a
    /// video keyframe (or any frame of an audio-only stream), so decoding resumes cleanly.
    Lagged {
        /// Frames skipped.
        missed: u64,
    },
    /// The publisher left; no more frames will come.
    Closed,
}

#[derive(Debug)]
struct Queue {
    frames: VecDeque<Frame>,
    /// Frames lost to overflow since the reader last looked.
    missed: u64,
    /// After an overflow (or when joining without a GOP), frames are skipped until a
    /// video key frame so a decoder never sees a GOP with a hole.
    wait_keyframe: bool,
    closed: bool,
}

/// One reader's bounded queue and its wake-up.
#[derive(Debug)]
struct Slot {
    // std Mutex: held for a push or a pop, never across an await.
    queue: Mutex<Queue>,
    notify: Notify,
    /// Wake this reader at most this often while frames trickle in (recorders do not
    /// need every frame at once; fewer wake-ups is less CPU). Zero: every flush.
    coalesce: Duration,
    last_wake: Mutex<Option<Instant>>,
}

#[derive(Debug)]
struct State {
    readers: Vec<Weak<Slot>>,
    /// Frames since the last video keyframe, for readers that join mid-GOP.
    gop: Vec<Frame>,
    gop_bytes: usize,
    /// False when the GOP outgrew `gop_cache_max_bytes`: joiners wait for a keyframe.
    gop_complete: bool,
    has_video: bool,
    closed: bool,
    /// Readers given frames since the last `flush`.
    pending_wake: bool,
    /// The codec configuration of the last frame of each track (video, audio).
    codecs: [Option<Arc<CodecConfig>>; 2],
    /// The last `pre_roll` of frames, from a key frame (event clips start in the past).
    preroll: VecDeque<Frame>,
    preroll_bytes: usize,
}

/// Bytes held in every hub's pre-roll, against `pre_roll_budget_bytes` (one budget per
/// process).
static PREROLL_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes all streams hold for pre-roll now.
pub fn preroll_bytes() -> usize {
    PREROLL_BYTES.load(Relaxed)
}

/// The fan-out of one live stream.
///
/// Overflow policy: each reader has a queue of at most `reader_queue_frames`; a reader
/// that falls that far behind loses its queued frames (counted, and reported to it as
/// `Lagged`) and resumes at the next key frame. The publisher never waits.
///
/// Wake-ups are batched: `publish` only queues; `flush` (called once per socket read)
/// wakes each reader that got frames, so a reader wakes once per batch, not per frame.
#[derive(Debug)]
pub struct Hub {
    // A std Mutex, not a tokio one: it is held for a push, never across an await.
    state: Mutex<State>,
    queue_cap: usize,
    gop_cache_max_bytes: usize,
    preroll: Duration90k,
    preroll_budget: usize,
}

impl Hub {
    /// A hub for a stream that is about to start.
    pub fn new(cfg: &HubConfig) -> Self {
        Hub {
            state: Mutex::new(State {
                readers: Vec::new(),
                gop: Vec::new(),
                gop_bytes: 0,
                gop_complete: false,
                has_video: false,
                closed: false,
                pending_wake: false,
                codecs: [None, None],
                preroll: VecDeque::new(),
                preroll_bytes: 0,
            }),
            queue_cap: cfg.reader_queue_frames,
            gop_cache_max_bytes: cfg.gop_cache_max_bytes,
            preroll: Duration90k::from_secs(cfg.pre_roll_secs as i64),
            preroll_budget: cfg.pre_roll_budget_bytes,
        }
    }

    /// Keeps `frame` in the pre-roll and drops what is older than needed: everything
    /// before the last key frame at or before `pre_roll` ago, or, past the budget,
    /// everything before the current GOP.
    fn keep_preroll(&self, s: &mut State, frame: &Frame) {
        if self.preroll.0 == 0 {
            return;
        }
        s.preroll.push_back(frame.clone());
        s.preroll_bytes += frame.data.len();
        PREROLL_BYTES.fetch_add(frame.data.len(), Relaxed);
        let starts = |f: &Frame, has_video: bool| f.keyframe && (f.track == Track::Video || !has_video);
        if !starts(frame, s.has_video) {
            return;
        }
        let over = PREROLL_BYTES.load(Relaxed) > self.preroll_budget;
        let cutoff = if over { frame.dts } else { frame.dts - self.preroll };
        let has_video = s.has_video;
        let keep_from = s.preroll.iter().rposition(|f| starts(f, has_video) && f.dts <= cutoff).unwrap_or(0);
        for f in s.preroll.drain(..keep_from) {
            s.preroll_bytes -= f.data.len();
            PREROLL_BYTES.fetch_sub(f.data.len(), Relaxed);
        }
    }

    /// Queues a frame for every reader. Never blocks on readers; call `flush` after a
    /// batch to wake them.
    pub fn publish(&self, frame: Frame) {
        let mut s = lock(&self.state);
        if s.closed {
            return;
        }
        match frame.track {
            Track::Video if frame.keyframe => {
                s.has_video = true;
                s.gop.clear();
                s.gop_bytes = 0;
                s.gop_complete = true;
            }
            Track::Video => s.has_video = true,
            Track::Audio => {}
        }
        let t = (frame.track == Track::Audio) as usize;
        if s.codecs[t].as_ref().is_none_or(|c| !Arc::ptr_eq(c, &frame.codec)) {
            s.codecs[t] = Some(frame.codec.clone());
        }
        self.keep_preroll(&mut s, &frame);
        if s.has_video && s.gop_complete {
            if s.gop_bytes + frame.data.len() > self.gop_cache_max_bytes {
                s.gop.clear();
                s.gop_bytes = 0;
                s.gop_complete = false;
            } else {
                s.gop_bytes += frame.data.len();
                s.gop.push(frame.clone());
            }
        }
        let mut any_dead = false;
        for r in &s.readers {
            let Some(slot) = r.upgrade() else {
                any_dead = true;
                continue;
            };
            let mut q = lock(&slot.queue);
            if q.wait_keyframe {
                let resumes = frame.keyframe && (frame.track == Track::Video || !s.has_video);
                if !resumes {
                    q.missed += 1;
                    continue;
                }
                q.wait_keyframe = false;
            }
            if q.frames.len() >= self.queue_cap {
                q.missed += q.frames.len() as u64;
                q.frames.clear();
                q.wait_keyframe = true;
                if !(frame.keyframe && (frame.track == Track::Video || !s.has_video)) {
                    q.missed += 1;
                    continue;
                }
                q.wait_keyframe = false;
            }
            q.frames.push_back(frame.clone());
        }
        if any_dead {
            s.readers.retain(|r| r.strong_count() > 0);
        }
        s.pending_wake = true;
    }

    /// Wakes the readers that were given frames since the last flush (a reader that
    /// asked for coalescing: only once its interval has passed, or when its queue is
    /// half full).
    pub fn flush(&self) {
        let mut s = lock(&self.state);
        if !s.pending_wake {
            return;
        }
        let now = Instant::now();
        let mut still_pending = false;
        for r in s.readers.iter().filter_map(Weak::upgrade) {
            if !r.coalesce.is_zero() {
                let mut last = lock(&r.last_wake);
                let due = last.is_none_or(|t| now.duration_since(t) >= r.coalesce)
                    || lock(&r.queue).frames.len() * 2 >= self.queue_cap;
                if !due {
                    still_pending = true;
                    continue;
                }
                *last = Some(now);
            }
            r.notify.notify_one();
        }
        s.pending_wake = still_pending;
    }

    /// A new reader woken on every flush. It starts at the current GOP's keyframe when
    /// the GOP is held, otherwise at the next keyframe (audio-only streams: at the next
    /// frame).
    pub fn subscribe(&self) -> HubReader {
        self.subscribe_coalesced(Duration::ZERO)
    }

    /// A reader woken at most every `coalesce` while frames arrive (recorders).
    pub fn subscribe_coalesced(&self, coalesce: Duration) -> HubReader {
        let mut s = lock(&self.state);
        let slot = Arc::new(Slot {
            queue: Mutex::new(Queue {
                frames: if s.gop_complete { s.gop.iter().cloned().collect() } else { VecDeque::new() },
                missed: 0,
                wait_keyframe: s.has_video && !s.gop_complete,
                closed: s.closed,
            }),
            notify: Notify::new(),
            coalesce,
            last_wake: Mutex::new(None),
        });
        s.readers.push(Arc::downgrade(&slot));
        HubReader { slot, backlog: VecDeque::new() }
    }

    /// A reader that starts in the past: at the last key frame at or before wall-clock
    /// `from` still held in the pre-roll (or the oldest held), then goes on live. The
    /// past frames are its own backlog, outside its bounded queue.
    pub fn subscribe_from(&self, from: Time90k, coalesce: Duration) -> HubReader {
        let mut reader = self.subscribe_coalesced(coalesce);
        let s = lock(&self.state);
        let has_video = s.has_video;
        let starts = |f: &Frame| f.keyframe && (f.track == Track::Video || !has_video);
        let first = s.preroll.iter().position(starts);
        let start = s.preroll.iter().rposition(|f| starts(f) && f.utc <= from).or(first);
        if let Some(start) = start {
            // The tail of the pre-roll is the GOP the queue already starts with.
            let queued = lock(&reader.slot.queue).frames.len();
            let end = s.preroll.len().saturating_sub(queued).max(start);
            reader.backlog = s.preroll.range(start..end).cloned().collect();
        }
        reader
    }

    /// A reader that starts with `backlog` (past frames from elsewhere, such as the
    /// timeline), then the current GOP and live frames.
    pub fn subscribe_with_backlog(&self, backlog: Vec<Frame>, coalesce: Duration) -> HubReader {
        let mut reader = self.subscribe_coalesced(coalesce);
        reader.backlog = backlog.into();
        reader
    }

    /// Whether the pre-roll reaches back to wall-clock `from`.
    pub fn preroll_covers(&self, from: Time90k) -> bool {
        lock(&self.state).preroll.front().is_some_and(|f| f.utc <= from)
    }

    /// The codec configurations in use now: (video, audio).
    pub fn codecs(&self) -> (Option<Arc<CodecConfig>>, Option<Arc<CodecConfig>>) {
        let s = lock(&self.state);
        (s.codecs[0].clone(), s.codecs[1].clone())
    }

    /// Decode and wall-clock time of the current GOP's first frame, when it is held.
    pub fn gop_head(&self) -> Option<(Time90k, Time90k)> {
        let s = lock(&self.state);
        s.gop.first().filter(|_| s.gop_complete).map(|f| (f.dts, f.utc))
    }

    /// Ends the stream: readers drain what they have, then get `Closed`.
    pub fn close(&self) {
        let mut s = lock(&self.state);
        s.closed = true;
        s.gop.clear();
        s.gop_bytes = 0;
        PREROLL_BYTES.fetch_sub(s.preroll_bytes, Relaxed);
        s.preroll.clear();
        s.preroll_bytes = 0;
        for r in s.readers.drain(..).filter_map(|r| r.upgrade()) {
            lock(&r.queue).closed = true;
            r.notify.notify_one();
        }
    }

    /// Bytes of the GOP held for joiners.
    pub fn gop_bytes(&self) -> usize {
        lock(&self.state).gop_bytes
    }
}

/// One reader of a hub. Dropping it unsubscribes.
#[derive(Debug)]
pub struct HubReader {
    slot: Arc<Slot>,
    /// Past frames it starts with (`subscribe_from`), before its queue.
    backlog: VecDeque<Frame>,
}

impl HubReader {
    /// Whether more frames are ready now: a reader that batches its output (a recorder
    /// writing a file) finishes the batch when this turns false.
    pub fn has_ready(&self) -> bool {
        !self.backlog.is_empty() || !lock(&self.slot.queue).frames.is_empty()
    }

    /// The next event. Cancel-safe.
    pub async fn next(&mut self) -> HubEvent {
        if let Some(f) = self.backlog.pop_front() {
            return HubEvent::Frame(f);
        }
        loop {
            {
                let mut q = lock(&self.slot.queue);
                if q.missed > 0 {
                    let missed = std::mem::take(&mut q.missed);
                    return HubEvent::Lagged { missed };
                }
                if let Some(f) = q.frames.pop_front() {
                    return HubEvent::Frame(f);
                }
                if q.closed {
                    return HubEvent::Closed;
                }
            }
            self.slot.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rewind_media::{CodecConfig, Time90k, aac::AacConfig};

    fn frame(track: Track, t: i64, keyframe: bool) -> Frame {
        let codec = Arc::new(CodecConfig::Aac(AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap()));
        Frame {
            track,
            dts: Time90k(t),
            pts: Time90k(t),
            utc: Time90k(t),
            keyframe,
            discontinuity: false,
            codec,
            data: Bytes::from_static(b"x"),
        }
    }

    fn cfg(q: usize) -> HubConfig {
        HubConfig { reader_queue_frames: q, gop_cache_max_bytes: 1 << 20, ..HubConfig::default() }
    }

    #[tokio::test]
    async fn joiner_starts_at_the_current_keyframe() {
        let hub = Hub::new(&cfg(64));
        hub.publish(frame(Track::Video, 0, false)); // before any keyframe: not cached
        hub.publish(frame(Track::Video, 1, true));
        hub.publish(frame(Track::Audio, 2, true));
        let mut r = hub.subscribe();
        hub.publish(frame(Track::Video, 3, false));
        hub.flush();
        hub.close();
        let mut got = Vec::new();
        while let HubEvent::Frame(f) = r.next().await {
            got.push(f.dts.0);
        }
        assert_eq!(got, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_reader_can_start_in_the_pre_roll_with_nothing_lost_or_repeated() {
        let hub = Hub::new(&HubConfig { pre_roll_secs: 2, ..cfg(64) });
        // 10 frames a second (9000 ticks apart), a key frame every second, for 5 s.
        for i in 0..50 {
            hub.publish(frame(Track::Video, i * 9000, i % 10 == 0));
        }
        // Ask for 2.5 s ago: the key frame at or before it is at 2 s (frame 20).
        let mut r = hub.subscribe_from(Time90k(49 * 9000 - 225_000), Duration::ZERO);
        for i in 50..55 {
            hub.publish(frame(Track::Video, i * 9000, i % 10 == 0));
        }
        hub.close();
        let mut got = Vec::new();
        while let HubEvent::Frame(f) = r.next().await {
            got.push(f.dts.0 / 9000);
        }
        assert_eq!(
            got,
            (20..55).collect::<Vec<i64>>(),
            "from the key frame before the asked time, then live"
        );
        assert_eq!(preroll_bytes(), 0, "a closed hub gives its pre-roll back");
    }

    #[tokio::test]
    async fn slow_reader_is_told_and_resumes_at_a_keyframe_without_blocking_the_publisher() {
        let hub = Hub::new(&cfg(16));
        let mut slow = hub.subscribe();
        for i in 0..100 {
            hub.publish(frame(Track::Video, i, i % 30 == 0));
        }
        hub.close();
        // The queue overflowed at frame 16: those 16 were dropped and frames up to the
        // key frame at 30 skipped; it resumed at 30, overflowed again at 46, resumed at 60…
        let mut got = Vec::new();
        let mut missed = 0;
        loop {
            match slow.next().await {
                HubEvent::Lagged { missed: m } => missed += m,
                HubEvent::Frame(f) => got.push(f.dts.0),
                HubEvent::Closed => break,
            }
        }
        assert_eq!(got.first(), Some(&90), "resumes at a key frame: {got:?}");
        assert_eq!(missed as usize + got.len(), 100, "every frame is delivered or counted");
    }
}
