//! Decode times for video that carries presentation times only (RTP): a camera that
//! sends B-frames delivers its frames in decode order with presentation times out of
//! order, and every muxer needs a decode time that never goes backwards and never
//! comes after the frame's presentation time.
//!
//! If no frame is presented before more than `depth` frames that precede it in decode
//! order (the stream's reorder depth, H.264's `max_num_reorder_frames`), then the
//! k-th smallest presentation time of the frames so far is a valid decode time for
//! the frame `depth` places after the k-th: it is known when that frame arrives, is
//! no later than its presentation time, and the sequence never decreases. So once
//! the depth is known no frame waits. The depth is learnt from a stream's first
//! `LEARN_FRAMES` frames, which are held until then; the decode times of the first
//! `depth` frames, which have no earlier frames to borrow from, are spaced one frame
//! interval apart before the first borrowed one.

use crate::time::{Duration90k, Time90k};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Frames held at a stream's start to learn its reorder depth (~0.3 s at 25–30 fps;
/// real encoders reorder at most 4 deep, hierarchical B-frames included).
pub const LEARN_FRAMES: usize = 8;

/// The least depth given to a stream seen to reorder at all.
pub const MIN_B_FRAME_DEPTH: usize = 3;

/// A frame with its decode time.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed<T> {
    /// Decode time.
    pub dts: Time90k,
    /// Presentation time, as received.
    pub pts: Time90k,
    /// What the caller attached to the frame.
    pub item: T,
}

/// A frame presented before a frame decoded earlier was: the stream reorders deeper
/// than its first frames showed, or its clock went backwards.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "video presentation time {pts_ms} ms is before the decode time already given, {last_ms} ms \
     (timestamps going backwards, or reordering deeper than {depth} frames)"
)]
pub struct Backwards {
    /// The frame's presentation time, in milliseconds.
    pub pts_ms: i64,
    /// The last decode time given, in milliseconds.
    pub last_ms: i64,
    /// The reorder depth learnt.
    pub depth: usize,
}

/// Turns presentation times in decode order into decode times.
#[derive(Debug)]
pub struct DecodeTimes<T> {
    learning: Vec<(Time90k, T)>,
    depth: Option<usize>,
    /// Presentation times not yet given out as a decode time (`depth` of them).
    pending: BinaryHeap<Reverse<Time90k>>,
    last_dts: Option<Time90k>,
}

impl<T> Default for DecodeTimes<T> {
    fn default() -> Self {
        DecodeTimes { learning: Vec::new(), depth: None, pending: BinaryHeap::new(), last_dts: None }
    }
}

impl<T> DecodeTimes<T> {
    /// The reorder depth, once learnt (0: no B-frames).
    pub fn depth(&self) -> Option<usize> {
        self.depth
    }

    /// The next frame in decode order, presented at `pts`. Frames whose decode time is
    /// known are appended to `out` in decode order (none while the first frames are
    /// held, then all of them at once, then each frame as it comes).
    pub fn push(&mut self, pts: Time90k, item: T, out: &mut Vec<Timed<T>>) -> Result<(), Backwards> {
        let Some(depth) = self.depth else {
            self.learning.push((pts, item));
            if self.learning.len() >= LEARN_FRAMES {
                self.learn(out);
            }
            return Ok(());
        };
        self.pending.push(Reverse(pts));
        let Reverse(dts) = self.pending.pop().expect("just pushed");
        if let Some(last) = self.last_dts
            && dts < last
        {
            // Only this frame's own time can be below the last decode time (everything
            // held is at or above it), so popping it left the rest as it was: the frame
            // is skipped and the stream can go on.
            return Err(Backwards { pts_ms: pts.as_ms(), last_ms: last.as_ms(), depth });
        }
        self.last_dts = Some(dts);
        out.push(Timed { dts, pts, item });
        Ok(())
    }

