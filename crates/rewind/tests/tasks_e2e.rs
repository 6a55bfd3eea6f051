//! Record tasks end to end: scheduled windows, highlights, stop, delete, limits,
//! overlap with a rule, and a restart inside a window — with real pushes and real files.

mod common;
use common::*;
use serde_json::json;
use std::time::Duration;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn task_body(stream: &str, start: Option<i64>, end: i64) -> serde_json::Value {
    let mut b = json!({"domain": "default", "app": "live", "stream": stream, "end_time": end});
    if let Some(s) = start {
        b["start_time"] = json!(s);
    }
    b
}

async fn wait_state(srv: &TestServer, id: &str, state: &str, timeout: Duration) -> serde_json::Value {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let (s, v) = srv.get(&format!("/v1/record-tasks/{id}")).await;
        assert_eq!(s, 200, "{v}\n{}", srv.log());
        if v["state"] == state {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "task {id} never became {state}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_scheduled_window_records_only_inside_it_and_each_push_in_it() {
    let srv = TestServer::start("");
    let t0 = now();
    let (s, task) = srv.send("POST", "/v1/record-tasks", Some(task_body("win", Some(t0 + 3), t0 + 12))).await;
    assert_eq!(s, 201, "{task}");
    assert_eq!(task["state"], "scheduled");
    let id = task["task_id"].as_str().unwrap().to_string();
    // One push across the window's start, a drop, and a second push inside it.
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 6), &srv.push_url("live/win?k=v")), Duration::from_secs(30));
    assert!(ok, "{err}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 2), &srv.push_url("live/win")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let media = wait_media(&srv, &format!("task_id={id}"), 2, Duration::from_secs(20)).await;
    for m in &media {
        assert_eq!(m["source"], "task");
        assert_eq!(m["format"], "hls", "template 0: HLS");
        assert!(m["stream_param"].is_null(), "task recordings carry no push query: {m}");
        assert_eq!(decode_errors(&media_path(&srv, m)), "");
    }
    let first = media.iter().map(|m| m["duration"].as_f64().unwrap()).fold(f64::MAX, f64::min);
    let second = media.iter().map(|m| m["duration"].as_f64().unwrap()).fold(0.0, f64::max);
    assert!(first < 5.0, "the first push is recorded from the window's start only (~3 s of 6): {media:?}");
    assert!(second > 1.0, "{media:?}");
    let v = wait_state(&srv, &id, "finished", Duration::from_secs(15)).await;
    assert!(v["stopped_at"].is_null());
    // Only the task recorded: there is no rule.
    let (_, all) = srv.get("/v1/media?stream=win").await;
    assert_eq!(all["total"], 2);
}

#[tokio::test]
async fn no_push_no_file_and_the_task_expires() {
    let srv = TestServer::start("");
    let t0 = now();
    let (s, task) = srv.send("POST", "/v1/record-tasks", Some(task_body("idle", Some(t0), t0 + 2))).await;
    assert_eq!(s, 201, "{task}");
    wait_state(&srv, task["task_id"].as_str().unwrap(), "expired", Duration::from_secs(10)).await;
    let (_, v) = srv.get("/v1/media?stream=idle").await;
    assert_eq!(v["total"], 0);
}

#[tokio::test]
async fn a_highlight_needs_a_live_stream_and_stop_finishes_it_at_once() {
    let srv = TestServer::start("");
    let (s, v) = srv.send("POST", "/v1/record-tasks", Some(task_body("hl", None, now() + 60))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("ResourceUnavailable.StreamNotExist")), "{v}");
    let pusher = ffmpeg_push(&fixture("av", 12), &srv.push_url("live/hl"));
    srv.wait_stream("default/live/hl", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s, task) = srv.send("POST", "/v1/record-tasks", Some(task_body("hl", None, now() + 60))).await;
    assert_eq!(s, 201, "{task}");
    let id = task["task_id"].as_str().unwrap().to_string();
    wait_state(&srv, &id, "recording", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (s, v) = srv.send("POST", &format!("/v1/record-tasks/{id}/stop"), None).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("stopped")), "{v}");
    assert!(v["stopped_at"].as_i64().is_some());
    // Finished and in the library when stop returns.
    let (_, media) = srv.get(&format!("/v1/media?task_id={id}")).await;
    assert_eq!(media["total"], 1, "{media}");
    let m = &media["media"][0];
    let d = m["duration"].as_f64().unwrap();
    assert!(d >= 2.5, "from the GOP held at creation, not only from the next key frame: {d}");
    assert_eq!(decode_errors(&media_path(&srv, m)), "");
    // Stopped never restarts, even while the push goes on; deleting it (as on the
    // cloud, a started task may be deleted) keeps its file.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(srv.get(&format!("/v1/record-tasks/{id}")).await.1["state"], "stopped");
    let (s, v) = srv.send("DELETE", &format!("/v1/record-tasks/{id}"), None).await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(srv.get(&format!("/v1/record-tasks/{id}")).await.0, 404);
    let _ = wait_child(pusher, Duration::from_secs(30));
    let (_, media) = srv.get(&format!("/v1/media?task_id={id}")).await;
    assert_eq!(media["total"], 1, "no second file after the stop, and the first kept");
}

