//! The hub: one per live stream, fanning frames out from the publisher to readers
//! (recorders, timeline, live playback).
//!
//! Architecture invariant: a slow reader never blocks the publisher or other readers.
//! Frames are shared (`Frame` clones are two reference counts), never copied per reader.

use crate::config::HubConfig;
use rewind_media::{Frame, Track};
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::broadcast;

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
struct State {
    /// `None` once closed. Overflow policy: the channel is a ring of
    /// `reader_queue_frames` slots shared by all readers; a reader that falls that far
    /// behind loses its oldest frames and is told (`Lagged`) — the publisher never waits.
    tx: Option<broadcast::Sender<Frame>>,
    /// Frames since the last video keyframe, for readers that join mid-GOP.
    gop: Vec<Frame>,
    gop_bytes: usize,
    /// False when the GOP outgrew `gop_cache_max_bytes`: joiners wait for a keyframe.
    gop_complete: bool,
    has_video: bool,
}

/// The fan-out of one live stream.
#[derive(Debug)]
pub struct Hub {
    // A std Mutex, not a tokio one: it is held for a push and a send, never across an await.
    state: Mutex<State>,
    gop_cache_max_bytes: usize,
}

impl Hub {
    /// A hub for a stream that is about to start.
    pub fn new(cfg: &HubConfig) -> Self {
        let (tx, _) = broadcast::channel(cfg.reader_queue_frames);
        Hub {
            state: Mutex::new(State {
                tx: Some(tx),
                gop: Vec::new(),
                gop_bytes: 0,
                gop_complete: false,
                has_video: false,
            }),
            gop_cache_max_bytes: cfg.gop_cache_max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a frame to every reader. Never blocks on readers.
    pub fn publish(&self, frame: Frame) {
        let mut s = self.lock();
        let Some(tx) = s.tx.clone() else { return };
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
        // Err only means "no readers right now", which is fine.
        let _ = tx.send(frame);
    }

    /// A new reader. It starts at the current GOP's keyframe when the GOP is held,
    /// otherwise at the next keyframe (audio-only streams: at the next frame).
    pub fn subscribe(&self) -> HubReader {
        let s = self.lock();
        match &s.tx {
            None => HubReader { backlog: VecDeque::new(), rx: None, wait_keyframe: false },
            Some(tx) => HubReader {
                backlog: if s.gop_complete { s.gop.iter().cloned().collect() } else { VecDeque::new() },
                rx: Some(tx.subscribe()),
                wait_keyframe: s.has_video && !s.gop_complete,
            },
        }
    }

    /// Ends the stream: readers drain what they have, then get `Closed`.
    pub fn close(&self) {
        let mut s = self.lock();
        s.tx = None;
        s.gop.clear();
        s.gop_bytes = 0;
    }

    /// Bytes of the GOP held for joiners.
    pub fn gop_bytes(&self) -> usize {
        self.lock().gop_bytes
    }
}

/// One reader of a hub.
#[derive(Debug)]
pub struct HubReader {
    backlog: VecDeque<Frame>,
    rx: Option<broadcast::Receiver<Frame>>,
    wait_keyframe: bool,
}

impl HubReader {
    /// The next event. Cancel-safe.
    pub async fn next(&mut self) -> HubEvent {
        if let Some(f) = self.backlog.pop_front() {
            return HubEvent::Frame(f);
        }
        let Some(rx) = self.rx.as_mut() else {
            return HubEvent::Closed;
        };
        let mut missed = 0u64;
        loop {
            match rx.recv().await {
                Ok(f) => {
                    if self.wait_keyframe {
                        if !(f.track == Track::Video && f.keyframe) {
                            missed += 1;
                            continue;
                        }
                        self.wait_keyframe = false;
                    }
                    if missed > 0 {
                        self.backlog.push_back(f);
                        return HubEvent::Lagged { missed };
                    }
                    return HubEvent::Frame(f);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    missed += n;
                    self.wait_keyframe = true;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.rx = None;
                    return if missed > 0 { HubEvent::Lagged { missed } } else { HubEvent::Closed };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rewind_media::{CodecConfig, Time90k, aac::AacConfig};
    use std::sync::Arc;

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
        HubConfig { reader_queue_frames: q, gop_cache_max_bytes: 1 << 20 }
    }

    #[tokio::test]
    async fn joiner_starts_at_the_current_keyframe() {
        let hub = Hub::new(&cfg(64));
        hub.publish(frame(Track::Video, 0, false)); // before any keyframe: not cached
        hub.publish(frame(Track::Video, 1, true));
        hub.publish(frame(Track::Audio, 2, true));
        let mut r = hub.subscribe();
        hub.publish(frame(Track::Video, 3, false));
        hub.close();
        let mut got = Vec::new();
        while let HubEvent::Frame(f) = r.next().await {
            got.push(f.dts.0);
        }
        assert_eq!(got, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn slow_reader_is_told_and_resumes_at_a_keyframe_without_blocking_the_publisher() {
        let hub = Hub::new(&cfg(16));
        let mut slow = hub.subscribe();
        for i in 0..100 {
            hub.publish(frame(Track::Video, i, i % 30 == 0));
        }
        hub.close();
        match slow.next().await {
            HubEvent::Lagged { missed } => assert!(missed >= 84, "missed {missed}"),
            e => panic!("{e:?}"),
        }
        match slow.next().await {
            HubEvent::Frame(f) => assert!(f.keyframe && f.dts.0 == 90),
            e => panic!("{e:?}"),
        }
    }
}
