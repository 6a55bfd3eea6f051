//! RTSP cameras that misbehave in ways a real server will not (issue 18), played by a
//! fault-injecting camera of our own (`common/fake_camera.rs`): timestamps jumping
//! either way, an SSRC change, packet loss, garbage between interleaved frames. Each
//! must leave the server up and every other stream — a push beside them — untouched.

mod common;
use common::fake_camera::FakeCamera;
use common::*;
use serde_json::json;
use std::time::Duration;

const FAULTS: [&str; 6] = ["none", "jump-ahead", "jump-back", "new-ssrc", "loss", "garbage"];

#[tokio::test]
async fn misbehaving_cameras_never_take_the_server_or_other_streams_down() {
    let cam = FakeCamera::start();
    let cfg = "[timeline]\nrecord_all = true\n\n\
        [[record_templates]]\ntemplate_id = 1\nname = \"flv\"\nflv = { enable = true }\n\n\
        [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n";
    let srv = TestServer::start(cfg);
    let push = ffmpeg_push(&fixture("av", 12), &srv.push_url("live/steady"));
    for f in FAULTS {
        let body = json!({"url": cam.url(f), "app": "fake", "stream": f, "rtp_timeout_secs": 3});
        let (s, v) = srv.send("POST", "/v1/sources", Some(body)).await;
        assert_eq!(s, 201, "{v}");
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (s, _) = srv.get("/healthz").await;
    assert_eq!(s, 200);
    let mut seen = Vec::new();
    for f in FAULTS {
        let (s, v) = srv.get(&format!("/v1/sources/fake.{f}")).await;
        assert_eq!(s, 200, "{v}");
        let state = v["state"].as_str().unwrap().to_string();
        // A camera the server gave up on is in its retry cycle: waiting, or connecting again.
        let retried = v["retries"].as_u64().is_some_and(|r| r > 0);
        assert!(state == "live" || state == "retrying" || (state == "connecting" && retried), "{f}: {v}");
        if state != "live" {
            assert!(v["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{f}: {v}");
        }
        seen.push(format!("{f}: {state} {}", v["last_error"]));
    }
    eprintln!("sources after 8 s: {seen:#?}");
    let (_, v) = srv.get("/v1/sources/fake.none").await;
    assert_eq!(v["state"], "live", "the camera without a fault: {v}");
    assert!(srv.metric("rewind_source_rtp_packets_lost_total{source_id=\"fake.loss\"}").await > 0);

    // The push beside them recorded whole.
    let (ok, err) = wait_child(push, Duration::from_secs(30));
    assert!(ok, "{err}");
    let files = wait_media(&srv, "stream=steady", 1, Duration::from_secs(10)).await;
    let path = media_path(&srv, &files[0]);
    assert_eq!(decode_errors(&path), "");
    let span = media_span(&path, "v");
    assert!((11.0..13.0).contains(&span), "the push is {span} s long");

    for f in FAULTS {
        let (s, _) = srv.send("DELETE", &format!("/v1/sources/fake.{f}"), None).await;
        assert_eq!(s, 204);
    }
    // What the faultless camera gave decodes clean.
    let files = wait_media(&srv, "stream=none", 1, Duration::from_secs(10)).await;
    assert_eq!(decode_errors(&media_path(&srv, &files[0])), "");
    assert!(!srv.log().contains("panicked"), "{}", srv.log());
    let (s, _) = srv.get("/healthz").await;
    assert_eq!(s, 200);
}

/// A camera whose settings change mid-stream (a new SPS: another picture size) is
/// recorded with them, without a reconnect.
#[tokio::test]
async fn a_camera_that_changes_its_picture_size_is_recorded_with_the_new_one() {
    let cam = FakeCamera::start();
    let cfg = "[[record_templates]]\ntemplate_id = 1\nname = \"all\"\n\
        flv = { enable = true }\nhls = { enable = true }\nmp4 = { enable = true }\n\n\
        [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n";
    let srv = TestServer::start(cfg);
    let body = json!({"url": cam.url("new-size"), "app": "fake", "stream": "resized"});
    assert_eq!(srv.send("POST", "/v1/sources", Some(body)).await.0, 201);
    let sid = "default/fake/resized";
    srv.wait_stream(sid, Duration::from_secs(10), |s, v| s == 200 && v["video"]["width"] == 320).await;
    srv.wait_stream(sid, Duration::from_secs(10), |_, v| {
        v["video"]["width"] == 160 && v["video"]["height"] == 120
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, v) = srv.get("/v1/sources/fake.resized").await;
    assert_eq!((v["state"].as_str(), v["retries"].as_u64()), (Some("live"), Some(0)), "no reconnect: {v}");
    assert_eq!(srv.send("DELETE", "/v1/sources/fake.resized", None).await.0, 204);
    let files = wait_media(&srv, "stream=resized", 3, Duration::from_secs(10)).await;
    for m in &files {
        let path = media_path(&srv, m);
        assert_eq!(decode_errors(&path), "", "{}", m["format"]);
        // The last picture decoded has the new size.
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-vf", "showinfo", "-f", "null", "-"])
            .args(["-loglevel", "info"])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        let last = log.lines().rev().find(|l| l.contains(" s:")).unwrap_or("");
        assert!(last.contains(" s:160x120"), "{}: {last}", m["format"]);
    }
}
