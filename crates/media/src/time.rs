//! The one time type: 90 kHz ticks, for media timestamps and for wall-clock (UTC)
//! instants counted from the Unix epoch. 90 kHz divides milliseconds (90 ticks) and
//! common frame durations exactly, and MPEG-TS speaks it natively.

use std::ops::{Add, AddAssign, Sub};

/// Ticks per second of every `Time90k` / `Duration90k`.
pub const TICKS_PER_SECOND: i64 = 90_000;
/// Ticks per millisecond.
pub const TICKS_PER_MS: i64 = 90;

/// An instant in 90 kHz ticks: a media timestamp (DTS/PTS) or, for wall-clock
/// fields, ticks since 1970-01-01T00:00:00Z.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time90k(pub i64);

/// A signed span in 90 kHz ticks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration90k(pub i64);

impl Time90k {
    /// From milliseconds (RTMP's unit).
    pub const fn from_ms(ms: i64) -> Self {
        Time90k(ms * TICKS_PER_MS)
    }
    /// From Unix microseconds, rounding down to a tick.
    pub const fn from_unix_micros(us: i64) -> Self {
        Time90k((us as i128 * TICKS_PER_SECOND as i128 / 1_000_000) as i64)
    }
    /// Unix microseconds of a wall-clock instant.
    pub const fn unix_micros(self) -> i64 {
        (self.0 as i128 * 1_000_000 / TICKS_PER_SECOND as i128) as i64
    }
    /// Whole milliseconds, rounded toward negative infinity.
    pub const fn as_ms(self) -> i64 {
        self.0.div_euclid(TICKS_PER_MS)
    }
}

impl Duration90k {
    /// From whole seconds.
    pub const fn from_secs(s: i64) -> Self {
        Duration90k(s * TICKS_PER_SECOND)
    }
    /// From milliseconds.
    pub const fn from_ms(ms: i64) -> Self {
        Duration90k(ms * TICKS_PER_MS)
    }
    /// As fractional seconds, for display and rates.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / TICKS_PER_SECOND as f64
    }
}

impl Add for Duration90k {
    type Output = Duration90k;
    fn add(self, d: Duration90k) -> Duration90k {
        Duration90k(self.0 + d.0)
    }
}

impl Sub for Duration90k {
    type Output = Duration90k;
    fn sub(self, d: Duration90k) -> Duration90k {
        Duration90k(self.0 - d.0)
    }
}

impl Add<Duration90k> for Time90k {
    type Output = Time90k;
    fn add(self, d: Duration90k) -> Time90k {
        Time90k(self.0 + d.0)
    }
}
impl AddAssign<Duration90k> for Time90k {
    fn add_assign(&mut self, d: Duration90k) {
        self.0 += d.0
    }
}
impl Sub<Duration90k> for Time90k {
    type Output = Time90k;
    fn sub(self, d: Duration90k) -> Time90k {
        Time90k(self.0 - d.0)
    }
}
impl Sub for Time90k {
    type Output = Duration90k;
    fn sub(self, o: Time90k) -> Duration90k {
        Duration90k(self.0 - o.0)
    }
}

/// Extends a wrapping 32-bit millisecond counter (RTMP timestamps) to 64 bits.
///
/// Each new value is taken as the nearest one to the previous value, so the 2^32 ms
/// (≈ 49.7 days) wrap is invisible and small backward steps stay backward steps
/// (the caller decides whether those are allowed).
#[derive(Clone, Debug, Default)]
pub struct Unwrap32 {
    last: Option<(u32, i64)>,
}

impl Unwrap32 {
    /// The 64-bit value of `raw`.
    pub fn unwrap(&mut self, raw: u32) -> i64 {
        let v = match self.last {
            None => raw as i64,
            Some((last_raw, last_ext)) => last_ext + raw.wrapping_sub(last_raw) as i32 as i64,
        };
        self.last = Some((raw, v));
        v
    }
}

/// Maps a session's media timestamps to wall-clock instants.
///
/// Anchored at the first frame: `wall = anchor_wall + (dts − anchor_dts)`. Media time
/// drives wall time so that frames never overlap or go backwards on the timeline; the
/// anchor moves only *forward*, when media falls behind the real clock by more than
/// `max_lag` (an encoder stall, a frozen camera), which leaves a gap instead of
/// compressing time.
#[derive(Clone, Debug)]
pub struct WallAnchor {
    anchor: Option<(Time90k, Time90k)>,
    max_lag: Duration90k,
}

impl WallAnchor {
    /// A new anchor that re-anchors when media lags wall time by more than `max_lag`.
    pub fn new(max_lag: Duration90k) -> Self {
        WallAnchor { anchor: None, max_lag }
    }

