//! The nodes of a cluster (issue 17, first part): every server has a row in `node` that
//! it refreshes every `HEARTBEAT` with the streams it has; a node not seen for
//! `DOWN_AFTER_SECS` is shown as down. With one server (SQLite) the table holds itself.
//! The only SQL on the `node` table.

use crate::db::Db;
use crate::error::Result;
use sqlx::Row;
use std::time::Duration;

/// How often a node says it is alive and renews its stream leases (two queries per
/// node, whatever its streams).
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node not seen for this long is down: two missed beats, so a dead node shows as
/// down within 15 s of its death (its last beat was at most `HEARTBEAT` before it).
pub const DOWN_AFTER_SECS: i64 = 12;

/// Who this server is among the nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Its name.
    pub name: String,
    /// Where other nodes reach its HTTP API.
    pub advertise_url: String,
}

impl Identity {
    /// From `[node]`, the host name and the bound HTTP address.
    pub fn resolve(cfg: &crate::config::NodeConfig, http: std::net::SocketAddr) -> Identity {
        let name = if cfg.name.is_empty() { host_name() } else { cfg.name.clone() };
        let advertise_url = if cfg.advertise_url.is_empty() {
            format!("http://{http}")
        } else {
            cfg.advertise_url.trim_end_matches('/').to_string()
        };
        Identity { name, advertise_url }
    }
}

/// A live stream as its node describes it in its heartbeat.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamSummary {
    /// Stream id.
    pub id: String,
    /// Its publish session.
    pub session_id: String,
    /// When the publish started (RFC 3339).
    pub started_at: String,
    /// Tracks and codecs.
    #[serde(flatten)]
    pub media: crate::registry::MediaInfo,
    /// Bitrate over the last few seconds, kbit/s.
    pub bitrate_kbps: u64,
}

/// A node as the table has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Its `[node] name`.
    pub name: String,
    /// Where other nodes reach its HTTP API.
    pub advertise_url: String,
    /// When it started (Unix seconds).
    pub started_at_unix: i64,
    /// Its last heartbeat (Unix seconds).
    pub last_seen_unix: i64,
    /// The streams it had then.
    pub streams: Vec<StreamSummary>,
}

impl Node {
    /// Whether it beat within `DOWN_AFTER_SECS` of `now_unix`.
    pub fn up(&self, now_unix: i64) -> bool {
        now_unix - self.last_seen_unix <= DOWN_AFTER_SECS
    }
}

/// This node starts: its row is made or taken over. Returns the row it replaced, if a
/// node of the same name at another address still looked up (two servers given one name).
pub async fn announce(db: &Db, name: &str, advertise_url: &str, now_unix: i64) -> Result<Option<Node>> {
    let before = get(db, name).await?;
    sqlx::query(
        "INSERT INTO node (name, advertise_url, started_at_unix, last_seen_unix, streams) VALUES ($1, $2, $3, $3, '[]') \
         ON CONFLICT (name) DO UPDATE SET advertise_url = $2, started_at_unix = $3, last_seen_unix = $3, streams = '[]'",
    )
    .bind(name)
    .bind(advertise_url)
    .bind(now_unix)
    .execute(db.pool())
    .await?;
    // The same address is this node restarting (after a crash it still looks up).
    Ok(before.filter(|b| b.up(now_unix) && b.advertise_url != advertise_url))
}

/// Drops this node's publishers of streams forbidden since they started: a forbid made
/// on a node that could not pass it to this one still ends the push within a heartbeat.
async fn drop_forbidden_streams(svc: &crate::server::Services) {
    let live = svc.registry.list();
    if live.is_empty() {
        return;
    }
    let forbids = match svc.forbids.list(svc.clock.now_unix()).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the forbidden streams; checked again at the next heartbeat");
            return;
        }
    };
    for s in live {
        if forbids.iter().any(|f| f.id == s.id) && !s.drop.is_cancelled() {
            tracing::info!(stream = %s.id, session = %s.session_id, "dropping the publisher of a forbidden stream");
            s.drop.cancel();
        }
    }
}

