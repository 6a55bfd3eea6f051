//! Interleaving a session's two tracks in decode time. A pusher (ffmpeg, OBS) sends
//! its FLV tags interleaved; a camera sends its audio and video RTP packets on their
//! own schedules, and a camera that encodes on a busy CPU sends its pictures a
//! hundred milliseconds or more after the sound of the same instant. Muxers take
//! frames in the order they are published, so without this step a file's tags would
//! go back and forth in time by that much.
//!
//! A frame is held until the other track has reached its decode time (the other
//! track's later frames cannot then come before it) or until its own track has run
//! `bound` ahead of it (the other track is late beyond reason or has stopped: waiting
//! longer would only delay the live stream). A track that has produced nothing yet is
//! waited for the same way, so a session's first sound waits for its first picture.

use crate::frame::Track;
use crate::time::{Duration90k, Time90k};
use std::collections::VecDeque;

/// How far one track may run ahead of the other while its frames wait: beyond this
/// they go out in arrival order.
pub const DEFAULT_BOUND: Duration90k = Duration90k::from_ms(1000);

#[derive(Debug)]
struct Lane<T> {
    /// Whether the session has this track at all.
    expected: bool,
    held: VecDeque<(Time90k, T)>,
    /// The newest decode time seen on this track.
    newest: Option<Time90k>,
}

impl<T> Lane<T> {
    fn new(expected: bool) -> Self {
        Lane { expected, held: VecDeque::new(), newest: None }
    }
}

/// Puts a session's video and audio frames in decode-time order, holding each at
/// most until its track runs `bound` ahead.
#[derive(Debug)]
pub struct Interleave<T> {
    lanes: [Lane<T>; 2],
    bound: Duration90k,
}

fn lane(track: Track) -> usize {
    if track == Track::Video { 0 } else { 1 }
}

impl<T> Interleave<T> {
    /// For a session with the tracks said; a missing track is never waited for.
    pub fn new(video: bool, audio: bool, bound: Duration90k) -> Self {
        Interleave { lanes: [Lane::new(video), Lane::new(audio)], bound }
    }

    /// The next frame of `track` (decode times never decrease within a track); the
    /// frames that may go now are appended to `out` in decode-time order.
    pub fn push(&mut self, track: Track, dts: Time90k, item: T, out: &mut Vec<T>) {
        let l = &mut self.lanes[lane(track)];
        l.expected = true;
        l.newest = Some(l.newest.map_or(dts, |n| n.max(dts)));
        l.held.push_back((dts, item));
        self.release(out);
    }

    /// Everything held, in decode-time order (the session ended).
    pub fn drain(&mut self, out: &mut Vec<T>) {
        loop {
            let i = match (self.lanes[0].held.front(), self.lanes[1].held.front()) {
                (None, None) => return,
                (Some(_), None) => 0,
                (None, Some(_)) => 1,
                (Some(v), Some(a)) => usize::from(a.0 < v.0),
            };
            if let Some((_, item)) = self.lanes[i].held.pop_front() {
                out.push(item);
            }
        }
    }

    /// How many frames are held.
    pub fn held(&self) -> usize {
        self.lanes[0].held.len() + self.lanes[1].held.len()
    }

    fn release(&mut self, out: &mut Vec<T>) {
        loop {
            let i = match (self.lanes[0].held.front(), self.lanes[1].held.front()) {
                (None, None) => return,
                // Both waiting: the earlier one can go, nothing can come before it.
                (Some(v), Some(a)) => usize::from(a.0 < v.0),
                (Some(&(dts, _)), None) if self.may_go(0, dts) => 0,
                (None, Some(&(dts, _))) if self.may_go(1, dts) => 1,
                _ => return,
            };
            if let Some((_, item)) = self.lanes[i].held.pop_front() {
                out.push(item);
            }
        }
    }

