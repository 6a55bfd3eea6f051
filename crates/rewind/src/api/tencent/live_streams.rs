//! Live streams: `DescribeLiveStreamOnlineList`, `DescribeLiveStreamState`,
//! `DropLiveStream`, `DescribeLiveStreamPushInfoList` over `/v1/streams` (which holds
//! every node's live streams); `ForbidLiveStream`, `ResumeLiveStream` over
//! `/v1/streams/{sid}/forbid`; `DescribeLiveStreamPublishedList` over `/v1/publishes`.

use super::params::{Params, TcError};
use super::v1::seg;
use super::{Ctx, cloud_time};
use serde_json::{Value, json};

/// The live streams of every node, in id order.
async fn live(ctx: &Ctx<'_>) -> Result<Vec<Value>, TcError> {
    let all = ctx.v1.get("/v1/streams").await?;
    Ok(all["streams"].as_array().cloned().unwrap_or_default())
}

/// One page of `items` (pages count from 1), with the cloud's counts.
fn page(items: Vec<Value>, num: i64, size: i64) -> (Vec<Value>, i64, i64) {
    let total = items.len() as i64;
    let pages = (total + size - 1) / size;
    let skip = ((num - 1) * size) as usize;
    (items.into_iter().skip(skip).take(size as usize).collect(), total, pages)
}

fn matches(s: &Value, field: &str, want: &Option<String>) -> bool {
    want.as_deref().is_none_or(|w| w.is_empty() || s[field].as_str() == Some(w))
}

fn sid(p: &Params) -> Result<String, TcError> {
    Ok(format!(
        "{}/{}/{}",
        seg(&p.need_str("DomainName")?),
        seg(&p.need_str("AppName")?),
        seg(&p.need_str("StreamName")?)
    ))
}

/// `DescribeLiveStreamOnlineList`: live streams, filtered by domain, app and stream name,
/// paged (`PageNum` from 1, `PageSize` 10–300000, default 10).
pub async fn online_list(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveStreamOnlineList", &["DomainName", "AppName", "PageNum", "PageSize", "StreamName"])?;
    let num = p.int_in("PageNum", 1, i64::from(u32::MAX))?.unwrap_or(1);
    let size = p.int_in("PageSize", 10, 300_000)?.unwrap_or(10);
    let (domain, app, stream) = (p.str("DomainName")?, p.str("AppName")?, p.str("StreamName")?);
    let chosen: Vec<Value> = live(ctx)
        .await?
        .into_iter()
        .filter(|s| matches(s, "domain", &domain) && matches(s, "app", &app) && matches(s, "stream", &stream))
        .map(|s| {
            let started = cloud_time::from_v1(&s["started_at"]).map(cloud_time::utc);
            json!({
                "StreamName": s["stream"],
                "AppName": s["app"],
                "DomainName": s["domain"],
                "PublishTimeList": started.map(|t| vec![json!({"PublishTime": t})]).unwrap_or_default(),
                "PushToDelay": 0,
            })
        })
        .collect();
    let (items, total, pages) = page(chosen, num, size);
    Ok(json!({"TotalNum": total, "TotalPage": pages, "PageNum": num, "PageSize": size, "OnlineInfo": items}))
}

/// `DescribeLiveStreamState` → `forbid` (its publish is refused), `active` (live on
/// some node) or `inactive`.
pub async fn state(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveStreamState", &["DomainName", "AppName", "StreamName"])?;
    let sid = sid(p)?;
    match ctx.v1.get(&format!("/v1/streams/{sid}/forbid")).await {
        Ok(_) => return Ok(json!({ "StreamState": "forbid" })),
        Err(e) if e.code == "ResourceNotFound.Forbid" => {}
        Err(e) => return Err(e),
    }
    let state = match ctx.v1.get(&format!("/v1/streams/{sid}")).await {
        Ok(s) if s["live"] == true => "active",
        Ok(_) => "inactive",
        Err(e) if e.code == "ResourceNotFound.Stream" => "inactive",
        Err(e) => return Err(e),
    };
    Ok(json!({ "StreamState": state }))
}