    /// Wall-clock instant of a frame with media time `dts` seen at wall time `now`;
    /// the bool is true when the anchor moved (a discontinuity on the timeline).
    pub fn wall_of(&mut self, dts: Time90k, now: Time90k) -> (Time90k, bool) {
        match self.anchor {
            None => {
                self.anchor = Some((dts, now));
                (now, false)
            }
            Some((a_dts, a_wall)) => {
                let wall = a_wall + (dts - a_dts);
                if now - wall > self.max_lag {
                    self.anchor = Some((dts, now));
                    (now, true)
                } else {
                    (wall, false)
                }
            }
        }
    }
}

/// Maps a pulled camera's media timestamps to wall-clock instants that do not drift
/// from a reference clock over days of continuous pulling.
///
/// A camera's media clock runs at its own crystal's pace (tens of ppm off: seconds a
/// day), so `WallAnchor`'s "media time drives wall time" alone would wander. Here each
/// frame also gets a *reference* instant — the camera's NTP time from RTCP sender
/// reports when trusted, else the receive time — and a correction follows the
/// reference, changed by at most `max_rate` (a fraction, e.g. 500 ppm) of the media
/// time that passed: wall time stays smooth and never goes backwards, and the
/// difference from the reference stays bounded whatever the drift (below `max_rate`).
/// Media that lags the receive time by more than `max_lag`, or runs ahead of it by
/// more (a camera's timestamps jumping), re-anchors on the reference: a discontinuity.
#[derive(Clone, Debug)]
pub struct SteeredAnchor {
    anchor: Option<(Time90k, Time90k)>,
    /// Ticks added to the anchored wall time (fractional: slews are sub-tick per frame).
    correction: f64,
    last_dts: Time90k,
    last_wall: Time90k,
    max_lag: Duration90k,
    max_rate: f64,
}

impl SteeredAnchor {
    /// A new anchor: re-anchors beyond `max_lag` either way, slews at most `max_rate`.
    pub fn new(max_lag: Duration90k, max_rate: f64) -> Self {
        SteeredAnchor {
            anchor: None,
            correction: 0.0,
            last_dts: Time90k(0),
            last_wall: Time90k(i64::MIN),
            max_lag,
            max_rate,
        }
    }

    /// Wall-clock instant of a frame with media time `dts`, received at `now`, that the
    /// reference clock puts at `reference`; the bool is true when the anchor moved.
    pub fn wall_of(&mut self, dts: Time90k, now: Time90k, reference: Time90k) -> (Time90k, bool) {
        let Some((a_dts, a_wall)) = self.anchor else {
            self.reanchor(dts, reference);
            return (reference, false);
        };
        let base = a_wall + (dts - a_dts);
        let wall = base + Duration90k(self.correction.round() as i64);
        let off = now - wall;
        if off > self.max_lag || off < Duration90k(-self.max_lag.0) {
            // Never before what was already given out (a jump ahead is caught at its
            // first frame, so that is at most `max_lag` ahead).
            let at = reference.max(self.last_wall);
            self.reanchor(dts, at);
            return (at, true);
        }
        // Steered before the frame is placed: a correction made now moves this frame and
        // the ones after it, never one already given out (a later frame at the same media
        // time gets the same wall time).
        let step = (dts - self.last_dts).0.max(0) as f64 * self.max_rate;
        let err = (reference - wall).0 as f64;
        self.correction += err.clamp(-step, step);
        self.last_dts = self.last_dts.max(dts);
        let wall = base + Duration90k(self.correction.round() as i64);
        self.last_wall = self.last_wall.max(wall);
        (wall, false)
    }

