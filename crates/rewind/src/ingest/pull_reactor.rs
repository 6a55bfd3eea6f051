//! The reactor RTSP pulls' sockets are registered with, polled once per tick instead of
//! once per packet.
//!
//! retina owns a pull's sockets and reads them through tokio, so rewind cannot batch
//! their reads as it batches an RTMP publisher's (`socket_batch`: a low-water mark on a
//! socket it owns). What costs is not the read but the wake-up: the kernel wakes
//! whichever thread waits in `epoll_wait` on every RTP packet that arrives (~180 a
//! second for a 2 Mbps camera). So the sockets are created (and the timers armed)
//! inside the context of a second, single-threaded runtime whose driver no thread ever
//! waits on: its one thread sleeps until the next tick of the process-wide clock and
//! then asks the kernel, without blocking, what became ready meanwhile, waking the
//! pulls whose sockets have data. The pulls themselves still run on the main runtime
//! (an I/O resource may be polled from any runtime while the one it is registered with
//! is alive), so N cameras cost one wake-up of this thread per tick, plus waking the
//! pulls, instead of N × packets.
//!
//! The kernel holds a tick's packets meanwhile. Over TCP that costs nothing: the
//! receive window grows and the camera is flow-controlled, as an RTMP publisher is, so
//! TCP pulls tick with `[rtmp] read_batch_ms`. A UDP socket drops what overflows its
//! receive buffer (~200 KB by default, and retina does not let us size it), so UDP
//! pulls have a reactor of their own ticking at most every `MAX_UDP_TICK`: a 10 Mbps
//! camera sends ~60 KB per 50 ms.

use crate::ingest::socket_batch;
use futures_util::Stream;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::Poll;
use std::time::Duration;
use tokio::runtime::Handle;

/// The longest tick of UDP pulls: well within what one UDP socket's default receive
/// buffer holds of a fast camera.
pub const MAX_UDP_TICK: Duration = Duration::from_millis(50);

/// While a pull sets up its session, the reactor is turned this often at least (and at
/// once on every event): a handshake is a few round trips, and a tick each would add up.
const EAGER_TURN: Duration = Duration::from_millis(20);

/// Where a pull registers its sockets and timers: the ticked reactor, or (with batching
/// off) the runtime it runs on.
#[derive(Clone, Debug)]
pub struct Reactor(Option<&'static Ticked>);

/// One ticked reactor: its runtime, and how many pulls want it eager.
#[derive(Debug)]
struct Ticked {
    handle: Handle,
    eager: AtomicUsize,
    thread: OnceLock<std::thread::Thread>,
}

/// Keeps the reactor eager while alive (`Reactor::eager`).
#[must_use = "the reactor is eager only while this is kept"]
pub struct Eager(Option<&'static Ticked>);

impl Drop for Eager {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            t.eager.fetch_sub(1, Ordering::Release);
        }
    }
}

impl Reactor {
    /// The process's ticked reactor for reads batched every `batch` (`[rtmp]
    /// read_batch_ms`; at most `MAX_UDP_TICK` for `udp`); zero means no batching: every
    /// packet wakes its pull at once. A reactor's thread starts at the first call for
    /// its tick; later calls share it.
    pub fn for_batch(batch: Duration, udp: bool) -> Reactor {
        // One entry per tick in use: the configured batch and the UDP one.
        static TICKED: Mutex<Vec<(Duration, &'static Ticked)>> = Mutex::new(Vec::new());
        let tick = if udp { batch.min(MAX_UDP_TICK) } else { batch };
        if tick.is_zero() {
            return Reactor(None);
        }
        let mut ticked = TICKED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, t)) = ticked.iter().find(|(t, _)| *t == tick) {
            return Reactor(Some(t));
        }
        let t = start(tick);
        ticked.push((tick, t));
        Reactor(Some(t))
    }

    /// Until the guard is dropped, every event on this reactor wakes its pull at once:
    /// for setting up a session (RTMP publishers too are batched only once media flows).
    pub fn eager(&self) -> Eager {
        if let Some(t) = self.0 {
            t.eager.fetch_add(1, Ordering::Release);
            if let Some(thread) = t.thread.get() {
                thread.unpark();
            }
        }
        Eager(self.0)
    }

    /// Runs `f`, creating what it creates (sockets, timers, tasks) on this reactor.
    pub async fn run<F: Future>(&self, f: F) -> F::Output {
        let mut f = pin!(f);
        std::future::poll_fn(|cx| {
            let _entered = self.0.map(|t| t.handle.enter());
            f.as_mut().poll(cx)
        })
        .await
    }

    /// The stream's next item, polled on this reactor.
    pub async fn next<S: Stream + Unpin>(&self, s: &mut S) -> Option<S::Item> {
        std::future::poll_fn(|cx| {
            let _entered = self.0.map(|t| t.handle.enter());
            std::pin::Pin::new(&mut *s).poll_next(cx)
        })
        .await
    }

    /// The stream's next item if it is ready now.
    pub fn next_now<S: Stream + Unpin>(&self, s: &mut S) -> Option<Option<S::Item>> {
        let _entered = self.0.map(|t| t.handle.enter());
        match std::pin::Pin::new(s).poll_next(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            Poll::Ready(item) => Some(item),
            Poll::Pending => None,
        }
    }
}

