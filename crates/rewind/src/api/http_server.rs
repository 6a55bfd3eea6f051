//! The HTTP listener: accepts connections within the listener's `ConnSlots`, serves
//! each with hyper's HTTP/1 server, and closes connections that do not send a whole
//! request head within `http.header_read_timeout_secs` — on a new connection and
//! between keep-alive requests alike (hyper arms the timer at every request head).
//! A request in flight, and its response body until the last byte, keep their
//! connection busy; idle connections are what a full listener evicts.

use crate::conn_slots::{BusyGuard, ConnSlots};
use crate::log_throttle::LogThrottle;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// What the listener needs.
pub struct HttpListener {
    /// The bound socket.
    pub listener: TcpListener,
    /// Routes.
    pub router: Router,
    /// Its connection slots.
    pub slots: Arc<ConnSlots>,
    /// Deadline for a request head.
    pub header_read_timeout: Duration,
    /// Deadline for a request body.
    pub body_read_timeout: Duration,
    /// Cancelled at shutdown: stop accepting, finish requests in flight.
    pub shutdown: CancellationToken,
}

/// Serves until shutdown, then lets connections finish their requests for at most `grace`.
pub async fn serve(l: HttpListener, grace: Duration) {
    let conns = TaskTracker::new();
    let refusals = LogThrottle::new(Duration::from_secs(10), 5);
    loop {
        let (sock, peer) = tokio::select! {
            _ = l.shutdown.cancelled() => break,
            r = l.listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    if let Some(suppressed) = refusals.allow("accept") {
                        tracing::warn!(error = %e, suppressed, "HTTP accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (slot, evicted) = match l.slots.admit() {
            Ok(admitted) => admitted,
            Err(_) => {
                if let Some(suppressed) = refusals.allow("full") {
                    tracing::warn!(%peer, suppressed, limit = l.slots.capacity(), "refusing HTTP connection: every connection is busy (http.max_connections)");
                }
                continue;
            }
        };
        let router = l.router.clone();
        let shutdown = l.shutdown.clone();
        let timeout = l.header_read_timeout;
        let body_timeout = super::BodyTimeout(l.body_read_timeout);
        conns.spawn(async move {
            let slot2 = slot.clone();
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let busy = slot2.busy();
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(body_timeout);
                let router = router.clone();
                async move {
                    let res = router.oneshot(req).await.unwrap_or_else(|e| match e {});
                    Ok::<_, std::convert::Infallible>(res.map(|b| BusyBody { inner: b, _busy: busy }))
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(timeout).keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(sock), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended");
                    }
                }
                _ = slot.evicted() => {
                    // Idle means no request in flight, but a response's last bytes may
                    // still be on their way: finish those, then close.
                    tracing::debug!(%peer, "closing an idle HTTP connection to make room for a new one");
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                }
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        if let Some(e) = evicted {
            e.closed().await;
        }
    }
    conns.close();
    if tokio::time::timeout(grace, conns.wait()).await.is_err() {
        tracing::warn!("some HTTP connections did not finish within the shutdown grace period");
    }
}

/// A response body that keeps its connection busy until it is sent or dropped.
struct BusyBody {
    inner: Body,
    _busy: BusyGuard,
}

impl hyper::body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