    fn reanchor(&mut self, dts: Time90k, wall: Time90k) {
        self.anchor = Some((dts, wall));
        self.correction = 0.0;
        self.last_dts = dts;
        self.last_wall = self.last_wall.max(wall);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ms_and_micros_round_trip() {
        assert_eq!(Time90k::from_ms(1).0, 90);
        let t = Time90k::from_unix_micros(1_576_900_868_000_000);
        assert_eq!(t.unix_micros(), 1_576_900_868_000_000);
        assert_eq!(Time90k(-1).as_ms(), -1);
    }

    #[test]
    fn unwrap_crosses_the_32_bit_wrap() {
        let mut u = Unwrap32::default();
        assert_eq!(u.unwrap(u32::MAX - 10), (u32::MAX - 10) as i64);
        assert_eq!(u.unwrap(5), u32::MAX as i64 + 6);
        assert_eq!(u.unwrap(3), u32::MAX as i64 + 4, "small step back stays back");
    }

    proptest! {
        #[test]
        fn unwrap_follows_any_walk_of_small_steps(start in any::<u32>(), steps in proptest::collection::vec(-100_000i64..1_000_000, 1..200)) {
            let mut u = Unwrap32::default();
            let mut truth = start as i64;
            prop_assert_eq!(u.unwrap(start), truth);
            for s in steps {
                truth += s;
                prop_assert_eq!(u.unwrap(truth as u32), truth);
            }
        }

        #[test]
        fn wall_time_never_goes_backwards(deltas in proptest::collection::vec((0i64..200_000, 0i64..2_000_000), 1..100)) {
            let mut a = WallAnchor::new(Duration90k::from_secs(10));
            let (mut dts, mut now) = (Time90k(0), Time90k(1_000_000_000));
            let mut last = Time90k(i64::MIN);
            for (dd, dn) in deltas {
                dts.0 += dd;
                now.0 += dn;
                let (w, _) = a.wall_of(dts, now);
                prop_assert!(w >= last);
                last = w;
            }
        }
    }

    #[test]
    fn anchor_moves_forward_on_a_stall() {
        let mut a = WallAnchor::new(Duration90k::from_secs(10));
        assert_eq!(a.wall_of(Time90k(0), Time90k(1000)), (Time90k(1000), false));
        assert_eq!(a.wall_of(Time90k(90_000), Time90k(91_000)), (Time90k(91_000), false));
        // media advanced 1 s while the clock advanced 60 s: re-anchor
        let (w, moved) = a.wall_of(Time90k(180_000), Time90k(91_000 + 60 * 90_000));
        assert!(moved);
        assert_eq!(w, Time90k(91_000 + 60 * 90_000));
    }

    #[test]
    fn steered_wall_time_follows_the_reference_without_drift() {
        // A camera clock 100 ppm fast, pulled for three days at 25 fps: without steering
        // its wall time would run 26 s ahead; steered at 500 ppm it stays within 50 ms.
        let mut a = SteeredAnchor::new(Duration90k::from_secs(10), 500e-6);
        let start = Time90k(1_700_000_000 * TICKS_PER_SECOND);
        let frame = 3600; // 40 ms of true time
        let mut last = Time90k(i64::MIN);
        let mut worst = 0i64;
        for i in 0..(3 * 86_400 * 25i64) {
            let truth = start + Duration90k(i * frame);
            let dts = Time90k(i * frame + i * frame / 10_000);
            let (w, moved) = a.wall_of(dts, truth, truth);
            assert!(!moved);
            assert!(w >= last);
            last = w;
            worst = worst.max((w - truth).0.abs());
        }
        assert!(worst < 50 * TICKS_PER_MS, "off by {} ms", worst / TICKS_PER_MS);
    }

    #[test]
    fn steered_anchor_moves_on_stalls_and_jumps_ahead() {
        let mut a = SteeredAnchor::new(Duration90k::from_secs(10), 500e-6);
        let t0 = Time90k(1_000_000_000);
        assert_eq!(a.wall_of(Time90k(0), t0, t0), (t0, false));
        // A reference a second behind pulls at most 500 ppm of the second that passed.
        let (w, _) = a.wall_of(Time90k(TICKS_PER_SECOND), t0 + Duration90k::from_secs(1), t0);
        assert_eq!(w, t0 + Duration90k::from_secs(1) - Duration90k(45));
        // the camera's timestamps jump an hour ahead: re-anchor at the reference
        let now = t0 + Duration90k::from_secs(2);
        assert_eq!(a.wall_of(Time90k(3600 * TICKS_PER_SECOND), now, now), (now, true));
        // a stall of a minute: re-anchor, later than anything before
        let later = now + Duration90k::from_secs(60);
        let (w, moved) = a.wall_of(Time90k(3601 * TICKS_PER_SECOND), later, later);
        assert!(moved && w == later);
    }

    #[test]
    fn a_steered_frame_at_the_same_media_time_keeps_its_wall_time() {
        // Found by the property test below: a correction applied to the next frame moved
        // a frame at the same media time 4 ticks back.
        let mut a = SteeredAnchor::new(Duration90k::from_secs(10), 500e-6);
        let now = Time90k(1_000_000_000);
        a.wall_of(Time90k(0), now, now);
        let (w1, _) = a.wall_of(Time90k(7000), now, now);
        let (w2, _) = a.wall_of(Time90k(7000), now, now);
        assert!(w2 >= w1, "{w2:?} after {w1:?}");
    }

    proptest! {
        #[test]
        fn steered_wall_time_never_goes_backwards(deltas in proptest::collection::vec((0i64..200_000, 0i64..2_000_000, -900_000i64..900_000), 1..200)) {
            let mut a = SteeredAnchor::new(Duration90k::from_secs(10), 500e-6);
            let (mut dts, mut now) = (Time90k(0), Time90k(1_000_000_000));
            let mut last = Time90k(i64::MIN);
            for (dd, dn, skew) in deltas {
                dts.0 += dd;
                now.0 += dn;
                let (w, _) = a.wall_of(dts, now, now + Duration90k(skew));
                prop_assert!(w >= last, "{:?} after {:?}", w, last);
                last = w;
            }
        }
    }
}
