//! Callbacks end to end against a real local HTTP receiver: signatures, the cloud's
//! field names, delivery through receiver downtime and a `kill -9` of rewind, the
//! failed list and resend, and no `stream_param` for task recordings.

mod common;
use common::receiver::{Inbox, free_port, serve};
use common::*;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn check_signature(e: &Value, key: &str) {
    let t = e["t"].as_i64().expect("t");
    assert!(t > now(), "t is an expiry in the future: {e}");
    let want = hex::encode(Md5::digest(format!("{key}{t}").as_bytes()));
    assert_eq!(e["sign"], want, "sign = MD5(key + t): {e}");
}

async fn pending(srv: &TestServer) -> usize {
    let (s, v) = srv.get("/v1/callbacks").await;
    assert_eq!(s, 200, "{v}");
    v["callbacks"].as_array().unwrap().len()
}

async fn wait_until(what: &str, timeout: Duration, srv: &TestServer, mut f: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !f().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}\nlog:\n{}", srv.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn events_are_signed_and_reach_the_receiver_through_downtime_and_a_crash() {
    let port = free_port(); // nothing listens here yet: tries are refused
    // The kill -9 below can land mid-try: that event is tried again when its lease ends,
    // `timeout_ms` + 5 s later (25 s with the default timeout, past the wait for delivery).
    let config = format!(
        "[callbacks]\nurl = \"http://127.0.0.1:{port}/cb\"\nkey = \"s3cret\"\nappid = 42\n\
         first_retry_ms = 300\nmax_retry_ms = 600\nmax_attempts = 100\ntimeout_ms = 2000\n\n\
         [[record_templates]]\ntemplate_id = 1\nname = \"flv\"\nflv = {{ enable = true }}\n\n\
         [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n"
    );
    let mut srv = TestServer::start(&config);
    let (ok, err) = wait_child(
        ffmpeg_push(&fixture("av", 2), &srv.push_url("live/cb?token=abc")),
        Duration::from_secs(30),
    );
    assert!(ok, "{err}");
    let media = wait_media(&srv, "stream=cb", 1, Duration::from_secs(20)).await;
    let file_id = media[0]["file_id"].as_str().unwrap().to_string();
    // Recording went on without the receiver; the events wait.
    wait_until("failed tries", Duration::from_secs(20), &srv, async || {
        srv.metric("rewind_callbacks_failed_tries_total ").await >= 4
    })
    .await;
    assert_eq!(
        pending(&srv).await,
        5,
        "stream begin, recording start, record, recording end and stream end wait"
    );
    let (_, list) = srv.get("/v1/callbacks").await;
    assert!(list["callbacks"][0]["last_error"].as_str().unwrap().contains("connect"), "{list}");

    // A crash between tries, then a restart: the outbox survives.
    srv.kill_9();
    let srv = srv.restart(&config);
    wait_until("tries after the restart", Duration::from_secs(20), &srv, async || {
        srv.metric("rewind_callbacks_failed_tries_total ").await >= 1
    })
    .await;

    // The receiver comes up: everything arrives.
    let inbox = Arc::new(Inbox::default());
    serve(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap(), inbox.clone());
    wait_until("delivery", Duration::from_secs(20), &srv, async || pending(&srv).await == 0).await;

    let by_id = inbox.by_id.lock().unwrap().clone();
    assert_eq!(by_id.len(), 5, "each event once to the application: {by_id:?}");
    let raw = inbox.raw.lock().unwrap().clone();
    assert!(raw.len() >= 3);
    for e in &raw {
        check_signature(e, "s3cret");
        assert_eq!(e["appid"], 42);
        assert_eq!(e["app"], "default");
        assert_eq!(e["appname"], "live");
        assert_eq!(e["stream_id"], "cb");
    }
    let record: Vec<&Value> = by_id.values().filter(|e| e["event_type"] == 100).collect();
    assert_eq!(record.len(), 1, "{by_id:?}");
    let r = record[0];
    assert_eq!(r["file_id"], file_id.as_str());
    assert_eq!(r["record_file_id"], file_id.as_str());
    assert_eq!(r["file_format"], "flv");
    assert_eq!(r["stream_param"], "token=abc");
    assert_eq!(r["file_size"], media[0]["file_size"]);
    assert!(r["video_url"].as_str().unwrap().ends_with(&format!("/v1/media/{file_id}/content")), "{r}");
    assert!((1..=3).contains(&r["duration"].as_i64().unwrap()), "{r}");
    assert!(r["end_time"].as_i64().unwrap() >= r["start_time"].as_i64().unwrap());
    let ext: Value = serde_json::from_str(r["callback_ext"].as_str().unwrap()).unwrap();
    assert_eq!(ext["video_codec"], "h264", "{ext}");
    let mut statuses: Vec<&str> = by_id
        .values()
        .filter(|e| e["event_type"] == 332)
        .map(|e| e["record_event"].as_str().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["record_ended", "record_start_succeeded"]);
    // The publish's begin (1) and end (0), with the cloud's fields.
    let begin = by_id.values().find(|e| e["event_type"] == 1).expect("a stream begin event");
    assert_eq!(begin["stream_param"], "token=abc", "{begin}");
    assert_eq!(begin["user_ip"], "127.0.0.1", "{begin}");
    assert_eq!(begin["errcode"], 0, "{begin}");
    let end = by_id.values().find(|e| e["event_type"] == 0).expect("a stream end event");
    assert_eq!(end["sequence"], begin["sequence"], "one publish: {end}");
    assert!((1000..=4000).contains(&end["push_duration"].as_i64().unwrap()), "{end}");
    assert!(srv.metric("rewind_callbacks_delivered_total ").await >= 1);
}

