//! How long a source waits before dialling its camera again: 1 s, doubling to 30 s,
//! each wait drawn from its step's upper quarter — so cameras that dropped together
//! (a switch rebooted) do not all come back in the same instant.

use std::time::Duration;

/// The first wait.
pub const FIRST: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX: Duration = Duration::from_secs(30);

/// Waits between attempts; `reset` once a connection went live.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait before the next attempt, with `jitter` in [0, 1) choosing within the
    /// step's 75–100 %.
    pub fn next(&mut self, jitter: f64) -> Duration {
        let step = FIRST.saturating_mul(1 << self.failures.min(16)).min(MAX);
        self.failures = self.failures.saturating_add(1);
        step.mul_f64(0.75 + 0.25 * jitter.clamp(0.0, 1.0))
    }

    /// A connection went live: the next failure waits `FIRST` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn doubles_from_one_second_to_thirty() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| b.next(0.999_999).as_secs_f64().round() as u64).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next(0.0), Duration::from_millis(750));
    }

    proptest! {
        #[test]
        fn every_wait_is_within_its_step(jitters in proptest::collection::vec(0.0f64..1.0, 1..100)) {
            let mut b = Backoff::default();
            for (i, j) in jitters.into_iter().enumerate() {
                let step = FIRST.saturating_mul(1 << i.min(16)).min(MAX);
                let w = b.next(j);
                prop_assert!(w <= step && w >= step.mul_f64(0.75));
            }
        }
    }
}