/// `DropLiveStream`: the publisher is disconnected (on whichever node has it).
pub async fn drop(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DropLiveStream", &["DomainName", "AppName", "StreamName"])?;
    ctx.v1.post(&format!("/v1/streams/{}/drop", sid(p)?), &json!({})).await?;
    Ok(json!({}))
}

/// `ForbidLiveStream`: the stream's publish is refused on every node until `ResumeTime`
/// (default 7 days, at most 90), and a live publisher is dropped.
pub async fn forbid(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("ForbidLiveStream", &["DomainName", "AppName", "StreamName", "ResumeTime", "Reason"])?;
    let mut body = json!({ "reason": p.str("Reason")?.unwrap_or_default() });
    if let Some(t) = p.str("ResumeTime")?.filter(|t| !t.is_empty()) {
        let unix = cloud_time::parse("ResumeTime", &t)?;
        body["resume_at"] = json!(unix.to_string());
    }
    ctx.v1.put(&format!("/v1/streams/{}/forbid", sid(p)?), &body).await.map_err(|mut e| {
        e.message = e.message.replace("resume_at", "ResumeTime").replace("reason", "Reason");
        e
    })?;
    Ok(json!({}))
}

/// `ResumeLiveStream`: lifts a forbid (succeeds whether or not there was one).
pub async fn resume(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("ResumeLiveStream", &["DomainName", "AppName", "StreamName"])?;
    ctx.v1.delete(&format!("/v1/streams/{}/forbid", sid(p)?)).await?;
    Ok(json!({}))
}

/// `DescribeLiveStreamPublishedList`: the publishes of a domain live within
/// `[StartTime, EndTime]` (≤ 1 month apart), newest first, `StreamName` matched anywhere
/// in the name, paged (`PageNum` from 1, `PageSize` 10–100, default 10).
pub async fn published_list(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only(
        "DescribeLiveStreamPublishedList",
        &["DomainName", "EndTime", "StartTime", "AppName", "PageNum", "PageSize", "StreamName"],
    )?;
    let domain = p.need_str("DomainName")?;
    let start = cloud_time::parse("StartTime", &p.need_str("StartTime")?)?;
    let end = cloud_time::parse("EndTime", &p.need_str("EndTime")?)?;
    if end < start {
        return Err(TcError::new("InvalidParameterValue", "EndTime must not be before StartTime"));
    }
    if end - start > 31 * 86_400 {
        return Err(TcError::new(
            "InvalidParameterValue",
            "EndTime and StartTime must be at most a month apart",
        ));
    }
    let num = p.int_in("PageNum", 1, 100_000)?.unwrap_or(1);
    let size = p.int_in("PageSize", 10, 100)?.unwrap_or(10);
    let q = super::v1::query(&[
        ("domain", Some(domain)),
        ("app", p.str("AppName")?.filter(|a| !a.is_empty())),
        ("stream_contains", p.str("StreamName")?.filter(|s| !s.is_empty())),
        ("start", Some(start.to_string())),
        // The cloud's end is inclusive; /v1's is not.
        ("end", Some((end + 1).to_string())),
        ("offset", Some(((num - 1) * size).to_string())),
        ("limit", Some(size.to_string())),
    ]);
    let got = ctx.v1.get(&format!("/v1/publishes?{q}")).await?;
    let items: Vec<Value> = got["publishes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let ip = r["publisher_addr"].as_str().and_then(|a| a.parse::<std::net::SocketAddr>().ok());
            let end = match r["ended_at"].as_str() {
                Some(_) => cloud_time::from_v1(&r["ended_at"]).map(cloud_time::utc).unwrap_or_default(),
                None => String::new(),
            };
            json!({
                "StreamName": r["stream"],
                "AppName": r["app"],
                "DomainName": r["domain"],
                "StreamStartTime": cloud_time::from_v1(&r["started_at"]).map(cloud_time::utc).unwrap_or_default(),
                "StreamEndTime": end,
                "StopReason": r["stop_reason"].as_str().unwrap_or(""),
                "Duration": r["duration_secs"].as_i64().unwrap_or(0),
                "ClientIp": ip.map(|a| a.ip().to_string()).unwrap_or_default(),
                "Resolution": "",
            })
        })
        .collect();
    let total = got["total"].as_i64().unwrap_or(0);
    Ok(json!({
        "PublishInfo": items,
        "PageNum": num,
        "PageSize": size,
        "TotalNum": total,
        "TotalPage": (total + size - 1) / size,
    }))
}

