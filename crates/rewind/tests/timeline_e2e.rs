//! The timeline end to end: real pushes archived into CMAF chunks, availableMedia over
//! HTTP, and HLS and DASH manifests that ffmpeg plays through a real gap.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

const TIMELINE_ALL: &str = r#"
[timeline]
record_all = true
test_segment_length_secs = 3
"#;

const SID: &str = "default/live/cam";

/// What `ffmpeg -v error -i URL -f null -` prints (empty: decodes cleanly).
fn decode_url(url: &str) -> String {
    let out =
        Command::new("ffmpeg").args(["-v", "error", "-i", url, "-f", "null", "-"]).output().expect("ffmpeg");
    let mut s = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        s.push_str(" (ffmpeg failed)");
    }
    s
}

/// Seconds of video ffmpeg decodes from `url` (the last frame's time + one frame).
fn decoded_video_secs(url: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .expect("ffprobe");
    let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    times.len() as f64 / 25.0
}

async fn get_text(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

fn push(srv: &TestServer, secs: u32) {
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", secs), &srv.push_url("live/cam")), Duration::from_secs(60));
    assert!(ok, "{err}");
}

#[tokio::test]
async fn hls_and_dash_play_through_a_gap() {
    let srv = TestServer::start(TIMELINE_ALL);
    push(&srv, 6);
    srv.wait_stream(SID, Duration::from_secs(10), |s, v| s == 200 && v["live"] == false).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    push(&srv, 6);
    srv.wait_stream(SID, Duration::from_secs(10), |s, v| s == 200 && v["live"] == false).await;
    assert!(srv.wait_log("timeline recording started", Duration::from_secs(1)));
    assert!(srv.metric("rewind_timeline_chunks_total").await >= 4, "chunks sealed every 3 s");

    // availableMedia: two runs with the gap between them.
    let (s, v) = srv
        .get(&format!("/v1/streams/{SID}/availableMedia?precision=full&startTime=2000-01-01T00:00:00Z&endTime=2000-01-02T00:00:00Z"))
        .await;
    assert_eq!(
        (s, v.clone()),
        (200, serde_json::json!({"timeRanges": []})),
        "no media then: empty, no error"
    );
    let today = time::OffsetDateTime::now_utc().date();
    let (s, v) = srv
        .get(&format!("/v1/streams/{SID}/availableMedia?precision=day&startTime={today}&endTime={today}"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["timeRanges"][0]["start"], today.to_string());
    let now = time::OffsetDateTime::now_utc();
    let from =
        (now - time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let to = (now + time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let (s, v) = srv
        .get(&format!("/v1/streams/{SID}/availableMedia?precision=full&startTime={from}&endTime={to}"))
        .await;
    assert_eq!(s, 200, "{v}");
    let ranges = v["timeRanges"].as_array().unwrap();
    assert_eq!(ranges.len(), 2, "a drop and a re-push leave a gap: {v}");
    let (run1_end, run2_start) =
        (ranges[0]["end"].as_str().unwrap().to_string(), ranges[1]["start"].as_str().unwrap().to_string());

    // HLS: VOD (nothing records now), one discontinuity, plays through it.
    let url = srv.url(&format!("/v1/streams/{SID}/manifest.m3u8"));
    let (s, h, text) = get_text(&url).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(h["content-type"], "application/vnd.apple.mpegurl");
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
    assert!(text.contains("#EXT-X-BYTERANGE:"), "segments are byte ranges of chunks");
    assert_eq!(decode_url(&url), "", "the HLS manifest decodes cleanly through the gap");
    let secs = decoded_video_secs(&url);
    assert!((secs - 12.0).abs() <= 0.5, "HLS plays both pushes: {secs} s");

    // DASH: one Period per run, plays too.
    let url = srv.url(&format!("/v1/streams/{SID}/manifest.mpd"));
    let (s, h, text) = get_text(&url).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(h["content-type"], "application/dash+xml");
    assert!(text.contains(r#"type="static""#), "{text}");
    assert_eq!(text.matches("<Period").count(), 2, "{text}");
    assert_eq!(text.matches(r#"contentType="video""#).count(), 2, "one video set per Period: {text}");
    assert_eq!(text.matches(r#"contentType="audio""#).count(), 2, "one audio set per Period: {text}");
    assert_eq!(decode_url(&url), "", "the DASH manifest decodes cleanly");
    // ffmpeg's DASH reader plays one Period; each run's range plays whole on its own.
    for r in ranges {
        let (a, b) = (r["start"].as_str().unwrap(), r["end"].as_str().unwrap());
        let url = srv.url(&format!("/v1/streams/{SID}/manifest.mpd?startTime={a}&endTime={b}"));
        assert_eq!(decode_url(&url), "", "DASH of {a}..{b} decodes cleanly");
        let secs = decoded_video_secs(&url);
        assert!((secs - 6.0).abs() <= 0.25, "DASH of one push plays it whole: {secs} s");
    }

    // A range wholly inside the gap: 404 with a reason.
    let gap_from = &run1_end;
    let (s, v) =
        srv.get(&format!("/v1/streams/{SID}/manifest.m3u8?startTime={gap_from}&endTime={run2_start}")).await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "ResourceNotFound.NoMediaInRange");
    // A range starting in the gap snaps to the media after it.
    let (s, h, text) =
        get_text(&srv.url(&format!("/v1/streams/{SID}/manifest.m3u8?startTime={gap_from}&endTime={to}")))
            .await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(h["x-media-start"].to_str().unwrap(), run2_start, "media really starts after the gap");
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"));

    // Rules of startTime/endTime.
    let (s, v) = srv.get(&format!("/v1/streams/{SID}/manifest.m3u8?endTime={to}")).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("InvalidParameter")), "{v}");
    let (s, _) = srv
        .get(&format!(
            "/v1/streams/{SID}/manifest.mpd?startTime=2019-12-21T00:00:00Z&endTime=2019-12-22T00:00:01Z"
        ))
        .await;
    assert_eq!(s, 400, "more than 24 hours");
    // clip.mp4 of both runs: one MP4 that plays through the gap, and byte ranges of it.
    let url = srv.url(&format!("/v1/streams/{SID}/clip.mp4"));
    let full = reqwest::get(&url).await.unwrap();
    assert_eq!(full.status().as_u16(), 200);
    assert_eq!(full.headers()["content-type"], "video/mp4");
    let len: usize = full.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let bytes = full.bytes().await.unwrap();
    assert_eq!(bytes.len(), len);
    let path = srv.dir.path().join("clip.mp4");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(decode_errors(&path), "", "the clip decodes cleanly");
    let probe = ffprobe(&path);
    let dur: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!(dur > 13.0 && dur < 15.5, "12 s of media across a ~2 s gap: {dur}");
    let secs = decoded_video_secs(path.to_str().unwrap());
    assert!((secs - 12.0).abs() <= 0.25, "every frame of both pushes: {secs}");
    let c = reqwest::Client::new();
    for (from, to) in [(0usize, 99usize), (len / 2, len / 2 + 70_000), (len - 10, len - 1)] {
        let r = c.get(&url).header("range", format!("bytes={from}-{to}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 206);
        assert_eq!(r.headers()["content-range"].to_str().unwrap(), format!("bytes {from}-{to}/{len}"));
        let part = r.bytes().await.unwrap();
        assert!(part[..] == bytes[from..=to], "range {from}-{to} is that slice of the whole clip");
    }
    let r = c.get(&url).header("range", format!("bytes={len}-")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 416);

    // A stream that has no timeline.
    let (s, v) = srv.get("/v1/streams/default/live/other/availableMedia?precision=year").await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("FailedOperation.NoTimeline")), "{v}");
}

#[tokio::test]
async fn the_live_manifest_follows_the_live_edge() {
    let srv = TestServer::start(TIMELINE_ALL);
    let pusher = ffmpeg_push(&fixture("av", 12), &srv.push_url("live/cam"));
    srv.wait_stream(SID, Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let url = srv.url(&format!("/v1/streams/{SID}/manifest.m3u8"));
    let (s, h, text) = get_text(&url).await;
    assert_eq!(s, 200, "{text}");
    assert!(!text.contains("ENDLIST") && !text.contains("PLAYLIST-TYPE"), "live: {text}");
    let media_end = time::OffsetDateTime::parse(
        h["x-media-end"].to_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    // Less than a fragment (1 s GOP) plus the recorder's wake-up behind; far less than
    // segment_length would be if we served sealed chunks only.
    let lag = (time::OffsetDateTime::now_utc() - media_end).as_seconds_f64();
    assert!(lag < 2.5, "the live edge lags {lag} s");
    let n1 = text.matches("#EXTINF").count();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, _, text2) = get_text(&url).await;
    assert!(text2.matches("#EXTINF").count() >= n1 + 2, "the live manifest grows");
    let (s, _, mpd) = get_text(&srv.url(&format!("/v1/streams/{SID}/manifest.mpd"))).await;
    assert_eq!(s, 200);
    assert!(mpd.contains(r#"type="dynamic""#), "{mpd}");
    let (ok, err) = wait_child(pusher, Duration::from_secs(30));
    assert!(ok, "{err}");
}

#[tokio::test]
async fn kill_9_then_restart_reindexes_the_open_chunk() {
    // 30 s chunks: the kill lands in an unsealed chunk.
    let cfg = "[timeline]\nrecord_all = true\n";
    let mut srv = TestServer::start(cfg);
    let push = ffmpeg_push(&fixture("av", 20), &srv.push_url("live/cam"));
    srv.wait_stream(SID, Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    let pushed_from = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    srv.kill_9();
    let pushed = pushed_from.elapsed().as_secs_f64();
    let _ = wait_child(push, Duration::from_secs(30));
    let srv = srv.restart(cfg);
    assert!(srv.wait_log("repaired a timeline chunk", Duration::from_secs(20)), "{}", srv.log());
    let url = srv.url(&format!("/v1/streams/{SID}/manifest.m3u8"));
    let (s, h, text) = get_text(&url).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(h["x-live"], "false");
    assert_eq!(decode_url(&url), "", "what was written before the kill plays");
    let secs = decoded_video_secs(&url);
    // Everything up to the last complete fragment (1 s GOPs) plus the wake-up delay.
    assert!(secs >= pushed - 2.6 && secs <= pushed + 0.5, "{secs} s of ~{pushed} s pushed");
    // The index agrees with the bytes: every listed range lies inside its chunk file.
    let total = chunk_sizes(&srv, "default/live/cam").into_iter().max().unwrap();
    let mut end = 0u64;
    for line in text.lines().filter(|l| l.starts_with("#EXT-X-BYTERANGE:")) {
        // Without "@offset" a range continues the previous one (RFC 8216 §4.3.2.2).
        let spec = &line["#EXT-X-BYTERANGE:".len()..];
        let (len, off) = spec.split_once('@').map_or((spec, end), |(l, o)| (l, o.parse().unwrap()));
        end = off + len.parse::<u64>().unwrap();
        assert!(end <= total);
    }
    let (s, v) = srv.get(&format!("/v1/streams/{SID}/availableMedia?precision=year")).await;
    assert_eq!(s, 200);
    assert_eq!(v["timeRanges"].as_array().unwrap().len(), 1, "{v}");
}

/// The timeline turned on by a rule's template (not for every stream).
const TIMELINE_BY_TEMPLATE: &str = r#"
[timeline]
record_all = false
test_segment_length_secs = 3

[[record_templates]]
template_id = 1
name = "archive"
timeline = { enable = true, segment_length = 30, retention = 86400 }

[[record_rules]]
domain = "*"
stream = "cam"
template_id = 1
"#;

#[tokio::test]
async fn locators_serve_the_seed_url_forms() {
    let srv = TestServer::start(TIMELINE_BY_TEMPLATE);
    push(&srv, 4);
    srv.wait_stream(SID, Duration::from_secs(10), |s, v| s == 200 && v["live"] == false).await;
    let (s, v) = srv.send("POST", "/v1/locators", Some(serde_json::json!({"stream": SID}))).await;
    assert_eq!(s, 201, "{v}");
    let id = v["locator_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {v}");
    let hls = srv.url(v["urls"]["hls"].as_str().unwrap());
    assert!(hls.ends_with("/content.ism/manifest(format=m3u8-aapl).m3u8"), "{hls}");
    let (s, _, text) = get_text(&hls).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(decode_url(&hls), "", "HLS through the locator plays");
    let dash = srv.url(v["urls"]["dash"].as_str().unwrap());
    assert_eq!(decode_url(&dash), "", "DASH through the locator plays");
    // Times inside the seed's manifest(...) form.
    let now = time::OffsetDateTime::now_utc();
    let fmt = &time::format_description::well_known::Rfc3339;
    let (a, b) = ((now - time::Duration::hours(1)).format(fmt).unwrap(), now.format(fmt).unwrap());
    let url =
        srv.url(&format!("/{id}/content.ism/manifest(format=m3u8-aapl,startTime={a},endTime={b}).m3u8"));
    let (s, _, text) = get_text(&url).await;
    assert_eq!(s, 200, "{text}");
    assert!(text.contains("#EXT-X-ENDLIST"), "both times: VOD");
    let (s, v) = srv.get(&format!("/{id}/content.ism/availableMedia?precision=year")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["timeRanges"][0]["start"], now.year().to_string());
    // A locator's window limits what it shows: one from the year 2000 has nothing to play,
    // not even the chunks the other locator lists; one open-ended since then plays.
    let chunk = text.lines().find(|l| l.starts_with("timeline/chunks/")).unwrap().to_string();
    let (s, v) = srv
        .send(
            "POST",
            "/v1/locators",
            Some(serde_json::json!({"stream": SID, "start_time": "2000-01-01T00:00:00Z", "end_time": "2000-01-03T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let old = v["locator_id"].as_str().unwrap();
    let (s, v) = srv.get(&format!("/{old}/content.ism/manifest(format=m3u8-aapl).m3u8")).await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("ResourceNotFound.NoMediaInRange")), "{v}");
    let (s, _) = srv.get(&format!("/{old}/content.ism/{chunk}")).await;
    assert_eq!(s, 404, "chunks outside the window are not served");
    let (s, _) = srv.get(&format!("/{id}/content.ism/{chunk}")).await;
    assert!(s == 200 || s == 206, "inside it they are: {s}");
    let (_, v) = srv
        .send(
            "POST",
            "/v1/locators",
            Some(serde_json::json!({"stream": SID, "start_time": "2000-01-01T00:00:00Z"})),
        )
        .await;
    let since = v["locator_id"].as_str().unwrap();
    let (s, _, _) =
        get_text(&srv.url(&format!("/{since}/content.ism/manifest(format=mpd-time-cmaf).mpd"))).await;
    assert_eq!(s, 200, "an open-ended window plays the latest media");

    // Unknown or deleted locators: 404.
    let (s, _) =
        srv.get("/00000000-0000-4000-8000-000000000000/content.ism/manifest(format=m3u8-aapl).m3u8").await;
    assert_eq!(s, 404);
    let (s, _) = srv.send("DELETE", &format!("/v1/locators/{id}"), None).await;
    assert_eq!(s, 204);
    let (s, v) = srv.get(&hls.replace(&srv.url(""), "")).await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("ResourceNotFound.Locator")));
    // A bad body gets a clear 400.
    let (s, v) = srv.send("POST", "/v1/locators", Some(serde_json::json!({"stream": "nope"}))).await;
    assert_eq!(s, 400, "{v}");
}

/// A first run: no configuration at all records every push into the timeline, kept 7
/// days, with a space guard — and `rewind config` says so.
#[tokio::test]
async fn a_first_run_without_configuration_archives_every_push() {
    let srv = TestServer::start(FIRST_RUN);
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 4), &srv.push_url("live/first")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = available_now(&srv, "default/live/first").await;
        if s == 200 && v["timeRanges"].as_array().is_some_and(|r| r.len() == 1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no timeline: {s} {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rewind")).arg("config").output().unwrap();
    let defaults = String::from_utf8_lossy(&out.stdout);
    for line in
        ["record_all = true", "retention = 604800", "min_free_percent = 10.0", "min_free_bytes = 5368709120"]
    {
        assert!(defaults.contains(line), "{line} missing from `rewind config`:\n{defaults}");
    }
}
