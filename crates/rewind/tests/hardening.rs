//! Hardening against an attacker or a clumsy operator, against the real binary: silent
//! and trickling sockets on both ports with a lowered file limit, a second server on
//! the same data folder, and log floods.

mod common;
use common::*;
use rewind_rtmp::handshake;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FLV_ALL: &str = "[[record_templates]]\ntemplate_id = 1\nname = \"flv\"\nflv = { enable = true }\n\
                       [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n";

/// `GET /healthz` on a new connection, which must answer within a second.
async fn healthz_within_a_second(srv: &TestServer) -> Duration {
    let c = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap();
    let t = Instant::now();
    let r = c.get(srv.url("/healthz")).send().await;
    let took = t.elapsed();
    let r = r.unwrap_or_else(|e| panic!("/healthz failed after {took:?}: {e}\nlog:\n{}", srv.log()));
    assert_eq!(r.status(), 200);
    took
}

/// A real-time ffmpeg push of 3 s that must get in and be recorded whole.
async fn real_push_is_recorded(srv: &TestServer, name: &str) {
    let push = ffmpeg_push(&fixture("av", 3), &srv.push_url(&format!("live/{name}")));
    let (ok, err) = wait_child(push, Duration::from_secs(30));
    assert!(ok, "the real publisher was locked out: {err}\nlog:\n{}", srv.log());
    let media = wait_media(srv, &format!("stream={name}"), 1, Duration::from_secs(15)).await;
    let d = media[0]["duration"].as_f64().unwrap();
    assert!(d > 2.5, "recorded {d} s of 3");
    assert_eq!(decode_errors(&media_path(srv, &media[0])), "");
}

