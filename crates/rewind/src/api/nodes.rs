//! `/v1/nodes`: the servers on this database, their heartbeats and their streams.

use super::Svc;
use crate::error::Result;
use crate::wire_time::rfc3339_ms;
use axum::Json;
use axum::extract::State;
use rewind_media::Time90k;

/// `GET /v1/nodes`.
pub async fn list(State(svc): Svc) -> Result<Json<serde_json::Value>> {
    let now = svc.clock.now_unix();
    let at = |unix: i64| rfc3339_ms(Time90k(unix * 90_000));
    let nodes: Vec<serde_json::Value> = crate::nodes::list(&svc.db)
        .await?
        .into_iter()
        .map(|n| {
            // This node's own streams are as of now, not of its last beat.
            let streams = if n.name == svc.node.name {
                let mut s: Vec<String> = svc.registry.list().iter().map(|s| s.id.to_string()).collect();
                s.sort();
                s
            } else {
                n.streams.iter().map(|s| s.id.clone()).collect()
            };
            serde_json::json!({
                "name": n.name,
                "advertise_url": n.advertise_url,
                "started_at": at(n.started_at_unix),
                "last_seen": at(n.last_seen_unix),
                "up": n.name == svc.node.name || n.up(now),
                "streams": streams,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "nodes": nodes })))
}
