//! `/v1/streams`: live streams (and known idle ones), drop a publisher.

use super::Svc;
use super::respond::QueryParams;
use crate::error::{Error, ErrorCode, Result};
use crate::registry::{KnownStream, LiveStream, MediaInfo};
use crate::stream_id::StreamId;
use crate::wire_time::rfc3339_ms;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rewind_media::Time90k;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;

/// A stream as the API shows it (API.md `Stream`).
#[derive(Serialize)]
pub struct StreamView {
    id: String,
    domain: String,
    app: String,
    stream: String,
    live: bool,
    session_id: String,
    publisher_addr: Option<String>,
    started_at: Option<String>,
    last_seen_at: Option<String>,
    #[serde(flatten)]
    media: MediaInfo,
    bitrate_kbps: u64,
    bytes_in: u64,
    frames_in: u64,
    stream_param: Option<String>,
    /// The node that has the stream now (none when it is not live).
    node: Option<String>,
    /// Where the timeline's current run ends (a live stream archived on this node): live
    /// playback has something to play once this is set.
    timeline_end: Option<String>,
}

fn live_view(s: &LiveStream, svc: &crate::server::Services) -> StreamView {
    let node = &svc.node.name;
    let tail = svc.timelines.get(&s.id.to_string());
    let timeline_end = tail.and_then(|t| t.run.as_ref().map(|r| rfc3339_ms(r.end)));
    StreamView {
        timeline_end,
        id: s.id.to_string(),
        domain: s.id.domain.clone(),
        app: s.id.app.clone(),
        stream: s.id.stream.clone(),
        live: true,
        session_id: s.session_id.clone(),
        publisher_addr: Some(s.publisher_addr.to_string()),
        started_at: Some(rfc3339_ms(s.started_at)),
        last_seen_at: None,
        media: s.media(),
        bitrate_kbps: s.bitrate_kbps.load(Relaxed),
        bytes_in: s.bytes_in(),
        frames_in: s.frames_in.load(Relaxed),
        stream_param: Some(s.stream_param.clone()),
        node: Some(node.to_string()),
    }
}

/// A stream live on another node: as that node's last heartbeat describes it (else what
/// the database knows of its last publish), with that node.
fn elsewhere_view(k: KnownStream, node: String, beat: Option<&crate::nodes::StreamSummary>) -> StreamView {
    let mut v = StreamView { live: true, last_seen_at: None, node: Some(node), ..idle_view(k) };
    if let Some(b) = beat {
        v.session_id = b.session_id.clone();
        v.started_at = Some(b.started_at.clone());
        v.media = b.media.clone();
        v.bitrate_kbps = b.bitrate_kbps;
    }
    v
}

/// The heartbeat summaries of every node, by stream id.
async fn summaries(
    svc: &crate::server::Services,
) -> Result<std::collections::HashMap<String, crate::nodes::StreamSummary>> {
    let nodes = crate::nodes::list(&svc.db).await?;
    Ok(nodes.into_iter().flat_map(|n| n.streams).map(|s| (s.id.clone(), s)).collect())
}

fn idle_view(k: KnownStream) -> StreamView {
    StreamView {
        id: k.id.to_string(),
        domain: k.id.domain.clone(),
        app: k.id.app.clone(),
        stream: k.id.stream.clone(),
        live: false,
        session_id: k.last_session_id,
        publisher_addr: None,
        started_at: None,
        last_seen_at: Some(rfc3339_ms(Time90k(k.last_seen_unix * 90_000))),
        media: k.last_info,
        bitrate_kbps: 0,
        bytes_in: 0,
        frames_in: 0,
        stream_param: None,
        node: None,
        timeline_end: None,
    }
}

/// Query of `GET /v1/streams`.
#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /v1/streams[?all=true]`.
pub async fn list(
    State(svc): Svc,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<serde_json::Value>> {
    let live = svc.registry.list();
    let mut views: Vec<StreamView> = live.iter().map(|s| live_view(s, &svc)).collect();
    let mut shown: HashSet<String> = live.iter().map(|s| s.id.to_string()).collect();
    // Streams live on the other nodes of the cluster (their leases).
    let held = crate::leases::held(&svc.db, svc.clock.now().0 / 90).await?;
    let beats = if held.iter().any(|(_, n)| *n != svc.node.name) {
        summaries(&svc).await?
    } else {
        Default::default()
    };
    for (sid, node) in held {
        if node == svc.node.name || shown.contains(&sid) {
            continue;
        }
        let mut parts = sid.splitn(3, '/');
        let (Some(d), Some(a), Some(st)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let Ok(id) = StreamId::new(d, a, st) else { continue };
        if let Some(k) = svc.registry.known_one(&id).await? {
            views.push(elsewhere_view(k, node, beats.get(&sid)));
            shown.insert(sid);
        }
    }
    if q.all {
        for k in svc.registry.known().await? {
            if !shown.contains(&k.id.to_string()) {
                views.push(idle_view(k));
            }
        }
    }
    views.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(serde_json::json!({ "streams": views })))
}

fn stream_id(p: (String, String, String)) -> Result<StreamId> {
    StreamId::new(&p.0, &p.1, &p.2)
}

/// `GET /v1/streams/{domain}/{app}/{stream}`.
pub async fn get_one(State(svc): Svc, Path(p): Path<(String, String, String)>) -> Result<Json<StreamView>> {
    let id = stream_id(p)?;
    if let Some(s) = svc.registry.get(&id) {
        return Ok(Json(live_view(&s, &svc)));
    }
    let elsewhere = crate::leases::holder(&svc.db, &id.to_string(), svc.clock.now().0 / 90)
        .await?
        .filter(|(node, _)| *node != svc.node.name);
    match svc.registry.known_one(&id).await? {
        Some(k) => Ok(Json(match elsewhere {
            Some((node, _)) => elsewhere_view(k, node, summaries(&svc).await?.get(&id.to_string())),
            None => idle_view(k),
        })),
        None => Err(Error::new(ErrorCode::StreamNotFound, format!("stream {id} has never been published"))),
    }
}

/// `POST /v1/streams/{domain}/{app}/{stream}/drop`: disconnects the publisher.
pub async fn drop_publisher(State(svc): Svc, Path(p): Path<(String, String, String)>) -> Result<StatusCode> {
    let id = stream_id(p)?;
    match svc.registry.get(&id) {
        Some(s) => {
            s.drop.cancel();
            tracing::info!(stream = %id, session = %s.session_id, "publisher drop requested through the API");
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(Error::new(ErrorCode::StreamNotLive, format!("stream {id} is not live"))),
    }
}
