//! End-to-end ingest: real ffmpeg pushes into a real server; the API shows what they carry.

mod common;
use common::*;
use std::time::Duration;

fn live(s: u16, v: &serde_json::Value) -> bool {
    s == 200 && v["live"] == true
}

#[tokio::test]
async fn h264_aac_push_is_listed_with_codecs_then_disappears() {
    let srv = TestServer::start("");
    let push = ffmpeg_push(&fixture("av", 5), &srv.push_url("live/cam1"));
    // Wait until the frame rate has been measured over some frames.
    let v = srv
        .wait_stream("default/live/cam1", Duration::from_secs(10), |s, v| {
            live(s, v) && v["frames_in"].as_u64() > Some(60) && v["bitrate_kbps"].as_u64() > Some(0)
        })
        .await;
    assert_eq!(v["id"], "default/live/cam1");
    assert_eq!(v["domain"], "default");
    assert!(v["video"]["codec"].as_str().unwrap().starts_with("avc1.64"), "{v}");
    assert_eq!(v["video"]["width"], 320);
    assert_eq!(v["video"]["height"], 240);
    let fps = v["video"]["fps"].as_f64().unwrap();
    assert!((24.0..26.0).contains(&fps), "fps {fps}");
    assert_eq!(v["audio"]["codec"], "mp4a.40.2");
    assert_eq!(v["audio"]["sample_rate"], 44100);
    assert_eq!(v["audio"]["channels"], 2);
    assert!(v["bytes_in"].as_u64().unwrap() > 0);
    assert!(v["bitrate_kbps"].as_u64().unwrap() > 0, "{v}");
    assert!(v["session_id"].as_str().unwrap().len() >= 16);
    assert!(v["publisher_addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    let (_, list) = srv.get("/v1/streams").await;
    assert_eq!(list["streams"].as_array().unwrap().len(), 1);

    let (ok, err) = wait_child(push, Duration::from_secs(20));
    assert!(ok, "ffmpeg failed: {err}");
    srv.wait_stream("default/live/cam1", Duration::from_secs(5), |s, v| s == 200 && v["live"] == false).await;
    let (_, list) = srv.get("/v1/streams").await;
    assert_eq!(list["streams"].as_array().unwrap().len(), 0, "{list}");
    let (_, all) = srv.get("/v1/streams?all=true").await;
    assert_eq!(all["streams"][0]["live"], false);
    assert_eq!(all["streams"][0]["video"]["width"], 320, "the last media description is kept");
    assert_eq!(srv.metric("rewind_publishes_total ").await, 1);
    assert!(srv.metric("rewind_ingest_frames_total{track=\"video\"} ").await >= 120);
}

#[tokio::test]
async fn audio_only_push() {
    let srv = TestServer::start("");
    let push = ffmpeg_push(&fixture("audio", 3), &srv.push_url("radio/ch1"));
    let v = srv
        .wait_stream("default/radio/ch1", Duration::from_secs(10), |s, v| live(s, v) && !v["audio"].is_null())
        .await;
    assert!(v["video"].is_null(), "{v}");
    assert_eq!(v["audio"]["codec"], "mp4a.40.2");
    assert_eq!(v["audio"]["sample_rate"], 48000);
    assert_eq!(v["audio"]["channels"], 1);
    let (ok, err) = wait_child(push, Duration::from_secs(20));
    assert!(ok, "{err}");
    srv.wait_stream("default/radio/ch1", Duration::from_secs(5), |_, v| v["live"] == false).await;
}

#[tokio::test]
async fn video_only_push() {
    let srv = TestServer::start("");
    let push = ffmpeg_push(&fixture("video", 3), &srv.push_url("live/novoice"));
    let v = srv
        .wait_stream("default/live/novoice", Duration::from_secs(10), |s, v| {
            live(s, v) && !v["video"].is_null()
        })
        .await;
    assert!(v["audio"].is_null(), "{v}");
    assert_eq!(v["video"]["width"], 320);
    let (ok, err) = wait_child(push, Duration::from_secs(20));
    assert!(ok, "{err}");
    srv.wait_stream("default/live/novoice", Duration::from_secs(5), |_, v| v["live"] == false).await;
}

#[tokio::test]
async fn stream_is_listed_within_a_second_of_publish() {
    let srv = TestServer::start("");
    let p = rewind::push::client::Publisher::connect(&srv.push_url("live/fast")).await.unwrap();
    let t0 = std::time::Instant::now();
    srv.wait_stream("default/live/fast", Duration::from_secs(1), live).await;
    assert!(t0.elapsed() < Duration::from_secs(1));
    drop(p);
    srv.wait_stream("default/live/fast", Duration::from_secs(5), |_, v| v["live"] == false).await;
}

#[tokio::test]
async fn unknown_stream_is_404_and_bad_ids_are_400() {
    let srv = TestServer::start("");
    let (s, v) = srv.get("/v1/streams/default/live/nobody").await;
    assert_eq!(s, 404);
    assert_eq!(v["error"]["code"], "ResourceNotFound.Stream");
    let (s, v) = srv.get("/v1/streams/default/live/bad%20name").await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "InvalidParameter.StreamFormatError");
    let (s, v) = srv.send("POST", "/v1/streams/default/live/nobody/drop", None).await;
    assert_eq!(s, 409);
    assert_eq!(v["error"]["code"], "ResourceUnavailable.StreamNotExist");
    let (s, v) = srv.get("/nope").await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("ResourceNotFound")));
    let (s, v) = srv.get("/healthz").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn sigterm_closes_publishers_and_exits_zero() {
    let mut srv = TestServer::start("");
    let push = ffmpeg_push(&fixture("av", 10), &srv.push_url("live/term"));
    srv.wait_stream("default/live/term", Duration::from_secs(10), live).await;
    assert_eq!(srv.terminate(), Some(0), "log:\n{}", srv.log());
    let (ok, _) = wait_child(push, Duration::from_secs(10));
    assert!(!ok, "the pusher sees its connection closed");
    assert!(srv.wait_log("publish ended", Duration::from_secs(5)), "{}", srv.log());
    assert!(srv.wait_log("rewind stopped", Duration::from_secs(5)), "{}", srv.log());
}
