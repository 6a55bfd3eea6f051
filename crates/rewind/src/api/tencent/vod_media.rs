//! VOD 2018-07-17 over the media library: `SearchMedia`, `DescribeMediaInfos`,
//! `DeleteMedia` (the seed's "find recordings with SearchMedia"), over `/v1/media`.

use super::params::{Params, TcError};
use super::v1::{query, seg};
use super::{Ctx, cloud_time};
use serde_json::{Map, Value, json};

/// The cloud caps `Offset + Limit` of a search at this.
const MAX_WINDOW: i64 = 5000;
/// The sections of a `MediaInfo` rewind fills (`Filters` picks among them).
const SECTIONS: &[&str] = &["basicInfo", "metaData"];

fn sub_app(p: &Params) -> Result<(), TcError> {
    if p.int("SubAppId")?.is_some_and(|v| v != 0) {
        return Err(TcError::unsupported("SubAppId", "rewind has one library (no VOD sub-applications)"));
    }
    Ok(())
}

/// `ResourceNotFound.Media` is the cloud VOD's `ResourceNotFound.FileNotExist`.
fn vod_code(mut e: TcError) -> TcError {
    if e.code == "ResourceNotFound.Media" {
        e.code = "ResourceNotFound.FileNotExist".into();
    }
    e
}

fn sections(p: &Params) -> Result<Vec<String>, TcError> {
    let f = p.str_list("Filters")?;
    if let Some(bad) = f.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        return Err(TcError::new(
            "InvalidParameterValue",
            format!("Filters may name basicInfo and metaData (rewind's library has no {bad:?})"),
        ));
    }
    Ok(if f.is_empty() { SECTIONS.iter().map(|s| s.to_string()).collect() } else { f })
}

fn codec(c: &Value) -> &str {
    match c.as_str().and_then(|c| c.split('.').next()) {
        Some("avc1" | "avc3") => "h264",
        Some("hvc1" | "hev1") => "h265",
        Some("mp4a") => "aac",
        Some(o) => o,
        None => "",
    }
}

/// A library record (`/v1` `Media`) as the cloud's `MediaInfo`.
async fn media_info(ctx: &Ctx<'_>, m: &Value, sections: &[String]) -> Result<Value, TcError> {
    let id = m["file_id"].as_str().unwrap_or("");
    let content = format!("/v1/media/{}/content", seg(id));
    let path = if ctx.signs_urls {
        let s = ctx.v1.post("/v1/signed-urls", &json!({ "path": content })).await?;
        s["url"].as_str().unwrap_or(&content).to_string()
    } else {
        content
    };
    let (start, end) = (cloud_time::from_v1(&m["start_time"]), cloud_time::from_v1(&m["end_time"]));
    let t = |x: Option<i64>| x.map(cloud_time::utc).unwrap_or_default();
    let format = m["format"].as_str().unwrap_or("");
    let (v, a) = (&m["video"], &m["audio"]);
    let duration = m["duration"].as_f64().unwrap_or(0.0);
    let size = m["file_size"].as_i64().unwrap_or(0);
    let mut out = Map::new();
    if sections.iter().any(|s| s == "basicInfo") {
        out.insert("BasicInfo".into(), json!({
            "Name": m["file_name"],
            "Description": "",
            "CreateTime": t(start),
            "UpdateTime": t(end),
            "ExpireTime": cloud_time::from_v1(&m["expires_at"]).map_or_else(|| "9999-12-31T23:59:59Z".to_string(), cloud_time::utc),
            "ClassId": 0,
            "ClassName": "",
            "ClassPath": "",
            "CoverUrl": "",
            "Type": if format == "hls" { "m3u8" } else { format },
            "MediaUrl": format!("{}{path}", ctx.base_url),
            "SourceInfo": {
                "SourceType": "Record",
                "SourceContext": "",
                "LiveRecordInfo": {
                    "Domain": m["domain"],
                    "Path": m["app"],
                    "StreamId": m["stream"],
                    "RecordStartTime": t(start),
                    "RecordEndTime": t(end),
                },
            },
            "StorageRegion": "",
            "StoragePath": "",
            "TagSet": [],
            "Vid": "",
            "Category": if v.is_null() { "Audio" } else { "Video" },
            "Status": "Normal",
            "StorageClass": "STANDARD",
        }));
    }
    if sections.iter().any(|s| s == "metaData") {
        let bitrate = if duration > 0.0 { (size as f64 * 8.0 / duration) as i64 } else { 0 };
        let video: Vec<Value> = if v.is_null() {
            Vec::new()
        } else {
            vec![json!({
                "Bitrate": 0, "Height": v["height"].as_i64().unwrap_or(0), "Width": v["width"].as_i64().unwrap_or(0),
                "Codec": codec(&v["codec"]), "Fps": v["fps"].as_f64().map_or(0, |f| f.round() as i64),
                "CodecTag": v["codec"].as_str().and_then(|c| c.split('.').next()).unwrap_or(""),
            })]
        };
        let audio: Vec<Value> = if a.is_null() {
            Vec::new()
        } else {
            vec![
                json!({"Bitrate": 0, "SamplingRate": a["sample_rate"].as_i64().unwrap_or(0), "Codec": codec(&a["codec"])}),
            ]
        };
        out.insert(
            "MetaData".into(),
            json!({
                "Size": size,
                "Container": if format == "hls" { "hls" } else { format },
                "Bitrate": bitrate,
                "Height": v["height"].as_i64().unwrap_or(0),
                "Width": v["width"].as_i64().unwrap_or(0),
                "Duration": duration,
                "Rotate": 0,
                "VideoStreamSet": video,
                "AudioStreamSet": audio,
                "VideoDuration": if v.is_null() { 0.0 } else { duration },
                "AudioDuration": if a.is_null() { 0.0 } else { duration },
                "Md5": "",
            }),
        );
    }
    out.insert("FileId".into(), id.into());
    Ok(Value::Object(out))
}

