//! The RTMP listener: accepts connections and gives each its own session task.

use crate::ingest::rtmp_session;
use crate::server::Services;
use std::sync::Arc;
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
                // When full, the longest-connected non-publishing connection makes room.
                let Ok((slot, evicted)) = svc.rtmp_slots.admit() else {
                    if let Some(suppressed) = svc.noisy_logs.allow("rtmp_full") {
                        let limit = svc.rtmp_slots.capacity();
                        tracing::warn!(%peer, limit, suppressed, "refusing RTMP connection: every connection is publishing (rtmp.max_connections)");
                    }
                    continue;
                };
                let _ = sock.set_nodelay(true);
                tracker.spawn(rtmp_session::run(svc.clone(), sock, peer, slot));
                if let Some(e) = evicted {
                    e.closed().await;
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                if let Some(suppressed) = svc.noisy_logs.allow("rtmp_accept") {
                    tracing::warn!(error = %e, suppressed, "RTMP accept failed");
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    tracing::info!("RTMP listener stopped accepting");
}
