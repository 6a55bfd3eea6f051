//! Auto-splice end to end (R-S1, B-S3, B-S4): real pushes dropped and re-pushed, the
//! spliced playlist decoded by ffmpeg and played by hls.js in Chromium, restarts inside
//! the window, and what the callbacks outbox says (one record event per spliced file).

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

/// HLS with auto-splice for every stream; callbacks queue (nothing listens) so the
/// test can read exactly which events a recording produced.
fn config(flow_secs: u32) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!(
        "[callbacks]\nurl = \"http://127.0.0.1:{port}/never\"\nmax_attempts = 1000\nfirst_retry_ms = 60000\n\n\
         [[record_templates]]\ntemplate_id = 1\nname = \"hls-splice\"\nhls = {{ enable = true }}\n\
         hls_special = {{ flow_continue_duration = {flow_secs} }}\n\n\
         [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n"
    )
}

fn push(srv: &TestServer, kind: &str, secs: u32, stream: &str) {
    let (ok, err) = wait_child(
        ffmpeg_push(&fixture(kind, secs), &srv.push_url(&format!("live/{stream}"))),
        Duration::from_secs(30),
    );
    assert!(ok, "{err}");
}

async fn media_of(srv: &TestServer, stream: &str) -> Vec<Value> {
    let (s, v) = srv.get(&format!("/v1/media?stream={stream}")).await;
    assert_eq!(s, 200, "{v}");
    v["media"].as_array().unwrap().clone()
}

