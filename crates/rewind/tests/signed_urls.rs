//! Short-lived signed URLs (`POST /v1/signed-urls`): with an API key set, a signed URL
//! plays and downloads a recording or a stream's timeline without the key, only inside
//! its scope, only with GET, and only until it expires.

mod common;
use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const KEY: &str = "signing-key";
const CONFIG: &str = "api_key = \"signing-key\"\n[timeline]\nrecord_all = true\n\
    [[record_templates]]\ntemplate_id = 1\nname = \"all\"\n\
    flv = { enable = true }\nhls = { enable = true }\nmp4 = { enable = true }\n\n\
    [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n";

/// `method path` with the key (when `key`) and a JSON body; status, headers, body bytes.
async fn call(
    srv: &TestServer,
    method: &str,
    path: &str,
    key: bool,
    body: Option<Value>,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = c.request(method.parse().unwrap(), srv.url(path));
    if key {
        req = req.header("authorization", format!("Bearer {KEY}"));
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()))
}

async fn sign(srv: &TestServer, path: &str, secs: Option<u64>) -> (u16, Value) {
    let mut body = json!({ "path": path });
    if let Some(s) = secs {
        body["expires_in_secs"] = json!(s);
    }
    let (s, _, b) = call(srv, "POST", "/v1/signed-urls", true, Some(body), None).await;
    (s, json_of(&b))
}

/// Waits (with the key) until the library lists `n` files of stream `sig`.
async fn media_of(srv: &TestServer, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, _, b) = call(srv, "GET", "/v1/media?stream=sig", true, None, None).await;
        assert_eq!(s, 200);
        let list = json_of(&b)["media"].as_array().unwrap().clone();
        if list.len() >= n {
            return list;
        }
        assert!(Instant::now() < deadline, "{} of {n} files\n{}", list.len(), srv.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Decodes `url` with ffmpeg (an HLS playlist is followed to its segments); the errors.
fn decode_url(url: &str) -> String {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", url, "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let mut s = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        s.push_str(" (ffmpeg failed)");
    }
    s
}