/// Parameters of `SearchMedia` that ask for what the library does not hold (names,
/// tags, classes, reviews, TRTC, …): refused when set, never ignored.
const SEARCH_UNSUPPORTED: &[&str] = &[
    "Names",
    "NamePrefixes",
    "Descriptions",
    "ClassIds",
    "Tags",
    "Categories",
    "ExpireTime",
    "StorageRegions",
    "StorageClasses",
    "Status",
    "ReviewResults",
    "TrtcSdkAppIds",
    "TrtcRoomIds",
    "Text",
    "KnowledgeBases",
];

/// `SearchMedia`: by `StreamId(s)`, `FileIds`/`Vids`, `StreamDomains`, `StreamPaths`,
/// `MediaTypes`, `SourceTypes` (every library file is a `Record`), a time range
/// (`CreateTime`, or `StartTime`/`EndTime`: files overlapping it), `Sort` by
/// `CreateTime` (the recording's start), `Offset`/`Limit`.
pub async fn search(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let mut known = vec![
        "SubAppId",
        "FileIds",
        "StreamIds",
        "CreateTime",
        "Sort",
        "Offset",
        "Limit",
        "SourceType",
        "SourceTypes",
        "StreamId",
        "StartTime",
        "EndTime",
        "Vids",
        "Vid",
        "StreamDomains",
        "StreamPaths",
        "Filters",
        "MediaTypes",
    ];
    known.extend_from_slice(SEARCH_UNSUPPORTED);
    p.only("SearchMedia", &known)?;
    sub_app(p)?;
    for f in SEARCH_UNSUPPORTED {
        if p.asks(f) {
            return Err(TcError::unsupported(
                f,
                "the library has no such field to search (search by stream, file id, type and time)",
            ));
        }
    }
    let sections = sections(p)?;
    let offset = p.int_in("Offset", 0, MAX_WINDOW)?.unwrap_or(0);
    let limit = p.int_in("Limit", 1, MAX_WINDOW)?.unwrap_or(10);
    if offset + limit > MAX_WINDOW {
        return Err(TcError::new(
            "InvalidParameterValue",
            format!("Offset + Limit must be at most {MAX_WINDOW}"),
        ));
    }
    let empty = || Ok(json!({"TotalCount": 0, "MediaInfoSet": []}));
    let mut sources = p.str_list("SourceTypes")?;
    sources.extend(p.str("SourceType")?.filter(|s| !s.is_empty()));
    if !sources.is_empty() && !sources.iter().any(|s| s == "Record") {
        return empty();
    }
    let mut streams = p.str_list("StreamIds")?;
    streams.extend(p.str("StreamId")?.filter(|s| !s.is_empty()));
    let mut ids = p.str_list("FileIds")?;
    ids.extend(p.str_list("Vids")?);
    ids.extend(p.str("Vid")?.filter(|s| !s.is_empty()));
    let one = |name: &str| -> Result<Option<String>, TcError> {
        let l = p.str_list(name)?;
        match l.len() {
            0 => Ok(None),
            1 => Ok(l.into_iter().next()),
            _ => Err(TcError::unsupported(name, "one value at a time")),
        }
    };
    let (domain, app) = (one("StreamDomains")?, one("StreamPaths")?);
    let format = match one("MediaTypes")?.map(|t| t.to_ascii_lowercase()) {
        None => None,
        Some(t) if t == "m3u8" || t == "hls" => Some("hls".to_string()),
        Some(t) if matches!(t.as_str(), "flv" | "mp4" | "aac") => Some(t),
        Some(_) => return empty(),
    };
    let (mut after, mut before) = (None, None);
    if let Some(ct) = p.obj("CreateTime")? {
        ct.only("SearchMedia CreateTime", &["After", "Before"])?;
        after = ct.str("After")?.map(|s| cloud_time::parse("CreateTime.After", &s)).transpose()?;
        before = ct.str("Before")?.map(|s| cloud_time::parse("CreateTime.Before", &s)).transpose()?;
    }
    if let Some(s) = p.str("StartTime")? {
        after = Some(cloud_time::parse("StartTime", &s)?);
    }
    if let Some(s) = p.str("EndTime")? {
        before = Some(cloud_time::parse("EndTime", &s)?);
    }
    let desc = match p.obj("Sort")? {
        None => true,
        Some(s) => {
            s.only("SearchMedia Sort", &["Field", "Order"])?;
            if s.str("Field")?.is_some_and(|f| f != "CreateTime") {
                return Err(TcError::new("InvalidParameterValue", "Sort.Field must be CreateTime"));
            }
            match s.str("Order")?.as_deref() {
                None | Some("Desc") => true,
                Some("Asc") => false,
                Some(o) => {
                    return Err(TcError::new(
                        "InvalidParameterValue",
                        format!("Sort.Order must be Asc or Desc, not {o:?}"),
                    ));
                }
            }
        }
    };
    let stream_list = (!streams.is_empty()).then(|| streams.join(","));
    let id_list = (!ids.is_empty()).then(|| ids.join(","));
    let order = if desc { "-start_time" } else { "start_time" };
    let page_query = |offset: i64, token: Option<String>, size: i64| {
        query(&[
            ("domain", domain.clone()),
            ("app", app.clone()),
            ("stream", stream_list.clone()),
            ("file_id", id_list.clone()),
            ("format", format.clone()),
            ("start_time", after.map(|t| t.to_string())),
            ("end_time", before.map(|t| t.to_string())),
            ("sort", Some(order.to_string())),
            ("offset", (offset > 0).then(|| offset.to_string())),
            ("page_size", Some(size.to_string())),
            ("page_token", token),
        ])
    };
    let q = page_query(offset, None, limit.min(1000));
    let mut page = ctx.v1.get(&format!("/v1/media?{q}")).await.map_err(|mut e| {
        // A list filter's limit, in the cloud's names.
        e.message =
            e.message.replace("stream names", "StreamIds names").replace("file_id names", "FileIds names");
        e
    })?;
    let total = page["total"].as_i64().unwrap_or(0);
    let mut records: Vec<Value> = page["media"].as_array().cloned().unwrap_or_default();
    // `/v1` pages hold at most 1000: a larger Limit reads on from the last page's token.
    while (records.len() as i64) < limit {
        let Some(token) = page["next_page_token"].as_str().map(str::to_string) else { break };
        let q = page_query(0, Some(token), (limit - records.len() as i64).min(1000));
        page = ctx.v1.get(&format!("/v1/media?{q}")).await?;
        records.extend(page["media"].as_array().cloned().unwrap_or_default());
    }
    let mut set = Vec::with_capacity(records.len());
    for m in &records {
        set.push(media_info(ctx, m, &sections).await?);
    }
    Ok(json!({"TotalCount": total, "MediaInfoSet": set}))
}

