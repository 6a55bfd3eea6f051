//! `/v1/media`: the media library — search, one record, delete, and the bytes.

use super::Svc;
use super::respond::QueryParams;
use crate::error::{Error, ErrorCode, Result};
use crate::library::media::{self, Search};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
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

/// `DELETE /v1/media/{file_id}`: the record, then the bytes.
pub async fn delete(State(svc): Svc, Path(id): Path<String>) -> Result<StatusCode> {
    let m = media::get(&svc.db, &id).await?;
    media::delete(&svc.db, &id, &svc.disk_reserve).await?;
    // An HLS recording's segment folder goes with its playlist.
    if let Err(e) = crate::library::retention::remove_bytes(&svc.media_root(), &m.rel_path, &m.format).await {
        tracing::warn!(file = %m.rel_path, error = %e, "media record deleted but its bytes could not be removed");
    }
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
    let path = svc.media_root().join(&m.rel_path);
    serve(path, content_type(&m.format), Some(&m.file_name), req, &id).await
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
    let path = svc.media_root().join(&m.rel_path).with_file_name(folder).join(file);
    serve(path, "video/mp2t", None, req, &id).await
}

async fn serve(
    path: std::path::PathBuf,
    mime: &str,
    name: Option<&str>,
    req: Request,
    id: &str,
) -> Result<Response> {
    let mime = mime.parse().map_err(Error::internal)?;
    let served = ServeFile::new_with_mime(&path, &mime).oneshot(req).await.map_err(Error::internal)?;
    if served.status() == StatusCode::NOT_FOUND {
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
    if let Some(name) = name {
        let v = format!("inline; filename=\"{name}\"").parse().map_err(Error::internal)?;
        parts.headers.insert("content-disposition", v);
    }
    // Finished recording files never change.
    parts
        .headers
        .insert("cache-control", "public, max-age=31536000, immutable".parse().map_err(Error::internal)?);
    Ok(Response::from_parts(parts, Body::new(body)).into_response())
}
