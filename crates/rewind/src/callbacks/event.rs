//! Event bodies, with the cloud service's field names, and their signature.

use crate::config::Callback;
use crate::library::media::MediaRecord;
use crate::server::Services;
use md5::{Digest, Md5};
use serde_json::{Value, json};

/// `event_type` of a publish that started.
pub const STREAM_BEGIN: i64 = 1;
/// `event_type` of a publish that ended.
pub const STREAM_END: i64 = 0;
/// `event_type` of a finished file.
pub const RECORD: i64 = 100;
/// `event_type` of a recording's status change.
pub const STATUS: i64 = 332;
/// Seconds a signature stays valid (`t` = send time + this).
pub const SIGN_VALID_SECS: i64 = 600;

/// `record_event` values of status events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordStatus {
    /// The first file of a recording opened.
    StartSucceeded,
    /// A recording could not start (its folder could not be written).
    StartFailed,
    /// An auto-splice recording's push dropped; it waits for a re-push.
    Paused,
    /// A re-push continued a paused recording.
    Resumed,
    /// Writing failed mid-recording; what was written is kept.
    Error,
    /// A recording ended (its last file finished).
    Ended,
    /// Timeline media was lost: a chunk not yet uploaded was dropped from a full spool.
    TimelineDropped,
}

impl RecordStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::StartSucceeded => "record_start_succeeded",
            RecordStatus::StartFailed => "record_start_failed",
            RecordStatus::Paused => "record_paused",
            RecordStatus::Resumed => "record_resumed",
            RecordStatus::Error => "record_error",
            RecordStatus::Ended => "record_ended",
            RecordStatus::TimelineDropped => "timeline_dropped",
        }
    }
}

/// Where an event of `event_type` about `domain`'s `app` goes: the callback rule's
/// template when a rule binds the app (its URL for that kind, or nowhere), else the
/// domain's own target, else the global one in config.
pub fn target(svc: &Services, domain: &str, app: &str, event_type: i64) -> Option<Callback> {
    if let Some(kind) = super::targets::EventKind::of(event_type)
        && let Some(decided) = svc.callback_targets.decide(domain, app, kind)
    {
        return decided;
    }
    if let Some((s, _)) = svc.domains.get(domain)
        && let Some(c) = s.callback
    {
        return Some(c);
    }
    let g = &svc.config.callbacks;
    (!g.url.is_empty()).then(|| Callback { url: g.url.clone(), key: g.key.clone() })
}

/// `sign = MD5(key + t)`, lower-case hex.
pub fn sign(key: &str, t: i64) -> String {
    hex::encode(Md5::digest(format!("{key}{t}").as_bytes()))
}

/// `h264`, `h265` or the codec string as given.
fn codec_name(rfc6381: &str) -> &str {
    match rfc6381.split('.').next().unwrap_or("") {
        "avc1" | "avc3" => "h264",
        "hvc1" | "hev1" => "h265",
        other => other,
    }
}

/// The record event (`event_type` 100) of a finished file. `media_start_ms` is the
/// stream timestamp of the file's first frame; `public_url` prefixes `video_url`.
pub fn record_event(m: &MediaRecord, appid: i64, public_url: &str, media_start_ms: i64) -> Value {
    let secs = m.duration_ms as f64 / 1000.0;
    let (video_codec, resolution) = match &m.media_info.video {
        Some(v) => (codec_name(&v.codec).to_string(), format!("{}x{}", v.width, v.height)),
        None => (String::new(), String::new()),
    };
    let mut e = json!({
        "event_type": RECORD,
        "appid": appid,
        "app": m.domain,
        "appname": m.app,
        "stream_id": m.stream,
        "channel_id": m.stream,
        "file_id": m.file_id,
        "record_file_id": m.file_id,
        "file_format": m.format,
        "task_id": m.task_id.clone().unwrap_or_default(),
        "source": m.source,
        "session_ids": m.session_ids,
        "start_time": m.start.0.div_euclid(90_000),
        "end_time": m.end.0.div_euclid(90_000),
        "start_time_usec": m.start.0.rem_euclid(90_000) * 100 / 9,
        "end_time_usec": m.end.0.rem_euclid(90_000) * 100 / 9,
        "duration": m.duration_ms.div_euclid(1000),
        "file_size": m.file_size,
        "video_url": format!("{}/v1/media/{}/content", public_url.trim_end_matches('/'), m.file_id),
        "media_start_time": media_start_ms,
        "record_bps": if secs > 0.0 { (m.file_size as f64 * 8.0 / secs) as i64 } else { 0 },
        // A JSON string inside the JSON, as the cloud service sends it.
        "callback_ext": json!({"video_codec": video_codec, "resolution": resolution}).to_string(),
    });
    // Task recordings carry no push query (as the cloud service does).
    if let Some(p) = &m.stream_param {
        e["stream_param"] = json!(p);
    }
    e
}

