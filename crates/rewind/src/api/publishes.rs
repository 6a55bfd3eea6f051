//! `/v1/publishes`, `/v1/streams/{sid}/publishes`: the history of publishes; and
//! `/v1/streams/{sid}/forbid`, `/v1/forbidden-streams`: streams whose publish is refused
//! until a resume time.

use super::respond::QueryParams;
use super::{JsonBody, Svc};
use crate::error::{Error, ErrorCode, Result};
use crate::library::media::parse_time;
use crate::publish_history::{Publish, Query};
use crate::stream_forbids::Forbid;
use crate::stream_id::{StreamId, check_domain};
use crate::wire_time::rfc3339_ms;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rewind_media::Time90k;
use serde::{Deserialize, Serialize};

/// An open publish of another node is live while its node's heartbeat (every 5 s)
/// moved it this recently.
const LIVE_WITHIN_SECS: i64 = 15;
/// Most publishes on one page.
pub const MAX_LIMIT: i64 = 1000;

fn unix_rfc3339(s: i64) -> String {
    rfc3339_ms(Time90k(s * 90_000))
}

/// A publish as the API shows it.
#[derive(Serialize)]
pub struct PublishView {
    session_id: String,
    domain: String,
    app: String,
    stream: String,
    node: String,
    publisher_addr: String,
    stream_param: String,
    started_at: String,
    /// `None` while it is live.
    ended_at: Option<String>,
    live: bool,
    duration_secs: i64,
    stop_reason: Option<String>,
}

/// `p` as the API shows it; `live` says whether its session is live now.
pub fn publish_view(p: Publish, live: bool) -> PublishView {
    let end = p.end_unix();
    PublishView {
        session_id: p.session_id,
        domain: p.id.domain.clone(),
        app: p.id.app.clone(),
        stream: p.id.stream.clone(),
        node: p.node,
        publisher_addr: p.peer,
        stream_param: p.stream_param,
        started_at: unix_rfc3339(p.started_at_unix),
        ended_at: (!live).then(|| unix_rfc3339(end)),
        live,
        duration_secs: (end - p.started_at_unix).max(0),
        stop_reason: if live { None } else { p.stop_reason.or_else(|| Some("the node stopped".into())) },
    }
}

/// Query of `GET /v1/publishes`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    domain: Option<String>,
    app: Option<String>,
    stream: Option<String>,
    /// Text anywhere in the stream name.
    stream_contains: Option<String>,
    /// Publishes live at some instant of `[start, end)`.
    start: Option<String>,
    end: Option<String>,
    #[serde(default)]
    offset: i64,
    limit: Option<i64>,
}

async fn search(svc: &crate::server::Services, q: SearchQuery) -> Result<Json<serde_json::Value>> {
    if let Some(d) = &q.domain {
        check_domain(d)?;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::new(ErrorCode::InvalidParameter, format!("limit must be 1 to {MAX_LIMIT}")));
    }
    if !(0..=1_000_000).contains(&q.offset) {
        return Err(Error::new(ErrorCode::InvalidParameter, "offset must be 0 to 1000000"));
    }
    let start = q.start.as_deref().map(|s| parse_time("start", s)).transpose()?;
    let end = q.end.as_deref().map(|s| parse_time("end", s)).transpose()?;
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        return Err(Error::new(ErrorCode::InvalidParameter, "end must be after start"));
    }
    let query = Query {
        domain: q.domain,
        app: q.app,
        stream: q.stream,
        stream_contains: q.stream_contains.filter(|s| !s.is_empty()),
        started_before_unix: end.map(|t| t.0.div_euclid(90_000) + i64::from(t.0.rem_euclid(90_000) != 0)),
        live_at_or_after_unix: start.map(|t| t.0.div_euclid(90_000)),
        offset: q.offset,
        limit,
    };
    let (rows, total) = svc.publishes.search(&query).await?;
    let now = svc.clock.now_unix();
    let views: Vec<PublishView> = rows
        .into_iter()
        .map(|p| {
            // Here the registry knows; another node's open row is live while its
            // heartbeat keeps moving it.
            let live = if p.node == svc.node.name {
                svc.registry.get(&p.id).is_some_and(|l| l.session_id == p.session_id)
            } else {
                p.ended_at_unix.is_none() && now - p.last_seen_unix <= LIVE_WITHIN_SECS
            };
            publish_view(p, live)
        })
        .collect();
    Ok(Json(serde_json::json!({ "publishes": views, "total": total })))
}

