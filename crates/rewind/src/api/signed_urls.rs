//! Short-lived signed playback URLs: `POST /v1/signed-urls` hands out
//! `/v1/signed/{expires}/{signature}/v1/…`, which plays or downloads without the API key
//! until `expires` — for `<video src>`, a download link or a player that cannot set
//! headers, so the key itself never goes into a URL.
//!
//! A signature covers a *scope*, not one path: the media file's or the stream's folder
//! (`/v1/media/{id}/`, `/v1/streams/{d}/{a}/{s}/`), because a playlist's relative
//! segment URIs resolve under the same prefix and must play too. Only GET (and HEAD)
//! of read-only paths inside the scope is admitted; the request then runs as if it had
//! carried the key, so forwarding to another node works unchanged.

use super::{BodyTimeout, JsonBody, Svc};
use crate::error::{Error, ErrorCode, Result};
use crate::wire_time::rfc3339_ms;
use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use rewind_media::Time90k;
use serde::Deserialize;
use sha2::Sha256;
use tower::ServiceExt;

/// Default lifetime of a signed URL.
const DEFAULT_SECS: u64 = 3600;
/// Longest lifetime a signed URL may have (a week, as S3's presigned URLs).
const MAX_SECS: u64 = 7 * 24 * 3600;

/// Body of `POST /v1/signed-urls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    path: String,
    expires_in_secs: Option<u64>,
}

/// The folder a path's signature covers, or why the path cannot be signed. `path` is
/// without its query.
pub fn scope_of(path: &str) -> std::result::Result<&str, String> {
    let encoded_dot = path.to_ascii_lowercase().contains("%2e");
    if encoded_dot || path.split('/').any(|s| s == ".." || s == ".") || path.contains("//") {
        return Err(format!("path {path:?} has an empty, . or .. segment"));
    }
    let depth = if path.starts_with("/v1/media/") {
        3
    } else if path.starts_with("/v1/streams/") {
        5
    } else {
        return Err(format!("only /v1/media/… and /v1/streams/… paths can be signed, not {path:?}"));
    };
    // The scope ends at the slash after the id (media) or the stream name (streams),
    // and something must follow it.
    let end = path.match_indices('/').nth(depth).map(|(i, _)| i + 1);
    match end {
        Some(e) if e < path.len() => Ok(&path[..e]),
        _ => Err(format!("path {path:?} names no file of a media record or stream")),
    }
}

/// The hex HMAC-SHA256 of `expires` and `scope` under `key`.
pub fn signature(key: &str, expires: i64, scope: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{expires}\n{scope}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `POST /v1/signed-urls`.
pub async fn create(
    State(svc): Svc,
    JsonBody(b): JsonBody<SignBody>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let secs = b.expires_in_secs.unwrap_or(DEFAULT_SECS);
    if !(1..=MAX_SECS).contains(&secs) {
        return Err(Error::new(
            ErrorCode::InvalidParameter,
            format!("expires_in_secs must be 1 to {MAX_SECS}, not {secs}"),
        ));
    }
    let uri: Uri = b.path.parse().map_err(|_| {
        Error::new(ErrorCode::InvalidParameter, format!("path {:?} is not a URL path", b.path))
    })?;
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(Error::new(ErrorCode::InvalidParameter, "path must be a path like /v1/media/1/content"));
    }
    let scope = scope_of(uri.path()).map_err(|m| Error::new(ErrorCode::InvalidParameter, m))?;
    let expires = svc.clock.now_unix() + secs as i64;
    let sig = signature(&svc.config.api_key, expires, scope);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "url": format!("/v1/signed/{expires}/{sig}{}", b.path),
            "scope": scope,
            "expires_at": rfc3339_ms(Time90k::from_unix_micros(expires * 1_000_000)),
        })),
    ))
}

/// The signed part of a signed URL's path.
#[derive(Debug, Deserialize)]
pub struct SignedPath {
    expires: String,
    signature: String,
}