/// `DescribeMediaInfos`: up to 20 files by `FileIds`; the ids the library lacks are
/// listed in `NotExistFileIdSet`.
pub async fn describe(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeMediaInfos", &["FileIds", "SubAppId", "Filters"])?;
    sub_app(p)?;
    let ids = p.str_list("FileIds")?;
    if ids.is_empty() {
        return Err(TcError::new("MissingParameter", "the parameter FileIds is required"));
    }
    if ids.len() > 20 {
        return Err(TcError::new("InvalidParameterValue", "FileIds holds at most 20 ids"));
    }
    let sections = sections(p)?;
    let mut set = Vec::new();
    let mut missing = Vec::new();
    for id in &ids {
        match ctx.v1.get(&format!("/v1/media/{}", seg(id))).await {
            Ok(m) => set.push(media_info(ctx, &m, &sections).await?),
            Err(e) if e.code == "ResourceNotFound.Media" => missing.push(id.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok(json!({"MediaInfoSet": set, "NotExistFileIdSet": missing}))
}

/// `DeleteMedia`: the record and its bytes (the whole file: rewind keeps no
/// transcodes or snapshots to delete apart).
pub async fn delete(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DeleteMedia", &["FileId", "SubAppId", "DeleteParts"])?;
    sub_app(p)?;
    if p.asks("DeleteParts") {
        return Err(TcError::unsupported(
            "DeleteParts",
            "a library file has no parts (transcodes, snapshots) to delete apart; leave it out to delete the file",
        ));
    }
    let id = p.need_str("FileId")?;
    ctx.v1.delete(&format!("/v1/media/{}", seg(&id))).await.map_err(vod_code)?;
    Ok(json!({}))
}
