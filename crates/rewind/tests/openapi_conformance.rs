//! The server and docs/openapi.yaml agree: schemathesis (installed by the test command)
//! generates requests from the document — valid ones, edge cases and junk — against a
//! server holding real recordings and a timeline, and checks every answer: no 5xx, only
//! documented status codes and content types, and bodies that match their schemas.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const CONFIG: &str = "api_key = \"conformance-key\"\n[timeline]\nrecord_all = true\n\
                      [[record_templates]]\ntemplate_id = 1\nname = \"t\"\nflv = { enable = true }\nhls = { enable = true }\n\
                      [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n";

fn schemathesis() -> PathBuf {
    let tools = std::env::var_os("REWIND_TOOLS_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools"), PathBuf::from);
    let exe = tools.join("py/bin/schemathesis");
    assert!(exe.exists(), "{} is missing: scripts/test-tools installs it", exe.display());
    exe
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_matches_the_openapi_document() {
    let srv = TestServer::start(CONFIG);
    // Real data behind the list endpoints: two recordings and a timeline.
    let push = ffmpeg_push(&fixture("av", 3), &srv.push_url("live/cam1"));
    assert!(wait_child(push, Duration::from_secs(30)).0);
    let c = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let v: serde_json::Value = c
            .get(srv.url("/v1/media"))
            .bearer_auth("conformance-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["media"].as_array().is_some_and(|m| m.len() >= 2) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no recordings: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml");
    // schemathesis keeps a cache in its working folder: a temporary one, not the tree.
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(schemathesis())
        .current_dir(cwd.path())
        .arg("run")
        .arg(&doc)
        .args(["--url", &format!("http://{}", srv.http)])
        .args(["-H", "Authorization: Bearer conformance-key"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
        ])
        // One worker: with two threads, CPython 3.11's parser sometimes trips over its own
        // recursion counter inside hypothesis ("AST constructor recursion depth
        // mismatch") and the run reports an error that is not about rewind.
        .args(["--max-examples", "15", "--workers", "1", "--no-color"])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schemathesis found answers that break the document:\n{text}");
    assert!(!srv.log().contains("panicked"), "{}", srv.log());
}
