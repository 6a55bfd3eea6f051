//! Connection slots of one listener: a bound on its open connections. When every slot
//! is taken, the connection that has been idle the longest — an HTTP connection before
//! its first request or between requests, an RTMP connection that is not publishing —
//! is closed to make room. So sockets that stay silent or trickle bytes can never lock
//! out a client that is about to do real work; only when every connection is busy is
//! a new one refused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// The slots of one listener.
#[derive(Debug)]
pub struct ConnSlots {
    cap: usize,
    inner: Mutex<Inner>,
    /// Idle connections closed to make room.
    evicted_total: AtomicU64,
    /// Connections refused because every slot was busy.
    refused_total: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Connections holding a slot.
    open: usize,
    /// Idle connections by the order they became idle (oldest first).
    idle: BTreeMap<u64, Arc<Shared>>,
    next_seq: u64,
}

#[derive(Debug, Default)]
struct Shared {
    evict: CancellationToken,
    /// The slot was given to another connection (evicted); its drop frees nothing.
    released: AtomicBool,
    /// Cancelled when the connection's slot is dropped: its socket is closed.
    gone: CancellationToken,
}

/// Longest an accept loop waits for an evicted connection to close before it accepts
/// again (its task may be slow to run on a loaded machine).
const MAX_EVICTION_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A connection told to close to make room for a new one.
#[derive(Debug)]
pub struct Evicted(Arc<Shared>);

impl Evicted {
    /// Resolves once the evicted connection has closed, or after `MAX_EVICTION_WAIT`.
    /// Accept loops wait on it before the next accept: eviction only asks a connection's
    /// task to close its socket, and under a flood of connections the new sockets would
    /// otherwise pile up faster than the evicted ones close, past the open-file limit.
    pub async fn closed(self) {
        let _ = tokio::time::timeout(MAX_EVICTION_WAIT, self.0.gone.cancelled()).await;
    }
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// One connection's slot; freed when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<ConnSlots>,
    shared: Arc<Shared>,
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    busy: usize,
    idle_seq: Option<u64>,
}

/// Holds a connection busy (not evictable) while it lives.
#[derive(Debug)]
pub struct BusyGuard(Arc<Slot>);

impl ConnSlots {
    /// Slots for at most `cap` connections.
    pub fn new(cap: usize) -> Arc<ConnSlots> {
        Arc::new(ConnSlots {
            cap: cap.max(1),
            inner: Mutex::default(),
            evicted_total: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
        })
    }

    /// The most connections at once.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Connections holding a slot now.
    pub fn open(&self) -> usize {
        crate::lock::lock(&self.inner).open
    }

    /// A slot for a new (idle) connection; when full, the longest-idle connection is
    /// told to close (returned as `Evicted`) and its slot given to this one.
    pub fn admit(self: &Arc<Self>) -> Result<(Arc<Slot>, Option<Evicted>), Full> {
        let mut g = crate::lock::lock(&self.inner);
        let mut evicted = None;
        if g.open >= self.cap {
            let Some((_, victim)) = g.idle.pop_first() else {
                self.refused_total.fetch_add(1, Ordering::Relaxed);
                return Err(Full);
            };
            self.evicted_total.fetch_add(1, Ordering::Relaxed);
            victim.released.store(true, Ordering::Release);
            victim.evict.cancel();
            g.open -= 1;
            evicted = Some(Evicted(victim));
        }
        g.open += 1;
        let shared = Arc::new(Shared::default());
        let seq = g.next_seq;
        g.next_seq += 1;
        g.idle.insert(seq, shared.clone());
        drop(g);
        let slot = Slot {
            slots: self.clone(),
            shared,
            state: Mutex::new(SlotState { busy: 0, idle_seq: Some(seq) }),
        };
        Ok((Arc::new(slot), evicted))
    }
}

/// Prometheus lines for the slots of `listener` (`rtmp` or `http`), for `/metrics`.
pub fn render_metrics(out: &mut String, listener: &str, s: &ConnSlots) {
    use std::fmt::Write;
    let n = "rewind_connections";
    let _ = writeln!(
        out,
        "{n}_open{{listener=\"{listener}\"}} {}\n{n}_limit{{listener=\"{listener}\"}} {}\n\
         {n}_evicted_total{{listener=\"{listener}\"}} {}\n{n}_refused_total{{listener=\"{listener}\"}} {}",
        s.open(),
        s.cap,
        s.evicted_total.load(Ordering::Relaxed),
        s.refused_total.load(Ordering::Relaxed),
    );
}