#[tokio::test]
async fn validation_delete_limits_and_listing() {
    let srv = TestServer::start("");
    let t0 = now();
    for (body, what) in [
        (task_body("v", Some(t0 + 10), t0 - 1), "end in the past"),
        (task_body("v", Some(t0 + 10), t0 + 5), "end before start"),
        (task_body("v", Some(t0 + 100), t0 + 100 + 86_401), "over 24 h"),
        (task_body("v", Some(t0 + 6 * 86_400 + 80_000), t0 + 7 * 86_400 + 10), "7 days ahead"),
        (
            json!({"domain": "default", "app": "live", "stream": "bad/name", "end_time": t0 + 10}),
            "a bad stream name",
        ),
    ] {
        let (s, v) = srv.send("POST", "/v1/record-tasks", Some(body)).await;
        assert_eq!(s, 400, "{what}: {v}");
        assert!(v["error"]["code"].as_str().unwrap().starts_with("InvalidParameter"), "{what}: {v}");
    }
    // Three overlapping tasks on one stream at most.
    let mut ids = Vec::new();
    for i in 0..3 {
        let (s, v) =
            srv.send("POST", "/v1/record-tasks", Some(task_body("v", Some(t0 + 3600 + i), t0 + 7200))).await;
        assert_eq!(s, 201, "{v}");
        ids.push(v["task_id"].as_str().unwrap().to_string());
    }
    let (s, v) = srv.send("POST", "/v1/record-tasks", Some(task_body("v", Some(t0 + 5000), t0 + 6000))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("LimitExceeded.MaximumRunningTask")), "{v}");
    let (s, _) = srv.send("POST", "/v1/record-tasks", Some(task_body("v", Some(t0 + 8000), t0 + 9000))).await;
    assert_eq!(s, 201, "a window that overlaps none is fine");
    // Listing by stream, paged.
    let (s, page) = srv.get("/v1/record-tasks?domain=default&app=live&stream=v&page_size=2").await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2);
    let token = page["next_page_token"].as_str().unwrap();
    let (_, page2) = srv.get(&format!("/v1/record-tasks?stream=v&page_size=2&page_token={token}")).await;
    assert_eq!(page2["tasks"].as_array().unwrap().len(), 2);
    assert!(page2["next_page_token"].is_null());
    let (_, window) =
        srv.get(&format!("/v1/record-tasks?stream=v&start_time={}&end_time={}", t0 + 7500, t0 + 8500)).await;
    assert_eq!(window["tasks"].as_array().unwrap().len(), 1, "window filter: {window}");
    let (s, v) = srv.get("/v1/record-tasks?page_size=many").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("InvalidParameter")),
        "a bad query in our error shape: {v}"
    );
    // Delete one that has not started.
    let (s, _) = srv.send("DELETE", &format!("/v1/record-tasks/{}", ids[0]), None).await;
    assert_eq!(s, 204);
    let (s, v) = srv.get(&format!("/v1/record-tasks/{}", ids[0])).await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("ResourceNotFound.TaskId")));
}

const FLV_RULE: &str = r#"
[[record_templates]]
template_id = 1
name = "flv"
flv = { enable = true }

[[record_rules]]
domain = "*"
template_id = 1
"#;

#[tokio::test]
async fn a_task_overlaps_a_rule_and_survives_a_restart() {
    let mut srv = TestServer::start(FLV_RULE);
    let t0 = now();
    let (s, task) = srv.send("POST", "/v1/record-tasks", Some(task_body("both", Some(t0), t0 + 120))).await;
    assert_eq!(s, 201, "{task}");
    let id = task["task_id"].as_str().unwrap().to_string();
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 3), &srv.push_url("live/both?x=1")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let media = wait_media(&srv, "stream=both", 2, Duration::from_secs(20)).await;
    let rule = media.iter().find(|m| m["source"] == "rule").expect("the rule's FLV");
    let tasked = media.iter().find(|m| m["source"] == "task").expect("the task's HLS");
    assert_eq!(rule["stream_param"], "x=1");
    assert_eq!(tasked["task_id"], id.as_str());
    wait_state(&srv, &id, "waiting", Duration::from_secs(5)).await;
    // Restart inside the window: the task resumes on the next push.
    assert_eq!(srv.terminate(), Some(0));
    let srv = srv.restart(FLV_RULE);
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 3), &srv.push_url("live/both")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let media = wait_media(&srv, &format!("task_id={id}"), 2, Duration::from_secs(20)).await;
    assert_eq!(media.len(), 2, "one file per push in the window, across the restart");
}