/// What a status event says about which recording.
#[derive(Clone, Debug)]
pub struct StatusOf<'a> {
    /// Domain.
    pub domain: &'a str,
    /// App.
    pub app: &'a str,
    /// Stream.
    pub stream: &'a str,
    /// File the event concerns.
    pub file_id: &'a str,
    /// `flv`, `hls`, `mp4`, `aac`.
    pub format: &'a str,
    /// Task, if any.
    pub task_id: Option<&'a str>,
    /// Publish session.
    pub session_id: &'a str,
}

/// A status event (`event_type` 332).
pub fn status_event(
    s: &StatusOf<'_>,
    status: RecordStatus,
    appid: i64,
    now_unix: i64,
    message: &str,
) -> Value {
    json!({
        "event_type": STATUS,
        "appid": appid,
        "app": s.domain,
        "appname": s.app,
        "stream_id": s.stream,
        "channel_id": s.stream,
        "record_event": status.as_str(),
        "record_file_id": s.file_id,
        "file_format": s.format,
        "task_id": s.task_id.unwrap_or_default(),
        "session_id": s.session_id,
        "event_time": now_unix,
        "message": message,
    })
}

/// What a stream begin or end event says about its publish.
#[derive(Clone, Debug)]
pub struct PublishOf<'a> {
    /// The stream.
    pub id: &'a crate::stream_id::StreamId,
    /// The publish session (the cloud's `sequence`).
    pub session_id: &'a str,
    /// The publisher's address.
    pub peer: std::net::SocketAddr,
    /// The push URL's query.
    pub stream_param: &'a str,
    /// The node that has it.
    pub node: &'a str,
}

/// A stream begin (`event_type` 1) or, with `push_duration_ms`, end (0) event, with the
/// cloud's field names. `errcode` 0 and `errmsg` "ok" on a begin; on an end the reason.
pub fn stream_event(p: &PublishOf<'_>, appid: i64, now_unix: i64, end: Option<(i64, &str)>) -> Value {
    let mut e = json!({
        "event_type": if end.is_some() { STREAM_END } else { STREAM_BEGIN },
        "appid": appid,
        "app": p.id.domain,
        "appname": p.id.app,
        "stream_id": p.id.stream,
        "channel_id": p.id.stream,
        "event_time": now_unix,
        "sequence": p.session_id,
        "node": p.node,
        "user_ip": p.peer.ip().to_string(),
        "stream_param": p.stream_param,
        "errcode": 0,
        "errmsg": "ok",
    });
    if let Some((push_duration_ms, reason)) = end {
        e["push_duration"] = json!(push_duration_ms);
        e["errmsg"] = json!(reason);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{MediaInfo, VideoInfo};
    use rewind_media::Time90k;

    fn record(stream_param: Option<&str>) -> MediaRecord {
        MediaRecord {
            file_id: "f1".into(),
            domain: "d.example".into(),
            app: "live".into(),
            stream: "cam".into(),
            format: "flv".into(),
            source: "rule".into(),
            template_id: 1,
            task_id: None,
            session_ids: vec!["s1".into()],
            start: Time90k::from_unix_micros(1_700_000_000_250_000),
            end: Time90k::from_unix_micros(1_700_000_020_750_000),
            duration_ms: 20_500,
            file_size: 2_562_500,
            media_info: MediaInfo {
                video: Some(VideoInfo { codec: "avc1.64001f".into(), width: 1280, height: 720, fps: 30.0 }),
                audio: None,
            },
            file_name: "cam.flv".into(),
            rel_path: "d.example/live/cam/cam.flv".into(),
            stream_param: stream_param.map(String::from),
            expires_at_unix: None,
        }
    }

    #[test]
    fn record_event_has_the_cloud_fields() {
        let e = record_event(&record(Some("a=1")), 7, "http://h:1/", 40);
        assert_eq!(e["event_type"], 100);
        assert_eq!(e["app"], "d.example");
        assert_eq!(e["appname"], "live");
        assert_eq!(e["stream_id"], "cam");
        assert_eq!(e["start_time"], 1_700_000_000);
        assert_eq!(e["start_time_usec"], 250_000);
        assert_eq!(e["end_time_usec"], 750_000);
        assert_eq!(e["duration"], 20);
        assert_eq!(e["record_bps"], 1_000_000);
        assert_eq!(e["video_url"], "http://h:1/v1/media/f1/content");
        assert_eq!(e["stream_param"], "a=1");
        assert_eq!(e["media_start_time"], 40);
        let ext: Value = serde_json::from_str(e["callback_ext"].as_str().unwrap()).unwrap();
        assert_eq!(ext, json!({"video_codec": "h264", "resolution": "1280x720"}));
        assert!(record_event(&record(None), 7, "", 0).get("stream_param").is_none());
    }

    #[test]
    fn sign_is_md5_of_key_then_t() {
        // echo -n "key1700000600" | md5sum
        assert_eq!(sign("key", 1_700_000_600), hex::encode(Md5::digest(b"key1700000600")));
        assert_eq!(sign("", 0), "cfcd208495d565ef66e7dff9f98764da");
    }
}
