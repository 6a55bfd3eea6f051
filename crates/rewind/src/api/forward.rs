//! Requests about a stream that is live on another node are answered by that node
//! (issue 17), so every node plays a live stream as close to live as its owner does:
//! the live edge (the open chunk, the run still growing) is in the owner's memory only.
//!
//! - Owner first: availableMedia, the time-range manifests, clip.mp4, events, drop and
//!   forbid (it drops the publisher) are passed to the owner whole.
//! - Here first: init segments, chunks and parts are served from the index and the
//!   bucket like any other; only when that fails (the open chunk is not sealed yet) is
//!   the request passed to the owner.
//!
//! Locator URLs (`/{locator}/content.ism/…`) are treated as their stream's. A library
//! file's bytes (`/v1/media/{id}/…`) are served here first and, when missing (finished
//! on another node and not yet uploaded), by the node that recorded it.
//!
//! The owner is the holder of the stream's lease; it is reached at its `advertise_url`.
//! A forwarded request carries `x-rewind-forwarded-by` and is never forwarded again.
//! When the owner cannot be reached the request is answered here, from what is sealed.

use super::Svc;
use crate::server::Services;
use crate::stream_id::StreamId;
use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::OnceLock;
use std::time::Duration;

/// Marks a request one node passed to another.
const FORWARDED_BY: &str = "x-rewind-forwarded-by";
/// Largest request body passed on (an event's JSON).
const MAX_BODY: usize = 64 * 1024;
/// Headers that belong to one connection, not to the request or response.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"];

/// What a path asks about a stream.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// Answered by the owner when another node has the stream.
    OwnerFirst,
    /// Answered here; passed to the owner when this node cannot.
    HereFirst,
}

/// What a request is about.
#[derive(Debug, PartialEq, Eq)]
enum Subject {
    /// A stream, by id.
    Stream(StreamId, Kind),
    /// A stream, through a locator id.
    Locator(String, Kind),
    /// A library file's bytes, by file id (served here first).
    Media(String),
}

/// The subject of a `/streams/{d}/{a}/{s}/…` or `/media/{id}/…` path (as seen inside
/// `/v1`), or of a locator URL.
fn classify(path: &str) -> Option<Subject> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let stream_kind = |rest: &[&str]| match rest {
        ["availableMedia" | "manifest.m3u8" | "manifest.mpd" | "clip.mp4" | "events" | "drop" | "forbid"] => {
            Some(Kind::OwnerFirst)
        }
        ["timeline", _, _] => Some(Kind::HereFirst),
        _ => None,
    };
    match parts.as_slice() {
        ["streams", d, a, s, rest @ ..] => {
            let kind = stream_kind(rest)?;
            Some(Subject::Stream(StreamId::new(d, a, s).ok()?, kind))
        }
        ["media", id, _, ..] => Some(Subject::Media(id.to_string())),
        [id, "content.ism", "timeline", _, _] => Some(Subject::Locator(id.to_string(), Kind::HereFirst)),
        [id, "content.ism", _] => Some(Subject::Locator(id.to_string(), Kind::OwnerFirst)),
        _ => None,
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .read_timeout(Duration::from_secs(30))
            // A presigned redirect is the client's to follow, not ours.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client with no TLS roots to load")
    })
}

/// The base URL of the node that has `id` live, when it is another node that is up.
async fn owner(svc: &Services, id: &StreamId) -> Option<String> {
    if svc.registry.get(id).is_some() {
        return None;
    }
    let now_ms = svc.clock.now().0 / 90;
    let (node, _) = crate::leases::holder(&svc.db, &id.to_string(), now_ms).await.ok().flatten()?;
    reachable(svc, &node).await
}

/// The base URL of `node`, when it is another node and up.
async fn reachable(svc: &Services, node: &str) -> Option<String> {
    if node.is_empty() || node == svc.node.name {
        return None;
    }
    let n = crate::nodes::get(&svc.db, node).await.ok().flatten()?;
    n.up(svc.clock.now_unix()).then_some(n.advertise_url)
}

/// Where a request about `subject` may be passed, and how.
async fn destination(svc: &Services, subject: &Subject) -> Option<String> {
    if !svc.peers_up.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    match subject {
        Subject::Stream(id, _) => owner(svc, id).await,
        Subject::Locator(locator, _) => {
            let l = crate::timeline::locator::get(&svc.db, locator, svc.clock.now_unix()).await.ok()?;
            let (d, rest) = l.stream_id.split_once('/')?;
            let (a, s) = rest.split_once('/')?;
            owner(svc, &StreamId::new(d, a, s).ok()?).await
        }
        Subject::Media(id) => {
            let node = crate::library::media::node_of(&svc.db, id).await.ok().flatten()?;
            reachable(svc, &node).await
        }
    }
}

