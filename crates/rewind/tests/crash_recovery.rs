//! kill -9 in the middle of recording: after a restart every file of that push is
//! playable, holds what was pushed up to at most the last 2 s, and the library agrees
//! with the folder.

mod common;
use common::*;
use std::time::Duration;

const ALL_FORMATS: &str = r#"
[[record_templates]]
template_id = 1
name = "all"
flv = { enable = true }
hls = { enable = true }
mp4 = { enable = true }
aac = { enable = true }

[[record_rules]]
domain = "*"
template_id = 1
"#;

#[tokio::test]
async fn kill_9_then_restart_finishes_every_file() {
    let mut srv = TestServer::start(ALL_FORMATS);
    let push = ffmpeg_push(&fixture("av", 20), &srv.push_url("live/crash"));
    srv.wait_stream("default/live/crash", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true)
        .await;
    let pushed_from = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    srv.kill_9();
    let pushed = pushed_from.elapsed().as_secs_f64();
    let _ = wait_child(push, Duration::from_secs(30));
    let srv = srv.restart(ALL_FORMATS);
    assert!(
        srv.wait_log("recovered a recording interrupted by a crash", Duration::from_secs(20)),
        "{}",
        srv.log()
    );
    let media = wait_media(&srv, "stream=crash", 4, Duration::from_secs(20)).await;
    let mut formats: Vec<&str> = media.iter().map(|m| m["format"].as_str().unwrap()).collect();
    formats.sort();
    assert_eq!(formats, ["aac", "flv", "hls", "mp4"]);
    for m in &media {
        let path = media_path(&srv, m);
        assert_eq!(decode_errors(&path), "", "{} plays after recovery", path.display());
        let d = m["duration"].as_f64().unwrap();
        // Everything up to at most the last 2 s before the kill (ffmpeg's start-up eats a little).
        assert!(d >= pushed - 2.6 && d <= pushed + 0.5, "{} holds {d} s of ~{pushed} s pushed", m["format"]);
        let probed = media_span(&path, if m["format"] == "aac" { "a" } else { "" });
        // (A torn tail may end on a reordered frame whose PTS runs up to a few frames past its DTS.)
        assert!(
            (probed - d).abs() < 0.25,
            "{}: the record says {d} s, the file holds {probed} s",
            m["format"]
        );
        if m["format"] != "hls" {
            assert_eq!(std::fs::metadata(&path).unwrap().len(), m["file_size"].as_u64().unwrap());
        }
    }
    // The library agrees with the folder: no temporary or orphaned files remain.
    let folder = srv.dir.path().join("data/media/default/live/crash");
    // (With a bucket the folder is only a spool: it may be gone once all is uploaded.)
    let leftovers: Vec<String> = std::fs::read_dir(&folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A second restart finds nothing more to do.
    drop(media);
}