    /// Whether the head of lane `i`, decoded at `dts`, may go while the other lane
    /// holds nothing.
    fn may_go(&self, i: usize, dts: Time90k) -> bool {
        let (own, other) = (&self.lanes[i], &self.lanes[1 - i]);
        let other_past = match other.newest {
            Some(n) => n >= dts,
            None => !other.expected,
        };
        other_past || own.newest.is_some_and(|n| n - dts >= self.bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: i64) -> Time90k {
        Time90k(v * 90)
    }

    #[test]
    fn late_pictures_come_out_before_the_sound_that_overtook_them() {
        let mut il = Interleave::new(true, true, DEFAULT_BOUND);
        let mut out = Vec::new();
        il.push(Track::Video, ms(0), "v0", &mut out);
        assert!(out.is_empty(), "the first picture waits for the first sound");
        for (t, a) in [(0, "a0"), (21, "a21"), (43, "a43"), (64, "a64")] {
            il.push(Track::Audio, ms(t), a, &mut out);
        }
        assert_eq!(out, ["v0", "a0"], "sound past the last picture waits");
        il.push(Track::Video, ms(33), "v33", &mut out);
        assert_eq!(out, ["v0", "a0", "a21", "v33"]);
        il.push(Track::Video, ms(66), "v66", &mut out);
        assert_eq!(out, ["v0", "a0", "a21", "v33", "a43", "a64"]);
        assert_eq!(il.held(), 1);
        il.drain(&mut out);
        assert_eq!(out.last(), Some(&"v66"));
    }

    #[test]
    fn a_track_that_stops_delays_the_other_by_the_bound_only() {
        let mut il = Interleave::new(true, true, Duration90k::from_ms(500));
        let mut out = Vec::new();
        il.push(Track::Audio, ms(0), 0, &mut out);
        il.push(Track::Video, ms(0), 1, &mut out);
        assert_eq!(out, [1, 0], "equal times: the picture first");
        out.clear();
        for t in 1..=30 {
            il.push(Track::Video, ms(t * 33), t, &mut out);
        }
        // Video ran 990 ms ahead of the silent audio: all but the last 500 ms went.
        assert_eq!(out, (1..=14).collect::<Vec<_>>());
    }

    #[test]
    fn a_session_without_a_track_never_waits_for_it() {
        let mut il = Interleave::new(true, false, DEFAULT_BOUND);
        let mut out = Vec::new();
        il.push(Track::Video, ms(0), 0, &mut out);
        il.push(Track::Video, ms(33), 1, &mut out);
        assert_eq!(out, [0, 1]);
    }

    proptest! {
        /// Whatever the tracks' skew in arrival: every frame comes out once, each
        /// track in its order; the output's decode times never go back when the skew
        /// stays under the bound; nothing is held past the bound.
        #[test]
        fn frames_come_out_in_time_order(
            video_steps in proptest::collection::vec(1i64..60, 1..80),
            audio_steps in proptest::collection::vec(1i64..40, 1..80),
            skew_ms in 0i64..900,
            audio_late in any::<bool>(),
        ) {
            let times = |steps: &[i64]| steps.iter().scan(0, |t, s| { *t += s; Some(*t) }).collect::<Vec<_>>();
            let (v, a) = (times(&video_steps), times(&audio_steps));
            // Arrival: each frame arrives at its time, one track `skew_ms` late.
            let mut arrivals: Vec<(i64, Track, i64)> = v.iter().map(|&t| (t + if audio_late { 0 } else { skew_ms }, Track::Video, t))
                .chain(a.iter().map(|&t| (t + if audio_late { skew_ms } else { 0 }, Track::Audio, t)))
                .collect();
            arrivals.sort_by_key(|x| (x.0, x.1 == Track::Audio));
            let mut il = Interleave::new(true, true, DEFAULT_BOUND);
            let mut out = Vec::new();
            for &(_, track, t) in &arrivals {
                il.push(track, ms(t), (track, t), &mut out);
                // Nothing is held whose own track has run a bound past it.
                for l in &il.lanes {
                    if let (Some(&(d, _)), Some(n)) = (l.held.front(), l.newest) {
                        prop_assert!(n - d < DEFAULT_BOUND);
                    }
                }
            }
            il.drain(&mut out);
            prop_assert_eq!(out.len(), arrivals.len());
            let of = |tr: Track| out.iter().filter(|x| x.0 == tr).map(|x| x.1).collect::<Vec<_>>();
            prop_assert_eq!(of(Track::Video), v);
            prop_assert_eq!(of(Track::Audio), a);
            for w in out.windows(2) {
                prop_assert!(w[1].1 >= w[0].1, "{:?} after {:?}", w[1], w[0]);
            }
        }
    }
}
