//! Reading a publisher's socket in batches, so that a pusher that writes every frame
//! does not cost a wake-up per frame.
//!
//! Two mechanisms, both set by `[rtmp] read_batch_ms`:
//! - the receive low-water mark (`SO_RCVLOWAT`): the kernel reports the socket readable
//!   only once about a batch of the stream is buffered;
//! - clock-tick reads: once a publisher's rate is known, its session sleeps until the next
//!   tick of one process-wide clock and then takes everything buffered, without asking
//!   the poller. Every publisher wakes on the same tick, so N streams cost a couple of
//!   wake-ups per tick instead of N (the low-water mark alone still woke a worker per
//!   stream per batch, at N different instants). The low-water mark stays set, higher,
//!   so a burst larger than the stream's usual batch is read at once, not at the tick.

use bytes::BytesMut;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Sets `SO_RCVLOWAT`: readiness is reported only once this many bytes are buffered
/// (or the peer closes). Failure is harmless: reads just happen more often.
pub fn set_low_water(sock: &TcpStream, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: a valid socket fd and a pointer to a c_int of the size passed.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// The next instant after now that is a whole number of `period`s after the process's
/// first call: the shared tick every batched reader wakes on.
pub fn next_tick(period: Duration) -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let period_ns = period.as_nanos().max(1);
    let since = Instant::now().saturating_duration_since(epoch).as_nanos();
    let ticks = since / period_ns + 1;
    epoch + Duration::from_nanos((ticks * period_ns).min(u64::MAX as u128) as u64)
}

/// What a non-blocking drain of the socket found.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// This many bytes were appended and the socket is empty (0: nothing was buffered).
    Bytes(usize),
    /// The buffer's free room was filled with this many bytes: more may be waiting.
    Full(usize),
    /// The peer closed its side (bytes before the close were appended first).
    Closed(usize),
}

/// Appends what the socket has buffered to `buf`, into the room it already has (the
/// caller sizes its blocks; growing one here would copy what it holds), without
/// waiting. Reads the socket directly: the runtime's cached readiness is stale by design
/// here (the low-water mark keeps the poller from seeing small arrivals).
pub fn drain(sock: &TcpStream, buf: &mut BytesMut) -> io::Result<Drained> {
    let mut total = 0;
    loop {
        let spare = buf.spare_capacity_mut();
        if spare.is_empty() {
            return Ok(Drained::Full(total));
        }
        // SAFETY: `spare` is writable memory of `spare.len()` bytes owned by `buf`;
        // recv writes at most that many and reports how many it wrote.
        let n = unsafe {
            libc::recv(sock.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), libc::MSG_DONTWAIT)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => break,
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
        if n == 0 {
            return Ok(Drained::Closed(total));
        }
        // SAFETY: recv initialised the first `n` spare bytes.
        unsafe { buf.set_len(buf.len() + n as usize) };
        total += n as usize;
    }
    // The socket is empty: drop the runtime's stale "readable" so that waiting for
    // readiness waits for the next real report (a burst over the low-water mark).
    let _ = sock.try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
    Ok(Drained::Bytes(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn ticks_are_shared_and_in_the_future() {
        let period = Duration::from_millis(200);
        let (a, b) = (next_tick(period), next_tick(period));
        assert!(a > Instant::now() - Duration::from_millis(1));
        assert!(a <= Instant::now() + period);
        // Two readers asking within the same tick wake at the same instant.
        assert!(a == b || b - a == period, "{a:?} {b:?}");
    }

    #[tokio::test]
    async fn drain_takes_what_is_buffered_then_reports_the_close() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::with_capacity(1 << 20);
        assert_eq!(drain(&server, &mut buf).unwrap(), Drained::Bytes(0));

        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        client.write_all(&data).await.unwrap();
        client.flush().await.unwrap();
        let mut got = 0;
        for _ in 0..100 {
            match drain(&server, &mut buf).unwrap() {
                Drained::Bytes(n) => got += n,
                other => panic!("{other:?}"),
            }
            if got == data.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(&buf[..], &data[..]);

        // A full buffer stops the drain; the rest is read once there is room.
        client.write_all(&data).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut small = BytesMut::with_capacity(4000);
        let Drained::Full(first) = drain(&server, &mut small).unwrap() else { panic!() };
        assert_eq!(first, small.capacity());
        drop(client);
        tokio::time::sleep(Duration::from_millis(50)).await;
        small.reserve(1 << 20);
        assert_eq!(drain(&server, &mut small).unwrap(), Drained::Closed(10_000 - first));
        assert_eq!(&small[..], &data[..]);
    }
}
