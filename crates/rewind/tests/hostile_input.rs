//! Hostile input: every malformed connection is closed with a logged reason and a
//! metric, the server never panics, a stream being pushed meanwhile is untouched, and a
//! good push works afterwards.

mod common;
use bytes::BytesMut;
use common::*;
use rewind::push::client::Publisher;
use rewind_rtmp::amf0::{self, Amf0};
use rewind_rtmp::{ChunkEncoder, handshake};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn handshaken(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&handshake::client_hello(0)).await.unwrap();
    let mut reply = vec![0u8; 3073];
    s.read_exact(&mut reply).await.unwrap();
    s.write_all(&handshake::client_reply(&reply).unwrap()).await.unwrap();
    s
}

fn message(csid: u32, type_id: u8, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    ChunkEncoder::default().write(&mut b, csid, 0, type_id, 0, payload);
    b
}

/// True if the server closes the connection within 5 s (reading and discarding replies).
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

async fn expect_error(srv: &TestServer, kind: &str, before: u64, case: &str) {
    let key = format!("rewind_protocol_errors_total{{kind=\"{kind}\"}} ");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = srv.metric(&key).await;
        if now > before {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{case}: no {kind} error counted; log:\n{}",
            srv.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn published(srv: &TestServer, name: &str) -> Publisher {
    Publisher::connect(&srv.push_url(&format!("live/{name}"))).await.unwrap()
}

#[tokio::test]
async fn malformed_connections_are_closed_and_nothing_else_is_touched() {
    let srv = TestServer::start("[rtmp]\nhandshake_timeout_secs = 1\n");
    // A bystander pushes in real time throughout.
    let bystander_url = srv.push_url("live/bystander");
    let file = fixture("av", 12);
    let bystander = tokio::spawn(async move {
        let mut p = Publisher::connect(&bystander_url).await.unwrap();
        let start = tokio::time::Instant::now();
        for t in flv_tags(&file) {
            tokio::time::sleep_until(start + Duration::from_millis(t.timestamp_ms as u64)).await;
            p.send(t.kind, t.timestamp_ms, &t.body).await.unwrap();
        }
        p.close().await.unwrap();
    });
    let first = srv
        .wait_stream("default/live/bystander", Duration::from_secs(5), |s, v| {
            s == 200 && v["frames_in"].as_u64() > Some(0)
        })
        .await;
    let m = |k: &str| format!("rewind_protocol_errors_total{{kind=\"{k}\"}} ");

    // Not RTMP at all.
    let before = srv.metric(&m("handshake")).await;
    let mut s = TcpStream::connect(&srv.rtmp).await.unwrap();
    s.write_all(&[0x16; 2000]).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    expect_error(&srv, "handshake", before, "random bytes").await;

    // Truncated handshake, then the client leaves.
    let before = srv.metric(&m("handshake")).await;
    let mut s = TcpStream::connect(&srv.rtmp).await.unwrap();
    s.write_all(&handshake::client_hello(0)[..500]).await.unwrap();
    drop(s);
    expect_error(&srv, "handshake", before, "truncated handshake").await;

    // Truncated handshake, then the client stalls: timed out.
    let before = srv.metric(&m("timeout")).await;
    let mut s = TcpStream::connect(&srv.rtmp).await.unwrap();
    s.write_all(&handshake::client_hello(0)[..100]).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    expect_error(&srv, "timeout", before, "stalled handshake").await;

    // Chunk size 0 and 2^31.
    for size in [0u32, 0x8000_0000] {
        let before = srv.metric(&m("chunk")).await;
        let mut s = handshaken(&srv.rtmp).await;
        s.write_all(&message(2, 1, &size.to_be_bytes())).await.unwrap();
        assert!(closed_by_server(&mut s).await);
        expect_error(&srv, "chunk", before, "bad chunk size").await;
    }

    // A continuation chunk on a chunk stream never opened.
    let before = srv.metric(&m("chunk")).await;
    let mut s = handshaken(&srv.rtmp).await;
    s.write_all(&[0xc9, 1, 2, 3, 4]).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    expect_error(&srv, "chunk", before, "unknown chunk stream").await;

    // A command whose AMF string claims 4 GiB.
    let before = srv.metric(&m("amf")).await;
    let mut s = handshaken(&srv.rtmp).await;
    let mut body = amf0::encode_all(&[Amf0::String("connect".into()), Amf0::Number(1.0)]).to_vec();
    body.extend_from_slice(&[12, 0xff, 0xff, 0xff, 0xff, b'x', b'y']);
    s.write_all(&message(3, 20, &body)).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    expect_error(&srv, "amf", before, "huge AMF string").await;

    // Corrupt AVC and AAC sequence headers after a good publish.
    for (i, body) in [vec![0x17u8, 0, 0, 0, 0, 1, 0x64, 0x00], vec![0xaf, 0, 0x12]].into_iter().enumerate() {
        let before = srv.metric(&m("codec")).await;
        let mut p = published(&srv, &format!("corrupt{i}")).await;
        let kind = if body[0] == 0x17 { 9 } else { 8 };
        p.send(kind, 0, &body).await.unwrap();
        assert!(p.wait_closed(Duration::from_secs(5)).await);
        expect_error(&srv, "codec", before, "corrupt sequence header").await;
    }

    // Timestamps jumping backwards.
    let before = srv.metric(&m("timestamp")).await;
    let mut p = published(&srv, "backwards").await;
    p.send(8, 0, &[0xaf, 0, 0x12, 0x10]).await.unwrap();
    p.send(8, 5000, &[0xaf, 1, 0x21, 0x10]).await.unwrap();
    p.send(8, 1000, &[0xaf, 1, 0x21, 0x10]).await.unwrap();
    assert!(p.wait_closed(Duration::from_secs(5)).await);
    expect_error(&srv, "timestamp", before, "timestamps backwards").await;
    assert!(
        srv.wait_log("timestamp went backwards from 5000 ms to 1000 ms", Duration::from_secs(5)),
        "{}",
        srv.log()
    );

    // Random garbage after a good handshake, many times.
    for seed in 0..20u64 {
        let mut s = handshaken(&srv.rtmp).await;
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let junk: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let _ = s.write_all(&junk).await;
        drop(s);
    }

    // The server is alive, the bystander was never disturbed, and good pushes work.
    let (status, _) = srv.get("/healthz").await;
    assert_eq!(status, 200);
    let now =
        srv.wait_stream("default/live/bystander", Duration::from_secs(5), |_, v| v["live"] == true).await;
    assert_eq!(now["session_id"], first["session_id"]);
    assert!(now["frames_in"].as_u64() > first["frames_in"].as_u64());
    rust_push(&srv.push_url("live/after"), &fixture("av", 2)).await.unwrap();
    let after = srv
        .wait_stream("default/live/after", Duration::from_secs(5), |s, v| s == 200 && v["live"] == false)
        .await;
    assert_eq!(after["video"]["width"], 320);
    bystander.await.unwrap();
    assert!(!srv.log().contains("panicked"), "{}", srv.log());
}