/// Events waiting in the outbox for `stream`: (event_type, record_event).
async fn events_of(srv: &TestServer, stream: &str) -> Vec<(i64, String)> {
    let (s, v) = srv.get("/v1/callbacks?page_size=1000").await;
    assert_eq!(s, 200, "{v}");
    v["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["event"])
        .filter(|e| e["stream_id"] == stream)
        .map(|e| (e["event_type"].as_i64().unwrap(), e["record_event"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// Plays a recording's playlist with hls.js in headless Chromium (tests/browser/play.mjs;
/// the test command installs both) and returns what the player reported.
fn play_in_browser(srv: &TestServer, m: &Value) -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    let out = std::process::Command::new("node")
        .arg(format!("{dir}/play.mjs"))
        .arg("hls")
        .arg(format!("http://{}", srv.http))
        .arg(format!("/v1/media/{}/content", m["file_id"].as_str().unwrap()))
        .output()
        .expect("node runs (the test command installs it with Chromium and hls.js)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|_| {
        panic!("the browser player did not report: {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

fn playlist_text(srv: &TestServer, m: &Value) -> String {
    std::fs::read_to_string(media_path(srv, m)).unwrap()
}

/// Checks one finished spliced file: `pushes` sessions, a discontinuity before each
/// later push, a clean decode of the whole playlist, and `secs` of media.
fn check_spliced(srv: &TestServer, m: &Value, pushes: usize, secs: f64) {
    assert_eq!(m["format"], "hls");
    assert_eq!(m["session_ids"].as_array().unwrap().len(), pushes, "{m}\n{}", srv.log());
    let text = playlist_text(srv, m);
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), pushes - 1, "{text}");
    assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME").count(), pushes, "{text}");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    assert_eq!(decode_errors(&media_path(srv, m)), "", "{text}");
    let d = m["duration"].as_f64().unwrap();
    assert!((d - secs).abs() <= 1.2, "media duration {d} s, pushed {secs} s: {m}");
    let (start, end) = (m["start_time"].as_str().unwrap(), m["end_time"].as_str().unwrap());
    assert!(end > start);
}

#[tokio::test]
async fn a_re_push_within_the_window_continues_the_same_playlist() {
    // 6 s: between the second and third pushes the test reads the playlist and lists the
    // bucket; a loaded two-core machine must not let the window close meanwhile.
    let srv = TestServer::start(&config(6));
    push(&srv, "av", 3, "sp");
    assert!(srv.wait_log("HLS recording parked", Duration::from_secs(10)), "{}", srv.log());
    assert!(media_of(&srv, "sp").await.is_empty(), "a parked recording is not finished yet");
    // The second push changes the tracks (video only), the third the resolution too: a
    // discontinuity allows both.
    push(&srv, "video", 3, "sp");
    // Parked again: the working folder's EVENT playlist lists both pushes (ffmpeg
    // would wait on it as a live playlist; the finished one is decoded below).
    let dir = srv.dir.path().join("data/media/default/live/sp");
    let mut event = None;
    let found = wait_for(Duration::from_secs(3), || {
        event = std::fs::read_dir(&dir).into_iter().flatten().flatten().find_map(|e| {
            let p = e.path().join("index.m3u8");
            std::fs::read_to_string(&p).ok().filter(|t| t.matches("#EXTINF:").count() == 2).map(|t| (p, t))
        });
        event.is_some()
    });
    assert!(found, "a parked recording's EVENT playlist lists both pushes; log:\n{}", srv.log());
    let (path, text) = event.unwrap();
    assert_eq!(text.matches("#EXTM3U").count(), 1, "{text}");
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
    let listed: Vec<&str> = text.lines().filter(|l| l.ends_with(".ts")).collect();
    assert_eq!(listed, ["000001.ts", "000002.ts"], "{text}");
    // Each listed segment is in the working folder or, with a bucket, shipped there
    // (so that another node could continue the recording).
    // A segment leaves the folder only after its upload finished, so the bucket is
    // listed after the folder is looked at (the other order races with an upload).
    let folder = path.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
    let not_here: Vec<&str> = listed.iter().copied().filter(|s| !path.with_file_name(s).is_file()).collect();
    let shipped = srv.s3.as_ref().map(|s3| s3.keys()).unwrap_or_default();
    assert!(
        not_here.iter().all(|s| shipped.contains(&format!("media/default/live/sp/{folder}/{s}"))),
        "{text}\nnot in the folder: {not_here:?}\nin the bucket: {shipped:?}"
    );
    push(&srv, "video160", 2, "sp?third=1");
    let media = wait_media(&srv, "stream=sp", 1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(media_of(&srv, "sp").await.len(), 1);
    check_spliced(&srv, &media[0], 3, 8.0);
    assert_eq!(media[0]["stream_param"], "third=1", "the latest push's query");
    assert_eq!(media[0]["video"]["width"], 160, "the latest push's tracks: {}", media[0]);
    // A browser player (hls.js in Chromium) plays it through to the end.
    let played = play_in_browser(&srv, &media[0]);
    assert_eq!(played["ok"], true, "{played}");
    let (t, d) = (played["currentTime"].as_f64().unwrap(), media[0]["duration"].as_f64().unwrap());
    assert!((t - d).abs() <= 1.0, "played {t} s of {d} s: {played}");
    let mut ev = events_of(&srv, "sp").await;
    ev.sort();
    let record = ev.iter().filter(|e| e.0 == 100).count();
    assert_eq!(record, 1, "one record callback for one spliced file: {ev:?}");
    let statuses: Vec<&str> = ev.iter().filter(|e| e.0 == 332).map(|e| e.1.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "record_ended",
            "record_paused",
            "record_paused",
            "record_paused",
            "record_resumed",
            "record_resumed",
            "record_start_succeeded"
        ],
        "{ev:?}"
    );
}

#[tokio::test]
async fn a_re_push_after_the_window_starts_a_new_file() {
    let srv = TestServer::start(&config(1));
    push(&srv, "av", 2, "late");
    let first = wait_media(&srv, "stream=late", 1, Duration::from_secs(10)).await;
    push(&srv, "av", 2, "late");
    let both = wait_media(&srv, "stream=late", 2, Duration::from_secs(10)).await;
    for m in &both {
        check_spliced(&srv, m, 1, 2.0);
    }
    assert!(both.iter().any(|m| m["file_id"] == first[0]["file_id"]));
    // Deleting an HLS file removes its playlist and its segment folder.
    let playlist = media_path(&srv, &both[0]);
    let folder = playlist.with_extension("");
    assert!(folder.is_dir(), "{}", folder.display());
    let (s, _) =
        srv.send("DELETE", &format!("/v1/media/{}", both[0]["file_id"].as_str().unwrap()), None).await;
    assert_eq!(s, 204);
    assert!(!is_stored(&srv, &both[0]).await, "bytes left behind: {}", folder.display());
    assert_eq!(media_of(&srv, "late").await.len(), 1);
}

#[tokio::test]
async fn video_only_and_audio_only_pushes_splice() {
    let srv = TestServer::start(&config(4));
    push(&srv, "video", 2, "vo");
    push(&srv, "video", 2, "vo");
    push(&srv, "audio", 2, "ao");
    push(&srv, "audio", 2, "ao");
    let vo = wait_media(&srv, "stream=vo", 1, Duration::from_secs(15)).await;
    let ao = wait_media(&srv, "stream=ao", 1, Duration::from_secs(15)).await;
    check_spliced(&srv, &vo[0], 2, 4.0);
    check_spliced(&srv, &ao[0], 2, 4.0);
    assert!(vo[0]["audio"].is_null() && ao[0]["video"].is_null(), "{vo:?} {ao:?}");
}

#[tokio::test]
async fn restarts_inside_the_window_keep_the_splice() {
    let cfg = config(8);
    let mut srv = TestServer::start(&cfg);
    // 1: a push ends; the recording parks; the server is killed while it is parked.
    push(&srv, "av", 3, "rs");
    assert!(srv.wait_log("HLS recording parked", Duration::from_secs(10)), "{}", srv.log());
    srv.kill_9();
    let mut srv = srv.restart(&cfg);
    assert!(srv.log().contains("waits for a re-push again"), "{}", srv.log());
    // 2: a re-push resumes it; the server is killed mid-push (that ends the push too).
    let p = ffmpeg_push(&fixture("av", 10), &srv.push_url("live/rs"));
    assert!(srv.wait_log("HLS recording resumed", Duration::from_secs(10)), "{}", srv.log());
    tokio::time::sleep(Duration::from_secs(3)).await;
    srv.kill_9();
    let _ = wait_child(p, Duration::from_secs(10));
    let srv = srv.restart(&cfg);
    assert!(srv.log().contains("waits for a re-push again"), "{}", srv.log());
    // 3: a third push continues the same file; then the window passes.
    push(&srv, "av", 2, "rs");
    let media = wait_media(&srv, "stream=rs", 1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(media_of(&srv, "rs").await.len(), 1, "one file across two crashes");
    // ~3 + ~3 (up to a second lost at the kill) + 2 seconds.
    let m = &media[0];
    assert_eq!(m["session_ids"].as_array().unwrap().len(), 3, "{m}");
    let d = m["duration"].as_f64().unwrap();
    assert!((6.0..=9.0).contains(&d), "{m}");
    let text = playlist_text(&srv, m);
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 2, "{text}");
    assert_eq!(decode_errors(&media_path(&srv, m)), "", "{text}");
}
