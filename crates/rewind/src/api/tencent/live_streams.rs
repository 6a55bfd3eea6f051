//! Live streams: `DescribeLiveStreamOnlineList`, `DescribeLiveStreamState`,
//! `DropLiveStream`, `DescribeLiveStreamPushInfoList`, over `/v1/streams` (which
//! holds every node's live streams).

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

/// `DescribeLiveStreamState` → `active` (live on some node) or `inactive`.
pub async fn state(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveStreamState", &["DomainName", "AppName", "StreamName"])?;
    let state = match ctx.v1.get(&format!("/v1/streams/{}", sid(p)?)).await {
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
