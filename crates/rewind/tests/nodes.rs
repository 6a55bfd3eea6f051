//! Nodes (issue 17, first part): every server on a database is listed with its
//! heartbeat and its streams, one that stops beating is shown as down, and a stream
//! is published on one node at a time (its lease), taken over when its node dies.

mod common;
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

fn node<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name}: {v}"))
}

#[tokio::test]
async fn a_server_lists_itself_with_its_streams() {
    let srv = TestServer::start("[node]\nname = \"solo\"\n");
    let push = ffmpeg_push(&fixture("av", 6), &srv.push_url("live/n"));
    srv.wait_stream("default/live/n", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    let (s, v) = srv.get("/v1/nodes").await;
    assert_eq!(s, 200, "{v}");
    let me = node(&v, "solo");
    assert_eq!(me["up"], true);
    assert_eq!(me["streams"], serde_json::json!(["default/live/n"]));
    assert_eq!(me["advertise_url"], format!("http://{}", srv.http));
    let (_, st) = srv.get("/v1/streams/default/live/n").await;
    assert_eq!(st["node"], "solo");
    assert!(wait_child(push, Duration::from_secs(30)).0);
    // A bad name is refused at start, saying which key.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rewind"))
        .args(["serve", "--data-dir"])
        .arg(srv.dir.path().join("other"))
        .env("REWIND_NODE__NAME", "no spaces")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("node.name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn nodes_on_one_database_see_each_other_and_a_dead_one_goes_down() {
    let pg = postgres::Postgres::start();
    let cfg = |name: &str| format!("database_url = \"{}\"\n[node]\nname = \"{name}\"\n", pg.url);
    let mut a = TestServer::start(&cfg("a"));
    let b = TestServer::start(&cfg("b"));
    let push = ffmpeg_push(&fixture("av", 20), &a.push_url("live/on-a"));
    a.wait_stream("default/live/on-a", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    // B learns A's streams from A's next heartbeat (every 5 s).
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let (_, v) = b.get("/v1/nodes").await;
        if node(&v, "a")["streams"] == serde_json::json!(["default/live/on-a"]) {
            assert_eq!(node(&v, "a")["up"], true);
            assert_eq!(node(&v, "b")["up"], true);
            assert_eq!(node(&v, "a")["advertise_url"], format!("http://{}", a.http));
            break;
        }
        assert!(Instant::now() < deadline, "B never saw A's stream: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // B lists the stream, on A, with what the database knows of it.
    let (_, v) = b.get("/v1/streams").await;
    let on_b: Vec<&Value> =
        v["streams"].as_array().unwrap().iter().filter(|s| s["id"] == "default/live/on-a").collect();
    assert_eq!(on_b.len(), 1, "{v}");
    assert_eq!((&on_b[0]["live"], &on_b[0]["node"]), (&serde_json::json!(true), &serde_json::json!("a")));
    assert_eq!(on_b[0]["video"]["width"], 320, "{v}");
    let (_, one) = b.get("/v1/streams/default/live/on-a").await;
    assert_eq!((&one["live"], &one["node"]), (&serde_json::json!(true), &serde_json::json!("a")), "{one}");
    // The same stream pushed to B while A has it: refused as on one node.
    let (ok, _) =
        wait_child(ffmpeg_push(&fixture("av", 2), &b.push_url("live/on-a")), Duration::from_secs(30));
    assert!(!ok, "B took a stream live on A");
    assert!(b.wait_log("publisher of a stream live on another node", Duration::from_secs(5)), "{}", b.log());
    assert_eq!(b.metric("rewind_publish_refused_total{reason=\"duplicate\"} ").await, 1);
    assert_eq!(b.get("/v1/streams/default/live/on-a").await.1["node"], "a", "still A's");
    a.kill_9();
    let killed = Instant::now();
    loop {
        let (_, v) = b.get("/v1/nodes").await;
        if node(&v, "a")["up"] == false {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(16), "A still shown up: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = wait_child(push, Duration::from_secs(30));
    // A's lease has expired (it stopped renewing): the pusher, sent to B, is taken there.
    let push = ffmpeg_push(&fixture("av", 4), &b.push_url("live/on-a"));
    let v = b
        .wait_stream("default/live/on-a", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true)
        .await;
    assert_eq!(v["node"], "b");
    assert!(wait_child(push, Duration::from_secs(30)).0);
}