/// `GET /v1/signed/{expires}/{signature}/{*path}`: checks the signature and runs the
/// request on `routes` as `/{path}` with the API key.
pub async fn serve(
    routes: Router,
    State(svc): Svc,
    Path(SignedPath { expires, signature: sig }): Path<SignedPath>,
    req: Request,
) -> Response {
    // The raw (still percent-encoded) path is checked and passed on, so what is
    // signed is exactly what the inner routes see.
    let rest = req.uri().path().splitn(6, '/').nth(5).unwrap_or("").to_string();
    let admitted = (|| -> Result<String> {
        let refuse = |m: &str| Error::new(ErrorCode::SignatureInvalid, m.to_string());
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(refuse("a signed URL is only good for GET"));
        }
        let expires: i64 = expires.parse().map_err(|_| refuse("the signed URL's expiry is not a number"))?;
        let path = format!("/{rest}");
        let scope = scope_of(&path).map_err(|m| refuse(&m))?;
        let want = signature(&svc.config.api_key, expires, scope);
        if !crate::secret::same(&sig, &want) {
            return Err(refuse("the URL's signature does not match (changed URL, or another API key)"));
        }
        if expires <= svc.clock.now_unix() {
            return Err(Error::new(ErrorCode::SignatureExpired, "the signed URL has expired"));
        }
        Ok(match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        })
    })();
    let target = match admitted {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return Error::new(ErrorCode::SignatureInvalid, "not a URL path").into_response();
    };
    // A new request, not the outer one rewritten: the outer route's path parameters
    // and original URI must not reach the inner routes; the connection's facts do.
    let (parts, body) = req.into_parts();
    let mut inner = Request::new(body);
    *inner.method_mut() = parts.method;
    *inner.uri_mut() = uri;
    *inner.version_mut() = parts.version;
    *inner.headers_mut() = parts.headers;
    if let Some(c) = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>() {
        inner.extensions_mut().insert(*c);
    }
    if let Some(t) = parts.extensions.get::<BodyTimeout>() {
        inner.extensions_mut().insert(*t);
    }
    // The signature stands for the key: whatever key the request carried is replaced.
    inner.headers_mut().remove("authorization");
    let key = &svc.config.api_key;
    if !key.is_empty()
        && let Ok(v) = key.parse()
    {
        inner.headers_mut().insert("x-api-key", v);
    }
    routes.oneshot(inner).await.unwrap_or_else(|e| match e {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_the_media_or_stream_folder() {
        assert_eq!(scope_of("/v1/media/12/content"), Ok("/v1/media/12/"));
        assert_eq!(scope_of("/v1/media/12/rec_0/seg1.ts"), Ok("/v1/media/12/"));
        assert_eq!(scope_of("/v1/streams/d/a/s/manifest.m3u8"), Ok("/v1/streams/d/a/s/"));
        assert_eq!(scope_of("/v1/streams/d/a/s/timeline/chunks/1.m4s"), Ok("/v1/streams/d/a/s/"));
    }

    #[test]
    fn paths_outside_media_and_streams_are_refused() {
        for p in [
            "/v1/media/12",
            "/v1/media/12/",
            "/v1/streams/d/a/s",
            "/v1/streams/d/a/",
            "/v1/record-templates/1/x",
            "/v1/media/12/../../record-templates",
            "/v1/media/12/./content",
            "/v1/media//12/content",
            "/v1/media/12/%2E%2e/13/content",
            "/healthz",
        ] {
            assert!(scope_of(p).is_err(), "{p}");
        }
    }

    #[test]
    fn a_signature_depends_on_key_expiry_and_scope() {
        let s = signature("k", 100, "/v1/media/1/");
        assert_eq!(s.len(), 64);
        assert_eq!(s, signature("k", 100, "/v1/media/1/"));
        assert_ne!(s, signature("k2", 100, "/v1/media/1/"));
        assert_ne!(s, signature("k", 101, "/v1/media/1/"));
        assert_ne!(s, signature("k", 100, "/v1/media/2/"));
    }
}
