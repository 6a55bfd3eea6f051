//! Timeline playback over HTTP: availableMedia, HLS and DASH manifests, init segments
//! and chunk bytes. The same handlers serve `/v1/streams/{sid}/…` and the locator
//! forms (`/{locator}/content.ism/…`).

use super::Svc;
use super::respond::QueryParams;
use crate::error::{Error, ErrorCode, Result};
use crate::server::Services;
use crate::storage::keys;
use crate::stream_id::StreamId;
use crate::timeline::locator::Locator;
use crate::timeline::{available, clip, index, playlist, select, window};
use crate::wire_time::rfc3339_ms;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rewind_media::Time90k;
use serde::Deserialize;
use std::collections::HashMap;

/// Query parameters of manifests and availableMedia.
#[derive(Debug, Default, Deserialize)]
pub struct TimeQuery {
    /// `startTime`.
    #[serde(rename = "startTime")]
    pub start_time: Option<String>,
    /// `endTime`.
    #[serde(rename = "endTime")]
    pub end_time: Option<String>,
    /// `precision` (availableMedia).
    pub precision: Option<String>,
}

impl TimeQuery {
    fn window(&self) -> Result<window::Window> {
        window::parse(self.start_time.as_deref(), self.end_time.as_deref())
    }
}

type StreamPath = Path<(String, String, String)>;

fn sid(p: (String, String, String)) -> Result<StreamId> {
    StreamId::new(&p.0, &p.1, &p.2)
}

/// `GET /v1/streams/{sid}/availableMedia`.
pub async fn available_media(
    State(svc): Svc,
    Path(p): StreamPath,
    QueryParams(q): QueryParams<TimeQuery>,
) -> Result<Response> {
    available_for(&svc, &sid(p)?.to_string(), &q, None).await
}

/// availableMedia of a stream (SPEC R-P4/R-P5), within a locator's window if given.
pub async fn available_for(
    svc: &Services,
    stream_id: &str,
    q: &TimeQuery,
    locator: Option<&Locator>,
) -> Result<Response> {
    let query =
        available::parse_query(q.precision.as_deref(), q.start_time.as_deref(), q.end_time.as_deref())?;
    if select::latest(svc, stream_id).await?.0.is_none() {
        return Err(select::no_timeline(stream_id));
    }
    let from = query.start.unwrap_or(Time90k(i64::MIN / 2));
    let to = query.end.unwrap_or(Time90k(i64::MAX / 2));
    let mut runs: Vec<index::Run> = index::runs_in(&svc.db, stream_id, from, to).await?;
    // The live run is in the index only up to its last sealed chunk (or not yet).
    if let Some(live) = svc.timelines.get(stream_id).and_then(|t| t.run) {
        match runs.iter_mut().find(|r| r.start == live.start) {
            Some(r) => r.end = r.end.max(live.end),
            None if live.start < to && live.end > from => runs.push(live),
            None => {}
        }
    }
    let mut runs: Vec<(Time90k, Time90k)> = runs.into_iter().map(|r| (r.kept_from, r.end)).collect();
    if let Some(l) = locator {
        l.clip_runs(&mut runs);
    }
    let ranges = available::answer(&query, &runs);
    let body = serde_json::json!({
        "timeRanges": ranges.into_iter().map(|(s, e)| serde_json::json!({"start": s, "end": e})).collect::<Vec<_>>()
    });
    Ok(axum::Json(body).into_response())
}

/// `GET /v1/streams/{sid}/manifest.m3u8`.
pub async fn hls(
    State(svc): Svc,
    Path(p): StreamPath,
    QueryParams(q): QueryParams<TimeQuery>,
) -> Result<Response> {
    hls_for(&svc, &sid(p)?.to_string(), q.window()?, (None, None)).await
}

/// `GET /v1/streams/{sid}/manifest.mpd`.
pub async fn dash(
    State(svc): Svc,
    Path(p): StreamPath,
    QueryParams(q): QueryParams<TimeQuery>,
) -> Result<Response> {
    dash_for(&svc, &sid(p)?.to_string(), q.window()?, (None, None)).await
}

/// An HLS manifest of a stream's timeline.
pub async fn hls_for(
    svc: &Services,
    stream_id: &str,
    w: window::Window,
    limits: select::Limits,
) -> Result<Response> {
    let sel = select::select_within(svc, stream_id, w, limits).await?;
    let text = playlist::hls(&sel.segments, sel.bounds.live);
    manifest(text, "application/vnd.apple.mpegurl", &sel)
}

/// A DASH manifest of a stream's timeline.
pub async fn dash_for(
    svc: &Services,
    stream_id: &str,
    w: window::Window,
    limits: select::Limits,
) -> Result<Response> {
    let sel = select::select_within(svc, stream_id, w, limits).await?;
    let mut codecs: HashMap<i64, String> = HashMap::new();
    for s in &sel.segments {
        if let std::collections::hash_map::Entry::Vacant(e) = codecs.entry(s.init_id) {
            e.insert(index::init_codecs(&svc.db, stream_id, s.init_id).await?.unwrap_or_default());
        }
    }
    let text = playlist::dash(&sel.segments, sel.bounds.live, svc.clock.now(), |id| {
        codecs.get(&id).cloned().unwrap_or_default()
    });
    manifest(text, "application/dash+xml", &sel)
}