/// The HELP and TYPE lines of the metrics `render_metrics` writes (once per exposition).
pub const METRICS_HELP: &str = "\
# HELP rewind_connections_open Connections holding a slot of the listener.
# TYPE rewind_connections_open gauge
# HELP rewind_connections_limit Most connections the listener holds at once.
# TYPE rewind_connections_limit gauge
# HELP rewind_connections_evicted_total Idle connections closed to make room for a new one.
# TYPE rewind_connections_evicted_total counter
# HELP rewind_connections_refused_total Connections refused because every slot was busy.
# TYPE rewind_connections_refused_total counter
";

impl Slot {
    /// Resolves when this connection must close to make room for another.
    pub fn evicted(&self) -> WaitForCancellationFuture<'_> {
        self.shared.evict.cancelled()
    }

    /// Marks the connection busy until the guard is dropped (guards nest).
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        let mut st = crate::lock::lock(&self.state);
        st.busy += 1;
        if st.busy == 1
            && let Some(seq) = st.idle_seq.take()
        {
            crate::lock::lock(&self.slots.inner).idle.remove(&seq);
        }
        BusyGuard(self.clone())
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let slot = &self.0;
        let mut st = crate::lock::lock(&slot.state);
        st.busy -= 1;
        if st.busy == 0 && !slot.shared.released.load(Ordering::Acquire) {
            let mut g = crate::lock::lock(&slot.slots.inner);
            let seq = g.next_seq;
            g.next_seq += 1;
            g.idle.insert(seq, slot.shared.clone());
            st.idle_seq = Some(seq);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let st = crate::lock::lock(&self.state);
        let mut g = crate::lock::lock(&self.slots.inner);
        if let Some(seq) = st.idle_seq {
            g.idle.remove(&seq);
        }
        if !self.shared.released.load(Ordering::Acquire) {
            g.open -= 1;
        }
        self.shared.gone.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_full_the_longest_idle_connection_makes_room() {
        let s = ConnSlots::new(2);
        let (a, ev) = s.admit().unwrap();
        assert!(ev.is_none());
        let (b, _) = s.admit().unwrap();
        // a becomes busy, then idle again: now b is the longest idle.
        drop(a.busy());
        let (c, ev) = s.admit().unwrap();
        assert!(ev.is_some());
        assert!(b.shared.evict.is_cancelled() && !a.shared.evict.is_cancelled());
        assert_eq!(s.open(), 2);
        drop(b); // the evicted connection's end frees nothing more
        assert_eq!(s.open(), 2);
        drop((a, c));
        assert_eq!(s.open(), 0);
    }

    #[tokio::test]
    async fn an_accept_loop_can_wait_for_the_evicted_connection_to_close() {
        let s = ConnSlots::new(1);
        let (a, _) = s.admit().unwrap();
        let (_b, ev) = s.admit().unwrap();
        let closing = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            drop(a);
        });
        let t = std::time::Instant::now();
        ev.expect("a was evicted").closed().await;
        assert!(t.elapsed() >= std::time::Duration::from_millis(90), "waited for a to close");
        assert!(t.elapsed() < MAX_EVICTION_WAIT, "resolved when it closed, not at the bound");
        closing.await.unwrap();
    }

    #[test]
    fn busy_connections_are_never_evicted_and_a_full_house_refuses() {
        let s = ConnSlots::new(2);
        let (a, _) = s.admit().unwrap();
        let (b, _) = s.admit().unwrap();
        let ga = a.busy();
        let gb = b.busy();
        let gb2 = b.busy();
        assert_eq!(s.admit().unwrap_err(), Full);
        drop(gb);
        assert_eq!(s.admit().unwrap_err(), Full, "b still has a busy guard");
        drop(gb2);
        let (_c, ev) = s.admit().unwrap();
        assert!(ev.is_some() && b.shared.evict.is_cancelled());
        drop(ga);
        assert_eq!(s.open(), 2);
    }
}
