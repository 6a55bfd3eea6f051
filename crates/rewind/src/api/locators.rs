//! Streaming locators: `POST /v1/locators` and the seed's playback URLs
//! `/{locator}/content.ism/manifest(format=…,startTime=…,endTime=…).m3u8|.mpd` and
//! `/{locator}/content.ism/availableMedia?…`. Playback URLs need no API key: the
//! unguessable id is the credential.

use super::respond::QueryParams;
use super::timeline::{self as playback, TimeQuery};
use super::{JsonBody, Svc};
use crate::error::{Error, ErrorCode, Result};
use crate::stream_id::StreamId;
use crate::timeline::available::parse_full;
use crate::timeline::locator::{self, Locator};
use crate::timeline::window;
use crate::wire_time::rfc3339_ms;
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use rewind_media::Time90k;
use serde::Deserialize;

/// Body of `POST /v1/locators`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocatorBody {
    stream: String,
    start_time: Option<String>,
    end_time: Option<String>,
    expires_at: Option<String>,
}

fn stream_of(s: &str) -> Result<StreamId> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts[..] {
        [d, a, st] => StreamId::new(d, a, st),
        _ => Err(Error::new(
            ErrorCode::StreamFormatError,
            format!("stream must be domain/app/stream, not {s:?}"),
        )),
    }
}

fn view(l: &Locator) -> serde_json::Value {
    let base = format!("/{}/content.ism", l.locator_id);
    serde_json::json!({
        "locator_id": l.locator_id,
        "stream": l.stream_id,
        "start_time": l.start.map(rfc3339_ms),
        "end_time": l.end.map(rfc3339_ms),
        "expires_at": l.expires_at_unix.map(|s| rfc3339_ms(Time90k::from_unix_micros(s * 1_000_000))),
        "urls": {
            "hls": format!("{base}/manifest(format=m3u8-aapl).m3u8"),
            "dash": format!("{base}/manifest(format=mpd-time-cmaf).mpd"),
            "available_media": format!("{base}/availableMedia"),
        }
    })
}

/// `POST /v1/locators`.
pub async fn create(
    State(svc): Svc,
    JsonBody(b): JsonBody<LocatorBody>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let id = stream_of(&b.stream)?;
    let time = |name: &str, v: &Option<String>| -> Result<Option<Time90k>> {
        v.as_deref().map(|s| parse_full(name, s).map(Time90k)).transpose()
    };
    let (start, end) = (time("start_time", &b.start_time)?, time("end_time", &b.end_time)?);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        return Err(Error::new(ErrorCode::InvalidParameter, "start_time must be before end_time"));
    }
    let expires = time("expires_at", &b.expires_at)?.map(|t| t.unix_micros().div_euclid(1_000_000));
    let now = svc.clock.now_unix();
    if expires.is_some_and(|e| e <= now) {
        return Err(Error::new(ErrorCode::InvalidParameter, "expires_at must be in the future"));
    }
    let l = Locator {
        locator_id: locator::new_id(),
        stream_id: id.to_string(),
        start,
        end,
        expires_at_unix: expires,
    };
    locator::insert(&svc.db, &l, now).await?;
    // Not its id: the id is the credential that plays the stream.
    tracing::info!(stream = %l.stream_id, "locator created");
    Ok((StatusCode::CREATED, Json(view(&l))))
}

/// `GET /v1/locators/{id}`.
pub async fn get_one(State(svc): Svc, Path(id): Path<String>) -> Result<Json<serde_json::Value>> {
    Ok(Json(view(&locator::get(&svc.db, &id, svc.clock.now_unix()).await?)))
}

/// `DELETE /v1/locators/{id}`.
pub async fn delete(State(svc): Svc, Path(id): Path<String>) -> Result<StatusCode> {
    if locator::delete(&svc.db, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::new(ErrorCode::LocatorNotFound, format!("no locator {id}")))
    }
}

/// The parameters inside `manifest(format=…,startTime=…,endTime=…).ext`.
#[derive(Debug, Default, PartialEq, Eq)]
struct ManifestName {
    format: Option<String>,
    start: Option<String>,
    end: Option<String>,
    ext: String,
}