fn manifest(text: String, mime: &'static str, sel: &select::Selection) -> Result<Response> {
    let (start, end) = sel.media_span();
    let mut r = (StatusCode::OK, text).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(mime));
    // A live manifest changes every fragment; a VOD one only if retention cuts it.
    h.insert(
        "cache-control",
        HeaderValue::from_static(if sel.bounds.live { "no-cache" } else { "max-age=60" }),
    );
    h.insert("x-media-start", rfc3339_ms(start).parse().map_err(Error::internal)?);
    h.insert("x-media-end", rfc3339_ms(end).parse().map_err(Error::internal)?);
    h.insert("x-live", HeaderValue::from_static(if sel.bounds.live { "true" } else { "false" }));
    Ok(r)
}

/// `GET /v1/streams/{sid}/timeline/init/{id}.mp4`.
pub async fn init(
    State(svc): Svc,
    Path((d, a, s, file)): Path<(String, String, String, String)>,
) -> Result<Response> {
    init_for(&svc, &sid((d, a, s))?.to_string(), &file).await
}

/// An init segment of a stream's timeline.
pub async fn init_for(svc: &Services, stream_id: &str, file: &str) -> Result<Response> {
    let stem = file.strip_suffix(".mp4").unwrap_or("");
    let (id, part) = match stem.split_once('-') {
        Some((id, "v")) => (id, index::InitPart::Video),
        Some((id, "a")) => (id, index::InitPart::Audio),
        Some(_) => ("", index::InitPart::All),
        None => (stem, index::InitPart::All),
    };
    let data = match id.parse::<i64>() {
        Ok(id) => index::get_init(&svc.db, stream_id, id, part).await?,
        Err(_) => None,
    };
    let Some(data) = data else {
        return Err(Error::new(
            ErrorCode::NotFound,
            format!("stream {stream_id} has no init segment {file}"),
        ));
    };
    let mut r = (StatusCode::OK, data).into_response();
    r.headers_mut().insert("content-type", HeaderValue::from_static("video/mp4"));
    r.headers_mut().insert("cache-control", HeaderValue::from_static("public, max-age=31536000, immutable"));
    Ok(r)
}

/// `GET /v1/streams/{sid}/timeline/chunks/{start}.m4s` (byte ranges).
pub async fn chunk(
    State(svc): Svc,
    Path((d, a, s, file)): Path<(String, String, String, String)>,
    req: Request,
) -> Result<Response> {
    let id = sid((d, a, s))?;
    chunk_for(&svc, &id, &file, req, (None, None)).await
}

/// Bytes of a chunk the index knows (and that overlaps `limits`); ranges within it as asked.
pub async fn chunk_for(
    svc: &Services,
    id: &StreamId,
    file: &str,
    req: Request,
    limits: select::Limits,
) -> Result<Response> {
    let stream_id = id.to_string();
    let row = match keys::chunk_start(file) {
        Some(s) => index::chunk(&svc.db, &stream_id, s).await?,
        None => None,
    };
    let inside =
        |c: &index::Chunk| limits.0.is_none_or(|lo| c.end > lo) && limits.1.is_none_or(|hi| c.start < hi);
    let Some(row) = row.filter(inside) else {
        return Err(Error::new(ErrorCode::NotFound, format!("stream {stream_id} has no chunk {file}")));
    };
    let key = keys::chunk(&stream_id, row.start);
    if row.sealed
        && let Some(url) = svc.storage.presigned(&key).await
    {
        return super::respond::redirect(&url.map_err(Error::internal)?);
    }
    let range_header = req.headers().get("range").and_then(|v| v.to_str().ok()).map(String::from);
    // A sealed chunk's size is in the index; an open one's is what is on disk now.
    let size = if row.sealed {
        row.bytes
    } else {
        tokio::fs::metadata(svc.storage.local_path(&key)).await.map(|m| m.len()).unwrap_or(0)
    };
    let range = clip::parse_range(range_header.as_deref(), size)?;
    let (from, to) = range.unwrap_or((0, size.saturating_sub(1)));
    let body =
        if size == 0 { Bytes::new() } else { chunk_bytes(svc, &key, row.sealed, from, to + 1).await? };
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("video/mp4"));
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    // A sealed chunk never changes; an open one only grows (its listed ranges are final).
    let cache = if row.sealed { "public, max-age=31536000, immutable" } else { "no-cache" };
    h.insert("cache-control", HeaderValue::from_static(cache));
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        let cr = format!("bytes {from}-{to}/{size}");
        r.headers_mut().insert("content-range", cr.parse().map_err(Error::internal)?);
    }
    Ok(r)
}

