//! One source's life on a node: take the source's lease (one node pulls a camera),
//! pull it (`ingest::rtsp_session`), and when the pull ends — the camera unreachable,
//! closed, failing or silent — wait a backoff and pull again, for as long as the
//! source is enabled. Every change of state is kept in memory for this node's API and
//! written to the database for the other nodes'.

use super::backoff::Backoff;
use super::spec::{Source, Transport};
use super::status::{Phase, State, Status};
use super::store;
use crate::ingest::rtsp_session::{self, Ended, Pull, Wire};
use crate::server::Services;
use retina::client::SessionGroup;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a node's claim on a source lasts without renewal.
const LEASE: Duration = Duration::from_secs(15);
/// How often the claim is renewed (and a node on standby tries to take it).
const RENEW: Duration = Duration::from_secs(5);

/// The lease key of a source (in the table of cluster-wide jobs).
fn job(source_id: &str) -> String {
    format!("rtsp-source:{source_id}")
}

/// Pulls `source` until `stop`.
pub async fn run(svc: Arc<Services>, source: Source, status: Arc<Status>, stop: CancellationToken) {
    let id = source.source_id.as_str();
    let node = svc.node.name.clone();
    let camera = source.url.masked();
    let group = Arc::new(SessionGroup::default());
    let mut backoff = Backoff::default();
    let mut udp_refused = false;
    let mut was_live = false;
    while !stop.is_cancelled() {
        if !take(&svc, id, false).await {
            status.here.store(false, Relaxed);
            if sleep_or_stop(RENEW, &stop).await {
                break;
            }
            continue;
        }
        status.here.store(true, Relaxed);
        let phase = status.update(|p| {
            p.state = State::Connecting;
            p.node = Some(node.clone());
        });
        save(&svc, id, &phase).await;
        let wire = match source.transport {
            Transport::Tcp => Wire::Tcp,
            Transport::Udp => Wire::Udp { probe: None },
            Transport::Auto if udp_refused => Wire::Tcp,
            Transport::Auto => Wire::Udp { probe: Some(rtsp_session::UDP_PROBE) },
        };
        tracing::info!(source_id = id, %camera, transport = ?wire, "pulling the camera");
        let pull_stop = stop.child_token();
        let p = Pull {
            svc: &svc,
            source: &source,
            wire,
            status: &status,
            stop: pull_stop.clone(),
            group: group.clone(),
        };
        let svc2 = svc.clone();
        let (status2, node2, id2) = (status.clone(), node.clone(), id.to_string());
        let on_live = move |note: Option<String>| {
            if was_live {
                status2.reconnects.fetch_add(1, Relaxed);
            }
            let phase = status2.update(|p| {
                *p = Phase {
                    state: State::Live,
                    last_error: None,
                    retries: 0,
                    connected_at_unix: Some(svc2.clock.now_unix()),
                    note,
                    node: Some(node2),
                };
            });
            tokio::spawn(async move { save(&svc2, &id2, &phase).await });
        };
        let pulling = rtsp_session::pull(p, on_live);
        tokio::pin!(pulling);
        let mut lease_lost = false;
        let (ended, went_live) = loop {
            tokio::select! {
                r = &mut pulling => break r,
                _ = tokio::time::sleep(RENEW) => {
                    if !lease_lost && !take(&svc, id, true).await {
                        tracing::warn!(source_id = id, "another node took this source: its pull here stops");
                        lease_lost = true;
                        pull_stop.cancel();
                    }
                }
            }
        };
        if went_live {
            was_live = true;
            backoff.reset();
        }
        let why = match ended {
            Ended::Stopped if stop.is_cancelled() => break,
            Ended::Stopped if lease_lost => {
                status.here.store(false, Relaxed);
                continue;
            }
            Ended::Stopped => "stopped".to_string(),
            Ended::UdpSilent => {
                tracing::info!(source_id = id, "no RTP over UDP: this source uses TCP from now on");
                udp_refused = true;
                continue;
            }
            Ended::Failed(why) if !went_live && matches!(wire, Wire::Udp { probe: Some(_) }) => {
                tracing::info!(source_id = id, error = %why, "UDP refused: this source uses TCP from now on");
                udp_refused = true;
                continue;
            }
            Ended::Failed(why) => why,
        };
        let phase = status.update(|p| {
            p.state = State::Retrying;
            p.last_error = Some(why.clone());
            p.retries += 1;
            p.connected_at_unix = None;
        });
        save(&svc, id, &phase).await;
        let wait = backoff.next(rand::random::<f64>());
        tracing::warn!(source_id = id, %camera, error = %why, retries = phase.retries, retry_in_ms = wait.as_millis() as u64, "camera pull ended; retrying");
        if sleep_or_stop(wait, &stop).await {
            break;
        }
    }
    if status.here.swap(false, Relaxed)
        && let Err(e) = crate::leases::leave_job(&svc.db, &job(id), &node).await
    {
        tracing::debug!(source_id = id, error = %e, "could not give the source's lease back; it expires");
    }
}

/// Takes or keeps the source's lease for this node; a database that does not answer
/// keeps a pull that runs going (`pulling`) and starts none.
async fn take(svc: &Services, id: &str, pulling: bool) -> bool {
    let now_ms = svc.clock.now().0 / 90;
    match crate::leases::take_job(&svc.db, &job(id), &svc.node.name, now_ms, LEASE.as_millis() as i64).await {
        Ok(mine) => mine,
        Err(e) => {
            tracing::warn!(source_id = id, error = %e, "could not take or renew the source's lease");
            pulling
        }
    }
}

async fn save(svc: &Services, id: &str, phase: &Phase) {
    if let Err(e) = store::save_status(&svc.db, id, phase).await {
        tracing::debug!(source_id = id, error = %e, "could not write the source's status");
    }
}

/// Sleeps `d`; true when stopped first.
async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
