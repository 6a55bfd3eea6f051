//! `/v1/media`: the media library — search, one record, delete, and the bytes.

use super::Svc;
use super::respond::QueryParams;
use crate::error::{Error, ErrorCode, Result};
use crate::library::media::{self, Search};
use crate::server::Services;
use crate::storage::{Key, keys};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// `GET /v1/media?…`.
pub async fn search(State(svc): Svc, QueryParams(q): QueryParams<Search>) -> Result<Json<serde_json::Value>> {
    let page = media::search(&svc.db, &q).await?;
    Ok(Json(serde_json::json!({
        "media": page.media.iter().map(|m| m.to_json()).collect::<Vec<_>>(),
        "total": page.total,
        "next_page_token": page.next_page_token,
    })))
}

/// `GET /v1/media/{file_id}`.
pub async fn get_one(State(svc): Svc, Path(id): Path<String>) -> Result<Json<serde_json::Value>> {
    Ok(Json(media::get(&svc.db, &id).await?.to_json()))
}

/// `DELETE /v1/media/{file_id}`: the bytes, then the record. When the bytes cannot all
/// be removed (the bucket is down), the record stays and the answer is 503: a retry
/// finishes the job, and no object is left that no record names.
pub async fn delete(State(svc): Svc, Path(id): Path<String>) -> Result<StatusCode> {
    let m = media::get(&svc.db, &id).await?;
    crate::library::retention::remove_bytes(&svc.storage, &m.rel_path, &m.format)
        .await
        .map_err(|e| Error::storage(format!("deleting the bytes of media file {id}"), e))?;
    media::delete(&svc.db, &id, &svc.disk_reserve).await?;
    tracing::info!(file_id = %id, file = %m.rel_path, "media deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn content_type(format: &str) -> &'static str {
    match format {
        "flv" => "video/x-flv",
        "mp4" => "video/mp4",
        "aac" => "audio/aac",
        "hls" => "application/vnd.apple.mpegurl",
        _ => "application/octet-stream",
    }
}

/// `GET /v1/media/{file_id}/content`: the file (HLS: the playlist), with single-range
/// `Range` support.
pub async fn content(State(svc): Svc, Path(id): Path<String>, req: Request) -> Result<Response> {
    let m = media::get(&svc.db, &id).await?;
    // A playlist is served by rewind even with presigning: its relative segment URIs
    // must resolve here (each segment is then redirected on its own).
    let presign = m.format != "hls";
    serve(&svc, keys::media(&m.rel_path), content_type(&m.format), Some(&m.file_name), req, &id, presign)
        .await
}

/// `GET /v1/media/{file_id}/{name}/{segment}`: a segment of an HLS recording, as the
/// playlist's relative URIs resolve.
pub async fn segment(
    State(svc): Svc,
    Path((id, rest)): Path<(String, String)>,
    req: Request,
) -> Result<Response> {
    let m = media::get(&svc.db, &id).await?;
    let folder = m.file_name.strip_suffix(".m3u8").unwrap_or("");
    let file = rest.strip_prefix(folder).and_then(|r| r.strip_prefix('/'));
    let ok = |f: &&str| {
        m.format == "hls" && !folder.is_empty() && crate::stream_id::check_name("segment", f).is_ok()
    };
    let Some(file) = file.filter(ok) else {
        return Err(Error::new(ErrorCode::MediaNotFound, format!("media file {id} has no part {rest:?}")));
    };
    serve(&svc, keys::hls_segment(&m.rel_path, file), "video/mp2t", None, req, &id, true).await
}

/// A library file's bytes: from the local folder while it is there, else from the
/// bucket (passed through by range, or redirected to a presigned URL).
async fn serve(
    svc: &Services,
    key: Key,
    mime: &str,
    name: Option<&str>,
    req: Request,
    id: &str,
    presign: bool,
) -> Result<Response> {
    let range_header = req.headers().get("range").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if !svc.storage.is_local(&key).await && svc.storage.is_remote() {
        if presign && let Some(url) = svc.storage.presigned(&key).await {
            return super::respond::redirect(&url.map_err(Error::internal)?);
        }
        return serve_remote(svc, key, mime, name, range_header.as_deref(), id).await;
    }
    let path = svc.storage.local_path(&key);
    let mime_value = mime.parse().map_err(Error::internal)?;
    let served = ServeFile::new_with_mime(&path, &mime_value).oneshot(req).await.map_err(Error::internal)?;
    if served.status() == StatusCode::NOT_FOUND {
        if svc.storage.is_remote() {
            // Uploaded (and its local copy removed) between the check above and the open.
            return serve_remote(svc, key, mime, name, range_header.as_deref(), id).await;
        }
        return Err(Error::new(
            ErrorCode::MediaNotFound,
            format!("the bytes of media file {id} are missing"),
        ));
    }
    if served.status() == StatusCode::RANGE_NOT_SATISFIABLE {
        // Our error shape, not the file server's plain text; `Content-Range: bytes */len` stays.
        let mut res = Error::new(
            ErrorCode::RangeNotSatisfiable,
            "the Range header must ask for one range that starts inside the file",
        )
        .into_response();
        if let Some(cr) = served.headers().get("content-range") {
            res.headers_mut().insert("content-range", cr.clone());
        }
        return Ok(res);
    }
    let (mut parts, body) = served.into_parts();
    finished_file_headers(&mut parts.headers, name)?;
    Ok(Response::from_parts(parts, Body::new(body)).into_response())
}

fn finished_file_headers(h: &mut HeaderMap, name: Option<&str>) -> Result<()> {
    if let Some(name) = name {
        let v = format!("inline; filename=\"{name}\"").parse().map_err(Error::internal)?;
        h.insert("content-disposition", v);
    }
    // Finished recording files never change.
    h.insert("cache-control", HeaderValue::from_static("public, max-age=31536000, immutable"));
    Ok(())
}

/// A file kept in the bucket, streamed through by range: one ranged GET, nothing
/// buffered whole.
async fn serve_remote(
    svc: &Services,
    key: Key,
    mime: &str,
    name: Option<&str>,
    range_header: Option<&str>,
    id: &str,
) -> Result<Response> {
    let size = match svc.storage.remote_size(&key).await {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::new(
                ErrorCode::MediaNotFound,
                format!("the bytes of media file {id} are missing"),
            ));
        }
        Err(e) => return Err(Error::storage(format!("reading media file {id}"), e)),
    };
    // As the local file server answers: one range, or 416.
    let range_header = range_header.map(|h| if h.contains(',') { "bytes=-0" } else { h });
    let range = match crate::timeline::clip::parse_range(range_header, size) {
        Ok(r) => r,
        Err(e) => {
            let mut res = e.into_response();
            res.headers_mut()
                .insert("content-range", format!("bytes */{size}").parse().map_err(Error::internal)?);
            return Ok(res);
        }
    };
    let mut r = if size == 0 {
        Response::new(Body::empty())
    } else {
        let (from, to) = range.unwrap_or((0, size - 1));
        let stream = svc
            .storage
            .remote_stream(&key, from, to)
            .await
            .map_err(|e| Error::internal(format!("storage: {e}")))?;
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut().insert("content-length", HeaderValue::from(to - from + 1));
        if range.is_some() {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            r.headers_mut().insert(
                "content-range",
                format!("bytes {from}-{to}/{size}").parse().map_err(Error::internal)?,
            );
        }
        r
    };
    let h = r.headers_mut();
    h.insert("content-type", mime.parse().map_err(Error::internal)?);
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    finished_file_headers(h, name)?;
    Ok(r)
}
