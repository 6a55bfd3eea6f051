//! Three nodes on one real PostgreSQL and one real S3 server (issue 17): configure on
//! any node, push to any node, play from any node, lose a node.

mod common;
use common::receiver::{Inbox, free_port, serve};
use common::*;
use rewind::push::client::Publisher;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SID: &str = "default/live/cam";

fn node_config(name: &str, callback_port: u16) -> String {
    format!(
        "[node]\nname = \"{name}\"\n\
         [timeline]\nrecord_all = true\ntest_segment_length_secs = 2\n\
         [callbacks]\nurl = \"http://127.0.0.1:{callback_port}/cb\"\nkey = \"k\"\n\
         first_retry_ms = 300\nmax_retry_ms = 600\n"
    )
}

fn rfc3339(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

/// How far the live manifest a node serves lags behind now, in seconds.
async fn live_lag(srv: &TestServer) -> f64 {
    let r = reqwest::get(srv.url(&format!("/v1/streams/{SID}/manifest.m3u8"))).await.unwrap();
    assert_eq!(r.status(), 200);
    let end = rfc3339(r.headers()["x-media-end"].to_str().unwrap());
    let text = r.text().await.unwrap();
    assert!(!text.contains("#EXT-X-ENDLIST"), "a live manifest: {text}");
    (time::OffsetDateTime::now_utc() - end).as_seconds_f64()
}

fn decode(url: &str) -> String {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", url, "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The runs of the last ten minutes.
async fn available(srv: &TestServer) -> Vec<(time::OffsetDateTime, time::OffsetDateTime)> {
    let now = time::OffsetDateTime::now_utc();
    let fmt = &time::format_description::well_known::Rfc3339;
    let (from, to) = ((now - time::Duration::minutes(10)).format(fmt).unwrap(), now.format(fmt).unwrap());
    let (s, v) = srv
        .get(&format!("/v1/streams/{SID}/availableMedia?precision=full&startTime={from}&endTime={to}"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["timeRanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (rfc3339(r["start"].as_str().unwrap()), rfc3339(r["end"].as_str().unwrap())))
        .collect()
}

#[tokio::test]
async fn three_nodes_share_configuration_streams_playback_and_a_lost_node() {
    let pg = Arc::new(postgres::Postgres::start());
    let s3 = Arc::new(s3::S3::start());
    let port = free_port();
    let inbox = Arc::new(Inbox::default());
    serve(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap(), inbox.clone());
    let mut a = TestServer::start_shared(&node_config("a", port), &pg, &s3);
    let b = TestServer::start_shared(&node_config("b", port), &pg, &s3);
    let c = TestServer::start_shared(&node_config("c", port), &pg, &s3);

    // A template and a rule made on C apply on A without a restart, within 2 s.
    let (s, t) = c
        .send(
            "POST",
            "/v1/record-templates",
            Some(json!({
                "name": "files",
                "flv": {"enable": 1},
                "hls": {"enable": 1},
                "hls_special": {"flow_continue_duration": 20}
            })),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let made = Instant::now();
    let id = t["template_id"].as_i64().unwrap();
    let (s, r) = c
        .send(
            "POST",
            "/v1/record-rules",
            Some(json!({"domain": "default", "app": "live", "stream": "cam", "template_id": id})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    loop {
        let (_, rules) = a.get("/v1/record-rules").await;
        if rules["rules"].as_array().is_some_and(|r| r.iter().any(|r| r["template_id"] == id)) {
            break;
        }
        assert!(made.elapsed() < Duration::from_secs(2), "A never saw C's rule: {rules}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen_after = made.elapsed();
    // Push keys set on C apply on A within 2 s; deleted on C, A takes unsigned pushes again.
    let (s, v) = c.send("PUT", "/v1/domains/default", Some(json!({"push_auth": {"primary_key": "k"}}))).await;
    assert_eq!(s, 200, "{v}");
    let set = Instant::now();
    loop {
        match Publisher::connect(&a.push_url("live/keyed")).await {
            Err(e) if e.to_string().contains("txSecret and txTime are missing") => break,
            Err(e) => panic!("{e}"),
            Ok(p) => p.close().await.unwrap(),
        }
        assert!(set.elapsed() < Duration::from_secs(2), "A still takes unsigned pushes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let keys_after = set.elapsed();
    let (s, v) = c.send("DELETE", "/v1/domains/default", None).await;
    assert_eq!(s, 204, "{v}");
    let deleted = Instant::now();
    while a.get("/v1/domains/default").await.0 != 404 {
        assert!(deleted.elapsed() < Duration::from_secs(2), "A still has the push key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A scheduled task made on B: it records wherever the stream is live in its window.
    let start = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = json!({"domain": "default", "app": "live", "stream": "cam", "start_time": start, "end_time": start + 600});
    let (s, task) = b.send("POST", "/v1/record-tasks", Some(body)).await;
    assert_eq!(s, 201, "{task}");
    let task_id = task["task_id"].as_str().unwrap().to_string();

    // Push to A; B and C list it on A, play it as live as A does, and refuse it.
    let pushed_at = time::OffsetDateTime::now_utc();
    let push = ffmpeg_push(&fixture("av", 40), &a.push_url("live/cam"));
    a.wait_stream(SID, Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, on_c) = c.get(&format!("/v1/streams/{SID}")).await;
    assert_eq!((&on_c["live"], &on_c["node"]), (&json!(true), &json!("a")), "{on_c}");
    let (lag_a, lag_b) = (live_lag(&a).await, live_lag(&b).await);
    assert!(lag_b < 3.0, "B's live manifest lags {lag_b} s (A's: {lag_a} s)");
    let (ok, _) =
        wait_child(ffmpeg_push(&fixture("av", 2), &b.push_url("live/cam")), Duration::from_secs(30));
    assert!(!ok, "B took a stream live on A");
    // An event asked of B is recorded by A, which has the stream.
    let (s, ev) = b
        .send(
            "POST",
            &format!("/v1/streams/{SID}/events"),
            Some(json!({"pre_roll": 2, "post_roll": 2, "max_duration": 30})),
        )
        .await;
    assert_eq!(s, 201, "{ev}");
    let event_task = ev["task_id"].as_str().unwrap().to_string();
    // C plays the range so far, the open chunk's parts coming from A.
    let now = time::OffsetDateTime::now_utc();
    let fmt = &time::format_description::well_known::Rfc3339;
    let range = format!(
        "startTime={}&endTime={}",
        (pushed_at - time::Duration::seconds(5)).format(fmt).unwrap(),
        now.format(fmt).unwrap()
    );
    let url = c.url(&format!("/v1/streams/{SID}/manifest.m3u8?{range}"));
    assert_eq!(decode(&url), "", "C plays A's stream");
    assert!(c.metric("rewind_forwarded_requests_total").await >= 1, "C asked A for the live tail");
    let media = wait_media(&a, &format!("task_id={event_task}"), 1, Duration::from_secs(20)).await;
    assert_eq!(media[0]["source"], "event", "{media:?}");

    // Lose A mid-push: the pusher, sent to B, is taken there once A's lease expires.
    a.kill_9();
    let killed = Instant::now();
    let _ = wait_child(push, Duration::from_secs(10));
    let mut retried = 0;
    // A running pusher is never killed here: B may already have accepted it, and a
    // kill would split the takeover into two sessions. Only a refused push is retried.
    // Taken means B logged the publish as started, which it does once it holds the
    // lease (its API shows the stream for a moment before a refusal too).
    let started_on_b =
        |log: &str| log.lines().filter(|l| l.contains("publish started") && l.contains(SID)).count();
    let started_before = started_on_b(&b.log());
    let push = 'takeover: loop {
        let mut p = ffmpeg_push(&fixture("av", 10), &b.push_url("live/cam"));
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(killed.elapsed() < Duration::from_secs(15), "B never took the stream over");
            if started_on_b(&b.log()) > started_before {
                break 'takeover p;
            }
            if p.try_wait().unwrap().is_some() {
                retried += 1;
                break;
            }
        }
    };
    let takeover = killed.elapsed();
    assert!(takeover < Duration::from_secs(12), "takeover took {takeover:?}");
    assert!(wait_child(push, Duration::from_secs(30)).0);
    b.wait_stream(SID, Duration::from_secs(10), |s, v| s == 200 && v["live"] == false).await;

    // A comes back: it neither takes the stream nor duplicates anything; what it had
    // not sealed or uploaded is repaired and uploaded.
    // (Its open chunk is repaired at start-up when the kill left one with fragments.)
    let a = a.restart(&node_config("a", port));
    // FLV: one from A (finished by A's recovery) and one from B; HLS: the event clip,
    // one file spliced across the takeover (finished on B 20 s after its push ended),
    // and the task's: one from each node.
    let recovered = wait_media(&a, "stream=cam", 6, Duration::from_secs(40)).await;
    wait_uploaded(&a).await;
    wait_uploaded(&b).await;
    let names: Vec<&str> = recovered.iter().map(|m| m["file_name"].as_str().unwrap()).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "one record per file: {names:?}");
    for m in &recovered {
        assert_eq!(decode_errors(&media_path(&c, m)), "", "{m}");
    }
    let count = |format: &str, source: &str| {
        recovered.iter().filter(|m| m["format"] == format && m["source"] == source).count()
    };
    assert_eq!(
        (count("flv", "rule"), count("hls", "rule"), count("hls", "event"), count("hls", "task")),
        (2, 1, 1, 2),
        "{recovered:#?}"
    );
    let tasked: Vec<&Value> = recovered.iter().filter(|m| m["source"] == "task").collect();
    assert!(tasked.iter().all(|m| m["task_id"] == task_id.as_str()), "{tasked:#?}");
    assert_ne!(tasked[0]["session_ids"], tasked[1]["session_ids"], "one file per node's push");
    let (_, t) = c.get(&format!("/v1/record-tasks/{task_id}")).await;
    assert!(t["state"] == "waiting" || t["state"] == "recording", "{t}");
    let spliced = recovered.iter().find(|m| m["format"] == "hls" && m["source"] == "rule").unwrap();
    assert_eq!(spliced["session_ids"].as_array().unwrap().len(), 2, "A's push and B's: {spliced}");
    assert!(b.log().contains("continuing an HLS recording another node was writing"), "{}", b.log());
    let span = media_span(&media_path(&c, spliced), "");
    assert!(span > 15.0, "the spliced file holds A's part and B's 10 s: {span} s");
    // The timeline: A's part, a gap about as long as the takeover, B's part.
    let runs = available(&c).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let gap = (runs[1].0 - runs[0].1).as_seconds_f64();
    assert!(gap > 0.0 && gap < takeover.as_secs_f64() + 3.0, "gap {gap} s, takeover {takeover:?}");
    assert_eq!(available(&a).await, runs, "every node answers the same");
    let url = b.url(&format!("/v1/streams/{SID}/manifest.m3u8"));
    assert_eq!(decode(&url), "", "the whole timeline plays through the gap");

    // Callbacks: each event reached the receiver once, sent by one node of three.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let raw = inbox.raw.lock().unwrap().clone();
    let ids: std::collections::BTreeSet<&str> = raw.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    assert!(raw.len() >= 4, "{raw:?}");
    assert_eq!(ids.len(), raw.len(), "no event twice: {raw:#?}");
    let kinds: Vec<Value> = raw.iter().map(|e| e["event_type"].clone()).collect();
    eprintln!(
        "figures: rule seen on A after {seen_after:?}, push keys after {keys_after:?}; live lag A {lag_a:.2} s, B {lag_b:.2} s; \
         takeover {takeover:?} ({retried} refused tries); gap {gap:.2} s; callbacks {kinds:?}"
    );
}

#[tokio::test]
async fn a_node_serves_what_only_another_node_has_while_the_bucket_is_down() {
    let pg = Arc::new(postgres::Postgres::start());
    let s3 = Arc::new(s3::S3::start());
    let cfg = |name: &str| {
        format!(
            "[node]\nname = \"{name}\"\n\
             [timeline]\nrecord_all = true\ntest_segment_length_secs = 2\n\
             [[record_templates]]\ntemplate_id = 1\nname = \"flv\"\nflv = {{ enable = true }}\n\
             [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n"
        )
    };
    let a = TestServer::start_shared(&cfg("a"), &pg, &s3);
    let b = TestServer::start_shared(&cfg("b"), &pg, &s3);
    s3.go_down();
    // A finishes a file it cannot upload: only A has its bytes, and B serves them.
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 4), &a.push_url("live/file")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let media = wait_media(&b, "stream=file", 1, Duration::from_secs(20)).await;
    let id = media[0]["file_id"].as_str().unwrap();
    let from_b = reqwest::get(b.url(&format!("/v1/media/{id}/content"))).await.unwrap();
    assert_eq!(from_b.status(), 200);
    let bytes = from_b.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, media[0]["file_size"].as_i64().unwrap());
    // A live stream's locator asked of B: the manifest and every chunk come from A.
    let push = ffmpeg_push(&fixture("av", 20), &a.push_url("live/loc"));
    a.wait_stream("default/live/loc", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (s, v) = b.send("POST", "/v1/locators", Some(json!({"stream": "default/live/loc"}))).await;
    assert_eq!(s, 201, "{v}");
    let loc = v["locator_id"].as_str().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let fmt = &time::format_description::well_known::Rfc3339;
    let (from, to) = ((now - time::Duration::minutes(1)).format(fmt).unwrap(), now.format(fmt).unwrap());
    let url =
        b.url(&format!("/{loc}/content.ism/manifest(format=m3u8-aapl,startTime={from},endTime={to}).m3u8"));
    assert_eq!(decode(&url), "", "B plays A's stream through a locator with the bucket down");
    assert!(b.metric("rewind_forwarded_requests_total").await >= 3);
    s3.come_back();
    assert!(wait_child(push, Duration::from_secs(30)).0);
}

#[tokio::test]
async fn a_node_paused_past_its_lease_stops_writing_the_stream_another_node_took() {
    let pg = Arc::new(postgres::Postgres::start());
    let s3 = Arc::new(s3::S3::start());
    let cfg = |name: &str| {
        format!("[node]\nname = \"{name}\"\n[timeline]\nrecord_all = true\ntest_segment_length_secs = 2\n")
    };
    let a = TestServer::start_shared(&cfg("a"), &pg, &s3);
    let b = TestServer::start_shared(&cfg("b"), &pg, &s3);
    let push_a = ffmpeg_push(&fixture("av", 40), &a.push_url("live/cam"));
    a.wait_stream(SID, Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // A stops (a frozen VM) past its lease; meanwhile the stream is pushed to B.
    let pid = a.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let stopped = Instant::now();
    let push_b = loop {
        let mut p = ffmpeg_push(&fixture("av", 12), &b.push_url("live/cam"));
        tokio::time::sleep(Duration::from_millis(400)).await;
        if p.try_wait().unwrap().is_none() && b.get(&format!("/v1/streams/{SID}")).await.1["node"] == "b" {
            break p;
        }
        let _ = p.kill();
        let _ = p.wait();
        assert!(stopped.elapsed() < Duration::from_secs(15), "B never took the stream");
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    // A wakes, finds the stream taken, and lets go of its push without writing more.
    assert!(a.wait_log("another node took this stream", Duration::from_secs(10)), "{}", a.log());
    let _ = wait_child(push_a, Duration::from_secs(30));
    assert!(wait_child(push_b, Duration::from_secs(30)).0);
    b.wait_stream(SID, Duration::from_secs(10), |s, v| s == 200 && v["live"] == false).await;
    // Nothing of A's lies inside B's run: A's part ends before B's begins.
    let runs = available(&b).await;
    assert!(runs.len() >= 2, "{runs:?}");
    for w in runs.windows(2) {
        assert!(w[0].1 <= w[1].0, "overlapping runs (A wrote after B took over): {runs:?}");
    }
    let url = b.url(&format!("/v1/streams/{SID}/manifest.m3u8"));
    assert_eq!(decode(&url), "", "the timeline plays");
}

/// A camera is pulled by exactly one node; when that node dies, another takes it.
#[tokio::test]
async fn a_source_is_pulled_by_one_node_and_taken_over_when_that_node_dies() {
    let pg = Arc::new(postgres::Postgres::start());
    let s3 = Arc::new(s3::S3::start());
    let cam = common::rtsp::RtspServer::start(&[]);
    let port = free_port();
    let mut nodes = vec![
        TestServer::start_shared(&node_config("a", port), &pg, &s3),
        TestServer::start_shared(&node_config("b", port), &pg, &s3),
    ];
    let (s, v) = nodes[1]
        .send(
            "POST",
            "/v1/sources",
            Some(json!({"url": cam.url("", "/h264"), "app": "cams", "stream": "hall"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // Both nodes show it live, pulled by the same node, and only that node dialled.
    let deadline = Instant::now() + Duration::from_secs(30);
    let holder = loop {
        let mut seen = Vec::new();
        for n in &nodes {
            let (_, v) = n.get("/v1/sources/cams.hall").await;
            seen.push((
                v["state"].as_str().unwrap_or("").to_string(),
                v["node"].as_str().unwrap_or("").to_string(),
            ));
        }
        if seen.iter().all(|(s, n)| s == "live" && *n == seen[0].1) {
            break seen[0].1.clone();
        }
        assert!(Instant::now() < deadline, "never one node pulling it: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (h, other) = if holder == "a" { (0, 1) } else { (1, 0) };
    assert!(!nodes[other].log().contains("pulling the camera"), "only the holder dials the camera");
    let (_, streams) = nodes[other].get("/v1/streams").await;
    let live: Vec<&Value> =
        streams["streams"].as_array().unwrap().iter().filter(|s| s["stream"] == "hall").collect();
    assert_eq!(live.len(), 1, "{streams}");
    assert_eq!(live[0]["node"], holder.as_str());

    // The holder dies: the other node takes the camera once its lease ran out.
    nodes[h].kill_9();
    let lost = Instant::now();
    let survivor = &nodes[other];
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, v) = survivor.get("/v1/sources/cams.hall").await;
        if v["state"] == "live" && v["node"] != holder.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "never taken over: {v}\n{}", survivor.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("source taken over {:.1} s after its node died", lost.elapsed().as_secs_f64());
    survivor
        .wait_stream("default/cams/hall", Duration::from_secs(5), |s, v| s == 200 && v["live"] == true)
        .await;
    nodes.clear();
}

/// The Tencent-action API on two nodes (issue 28): what node A's API makes, node B
/// uses; what node B has live, node A's API sees, forbids and drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_actions_on_one_node_apply_to_pushes_on_another() {
    use common::tencent::{self, Sdk};
    let pg = Arc::new(postgres::Postgres::start());
    let s3 = Arc::new(s3::S3::start());
    let cfg = |name: &str| format!("[node]\nname = \"{name}\"\n{}", tencent::config());
    let a = TestServer::start_shared(&cfg("a"), &pg, &s3);
    let b = TestServer::start_shared(&cfg("b"), &pg, &s3);
    let mut sdk_a = Sdk::new(&a.http);
    let id = sdk_a.live("CreateLiveRecordTemplate", json!({"TemplateName": "flv", "FlvParam": {"Enable": 1}}))
        ["TemplateId"]
        .as_i64()
        .unwrap();
    sdk_a.live("CreateLiveRecordRule", json!({"DomainName": "default", "AppName": "live", "TemplateId": id}));
    // B applies A's rule within a configuration poll.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let push = ffmpeg_push(&fixture("av", 20), &b.push_url("live/tc"));
    let cam = json!({"DomainName": "default", "AppName": "live", "StreamName": "tc"});
    let deadline = Instant::now() + Duration::from_secs(20);
    while sdk_a.live("DescribeLiveStreamState", cam.clone())["StreamState"] != "active" {
        assert!(Instant::now() < deadline, "A sees B's push as active\n{}", b.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let online = sdk_a.live("DescribeLiveStreamOnlineList", json!({}));
    assert_eq!(online["OnlineInfo"][0]["StreamName"], "tc", "A lists B's stream: {online}");
    // Forbidden through A: B drops its publisher and refuses the next push.
    sdk_a.live(
        "ForbidLiveStream",
        json!({"DomainName": "default", "AppName": "live", "StreamName": "tc", "Reason": "x"}),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.get("/v1/streams/default/live/tc").await.1["live"] == true {
        assert!(
            Instant::now() < deadline,
            "B drops the push A forbade
A:
{}
B:
{}",
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, _) = wait_child(push, Duration::from_secs(20));
    let (ok, _) = wait_child(ffmpeg_push(&fixture("av", 2), &b.push_url("live/tc")), Duration::from_secs(20));
    assert!(!ok, "B refuses a stream A forbade");
    assert!(b.log().contains("forbidden until"), "{}", b.log());
    // The file B recorded with A's template is found through A's vod API.
    let media = wait_media(&b, "stream=tc", 1, Duration::from_secs(20)).await;
    assert_eq!(media[0]["template_id"], id, "{media:?}");
    let found = sdk_a.vod("SearchMedia", json!({"StreamId": "tc"}));
    assert_eq!(found["TotalCount"], 1, "{found}");
    let history = sdk_a.live(
        "DescribeLiveStreamPublishedList",
        json!({"DomainName": "default", "StartTime": "2020-01-01T00:00:00Z", "EndTime": "2020-01-31T00:00:00Z"}),
    );
    assert_eq!(history["TotalNum"], 0, "{history}");
    let (_, v) = a.get("/v1/streams/default/live/tc/publishes").await;
    assert_eq!(v["publishes"][0]["node"], "b", "{v}");
    assert_eq!(v["publishes"][0]["live"], false, "{v}");
}