/// `GET /v1/publishes?domain=&app=&stream=&stream_contains=&start=&end=&offset=&limit=`.
pub async fn list(
    State(svc): Svc,
    QueryParams(q): QueryParams<SearchQuery>,
) -> Result<Json<serde_json::Value>> {
    search(&svc, q).await
}

/// Query of `GET /v1/streams/{sid}/publishes`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    start: Option<String>,
    end: Option<String>,
    #[serde(default)]
    offset: i64,
    limit: Option<i64>,
}

/// `GET /v1/streams/{domain}/{app}/{stream}/publishes`: one stream's publishes, newest first.
pub async fn of_stream(
    State(svc): Svc,
    Path((d, a, s)): Path<(String, String, String)>,
    QueryParams(q): QueryParams<StreamQuery>,
) -> Result<Json<serde_json::Value>> {
    let id = StreamId::new(&d, &a, &s)?;
    let q = SearchQuery {
        domain: Some(id.domain),
        app: Some(id.app),
        stream: Some(id.stream),
        start: q.start,
        end: q.end,
        offset: q.offset,
        limit: q.limit,
        ..Default::default()
    };
    search(&svc, q).await
}

/// A forbid as the API shows it.
#[derive(Serialize)]
pub struct ForbidView {
    domain: String,
    app: String,
    stream: String,
    reason: String,
    resume_at: String,
    created_at: String,
}

/// `f` as the API shows it.
pub fn forbid_view(f: &Forbid) -> ForbidView {
    ForbidView {
        domain: f.id.domain.clone(),
        app: f.id.app.clone(),
        stream: f.id.stream.clone(),
        reason: f.reason.clone(),
        resume_at: unix_rfc3339(f.resume_at_unix),
        created_at: unix_rfc3339(f.created_at_unix),
    }
}

/// Body of `PUT /v1/streams/{sid}/forbid`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ForbidBody {
    /// Publishing is allowed again from then (default: in 7 days; at most 90).
    resume_at: Option<String>,
    #[serde(default)]
    reason: String,
}

/// `PUT /v1/streams/{domain}/{app}/{stream}/forbid`: refuses the stream's publish on
/// every node until `resume_at`, and drops its publisher if it is live.
pub async fn forbid(
    State(svc): Svc,
    Path((d, a, s)): Path<(String, String, String)>,
    JsonBody(b): JsonBody<ForbidBody>,
) -> Result<Json<ForbidView>> {
    let id = StreamId::new(&d, &a, &s)?;
    let now = svc.clock.now_unix();
    let resume = b.resume_at.as_deref().map(|r| parse_time("resume_at", r)).transpose()?;
    let resume = crate::stream_forbids::check(resume.map(|t| t.0.div_euclid(90_000)), &b.reason, now)?;
    let f = svc.forbids.forbid(&id, &b.reason, resume, now).await?;
    if let Some(live) = svc.registry.get(&id) {
        live.drop.cancel();
    }
    tracing::info!(stream = %id, resume_at = f.resume_at_unix, "stream forbidden");
    Ok(Json(forbid_view(&f)))
}

/// `DELETE /v1/streams/{domain}/{app}/{stream}/forbid`: lifts the forbid (204 whether
/// or not it had one, as the cloud's `ResumeLiveStream`).
pub async fn lift(State(svc): Svc, Path((d, a, s)): Path<(String, String, String)>) -> Result<StatusCode> {
    let id = StreamId::new(&d, &a, &s)?;
    if svc.forbids.lift(&id, svc.clock.now_unix()).await? {
        tracing::info!(stream = %id, "stream forbid lifted");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/streams/{domain}/{app}/{stream}/forbid`: the forbid in force (404 when none).
pub async fn get_forbid(
    State(svc): Svc,
    Path((d, a, s)): Path<(String, String, String)>,
) -> Result<Json<ForbidView>> {
    let id = StreamId::new(&d, &a, &s)?;
    match svc.forbids.active(&id, svc.clock.now_unix()).await? {
        Some(f) => Ok(Json(forbid_view(&f))),
        None => Err(Error::new(ErrorCode::ForbidNotFound, format!("stream {id} is not forbidden"))),
    }
}

/// `GET /v1/forbidden-streams`: every forbid in force.
pub async fn forbidden(State(svc): Svc) -> Result<Json<serde_json::Value>> {
    let all: Vec<ForbidView> =
        svc.forbids.list(svc.clock.now_unix()).await?.iter().map(forbid_view).collect();
    Ok(Json(serde_json::json!({ "forbids": all })))
}