#[tokio::test]
async fn given_up_events_are_listed_and_resent_and_tasks_carry_no_stream_param() {
    let inbox = Arc::new(Inbox::default());
    inbox.refuse.store(true, Ordering::SeqCst);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    serve(listener, inbox.clone());
    let srv = TestServer::start("[callbacks]\nfirst_retry_ms = 100\nmax_retry_ms = 200\nmax_attempts = 3\n");
    // A per-domain target (no global one is configured).
    let (s, v) = srv
        .send(
            "PUT",
            "/v1/domains/default",
            Some(json!({"callback": {"url": format!("http://127.0.0.1:{port}/cb"), "key": "dk"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let push = ffmpeg_push(&fixture("av", 8), &srv.push_url("live/task?token=zzz"));
    srv.wait_stream("default/live/task", Duration::from_secs(15), |s, v| s == 200 && v["live"] == true).await;
    let (s, task) = srv
        .send(
            "POST",
            "/v1/record-tasks",
            Some(json!({"domain": "default", "app": "live", "stream": "task", "end_time": now() + 3})),
        )
        .await;
    assert_eq!(s, 201, "{task}");
    let task_id = task["task_id"].as_str().unwrap().to_string();
    let media = wait_media(&srv, &format!("task_id={task_id}"), 1, Duration::from_secs(20)).await;
    let (ok, err) = wait_child(push, Duration::from_secs(30));
    assert!(ok, "{err}");

    // Three refused tries each, then given up and listed: the stream's begin and end,
    // the task's recording start and end, and its file.
    let mut failed = Vec::new();
    wait_until("given-up events", Duration::from_secs(20), &srv, async || {
        let (_, v) = srv.get("/v1/callbacks/failed").await;
        failed = v["callbacks"].as_array().unwrap().clone();
        failed.len() == 5 && pending(&srv).await == 0
    })
    .await;
    for f in &failed {
        assert_eq!(f["state"], "failed");
        assert_eq!(f["attempts"], 3);
        assert_eq!(f["last_error"], "HTTP 500");
    }
    assert!(inbox.by_id.lock().unwrap().is_empty());
    assert_eq!(srv.metric("rewind_callbacks_given_up_total ").await, 5);
    let (s, v) = srv.send("POST", "/v1/callbacks/nope/resend", None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("ResourceNotFound.CallbackEvent")));
    let (s, v) = srv.get("/v1/callbacks?state=bogus").await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("InvalidParameter")));

    // The receiver is fixed; one resend, then the rest.
    inbox.refuse.store(false, Ordering::SeqCst);
    let first = failed[0]["event_id"].as_str().unwrap();
    let (s, v) = srv.send("POST", &format!("/v1/callbacks/{first}/resend"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "pending");
    let (s, v) = srv.send("POST", "/v1/callbacks/failed/resend", None).await;
    assert_eq!(s, 200, "{v}");
    wait_until("resent events", Duration::from_secs(20), &srv, async || {
        inbox.by_id.lock().unwrap().len() == 5
    })
    .await;
    let (_, v) = srv.get("/v1/callbacks/failed").await;
    assert_eq!(v["callbacks"].as_array().unwrap().len(), 0, "{v}");
    let by_id = inbox.by_id.lock().unwrap().clone();
    for e in by_id.values() {
        check_signature(e, "dk");
        if e["event_type"] != 0 && e["event_type"] != 1 {
            assert_eq!(e["task_id"], task_id.as_str(), "{e}");
        }
    }
    let r = by_id.values().find(|e| e["event_type"] == 100).expect("the record event");
    assert_eq!(r["file_id"], media[0]["file_id"]);
    assert!(r.get("stream_param").is_none(), "task recordings carry no stream_param: {r}");
}

/// Issue 29 (3): a receiver that answers with a redirect does not get the signed body
/// re-sent where it points: the try fails, and says why.
#[tokio::test]
async fn a_redirecting_receiver_is_a_failed_try_never_followed() {
    use std::sync::atomic::AtomicUsize;
    let followed = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = followed.clone();
    let app = axum::Router::new()
        .route(
            "/cb",
            axum::routing::post(move || async move {
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [("location", format!("http://127.0.0.1:{port}/internal"))],
                )
            }),
        )
        .route(
            "/internal",
            axum::routing::post(move || async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "taken"
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let cfg = format!(
        "[callbacks]\nurl = \"http://127.0.0.1:{port}/cb\"\nkey = \"k\"\nfirst_retry_ms = 100\nmax_retry_ms = 100\nmax_attempts = 2\n"
    );
    let srv = TestServer::start(&cfg);
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 2), &srv.push_url("live/redir")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let mut failed = Vec::new();
    wait_until("the stream events given up", Duration::from_secs(20), &srv, async || {
        let (_, v) = srv.get("/v1/callbacks/failed").await;
        failed = v["callbacks"].as_array().unwrap().clone();
        failed.len() >= 2
    })
    .await;
    let why = failed[0]["last_error"].as_str().unwrap();
    assert!(why.contains("307") && why.contains("redirects are not followed"), "{why}");
    assert_eq!(followed.load(Ordering::SeqCst), 0, "the redirect was never followed");
}