/// True if the server closes `s` within `within` (replies are read and dropped).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_on_both_ports_lock_out_neither_publishers_nor_the_api() {
    // 1,024 descriptors: the default limits (4,096 RTMP + 1,024 HTTP) no longer fit.
    let srv = TestServer::start_with_file_limit(FLV_ALL, 1024);
    // This test process holds every attacking socket: it needs more than 1,024 itself.
    assert!(rewind::fd_limit::raise() > 2400, "the test needs an open-file limit above 2,400");
    assert!(srv.log().contains("both lowered to fit"), "{}", srv.log());
    let mut silent = Vec::new();
    for _ in 0..1100 {
        silent.push(TcpStream::connect(&srv.http).await.unwrap());
    }
    for _ in 0..1100 {
        silent.push(TcpStream::connect(&srv.rtmp).await.unwrap());
    }
    // More keep coming while the real clients try.
    let (http, rtmp) = (srv.http.clone(), srv.rtmp.clone());
    let churn = tokio::spawn(async move {
        let mut more = Vec::new();
        loop {
            for a in [&http, &rtmp] {
                if let Ok(s) = TcpStream::connect(a).await {
                    more.push(s);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    for _ in 0..5 {
        healthz_within_a_second(&srv).await;
    }
    real_push_is_recorded(&srv, "through").await;
    healthz_within_a_second(&srv).await;
    churn.abort();
    assert!(!srv.log().contains("Too many open files"), "{}", srv.log());
    for l in ["http", "rtmp"] {
        let evicted = srv.metric(&format!("rewind_connections_evicted_total{{listener=\"{l}\"}} ")).await;
        assert!(evicted > 100, "{l}: {evicted} evicted");
    }
    drop(silent);
}

// Several workers: the push below waits on ffmpeg with a blocking call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trickling_sockets_are_closed_at_their_deadline_and_a_publisher_still_gets_in() {
    let srv = TestServer::start(&format!(
        "[rtmp]\nmax_connections = 50\npublish_timeout_secs = 3\n\
         [http]\nheader_read_timeout_secs = 2\n{FLV_ALL}"
    ));
    // Fifty RTMP connections finish the handshake, then send one byte every 500 ms and
    // never `connect`: each restarts no timer, and all are closed by the publish deadline.
    let mut tricklers = Vec::new();
    for _ in 0..50 {
        let addr = srv.rtmp.clone();
        tricklers.push(tokio::spawn(async move {
            let t = Instant::now();
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(&handshake::client_hello(0)).await.unwrap();
            let mut reply = vec![0u8; 3073];
            if s.read_exact(&mut reply).await.is_err() {
                return t.elapsed(); // evicted for the real publisher before its handshake
            }
            s.write_all(&handshake::client_reply(&reply).unwrap()).await.unwrap();
            // A chunk header byte at a time: a message that never completes.
            for b in [0x03u8, 0, 0, 0, 0, 0, 0x40, 0x14, 0, 0, 0, 0].iter().cycle().take(40) {
                if s.write_all(&[*b]).await.is_err()
                    || closed_within(&mut s, Duration::from_millis(500)).await
                {
                    return t.elapsed();
                }
            }
            panic!("a trickling RTMP connection was never closed");
        }));
    }
    // An HTTP client that trickles its request head, and one idle after a request.
    let http = srv.http.clone();
    let http_trickler = tokio::spawn(async move {
        let t = Instant::now();
        let mut s = TcpStream::connect(&http).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
        for _ in 0..40 {
            if s.write_all(b"X").await.is_err() || closed_within(&mut s, Duration::from_millis(500)).await {
                return t.elapsed();
            }
        }
        panic!("a trickling HTTP connection was never closed");
    });
    let mut keep_alive = TcpStream::connect(&srv.http).await.unwrap();
    keep_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut got = vec![0u8; 1024];
    let n = keep_alive.read(&mut got).await.unwrap();
    assert!(String::from_utf8_lossy(&got[..n]).starts_with("HTTP/1.1 200"));
    let idle_since = Instant::now();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    healthz_within_a_second(&srv).await;
    real_push_is_recorded(&srv, "beside").await;

    for t in tricklers {
        let took = t.await.unwrap();
        assert!(took < Duration::from_secs(5), "an RTMP trickler was held {took:?} (deadline 3 s)");
    }
    let took = http_trickler.await.unwrap();
    assert!(took < Duration::from_secs(4), "the HTTP trickler was held {took:?} (deadline 2 s)");
    assert!(closed_within(&mut keep_alive, Duration::from_secs(4)).await, "idle keep-alive connection kept");
    assert!(idle_since.elapsed() < Duration::from_secs(12));
    assert!(srv.log().contains("did not start publishing within 3 s"), "{}", srv.log());
}

#[tokio::test]
async fn a_second_server_on_the_same_data_folder_refuses_to_start_and_the_first_loses_nothing() {
    let srv = TestServer::start(FLV_ALL);
    let push = ffmpeg_push(&fixture("av", 6), &srv.push_url("live/first"));
    srv.wait_stream("default/live/first", Duration::from_secs(10), |s, _| s == 200).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let data = srv.dir.path().join("data");
    let out = serve_command(&srv.dir.path().join("rewind.toml"), &data).output().unwrap();
    assert!(!out.status.success(), "the second server started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another rewind server"), "{err}");
    assert!(err.contains(&data.display().to_string()), "names the folder: {err}");
    assert!(err.contains(&format!("pid {}", srv.child.id())), "names the other process: {err}");

    let (ok, e) = wait_child(push, Duration::from_secs(30));
    assert!(ok, "{e}");
    let media = wait_media(&srv, "stream=first", 1, Duration::from_secs(15)).await;
    let d = media[0]["duration"].as_f64().unwrap();
    assert!(d > 5.5, "the first server's recording was cut to {d} s");
    assert_eq!(decode_errors(&media_path(&srv, &media[0])), "");
    assert!(!srv.log().contains("No such file or directory"), "{}", srv.log());
}

#[tokio::test]
async fn repeated_refusals_are_logged_a_few_times_with_a_count_of_the_rest() {
    let srv = TestServer::start("");
    let junk = || async {
        let mut s = TcpStream::connect(&srv.rtmp).await.unwrap();
        let _ = s.write_all(&[0x09u8; 1537]).await; // not RTMP version 3
        closed_within(&mut s, Duration::from_secs(5)).await
    };
    for _ in 0..200 {
        assert!(junk().await);
    }
    let m = "rewind_protocol_errors_total{kind=\"handshake\"} ";
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.metric(m).await < 200 {
        assert!(Instant::now() < deadline, "200 junk connections were not all counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines = |srv: &TestServer| srv.log().matches("closing RTMP connection: protocol error").count();
    assert!(lines(&srv) <= 5, "{} lines for 200 junk connections", lines(&srv));
    // The next period's first line says how many were left out.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(junk().await);
    assert!(srv.wait_log("suppressed=195", Duration::from_secs(5)), "{}", srv.log());
}

#[tokio::test]
async fn bad_api_input_gets_the_documented_4xx_with_our_error_body() {
    let srv = TestServer::start(FLV_ALL);
    let c = reqwest::Client::new();
    let error_code = |v: &serde_json::Value| v["error"]["code"].as_str().unwrap_or("").to_string();
    // A body that is not an object is not a struct in disguise.
    let (s, v) = srv.send("PUT", "/v1/domains/zz", Some(serde_json::json!([null, null]))).await;
    assert_eq!((s, error_code(&v).as_str()), (400, "InvalidParameter.Body"), "{v}");
    let (s, _) = srv.get("/v1/domains/zz").await;
    assert_eq!(s, 404, "the refused PUT set nothing");
    // NUL is no text rewind stores (PostgreSQL's text cannot hold it): a 400, not a 500.
    let body = serde_json::json!({"callback": {"url": "https://x.example", "key": "a\u{0}b"}});
    let (s, v) = srv.send("PUT", "/v1/domains/zz", Some(body)).await;
    assert_eq!((s, error_code(&v).as_str()), (400, "InvalidParameter.Body"), "{v}");
    for path in ["/v1/media/abc%00", "/v1/media?stream=a%00b"] {
        let (s, v) = srv.get(path).await;
        assert_eq!((s, error_code(&v).as_str()), (400, "InvalidParameter"), "{path}: {v}");
    }
    // Filters with a fixed set of values refuse others.
    let (s, v) = srv.get("/v1/media?format=false").await;
    assert_eq!((s, error_code(&v).as_str()), (400, "InvalidParameter"), "{v}");
    let (s, v) = srv.get("/v1/media?source=nobody").await;
    assert_eq!(s, 400, "{v}");
    // An over-limit body is a 413.
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(3 << 20));
    let r = c.post(srv.url("/v1/record-templates")).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error_code(&v), "LimitExceeded.BodySize");
    // Several ranges at once: 416 in our shape, with the file's length.
    let push = ffmpeg_push(&fixture("av", 2), &srv.push_url("live/ranges"));
    assert!(wait_child(push, Duration::from_secs(30)).0);
    let media = wait_media(&srv, "stream=ranges", 1, Duration::from_secs(15)).await;
    let id = media[0]["file_id"].as_str().unwrap();
    let r = c
        .get(srv.url(&format!("/v1/media/{id}/content")))
        .header("range", "bytes=0-9,20-29")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let size = media[0]["file_size"].as_u64().unwrap();
    assert_eq!(r.headers()["content-range"], format!("bytes */{size}").as_str());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error_code(&v), "InvalidParameter.Range");
    // A body that trickles is cut off with a 408 (body deadline) instead of holding on.
    let srv2 = TestServer::start("[http]\nbody_read_timeout_secs = 1\n");
    let mut s = TcpStream::connect(&srv2.http).await.unwrap();
    s.write_all(b"POST /v1/record-templates HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let mut got = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut got)).await.unwrap().unwrap();
    let reply = String::from_utf8_lossy(&got[..n]);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("RequestTimeout.Body"), "{reply}");
}

#[tokio::test]
async fn an_open_api_on_every_address_is_warned_about_at_start() {
    // The harness listens on loopback: no warning.
    let srv = TestServer::start("");
    assert!(!srv.log().contains("the API is open"), "{}", srv.log());
    drop(srv);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rewind"))
        .args(["serve", "--config"])
        .arg(dir.path().join("c.toml"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--rtmp-addr", "127.0.0.1:0", "--http-addr", "0.0.0.0:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !log.contains("rewind ready") && Instant::now() < deadline {
        use std::io::Read;
        let n = err.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        log.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("the API is open"), "{log}");
}

/// Issue 29 (9): every answer says `nosniff`, and a wrong method on a signed URL gets
/// the API's error, not an empty 405.
#[tokio::test]
async fn answers_are_never_sniffed_and_a_signed_urls_wrong_method_says_why() {
    let srv = TestServer::start("api_key = \"k\"\n");
    let c = reqwest::Client::new();
    for (path, auth) in [("/v1/streams", true), ("/v1/nope", true), ("/healthz", false), ("/", false)] {
        let mut req = c.get(srv.url(path));
        if auth {
            req = req.bearer_auth("k");
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    let r = c
        .post(srv.url("/v1/signed-urls"))
        .bearer_auth("k")
        .header("content-type", "application/json")
        .body(r#"{"path": "/v1/media/x/content"}"#)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let url = v["url"].as_str().unwrap_or_else(|| panic!("{v}")).to_string();
    let r = c.post(srv.url(&url)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "UnsupportedOperation.Method", "{v}");
}

/// Issue 29 (4): a refused publish of a peer-sized name logs at most a couple of hundred
/// bytes of it, escaped, and says how long it was.
#[tokio::test]
async fn a_peer_sized_stream_name_is_cut_in_the_log() {
    let srv = TestServer::start("");
    let name = format!("{}\nFORGED LINE", "x".repeat(60_000));
    let r = rust_push(&srv.push_url(&format!("live/{name}")), &fixture("av", 1)).await;
    assert!(r.is_err(), "a name this long is refused");
    assert!(srv.wait_log("publish refused", Duration::from_secs(10)), "{}", srv.log());
    let log = srv.log();
    let line = log.lines().find(|l| l.contains("publish refused")).unwrap();
    assert!(line.len() < 1000, "{} bytes of log for one refusal", line.len());
    assert!(line.contains("bytes)"), "says how long the name was: {line}");
    assert!(!log.lines().any(|l| l.starts_with("FORGED LINE")), "no line forged");
}

/// Issue 29 (2): with the API open (no key, the default), a page on another origin in
/// Chromium sends no-cors writes and changes nothing; a rebound DNS name is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_changes_nothing_through_the_open_api() {
    let srv = TestServer::start(&format!(
        "{FLV_ALL}[[record_templates]]\ntemplate_id = 2\nname = \"api\"\nflv = {{ enable = true }}\n"
    ));
    let sid = "default/live/victim";
    let push = ffmpeg_push(&fixture("av", 30), &srv.push_url("live/victim"));
    srv.wait_stream(sid, Duration::from_secs(15), |s, v| s == 200 && v["live"] == true).await;
    let (_, before) = srv.get("/v1/record-templates").await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    let out = Command::new("node")
        .arg(format!("{dir}/cross_site.mjs"))
        .arg(format!("http://{}", srv.http))
        .arg(sid)
        .output()
        .expect("node runs (the test command installs it with Chromium)");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("\"sent\":5"),
        "the page sent its requests: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, after) = srv.get("/v1/record-templates").await;
    assert_eq!(before, after, "no template made or deleted");
    let (_, v) = srv.get(&format!("/v1/streams/{sid}")).await;
    assert_eq!(v["live"], true, "the publisher was not dropped");
    let (_, v) = srv.get("/v1/sources").await;
    assert!(v["sources"].as_array().unwrap().is_empty(), "no source made: {v}");
    let (_, v) = srv.get("/v1/forbidden-streams").await;
    assert!(v["forbids"].as_array().unwrap().is_empty(), "no forbid: {v}");
    assert!(srv.log().contains("cross-site request refused"), "refusals are logged");
    // DNS rebinding: the page's own name in Host is refused, reads too.
    let r = reqwest::Client::new()
        .get(srv.url("/v1/streams"))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "AuthFailure.CrossSiteRequest", "{v}");
    let mut push = push;
    let _ = push.kill();
}
