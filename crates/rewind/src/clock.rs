//! The injectable clock: everything that asks "what time is it" asks a `Clock`, so
//! tests move time instead of sleeping through it.

use rewind_media::Time90k;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of wall-clock time (UTC).
pub trait Clock: Send + Sync + 'static {
    /// Now, as 90 kHz ticks since the Unix epoch.
    fn now(&self) -> Time90k;

    /// Now, as whole Unix seconds.
    fn now_unix(&self) -> i64 {
        self.now().0.div_euclid(rewind_media::time::TICKS_PER_SECOND)
    }
}

/// Shared handle to the process's clock.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time90k {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Time90k::from_unix_micros(d.as_micros() as i64)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn new(t: Time90k) -> Self {
        ManualClock(AtomicI64::new(t.0))
    }
    /// Moves the clock to `t`.
    pub fn set(&self, t: Time90k) {
        self.0.store(t.0, Ordering::SeqCst)
    }
    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: rewind_media::Duration90k) {
        self.0.fetch_add(d.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time90k {
        Time90k(self.0.load(Ordering::SeqCst))
    }
}