/// The cloud's codec names (`H264`, `AAC`) of RFC 6381 strings.
fn codec_name(c: &str) -> &str {
    match c.split('.').next().unwrap_or("") {
        "avc1" | "avc3" => "H264",
        "hvc1" | "hev1" => "H265",
        "mp4a" => "AAC",
        other => other,
    }
}

/// `DescribeLiveStreamPushInfoList`: each live push's client, codecs, frame rate and
/// bitrate (`VideoSpeed` carries the push's whole bitrate: rewind measures it per push,
/// not per track).
pub async fn push_info_list(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveStreamPushInfoList", &["PushDomain", "AppName", "PageNum", "PageSize"])?;
    let num = p.int_in("PageNum", 1, 100_000)?.unwrap_or(1);
    let size = p.int_in("PageSize", 1, 1000)?.unwrap_or(100);
    let (domain, app) = (p.str("PushDomain")?, p.str("AppName")?);
    let chosen: Vec<Value> = live(ctx)
        .await?
        .into_iter()
        .filter(|s| matches(s, "domain", &domain) && matches(s, "app", &app))
        .map(|s| {
            let (v, a) = (&s["video"], &s["audio"]);
            let ip = s["publisher_addr"].as_str().and_then(|a| a.parse::<std::net::SocketAddr>().ok());
            json!({
                "StreamName": s["stream"],
                "AppName": s["app"],
                "PushDomain": s["domain"],
                "ClientIp": ip.map(|a| a.ip().to_string()).unwrap_or_default(),
                "ServerIp": s["node"].as_str().unwrap_or(""),
                "VideoFps": v["fps"].as_f64().map_or(0, |f| f.round() as i64),
                "VideoSpeed": s["bitrate_kbps"].as_i64().unwrap_or(0) * 1000,
                "AudioFps": 0,
                "AudioSpeed": 0,
                "BeginPushTime": cloud_time::from_v1(&s["started_at"]).map(cloud_time::utc).unwrap_or_default(),
                "Acodec": a["codec"].as_str().map(codec_name).unwrap_or(""),
                "Vcodec": v["codec"].as_str().map(codec_name).unwrap_or(""),
                "Resolution": match (v["width"].as_i64(), v["height"].as_i64()) {
                    (Some(w), Some(h)) => format!("{w}*{h}"),
                    _ => String::new(),
                },
                "AsampleRate": a["sample_rate"].as_i64().unwrap_or(0),
                "MetaAudioSpeed": 0,
                "MetaVideoSpeed": 0,
                "MetaFps": 0,
            })
        })
        .collect();
    let (items, total, pages) = page(chosen, num, size);
    Ok(
        json!({"DataInfoList": items, "TotalNum": total, "TotalPage": pages, "PageNum": num, "PageSize": size}),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn pages_count_from_one() {
        let items: Vec<serde_json::Value> = (0..25).map(serde_json::Value::from).collect();
        let (p, total, pages) = super::page(items.clone(), 3, 10);
        assert_eq!((p.len(), total, pages), (5, 25, 3));
        assert_eq!(super::page(items, 4, 10).0.len(), 0);
        assert_eq!(super::codec_name("avc1.64001f"), "H264");
        assert_eq!(super::codec_name("mp4a.40.2"), "AAC");
    }
}
