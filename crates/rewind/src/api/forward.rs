//! Requests about a stream that is live on another node are answered by that node
//! (issue 17), so every node plays a live stream as close to live as its owner does:
//! the live edge (the open chunk, the run still growing) is in the owner's memory only.
//!
//! - Owner first: availableMedia, the time-range manifests, clip.mp4, events and drop
//!   are passed to the owner whole.
//! - Here first: init segments, chunks and parts are served from the index and the
//!   bucket like any other; only when that fails (the open chunk is not sealed yet) is
//!   the request passed to the owner.
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

/// The stream and kind of a `/streams/{d}/{a}/{s}/…` path (as seen inside `/v1`).
fn classify(path: &str) -> Option<(StreamId, Kind)> {
    let mut parts = path.trim_start_matches('/').split('/');
    if parts.next()? != "streams" {
        return None;
    }
    let (d, a, s) = (parts.next()?, parts.next()?, parts.next()?);
    let rest: Vec<&str> = parts.collect();
    let kind = match rest.as_slice() {
        ["availableMedia" | "manifest.m3u8" | "manifest.mpd" | "clip.mp4" | "events" | "drop"] => {
            Kind::OwnerFirst
        }
        ["timeline", _, _] => Kind::HereFirst,
        _ => return None,
    };
    Some((StreamId::new(d, a, s).ok()?, kind))
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
    if node == svc.node.name {
        return None;
    }
    let n = crate::nodes::get(&svc.db, &node).await.ok().flatten()?;
    n.up(svc.clock.now_unix()).then_some(n.advertise_url)
}

/// The middleware: see the module's comment.
pub async fn to_owner(State(svc): Svc, req: Request, next: Next) -> Response {
    if req.headers().contains_key(FORWARDED_BY) {
        return next.run(req).await;
    }
    let Some((id, kind)) = classify(req.uri().path()) else { return next.run(req).await };
    match kind {
        Kind::OwnerFirst => {
            let Some(base) = owner(&svc, &id).await else { return next.run(req).await };
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
                    tracing::warn!(stream = %id, owner = %base, error = %e, "the stream's node did not answer; answered here from what is sealed");
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
            let Some(base) = owner(&svc, &id).await else { return here };
            let (parts, _) = again.into_parts();
            match pass(&svc, &base, &parts, bytes::Bytes::new()).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(stream = %id, owner = %base, error = %e, "the stream's node did not answer");
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
        let k = |p: &str| classify(p).map(|(id, k)| (id.to_string(), k));
        assert_eq!(k("/streams/d/live/x/manifest.m3u8"), Some(("d/live/x".into(), Kind::OwnerFirst)));
        assert_eq!(k("/streams/d/live/x/events"), Some(("d/live/x".into(), Kind::OwnerFirst)));
        assert_eq!(k("/streams/d/live/x/timeline/chunks/1.m4s"), Some(("d/live/x".into(), Kind::HereFirst)));
        assert_eq!(k("/streams/d/live/x/timeline/v/1-2.m4s"), Some(("d/live/x".into(), Kind::HereFirst)));
        // The stream itself is answered from leases and heartbeats by any node.
        assert_eq!(k("/streams/d/live/x"), None);
        assert_eq!(k("/streams"), None);
        assert_eq!(k("/media/abc/content"), None);
        assert_eq!(k("/streams/bad..name/live/x/manifest.m3u8"), None);
    }
}
