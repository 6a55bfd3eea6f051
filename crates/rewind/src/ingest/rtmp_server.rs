//! The RTMP listener: accepts connections and gives each its own session task.

use crate::ingest::rtmp_session;
use crate::server::Services;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// Accepts RTMP connections until shutdown; sessions are spawned on `tracker` so the
/// caller can wait for them to finish.
pub async fn serve(svc: Arc<Services>, listener: TcpListener, tracker: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            _ = svc.shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((sock, peer)) => {
                let active = svc.metrics.rtmp_connections_active.load(Relaxed);
                if active >= svc.config.rtmp.max_connections as i64 {
                    tracing::warn!(%peer, active, "refusing RTMP connection: rtmp.max_connections reached");
                    continue;
                }
                let _ = sock.set_nodelay(true);
                tracker.spawn(rtmp_session::run(svc.clone(), sock, peer));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "RTMP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    tracing::info!("RTMP listener stopped accepting");
}