#[tokio::test]
async fn an_event_clip_starts_pre_roll_before_the_event_and_a_second_event_extends_it() {
    let srv = TestServer::start("[hub]\npre_roll_secs = 10\n");
    let (s, v) = srv
        .send(
            "POST",
            "/v1/streams/default/live/ev/events",
            Some(json!({"pre_roll": 5, "post_roll": 2, "max_duration": 30})),
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("ResourceUnavailable.StreamNotExist")), "{v}");
    let pusher = ffmpeg_push(&fixture("av", 20), &srv.push_url("live/ev"));
    srv.wait_stream("default/live/ev", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (s, v) = srv
        .send(
            "POST",
            "/v1/streams/default/live/ev/events",
            Some(json!({"pre_roll": 61, "post_roll": 2, "max_duration": 30})),
        )
        .await;
    assert_eq!(s, 400, "pre_roll is at most 60: {v}");
    assert!(srv.metric("rewind_preroll_bytes").await > 100_000, "about 10 s of the stream is held");
    let event_at = time::OffsetDateTime::now_utc();
    let (s, first) = srv
        .send(
            "POST",
            "/v1/streams/default/live/ev/events",
            Some(json!({"pre_roll": 5, "post_roll": 2, "max_duration": 30, "label": "door"})),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (s, second) = srv
        .send(
            "POST",
            "/v1/streams/default/live/ev/events",
            Some(json!({"pre_roll": 5, "post_roll": 2, "max_duration": 30})),
        )
        .await;
    assert_eq!(s, 201, "{second}");
    assert_eq!(
        first["task_id"],
        second["task_id"],
        "a second event while the clip is open extends it: {}",
        srv.log()
    );
    assert_ne!(first["event_id"], second["event_id"]);
    let id = first["task_id"].as_str().unwrap();
    let media = wait_media(&srv, &format!("task_id={id}"), 1, Duration::from_secs(20)).await;
    let m = &media[0];
    assert_eq!(m["source"], "event");
    assert_eq!(decode_errors(&media_path(&srv, m)), "");
    let start = time::OffsetDateTime::parse(
        m["start_time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lead = (event_at - start).as_seconds_f64();
    // From the key frame at or before 5 s earlier (1 s GOPs), out of memory.
    assert!((4.5..=6.6).contains(&lead), "the clip's first frame is {lead} s before the event");
    let d = m["duration"].as_f64().unwrap();
    // 5 s before (from a key frame: up to 1 s more) + 1.5 s between the events + 2 s after
    // (ends are whole seconds, rounded up, and the runner looks twice a second).
    assert!((8.0..=11.8).contains(&d), "{d}");
    let _ = wait_child(pusher, Duration::from_secs(30));
}

#[tokio::test]
async fn without_memory_pre_roll_an_event_clip_reads_its_past_from_the_timeline() {
    let srv = TestServer::start("[timeline]\nrecord_all = true\ntest_segment_length_secs = 3\n");
    let pusher = ffmpeg_push(&fixture("av", 16), &srv.push_url("live/tl"));
    srv.wait_stream("default/live/tl", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(srv.metric("rewind_preroll_bytes").await, 0, "nothing is kept in memory");
    let event_at = time::OffsetDateTime::now_utc();
    let (s, v) = srv
        .send(
            "POST",
            "/v1/streams/default/live/tl/events",
            Some(json!({"pre_roll": 5, "post_roll": 2, "max_duration": 30})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let media =
        wait_media(&srv, &format!("task_id={}", v["task_id"].as_str().unwrap()), 1, Duration::from_secs(20))
            .await;
    let m = &media[0];
    let path = media_path(&srv, m);
    assert_eq!(decode_errors(&path), "", "timeline frames and live frames join cleanly");
    let start = time::OffsetDateTime::parse(
        m["start_time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lead = (event_at - start).as_seconds_f64();
    assert!((4.5..=6.6).contains(&lead), "the clip's first frame is {lead} s before the event");
    let probed = media_span(&path, "");
    let d = m["duration"].as_f64().unwrap();
    assert!(
        (probed - d).abs() < 0.3,
        "no hole at the junction: the file holds {probed} s, the record says {d} s"
    );
    let _ = wait_child(pusher, Duration::from_secs(30));
}