    fn learn(&mut self, out: &mut Vec<Timed<T>>) {
        let frames = std::mem::take(&mut self.learning);
        // A frame's reorder: how many frames before it in decode order are presented
        // after it.
        let seen = (0..frames.len())
            .map(|i| frames[..i].iter().filter(|(p, _)| *p > frames[i].0).count())
            .max()
            .unwrap_or(0);
        // A stream without B-frames keeps decode time = presentation time. One with them
        // gets a margin: encoders vary their B-frame pattern (x264's adaptive B-frames,
        // pyramids 2 deep), and a deeper depth only widens the composition offset.
        let depth = if seen == 0 { 0 } else { seen.max(MIN_B_FRAME_DEPTH) };
        self.depth = Some(depth);
        let mut sorted: Vec<Time90k> = frames.iter().map(|(p, _)| *p).collect();
        sorted.sort_unstable();
        let first = sorted[0];
        let span = sorted[depth.min(sorted.len() - 1)] - first;
        let interval = if depth == 0 { Duration90k(0) } else { Duration90k((span.0 / depth as i64).max(1)) };
        for (i, (pts, item)) in frames.into_iter().enumerate() {
            self.pending.push(Reverse(pts));
            let dts = if i < depth {
                first - Duration90k(interval.0 * (depth - i) as i64)
            } else {
                self.pending.pop().expect("just pushed").0
            };
            // Within the frames it learnt from, the depth holds by construction, so
            // `dts` neither decreases nor passes `pts`.
            self.last_dts = Some(dts);
            out.push(Timed { dts, pts, item });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FRAME: i64 = 3600; // 25 fps

    fn run(pts: &[i64]) -> (Vec<(i64, i64)>, Option<usize>) {
        let mut d = DecodeTimes::default();
        let mut out = Vec::new();
        for &p in pts {
            d.push(Time90k(p * FRAME), (), &mut out).unwrap();
        }
        (out.iter().map(|t| (t.dts.0 / FRAME, t.pts.0 / FRAME)).collect(), d.depth())
    }

    #[test]
    fn without_b_frames_decode_time_is_presentation_time() {
        let pts: Vec<i64> = (0..20).collect();
        let (out, depth) = run(&pts);
        assert_eq!(depth, Some(0));
        assert!(out.iter().all(|(d, p)| d == p), "{out:?}");
        assert_eq!(out.len(), 20);
    }

    #[test]
    fn ibbp_gets_decode_times_a_margin_behind() {
        // Decode order I0 P3 B1 B2 P6 B4 B5 …: reordered one deep, given three.
        let pts = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11];
        let (out, depth) = run(&pts);
        assert_eq!(depth, Some(MIN_B_FRAME_DEPTH));
        let dts: Vec<i64> = out.iter().map(|(d, _)| *d).collect();
        assert_eq!(dts, vec![-3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn the_first_frames_are_held_until_the_depth_is_learnt() {
        let mut d = DecodeTimes::default();
        let mut out = Vec::new();
        for p in [0, 2, 1, 4, 3, 6, 5] {
            d.push(Time90k(p * FRAME), (), &mut out).unwrap();
        }
        assert!(out.is_empty() && d.depth().is_none());
        d.push(Time90k(8 * FRAME), (), &mut out).unwrap();
        assert_eq!((out.len(), d.depth()), (LEARN_FRAMES, Some(MIN_B_FRAME_DEPTH)));
    }

    #[test]
    fn reordering_deeper_than_learnt_is_an_error_and_the_frame_is_skipped() {
        let mut d = DecodeTimes::default();
        let mut out = Vec::new();
        for p in 0..LEARN_FRAMES as i64 {
            d.push(Time90k(p * FRAME), (), &mut out).unwrap();
        }
        d.push(Time90k(20 * FRAME), (), &mut out).unwrap();
        let e = d.push(Time90k(4 * FRAME), (), &mut out).unwrap_err();
        assert_eq!(e.depth, 0);
        assert!(e.to_string().contains("before the decode time"), "{e}");
        // The stream goes on from the last decode time given.
        d.push(Time90k(21 * FRAME), (), &mut out).unwrap();
        assert!(out.windows(2).all(|w| w[0].dts <= w[1].dts));
    }

    /// A decode order for presentation order 0..n: each group's anchor is sent before
    /// the `b` frames presented before it, in order or as a pyramid (the middle one,
    /// a reference, first).
    fn decode_order(groups: &[(usize, bool)]) -> Vec<i64> {
        let mut out = vec![0];
        let mut next = 1i64;
        for &(b, pyramid) in groups {
            let anchor = next + b as i64;
            out.push(anchor);
            let mut bs: Vec<i64> = (next..anchor).collect();
            if pyramid && bs.len() >= 3 {
                let mid = bs.remove(bs.len() / 2);
                bs.insert(0, mid);
            }
            out.extend(bs);
            next = anchor + 1;
        }
        out
    }

    proptest! {
        #[test]
        fn decode_times_never_decrease_and_never_pass_presentation(
            first in (1usize..=3, any::<bool>()),
            rest in proptest::collection::vec((0usize..=3, any::<bool>()), 0..60),
            offset in -1_000_000i64..1_000_000,
        ) {
            // The first group shows B-frames, as an encoder's first frames do.
            let groups: Vec<(usize, bool)> = std::iter::once(first).chain(rest).collect();
            let pts = decode_order(&groups);
            let mut d = DecodeTimes::default();
            let mut out = Vec::new();
            for (i, &p) in pts.iter().enumerate() {
                d.push(Time90k(offset + p * FRAME), i, &mut out).unwrap();
            }
            // The last frames of a stream shorter than the learning window stay held.
            prop_assert_eq!(out.len(), if pts.len() < LEARN_FRAMES { 0 } else { pts.len() });
            if out.is_empty() {
                return Ok(());
            }
            for (i, t) in out.iter().enumerate() {
                prop_assert_eq!(t.item, i, "decode order is kept");
                prop_assert!(t.dts <= t.pts, "{:?}", t);
            }
            for w in out.windows(2) {
                prop_assert!(w[0].dts <= w[1].dts, "{:?}", w);
            }
            // Every presentation time but the first `depth` is someone's decode time.
            let depth = d.depth().unwrap();
            let mut given: Vec<i64> = out.iter().skip(depth).map(|t| t.dts.0).collect();
            let mut expected: Vec<i64> = out.iter().map(|t| t.pts.0).collect();
            expected.sort_unstable();
            expected.truncate(out.len() - depth);
            given.sort_unstable();
            prop_assert_eq!(given, expected);
        }
    }
}
