//! Push authentication, the one-publisher rule, and dropping a publisher.

mod common;
use common::*;
use rewind::ingest::push_auth::tx_secret;
use rewind::push::client::Publisher;
use serde_json::json;
use std::time::Duration;

fn signed(base: &str, key: &str, stream: &str, expiry: i64) -> String {
    let t = format!("{expiry:x}");
    format!("{base}?txSecret={}&txTime={t}", tx_secret(key, stream, &t))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn push_auth_accepts_both_keys_and_refuses_missing_wrong_and_expired() {
    let srv = TestServer::start("");
    let (s, v) = srv
        .send(
            "PUT",
            "/v1/domains/default",
            Some(json!({"push_auth": {"primary_key": "prim", "backup_key": "back"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["source"], "api");
    let (_, v) = srv.get("/v1/domains/default").await;
    assert_eq!(v["push_auth"]["backup_key"], "back");

    let base = srv.push_url("live/cam");
    // Missing.
    let e = Publisher::connect(&base).await.err().unwrap().to_string();
    assert!(e.contains("txSecret and txTime are missing"), "{e}");
    // Wrong key.
    let e = Publisher::connect(&signed(&base, "nope", "cam", now() + 600)).await.err().unwrap().to_string();
    assert!(e.contains("does not match"), "{e}");
    // Signed for another stream.
    let e = Publisher::connect(&signed(&base, "prim", "other", now() + 600)).await.err().unwrap().to_string();
    assert!(e.contains("does not match"), "{e}");
    // Expired.
    let e = Publisher::connect(&signed(&base, "prim", "cam", now() - 5)).await.err().unwrap().to_string();
    assert!(e.contains("expired"), "{e}");
    assert_eq!(srv.metric("rewind_publish_refused_total{reason=\"auth_missing\"} ").await, 1);
    assert_eq!(srv.metric("rewind_publish_refused_total{reason=\"auth_invalid\"} ").await, 2);
    assert_eq!(srv.metric("rewind_publish_refused_total{reason=\"auth_expired\"} ").await, 1);
    // The server's log reaches the test through a pipe: wait for it rather than read it.
    let refused_expired =
        |l: &str| l.contains("publish refused") && l.contains("auth_expired") && l.contains("expired at");
    assert!(wait_for(Duration::from_secs(5), || srv.log().lines().any(refused_expired)), "{}", srv.log());
    assert_eq!(srv.metric("rewind_publishes_total ").await, 0);

    // Backup key with our client, primary key with real ffmpeg.
    let p = Publisher::connect(&signed(&base, "back", "cam", now() + 600)).await.unwrap();
    p.close().await.unwrap();
    srv.wait_stream("default/live/cam", Duration::from_secs(5), |s, v| s == 200 && v["live"] == false).await;
    let push = ffmpeg_push(&fixture("av", 2), &signed(&base, "prim", "cam", now() + 600));
    let (ok, err) = wait_child(push, Duration::from_secs(20));
    assert!(ok, "ffmpeg with a good secret: {err}");
    assert_eq!(srv.metric("rewind_publishes_total ").await, 2);

    // ffmpeg with a wrong secret fails and says why.
    let push = ffmpeg_push(&fixture("av", 2), &signed(&base, "wrong", "cam", now() + 600));
    let (ok, err) = wait_child(push, Duration::from_secs(20));
    assert!(!ok);
    assert!(err.contains("does not match"), "ffmpeg stderr: {err}");

    // Removing the domain's keys opens it again.
    let (s, _) = srv.send("DELETE", "/v1/domains/default", None).await;
    assert_eq!(s, 204);
    Publisher::connect(&base).await.unwrap().close().await.unwrap();
}

#[tokio::test]
async fn config_file_domains_and_vhost_on_loopback() {
    let srv =
        TestServer::start("[[domains]]\nname = \"cams.example\"\npush_auth = { primary_key = \"k1\" }\n");
    let base = srv.push_url("live/door");
    // An IP push host maps to the default domain, which has no keys.
    Publisher::connect(&base).await.unwrap().close().await.unwrap();
    // `vhost` picks the configured domain, whose key is required.
    let e = Publisher::connect(&format!("{base}?vhost=cams.example")).await.err().unwrap().to_string();
    assert!(e.contains("missing"), "{e}");
    let t = format!("{:x}", now() + 60);
    let url = format!("{base}?vhost=cams.example&txTime={t}&txSecret={}", tx_secret("k1", "door", &t));
    Publisher::connect(&url).await.unwrap().close().await.unwrap();
    let (_, v) = srv.get("/v1/domains").await;
    assert_eq!(v["domains"][0]["domain"], "cams.example");
    assert_eq!(v["domains"][0]["source"], "config");
    srv.wait_stream("cams.example/live/door", Duration::from_secs(5), |s, _| s == 200).await;
    // Bad domain bodies are 400s with our error shape.
    let (s, v) =
        srv.send("PUT", "/v1/domains/cams.example", Some(json!({"push_auth": {"primary_key": ""}}))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("InvalidParameter")));
    let (s, v) = srv.send("PUT", "/v1/domains/cams.example", Some(json!({"push_oath": {}}))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("InvalidParameter.Body")), "{v}");
    let (s, v) = srv.send("PUT", "/v1/domains/Not%20A%20Domain", Some(json!({}))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("InvalidParameter.DomainFormatError")));
}

#[tokio::test]
async fn second_publisher_is_refused_and_the_first_keeps_going() {
    let srv = TestServer::start("");
    let url = srv.push_url("live/one");
    let tags = flv_tags(&fixture("av", 2));
    let mut first = Publisher::connect(&url).await.unwrap();
    for t in &tags[..20] {
        first.queue(t.kind, t.timestamp_ms, &t.body);
    }
    first.flush().await.unwrap();
    let before = srv
        .wait_stream("default/live/one", Duration::from_secs(5), |s, v| {
            s == 200 && v["frames_in"].as_u64() > Some(10)
        })
        .await;

    let e = Publisher::connect(&url).await.err().unwrap().to_string();
    assert!(e.contains("NetStream.Publish.BadName") && e.contains("already being published"), "{e}");
    let live_session = before["session_id"].as_str().unwrap();
    assert!(!e.contains(live_session), "the refused peer is not told the live session: {e}");
    assert!(srv.wait_log(live_session, Duration::from_secs(5)), "the operator's log has it");
    assert_eq!(srv.metric("rewind_publish_refused_total{reason=\"duplicate\"} ").await, 1);

    for t in &tags[20..] {
        first.queue(t.kind, t.timestamp_ms, &t.body);
    }
    first.flush().await.unwrap();
    let after = srv
        .wait_stream("default/live/one", Duration::from_secs(5), |_, v| {
            v["frames_in"].as_u64() > before["frames_in"].as_u64()
        })
        .await;
    assert_eq!(after["session_id"], before["session_id"], "the first session still owns the stream");
    first.close().await.unwrap();
}

#[tokio::test]
async fn drop_disconnects_the_publisher() {
    let srv = TestServer::start("");
    let mut p = Publisher::connect(&srv.push_url("live/dropme")).await.unwrap();
    srv.wait_stream("default/live/dropme", Duration::from_secs(5), |s, v| s == 200 && v["live"] == true)
        .await;
    let (s, _) = srv.send("POST", "/v1/streams/default/live/dropme/drop", None).await;
    assert_eq!(s, 204);
    assert!(p.wait_closed(Duration::from_secs(5)).await, "server closed the connection");
    srv.wait_stream("default/live/dropme", Duration::from_secs(5), |_, v| v["live"] == false).await;
    // The stream can be published again at once.
    Publisher::connect(&srv.push_url("live/dropme")).await.unwrap().close().await.unwrap();
}

/// Past its first second a publisher is read on the shared clock tick, not as data
/// arrives: a publisher that goes silent must still be closed after the idle timeout,
/// with every frame it sent recorded.
#[tokio::test]
async fn a_silent_publisher_is_closed_after_the_idle_timeout_and_keeps_its_recording() {
    let srv = TestServer::start(
        "[rtmp]\nidle_timeout_secs = 2\n[[record_templates]]\ntemplate_id = 1\nname = \"flv\"\n\
         flv = { enable = true }\n[[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n",
    );
    let tags = flv_tags(&fixture("av", 3));
    let mut p = Publisher::connect(&srv.push_url("live/silent")).await.unwrap();
    // In real time, so the session learns the stream's rate and reads on ticks.
    let start = tokio::time::Instant::now();
    for t in &tags {
        tokio::time::sleep_until(start + Duration::from_millis(t.timestamp_ms as u64)).await;
        p.send(t.kind, t.timestamp_ms, &t.body).await.unwrap();
    }
    let silent_at = tokio::time::Instant::now();
    assert!(p.wait_closed(Duration::from_secs(6)).await, "the server closed the silent connection");
    let waited = silent_at.elapsed();
    assert!(waited >= Duration::from_millis(1500), "closed after {waited:?}, before the idle timeout");
    assert!(srv.wait_log("no data for 2 s", Duration::from_secs(2)), "{}", srv.log());

    let media = wait_media(&srv, "stream=silent", 1, Duration::from_secs(10)).await;
    let path = media_path(&srv, &media[0]);
    assert_eq!(decode_errors(&path), "");
    let last = tags.iter().filter(|t| t.kind == 9).map(|t| t.timestamp_ms).max().unwrap();
    let got = flv_tags(&path).iter().filter(|t| t.kind == 9).map(|t| t.timestamp_ms).max().unwrap();
    assert_eq!(got, last, "the last video frame sent is recorded");
}