fn parse_manifest_name(file: &str) -> Option<ManifestName> {
    let (stem, ext) = file.rsplit_once('.')?;
    let mut m = ManifestName { ext: ext.to_string(), ..Default::default() };
    if stem == "manifest" {
        return Some(m);
    }
    let args = stem.strip_prefix("manifest(")?.strip_suffix(')')?;
    for kv in args.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=')?;
        match k.trim() {
            "format" => m.format = Some(v.trim().to_string()),
            "startTime" | "starttime" => m.start = Some(v.trim().to_string()),
            "endTime" | "endtime" => m.end = Some(v.trim().to_string()),
            _ => return None,
        }
    }
    Some(m)
}

/// `GET /{locator}/content.ism/{file}`: a manifest or availableMedia.
pub async fn content(
    State(svc): Svc,
    Path((id, file)): Path<(String, String)>,
    QueryParams(q): QueryParams<TimeQuery>,
) -> Result<Response> {
    let l = locator::get(&svc.db, &id, svc.clock.now_unix()).await?;
    if file == "availableMedia" {
        return playback::available_for(&svc, &l.stream_id, &q, Some(&l)).await;
    }
    let Some(m) = parse_manifest_name(&file) else {
        return Err(Error::new(
            ErrorCode::NotFound,
            format!(
                "{file:?} is not manifest(format=m3u8-aapl|mpd-time-cmaf[,startTime=…][,endTime=…]).m3u8|.mpd or availableMedia"
            ),
        ));
    };
    // Times in the name win over the query string.
    let start = m.start.as_deref().or(q.start_time.as_deref());
    let end = m.end.as_deref().or(q.end_time.as_deref());
    let w = l.clip(window::parse(start, end)?);
    match (m.format.as_deref(), m.ext.as_str()) {
        (None | Some("m3u8-aapl" | "m3u8-cmaf"), "m3u8") => {
            playback::hls_for(&svc, &l.stream_id, w, l.bounds()).await
        }
        (None | Some("mpd-time-cmaf" | "mpd-time-csf"), "mpd") => {
            playback::dash_for(&svc, &l.stream_id, w, l.bounds()).await
        }
        (f, ext) => Err(Error::new(
            ErrorCode::InvalidParameter,
            format!(
                "format {:?} with .{ext} is not served: use format=m3u8-aapl with .m3u8 or format=mpd-time-cmaf with .mpd",
                f.unwrap_or("")
            ),
        )),
    }
}

/// `GET /{locator}/content.ism/timeline/init/{file}`.
pub async fn init(State(svc): Svc, Path((id, file)): Path<(String, String)>) -> Result<Response> {
    let l = locator::get(&svc.db, &id, svc.clock.now_unix()).await?;
    playback::init_for(&svc, &l.stream_id, &file).await
}

/// `GET /{locator}/content.ism/timeline/chunks/{file}`.
pub async fn chunk(
    State(svc): Svc,
    Path((id, file)): Path<(String, String)>,
    req: Request,
) -> Result<Response> {
    let l = locator::get(&svc.db, &id, svc.clock.now_unix()).await?;
    playback::chunk_for(&svc, &stream_of(&l.stream_id)?, &file, req, l.bounds()).await
}

/// `GET /{locator}/content.ism/timeline/{v|a}/{t}.m4s`: a track's part of a fragment.
pub async fn part(
    State(svc): Svc,
    Path((id, track, file)): Path<(String, String, String)>,
) -> Result<Response> {
    let l = locator::get(&svc.db, &id, svc.clock.now_unix()).await?;
    playback::part_for(&svc, &stream_of(&l.stream_id)?, &track, &file, l.bounds()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names() {
        let m = parse_manifest_name(
            "manifest(format=m3u8-aapl,startTime=2019-12-21T08:00:00Z,endTime=2019-12-21T10:00:00Z).m3u8",
        )
        .unwrap();
        assert_eq!(m.format.as_deref(), Some("m3u8-aapl"));
        assert_eq!(m.start.as_deref(), Some("2019-12-21T08:00:00Z"));
        assert_eq!(m.end.as_deref(), Some("2019-12-21T10:00:00Z"));
        assert_eq!(m.ext, "m3u8");
        assert_eq!(parse_manifest_name("manifest(format=mpd-time-cmaf).mpd").unwrap().ext, "mpd");
        assert_eq!(parse_manifest_name("manifest.m3u8").unwrap().format, None);
        assert!(parse_manifest_name("manifest(bogus=1).m3u8").is_none());
        assert!(parse_manifest_name("other.m3u8").is_none());
    }
}