#[tokio::test]
async fn signed_urls_play_and_download_without_the_key_inside_their_scope_until_they_expire() {
    let srv = TestServer::start(CONFIG);
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 5), &srv.push_url("live/sig")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let media = media_of(&srv, 3).await;
    let of =
        |f: &str| media.iter().find(|m| m["format"] == f).unwrap()["file_id"].as_str().unwrap().to_string();
    let (mp4, hls) = (of("mp4"), of("hls"));

    // Without the key nothing plays.
    let content = format!("/v1/media/{mp4}/content");
    assert_eq!(call(&srv, "GET", &content, false, None, None).await.0, 401);

    // A signed MP4 URL downloads the whole file, and a part of it with Range.
    let (s, v) = sign(&srv, &content, Some(600)).await;
    assert_eq!(s, 201, "{v}");
    let url = v["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/v1/signed/") && url.ends_with(&content), "{v}");
    assert!(!url.contains(KEY), "{v}");
    assert_eq!(v["scope"], format!("/v1/media/{mp4}/"));
    let (s, _, whole) = call(&srv, "GET", &url, false, None, None).await;
    assert_eq!(s, 200, "{}", json_of(&whole));
    let file = srv.dir.path().join("signed.mp4");
    std::fs::write(&file, &whole).unwrap();
    assert_eq!(decode_errors(&file), "");
    assert!(media_span(&file, "v") >= 4.0);
    let (s, h, part) = call(&srv, "GET", &url, false, None, Some("bytes=100-199")).await;
    assert_eq!((s, part.as_slice()), (206, &whole[100..200]));
    assert!(h["content-range"].to_str().unwrap().starts_with("bytes 100-199/"));

    // A signed HLS recording plays to the end: its segments are inside the scope.
    let (_, v) = sign(&srv, &format!("/v1/media/{hls}/content"), None).await;
    assert_eq!(decode_url(&srv.url(v["url"].as_str().unwrap())), "");

    // So does the stream's timeline: a clip of it, and its playlist and chunks (siblings
    // inside the same scope, with their own queries).
    let (_, v) = sign(&srv, "/v1/streams/default/live/sig/clip.mp4", None).await;
    assert_eq!(v["scope"], "/v1/streams/default/live/sig/");
    let clip_url = v["url"].as_str().unwrap().to_string();
    let (s, _, clip) = call(&srv, "GET", &clip_url, false, None, None).await;
    assert_eq!(s, 200, "{}", json_of(&clip));
    let file = srv.dir.path().join("clip.mp4");
    std::fs::write(&file, &clip).unwrap();
    assert_eq!(decode_errors(&file), "");
    assert!(media_span(&file, "v") >= 4.0);
    let days_url = clip_url.replace("/clip.mp4", "/availableMedia?precision=year");
    let (s, _, days) = call(&srv, "GET", &days_url, false, None, None).await;
    assert_eq!(
        (s, json_of(&days)["timeRanges"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{}",
        json_of(&days)
    );
    let playlist_url = clip_url.replace("/clip.mp4", "/manifest.m3u8");
    let (s, _, playlist) = call(&srv, "GET", &playlist_url, false, None, None).await;
    let playlist = String::from_utf8(playlist).unwrap();
    assert_eq!(s, 200, "{playlist}");
    let chunk = playlist.lines().find(|l| l.starts_with("timeline/")).expect("a chunk URI");
    let chunk_url = playlist_url.replace("manifest.m3u8", chunk);
    assert_eq!(call(&srv, "GET", &chunk_url, false, None, None).await.0, 200, "{chunk_url}");

    // The signature covers one scope: another file, another stream, a changed path or
    // a changed expiry are refused; so is anything but GET.
    let sig_part = url.strip_suffix(&content).unwrap().to_string();
    for other in [
        format!("{sig_part}/v1/media/{hls}/content"),
        format!("{sig_part}/v1/streams/default/live/sig/manifest.m3u8"),
        url.replacen("/v1/signed/", "/v1/signed/1", 1),
        format!("{sig_part}/v1/media/{mp4}0/content"),
        format!("{sig_part}/v1/media/{mp4}/%2e%2e/{hls}/content"),
    ] {
        let (s, _, b) = call(&srv, "GET", &other, false, None, None).await;
        let e = json_of(&b);
        assert_eq!(s, 403, "{other}: {e}");
        assert_eq!(e["error"]["code"], "AuthFailure.SignatureFailure", "{other}");
    }
    let (_, v) = sign(&srv, "/v1/streams/default/live/sig/availableMedia", None).await;
    let drop = v["url"].as_str().unwrap().replace("/availableMedia", "/drop");
    assert_eq!(call(&srv, "POST", &drop, false, None, None).await.0, 405);

    // What cannot be signed gets a 400 saying why.
    for (path, secs, says) in [
        ("/v1/record-templates", None, "only /v1/media/"),
        ("/v1/media/12", None, "names no file"),
        ("/v1/media/12/../../record-templates/1", None, ".."),
        ("http://elsewhere/v1/media/1/content", None, "must be a path"),
        ("/v1/media/1/content", Some(0), "expires_in_secs"),
        ("/v1/media/1/content", Some(8 * 24 * 3600), "expires_in_secs"),
    ] {
        let (s, v) = sign(&srv, path, secs).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(says), "{path}: {v}");
    }
    let (s, _, _) = call(&srv, "POST", "/v1/signed-urls", false, Some(json!({"path": content})), None).await;
    assert_eq!(s, 401, "signing needs the key");

    // An expired URL is refused as expired.
    let (_, v) = sign(&srv, &content, Some(1)).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, _, b) = call(&srv, "GET", v["url"].as_str().unwrap(), false, None, None).await;
    assert_eq!((s, json_of(&b)["error"]["code"].clone()), (403, json!("AuthFailure.SignatureExpire")));
}