/// Bytes `[from, to)` of a chunk: a sealed chunk mapped (local) or fetched by range
/// (bucket); an open one, which still grows, read as it is now.
async fn chunk_bytes(svc: &Services, key: &keys::Key, sealed: bool, from: u64, to: u64) -> Result<Bytes> {
    let got = if sealed {
        svc.storage.read_sealed_range(key, from, to).await
    } else {
        svc.storage.read_range(key, from, to).await
    };
    got.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof => {
            Error::internal(format!("chunk {key}: {e}"))
        }
        _ => Error::storage(format!("reading chunk {key}"), e),
    })
}

/// `GET /v1/streams/{sid}/timeline/{v|a}/{t}.m4s`: one track's part of the fragment
/// that starts at decode time `t` (the DASH manifests' `$Time$` segments).
pub async fn part(
    State(svc): Svc,
    Path((d, a, s, track, file)): Path<(String, String, String, String, String)>,
) -> Result<Response> {
    let id = sid((d, a, s))?;
    part_for(&svc, &id, &track, &file, (None, None)).await
}

/// One track's part of a fragment the index (or the live tail) knows, within `limits`.
pub async fn part_for(
    svc: &Services,
    id: &StreamId,
    track: &str,
    file: &str,
    limits: select::Limits,
) -> Result<Response> {
    let stream_id = id.to_string();
    let missing =
        || Error::new(ErrorCode::NotFound, format!("stream {stream_id} has no segment {track}/{file}"));
    let t = file.strip_suffix(".m4s").and_then(|n| n.parse::<i64>().ok()).ok_or_else(missing)?;
    if !matches!(track, "v" | "a") {
        return Err(missing());
    }
    let inside = |f: &crate::timeline::chunk_table::FragmentRef| {
        limits.0.is_none_or(|lo| f.end() > lo) && limits.1.is_none_or(|hi| f.start < hi)
    };
    let tail = svc.timelines.get(&stream_id).and_then(|l| l.chunk.clone());
    let next = t.checked_add(1).ok_or_else(missing)?;
    let mut chunks = index::chunks_in(&svc.db, &stream_id, Time90k(t), Time90k(next)).await?;
    chunks.extend(tail);
    let found = chunks
        .iter()
        .rev()
        .find_map(|c| c.fragments.iter().find(|f| f.start.0 == t && inside(f)).map(|f| (c, *f)));
    let (row, frag) = found.ok_or_else(missing)?;
    let (from, to) = if track == "v" {
        (frag.offset, frag.offset + frag.video_len as u64)
    } else {
        (frag.offset + frag.video_len as u64, frag.offset + frag.size as u64)
    };
    if from >= to {
        return Err(missing());
    }
    let key = keys::chunk(&stream_id, row.start);
    // A bucket that failed is a 503 the player retries; anything else, no such part.
    let body = chunk_bytes(svc, &key, row.sealed, from, to)
        .await
        .map_err(|e| if e.code == ErrorCode::StorageUnavailable { e } else { missing() })?;
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("video/mp4"));
    // A fragment's bytes never change once it is listed.
    h.insert("cache-control", HeaderValue::from_static("public, max-age=31536000, immutable"));
    Ok(r)
}

/// `GET /v1/streams/{sid}/clip.mp4?startTime=&endTime=` (Range supported).
pub async fn clip(
    State(svc): Svc,
    Path(p): StreamPath,
    QueryParams(q): QueryParams<TimeQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response> {
    let id = sid(p)?;
    let stream_id = id.to_string();
    let sel = select::select(&svc, &stream_id, q.window()?).await?;
    let clip = std::sync::Arc::new(clip::plan(&svc, &stream_id, &sel).await?);
    let range = clip::parse_range(headers.get("range").and_then(|v| v.to_str().ok()), clip.total)?;
    let (from, to) = range.unwrap_or((0, clip.total - 1));
    let parts = clip.cover(from, to);
    let c = clip.clone();
    // One fragment in memory at a time, whatever the clip's length.
    let body = futures_util::stream::unfold(parts.into_iter(), move |mut parts| {
        let c = c.clone();
        async move {
            let (piece, a, b) = parts.next()?;
            let bytes = match piece {
                None => Ok(c.init.slice(a as usize..=b as usize)),
                Some(i) => c.fragment(i).await.map(|f| f.slice(a as usize..=b as usize)),
            };
            Some((bytes, parts))
        }
    });
    let (start, end) = sel.media_span();
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("video/mp4"));
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    h.insert("content-length", HeaderValue::from(to - from + 1));
    let name = format!("attachment; filename=\"{}_{}.mp4\"", id.stream, rfc3339_ms(start).replace(':', "-"));
    h.insert("content-disposition", name.parse().map_err(Error::internal)?);
    h.insert("x-media-start", rfc3339_ms(start).parse().map_err(Error::internal)?);
    h.insert("x-media-end", rfc3339_ms(end).parse().map_err(Error::internal)?);
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        let cr = format!("bytes {from}-{to}/{}", clip.total);
        r.headers_mut().insert("content-range", cr.parse().map_err(Error::internal)?);
    }
    Ok(r)
}
