//! Timeline playback in the players viewers use: hls.js, dash.js and Shaka Player
//! (versions pinned in tests/browser/package.json) in Debian's Chromium, driven by
//! tests/browser/play.mjs, against manifests of real pushes: one push, two pushes with a
//! gap and a resolution change, a range that starts inside a fragment, a seek into the
//! second push, audio-only and video-only streams, and live while pushing until the
//! push ends.

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

const CONFIG: &str = "[timeline]\nrecord_all = true\ntest_segment_length_secs = 4\n";

/// The players and the manifests each plays.
const PLAYERS: [(&str, &str); 4] = [("hls", "m3u8"), ("dash", "mpd"), ("shaka", "mpd"), ("shaka", "m3u8")];

/// Runs tests/browser/play.mjs and returns its report.
fn play(srv: &TestServer, player: &str, path: &str, opts: Value) -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    let out = std::process::Command::new("node")
        .arg(format!("{dir}/play.mjs"))
        .args([player, &format!("http://{}", srv.http), path, &opts.to_string()])
        .output()
        .expect("node runs (the test command installs it with Chromium and the players)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|_| {
        panic!("{player} did not report: {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

/// The stream's runs as availableMedia lists them: (start, end) as RFC 3339 strings.
async fn runs(srv: &TestServer, sid: &str) -> Vec<(String, String)> {
    let (s, v) = available_now(srv, sid).await;
    assert_eq!(s, 200, "{v}");
    v["timeRanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["start"].as_str().unwrap().to_string(), r["end"].as_str().unwrap().to_string()))
        .collect()
}

fn secs_between(a: &str, b: &str) -> f64 {
    let p = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    (p(b) - p(a)).as_seconds_f64()
}

fn plus_secs(a: &str, secs: f64) -> String {
    let t = time::OffsetDateTime::parse(a, &time::format_description::well_known::Rfc3339).unwrap()
        + time::Duration::seconds_f64(secs);
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

fn manifest(sid: &str, ext: &str, from: &str, to: &str) -> String {
    format!("/v1/streams/{sid}/manifest.{ext}?startTime={from}&endTime={to}")
}

/// Asserts a VOD playback reached `ended` with no fatal error, having played `media`
/// seconds within one fragment (1 s GOPs here).
fn assert_played(r: &Value, media: f64, case: &str) {
    assert_eq!(r["ok"], true, "{case}: {r}");
    let played = r["played"].as_f64().unwrap();
    assert!((played - media).abs() <= 1.1, "{case}: played {played} s of {media} s: {r}");
}

/// Records two pushes with a gap: 6 s of H.264 320x240 + AAC, 3 s of nothing, then 6 s
/// at 160x120 (a new init segment, a new resolution).
async fn two_pushes(srv: &TestServer) -> Vec<(String, String)> {
    let push = ffmpeg_push(&fixture("av", 6), &srv.push_url("live/cam"));
    assert!(wait_child(push, Duration::from_secs(30)).0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let push = ffmpeg_push(&fixture("av160", 6), &srv.push_url("live/cam"));
    assert!(wait_child(push, Duration::from_secs(30)).0);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = runs(srv, "default/live/cam").await;
        if r.len() == 2 && secs_between(&r[1].0, &r[1].1) > 5.5 {
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "two runs expected: {r:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn vod_cases(player: &str, ext: &str) {
    let srv = TestServer::start(CONFIG);
    let r = two_pushes(&srv).await;
    let sid = "default/live/cam";
    let (first, second) = (secs_between(&r[0].0, &r[0].1), secs_between(&r[1].0, &r[1].1));
    let case = |c: &str| format!("{player} {ext}: {c}");

    let one = play(&srv, player, &manifest(sid, ext, &r[0].0, &r[0].1), serde_json::json!({}));
    assert_played(&one, first, &case("one push"));

    let both = play(&srv, player, &manifest(sid, ext, &r[0].0, &r[1].1), serde_json::json!({}));
    assert_played(&both, first + second, &case("two pushes with a gap"));

    // Starting 1.5 s into the first push and ending 1.5 s before the second one ends:
    // whole fragments, from the one holding the start to the one holding the end.
    let (mid, end) = (plus_secs(&r[0].0, 1.5), plus_secs(&r[1].1, -1.5));
    let inside = play(&srv, player, &manifest(sid, ext, &mid, &end), serde_json::json!({}));
    assert_eq!(inside["ok"], true, "{}: {inside}", case("range inside fragments"));
    let played = inside["played"].as_f64().unwrap();
    let want = first + second - 2.0;
    assert!(
        (played - want).abs() <= 1.1,
        "{}: played {played} of ~{want}: {inside}",
        case("range inside fragments")
    );

    // A seek into the second push (the gap is not in the presentation).
    let target = first + second / 2.0;
    let seek = play(&srv, player, &manifest(sid, ext, &r[0].0, &r[1].1), serde_json::json!({"seek": target}));
    assert_eq!(seek["ok"], true, "{}: {seek}", case("seek"));
    let landed = seek["seekedTo"].as_f64().unwrap();
    assert!((landed - target).abs() < 1.0, "{}: landed at {landed}: {seek}", case("seek"));
    if player == "hls" || ext == "m3u8" {
        // The wall-clock time of what is on screen comes with the playlist.
        let utc = seek["utc"].as_str().unwrap_or("");
        let off = secs_between(&r[1].1, utc).abs();
        assert!(off < 1.5, "{}: the player ended at {utc}, the push ended {}", case("utc"), r[1].1);
    }

    // The seed's locator form: the manifest of a locator's window, no API key.
    let (st, loc) = srv
        .send(
            "POST",
            "/v1/locators",
            Some(serde_json::json!({"stream": sid, "start_time": r[0].0, "end_time": r[1].1})),
        )
        .await;
    assert_eq!(st, 201, "{loc}");
    let key = if ext == "mpd" { "dash" } else { "hls" };
    let url = loc["urls"][key].as_str().unwrap().to_string();
    let by_locator = play(&srv, player, &url, serde_json::json!({}));
    assert_played(&by_locator, first + second, &case("locator"));

    // Audio-only and video-only streams.
    for (kind, name) in [("audio", "radio"), ("video", "mute")] {
        let push = ffmpeg_push(&fixture(kind, 5), &srv.push_url(&format!("live/{name}")));
        assert!(wait_child(push, Duration::from_secs(30)).0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sid = format!("default/live/{name}");
        let a = runs(&srv, &sid).await;
        let r = play(&srv, player, &manifest(&sid, ext, &a[0].0, &a[0].1), serde_json::json!({}));
        assert_played(&r, secs_between(&a[0].0, &a[0].1), &case(&format!("{kind} only")));
    }
}

/// Live: the manifest without times while a push runs plays near the live edge, and
/// when the push ends the player reaches the end.
async fn live_case(player: &str, ext: &str) {
    let srv = TestServer::start(CONFIG);
    let push = ffmpeg_push(&fixture("av", 20), &srv.push_url("live/now"));
    srv.wait_stream("default/live/now", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let path = format!("/v1/streams/default/live/now/manifest.{ext}");
    let live = play(&srv, player, &path, serde_json::json!({"live": 6}));
    assert_eq!(live["ok"], true, "{player} {ext} live: {live}");
    let lag = live["utcLag"].as_f64().unwrap_or(f64::NAN);
    assert!(lag > 0.0 && lag < 8.0, "{player} {ext}: {lag} s behind real time: {live}");
    let until_end =
        play(&srv, player, &path, serde_json::json!({"live": 1, "untilEnded": true, "timeout": 45}));
    let problems: String = srv
        .log()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        until_end["ended"], true,
        "{player} {ext}: the push ended, the player did not: {until_end}\nserver warnings:\n{problems}"
    );
    assert!(wait_child(push, Duration::from_secs(30)).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_js_plays_every_case() {
    vod_cases(PLAYERS[0].0, PLAYERS[0].1).await;
    live_case(PLAYERS[0].0, PLAYERS[0].1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_js_plays_every_case() {
    vod_cases(PLAYERS[1].0, PLAYERS[1].1).await;
    live_case(PLAYERS[1].0, PLAYERS[1].1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shaka_plays_every_case_in_dash() {
    vod_cases(PLAYERS[2].0, PLAYERS[2].1).await;
    live_case(PLAYERS[2].0, PLAYERS[2].1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shaka_plays_every_case_in_hls() {
    vod_cases(PLAYERS[3].0, PLAYERS[3].1).await;
    live_case(PLAYERS[3].0, PLAYERS[3].1).await;
}
