//! Rate limits for log lines that a peer can cause at will (refused connections,
//! protocol errors): the first `burst` lines of a kind in each period are written,
//! later ones are only counted, and the next line written says how many were left out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `burst` lines per kind per period.
#[derive(Debug)]
pub struct LogThrottle {
    period: Duration,
    burst: u32,
    /// Per kind: start of the current period, lines written in it, lines left out.
    kinds: Mutex<HashMap<&'static str, (Instant, u32, u64)>>,
}

impl LogThrottle {
    /// `burst` lines per kind every `period`.
    pub fn new(period: Duration, burst: u32) -> LogThrottle {
        LogThrottle { period, burst: burst.max(1), kinds: Mutex::default() }
    }

    /// `Some(suppressed)` when a line of `kind` may be written now (with how many were
    /// left out since the last one); `None` when it is to be left out.
    pub fn allow(&self, kind: &'static str) -> Option<u64> {
        self.allow_at(kind, Instant::now())
    }

    fn allow_at(&self, kind: &'static str, now: Instant) -> Option<u64> {
        let mut kinds = crate::lock::lock(&self.kinds);
        let (start, written, suppressed) = kinds.entry(kind).or_insert((now, 0, 0));
        if now.duration_since(*start) >= self.period {
            *start = now;
            *written = 0;
        }
        if *written < self.burst {
            *written += 1;
            Some(std::mem::take(suppressed))
        } else {
            *suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_kind_per_period_then_the_count_of_the_rest() {
        let t = LogThrottle::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        assert_eq!(t.allow_at("a", t0), Some(0));
        assert_eq!(t.allow_at("a", t0), Some(0));
        assert_eq!(t.allow_at("a", t0 + Duration::from_secs(1)), None);
        assert_eq!(t.allow_at("a", t0 + Duration::from_secs(9)), None);
        assert_eq!(t.allow_at("b", t0 + Duration::from_secs(9)), Some(0), "kinds are counted apart");
        assert_eq!(t.allow_at("a", t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(t.allow_at("a", t0 + Duration::from_secs(21)), Some(0));
    }
}