/// The middleware: see the module's comment.
pub async fn to_owner(State(svc): Svc, req: Request, next: Next) -> Response {
    if req.headers().contains_key(FORWARDED_BY) {
        return next.run(req).await;
    }
    let Some(subject) = classify(req.uri().path()) else { return next.run(req).await };
    let kind = match &subject {
        Subject::Stream(_, k) | Subject::Locator(_, k) => k,
        Subject::Media(_) => &Kind::HereFirst,
    };
    match kind {
        Kind::OwnerFirst => {
            let Some(base) = destination(&svc, &subject).await else { return next.run(req).await };
            let (parts, body) = req.into_parts();
            let body = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => b,
                Err(e) => {
                    let e = crate::error::Error::new(
                        crate::error::ErrorCode::InvalidBody,
                        format!("the request body could not be read: {e}"),
                    );
                    return axum::response::IntoResponse::into_response(e);
                }
            };
            match pass(&svc, &base, &parts, body.clone()).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(?subject, owner = %base, error = %e, "the stream's node did not answer; answered here from what is sealed");
                    next.run(Request::from_parts(parts, Body::from(body))).await
                }
            }
        }
        Kind::HereFirst => {
            let (parts, body) = req.into_parts();
            let again = Request::from_parts(parts.clone(), Body::empty());
            let here = next.run(Request::from_parts(parts, body)).await;
            let failed = here.status() == StatusCode::NOT_FOUND || here.status().is_server_error();
            if !failed {
                return here;
            }
            let Some(base) = destination(&svc, &subject).await else { return here };
            let (parts, _) = again.into_parts();
            match pass(&svc, &base, &parts, bytes::Bytes::new()).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(?subject, owner = %base, error = %e, "the node asked did not answer");
                    here
                }
            }
        }
    }
}

/// Sends the request to `base` and streams its answer back as it comes.
async fn pass(
    svc: &Services,
    base: &str,
    parts: &axum::http::request::Parts,
    body: bytes::Bytes,
) -> Result<Response, reqwest::Error> {
    let target = parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.clone(), |o| o.0.clone());
    let path = target.path_and_query().map_or("/", |p| p.as_str());
    let mut rb = client().request(parts.method.clone(), format!("{}{path}", base.trim_end_matches('/')));
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            rb = rb.header(name, value);
        }
    }
    rb = rb.header(HeaderName::from_static(FORWARDED_BY), svc.node.name.as_str());
    if !body.is_empty() {
        rb = rb.body(body);
    }
    let r = rb.send().await?;
    let mut out = Response::builder().status(r.status());
    for (name, value) in r.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    svc.metrics.forwarded_requests_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(out.body(Body::from_stream(r.bytes_stream())).unwrap_or_else(|_| Response::new(Body::empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_paths_go_to_the_owner() {
        let stream = |p: &str, k: Kind| {
            assert_eq!(classify(p), Some(Subject::Stream(StreamId::new("d", "live", "x").unwrap(), k)), "{p}")
        };
        stream("/streams/d/live/x/manifest.m3u8", Kind::OwnerFirst);
        stream("/streams/d/live/x/events", Kind::OwnerFirst);
        stream("/streams/d/live/x/timeline/chunks/1.m4s", Kind::HereFirst);
        stream("/streams/d/live/x/timeline/v/1-2.m4s", Kind::HereFirst);
        // The stream itself is answered from leases and heartbeats by any node.
        assert_eq!(classify("/streams/d/live/x"), None);
        assert_eq!(classify("/streams"), None);
        assert_eq!(classify("/streams/bad..name/live/x/manifest.m3u8"), None);
        assert_eq!(classify("/media/abc/content"), Some(Subject::Media("abc".into())));
        assert_eq!(classify("/media/abc/f/000001.ts"), Some(Subject::Media("abc".into())));
        assert_eq!(classify("/media/abc"), None, "the record itself is in the database");
        assert_eq!(
            classify("/L/content.ism/manifest(format=m3u8-aapl).m3u8"),
            Some(Subject::Locator("L".into(), Kind::OwnerFirst))
        );
        assert_eq!(
            classify("/L/content.ism/timeline/chunks/1.m4s"),
            Some(Subject::Locator("L".into(), Kind::HereFirst))
        );
    }
}
