//! The web console (`GET /` and `/assets/…`): files built from `console/` and embedded
//! at build time; everything it shows comes from the public API under `/v1`.

use crate::error::{Error, ErrorCode};
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// One embedded file: its path, its bytes, and their gzip when the build made one.
type ConsoleFile = (&'static str, &'static [u8], Option<&'static [u8]>);

include!(concat!(env!("OUT_DIR"), "/console_files.rs"));

/// Only our own scripts, styles and media; hls.js runs its worker from a blob.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; frame-ancestors 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str, headers: &HeaderMap, cache: &'static str) -> Response {
    let Some((_, plain, gz)) = FILES.iter().find(|(p, _, _)| *p == path) else {
        return Error::new(ErrorCode::NotFound, "no such console file").into_response();
    };
    let gzip_ok = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    match gz {
        Some(gz) if gzip_ok => {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (h, *gz).into_response()
        }
        _ => (h, *plain).into_response(),
    }
}

/// `GET /`: the console's page (never cached: it names the current assets).
pub async fn index(headers: HeaderMap) -> Response {
    let mut r = serve("/index.html", &headers, "no-cache");
    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    r
}

/// `GET /assets/{file}`: a built asset (its name holds its hash: cached for good).
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("/assets/{file}"), &headers, "public, max-age=31536000, immutable")
}