/// A heartbeat: alive at `now_unix` with these streams.
pub async fn beat(db: &Db, name: &str, now_unix: i64, streams: &[StreamSummary]) -> Result<()> {
    let json = serde_json::to_string(streams).unwrap_or_else(|_| "[]".into());
    sqlx::query("UPDATE node SET last_seen_unix = $2, streams = $3 WHERE name = $1")
        .bind(name)
        .bind(now_unix)
        .bind(json)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// One node.
pub async fn get(db: &Db, name: &str) -> Result<Option<Node>> {
    let row = sqlx::query(
        "SELECT name, advertise_url, started_at_unix, last_seen_unix, streams FROM node WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(node_of).transpose()
}

/// Every node, by name.
pub async fn list(db: &Db) -> Result<Vec<Node>> {
    let rows = sqlx::query(
        "SELECT name, advertise_url, started_at_unix, last_seen_unix, streams FROM node ORDER BY name",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(node_of).collect()
}

fn node_of(r: &sqlx::any::AnyRow) -> Result<Node> {
    let streams: String = r.try_get("streams")?;
    Ok(Node {
        name: r.try_get("name")?,
        advertise_url: r.try_get("advertise_url")?,
        started_at_unix: r.try_get("started_at_unix")?,
        last_seen_unix: r.try_get("last_seen_unix")?,
        streams: serde_json::from_str(&streams).unwrap_or_default(),
    })
}

/// This machine's host name (the default node name).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = if ok { String::from_utf8_lossy(&buf[..end]).into_owned() } else { String::new() };
    if name.is_empty() { "rewind".into() } else { name }
}

/// Notes whether another node is up (`Services::peers_up`).
async fn note_peers(svc: &crate::server::Services) {
    match list(&svc.db).await {
        Ok(all) => {
            let now = svc.clock.now_unix();
            let up = all.iter().any(|n| n.name != svc.node.name && n.up(now));
            svc.peers_up.store(up, std::sync::atomic::Ordering::Relaxed);
        }
        Err(e) => tracing::warn!(error = %e, "could not list the nodes; checked again at the next heartbeat"),
    }
}

/// Beats every `HEARTBEAT` until shutdown, with the streams live here.
pub async fn run(svc: std::sync::Arc<crate::server::Services>) {
    note_peers(&svc).await;
    loop {
        tokio::select! {
            _ = svc.shutdown.cancelled() => return,
            _ = tokio::time::sleep(HEARTBEAT) => {}
        }
        let mut streams: Vec<StreamSummary> = svc
            .registry
            .list()
            .iter()
            .map(|s| StreamSummary {
                id: s.id.to_string(),
                session_id: s.session_id.clone(),
                started_at: crate::wire_time::rfc3339_ms(s.started_at),
                media: s.media(),
                bitrate_kbps: s.bitrate_kbps.load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect();
        streams.sort_by(|a, b| a.id.cmp(&b.id));
        if let Err(e) = beat(&svc.db, &svc.node.name, svc.clock.now_unix(), &streams).await {
            tracing::warn!(error = %e, "node heartbeat failed; it retries in 5 s");
        }
        if let Err(e) = svc.publishes.still_live(&svc.node.name, svc.clock.now_unix()).await {
            tracing::warn!(error = %e, "could not note this node's publishes as still live");
        }
        let now_ms = svc.clock.now().0 / 90;
        if let Err(e) = crate::leases::renew(&svc.db, &svc.node.name, &svc.leases.streams(), now_ms).await {
            tracing::warn!(error = %e, "could not renew this node's stream leases; they expire in 10 s without");
        }
        drop_streams_taken_elsewhere(&svc, now_ms).await;
        drop_forbidden_streams(&svc).await;
        note_peers(&svc).await;
    }
}

/// A node paused past its leases (a stopped VM, a long GC-like stall) finds on waking
/// that other nodes took some of its streams: it lets go of those pushes at once (their
/// timeline writes are already refused by the lease's fence).
async fn drop_streams_taken_elsewhere(svc: &crate::server::Services, now_ms: i64) {
    let live = svc.registry.list();
    if live.iter().all(|s| s.fence().is_none()) {
        return;
    }
    let held = match crate::leases::held(&svc.db, now_ms).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the stream leases; checked again at the next heartbeat");
            return;
        }
    };
    let holders: std::collections::HashMap<&str, &str> =
        held.iter().map(|(s, n)| (s.as_str(), n.as_str())).collect();
    for s in live.iter().filter(|s| s.fence().is_some()) {
        let id = s.id.to_string();
        if let Some(other) = holders.get(id.as_str()).filter(|n| **n != svc.node.name) {
            tracing::error!(stream = %id, node = %other, "another node took this stream while this one was paused past its lease: the push is dropped here");
            s.drop.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nodes_beat_and_go_down_after_15_s_of_silence() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        assert_eq!(announce(&db, "a", "http://a:8080", 1000).await.unwrap(), None);
        assert_eq!(announce(&db, "a", "http://a:8080", 1001).await.unwrap(), None, "a restart is no clash");
        announce(&db, "b", "http://b:8080", 1000).await.unwrap();
        let x = StreamSummary { id: "d/live/x".into(), bitrate_kbps: 900, ..Default::default() };
        beat(&db, "a", 1010, std::slice::from_ref(&x)).await.unwrap();
        let all = list(&db).await.unwrap();
        assert_eq!(all.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(all[0].streams, [x]);
        // At 1013, b last beat 13 s ago: down; a beat 3 s ago: up.
        assert!(all[0].up(1013) && !all[1].up(1013));
        // A second server given a's name while a is up is reported (and takes the row).
        let clash = announce(&db, "a", "http://other:8080", 1012).await.unwrap();
        assert_eq!(clash.map(|n| n.advertise_url), Some("http://a:8080".into()));
        assert_eq!(get(&db, "a").await.unwrap().unwrap().streams, vec![]);
    }
}