/// Starts a reactor's thread. Ticked, it sleeps to the tick, then turns the driver once
/// without blocking (`yield_now` makes `block_on` poll the driver with a zero timeout,
/// wake what became ready, run the reactor's own few tasks — retina's TEARDOWNs — and
/// return). Eager, it waits in the driver, as a runtime's worker does.
fn start(tick: Duration) -> &'static Ticked {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("rtsp-reactor")
        .build()
        .expect("a single-threaded runtime builds with the process's own resources");
    // One per tick for the process's life (two at most): leaked, so pulls hold it plainly.
    let t: &'static Ticked = Box::leak(Box::new(Ticked {
        handle: rt.handle().clone(),
        eager: AtomicUsize::new(0),
        thread: OnceLock::new(),
    }));
    let thread = std::thread::Builder::new()
        .name("rtsp-reactor".into())
        .spawn(move || {
            loop {
                if t.eager.load(Ordering::Acquire) > 0 {
                    rt.block_on(async { tokio::time::sleep(EAGER_TURN).await });
                    continue;
                }
                let at = socket_batch::next_tick(tick).into_std();
                // Unparked early when a pull turns it eager.
                std::thread::park_timeout(at.saturating_duration_since(std::time::Instant::now()));
                rt.block_on(tokio::task::yield_now());
            }
        })
        .expect("the reactor thread starts");
    let _ = t.thread.set(thread.thread().clone());
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_socket_on_the_reactor_is_read_at_the_next_tick_or_at_once_when_eager() {
        let tick = Duration::from_millis(800);
        let reactor = Reactor::for_batch(tick, false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = {
            let _eager = reactor.eager();
            reactor.run(tokio::net::TcpStream::connect(addr)).await.unwrap()
        };
        let (mut server, _) = listener.accept().await.unwrap();
        // Past the eager turn in progress: from here the reactor ticks.
        tokio::time::sleep(EAGER_TURN * 3).await;
        // The client waits for data first (an empty socket: readiness cleared), then the
        // server writes; how long after the write did the read end?
        async fn round(
            server: &mut tokio::net::TcpStream,
            client: &mut tokio::net::TcpStream,
            n: u8,
        ) -> Duration {
            let mut buf = [0u8; 100];
            let mut written = Instant::now();
            let (read, ()) = tokio::join!(client.read_exact(&mut buf), async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                written = Instant::now();
                server.write_all(&[n; 100]).await.unwrap();
            });
            read.unwrap();
            assert_eq!(buf, [n; 100]);
            written.elapsed()
        }
        // The first read lands on a tick; each next write comes right after it, so its
        // read waits for most of the next tick.
        round(&mut server, &mut client, 0).await;
        for n in 1..3 {
            let waited = round(&mut server, &mut client, n).await;
            assert!(waited >= tick / 2 && waited < tick * 2, "read {waited:?} after the write");
        }
        let eager = reactor.eager();
        for n in 3..6 {
            let waited = round(&mut server, &mut client, n).await;
            assert!(waited < tick / 4, "eager: read {waited:?} after the write");
        }
        drop(eager);
        // A timer armed on the reactor fires too.
        let t = Instant::now();
        reactor.run(async { tokio::time::sleep(Duration::from_millis(30)).await }).await;
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn no_batching_means_the_callers_runtime() {
        assert!(Reactor::for_batch(Duration::ZERO, false).0.is_none());
        assert!(Reactor::for_batch(Duration::ZERO, true).0.is_none());
    }

    #[test]
    fn udp_pulls_tick_at_most_every_max_udp_tick_on_a_reactor_of_their_own() {
        let batch = Duration::from_millis(170);
        let tcp = Reactor::for_batch(batch, false).0.unwrap();
        let udp = Reactor::for_batch(batch, true).0.unwrap();
        assert_ne!(tcp.handle.id(), udp.handle.id());
        assert_eq!(Reactor::for_batch(batch, false).0.unwrap().handle.id(), tcp.handle.id());
        assert_eq!(Reactor::for_batch(MAX_UDP_TICK, false).0.unwrap().handle.id(), udp.handle.id());
    }
}
