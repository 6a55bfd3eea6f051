//! Storage failures: the recording stops with a clear log line and a metric, the push
//! goes on, and what was written stays valid.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

const FLV_ALL: &str = "[[record_templates]]\ntemplate_id = 1\nname = \"flv\"\nflv = { enable = true }\n\
                       [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n";

#[tokio::test]
async fn unwritable_folder_stops_the_recording_not_the_push() {
    let srv = TestServer::start(FLV_ALL);
    // A file where the stream's folder must go: nothing can be created there (even as root).
    let app_dir = srv.dir.path().join("data/media/default/live");
    std::fs::create_dir_all(&app_dir).unwrap();
    std::fs::write(app_dir.join("blocked"), b"not a folder").unwrap();
    let push = ffmpeg_push(&fixture("av", 3), &srv.push_url("live/blocked"));
    assert!(srv.wait_log("recording failed", Duration::from_secs(10)), "{}", srv.log());
    let v = srv
        .wait_stream("default/live/blocked", Duration::from_secs(5), |s, v| {
            s == 200 && v["frames_in"].as_u64() > Some(30)
        })
        .await;
    assert_eq!(v["live"], true, "the push goes on");
    let (ok, err) = wait_child(push, Duration::from_secs(30));
    assert!(ok, "the pusher never noticed: {err}");
    assert!(srv.metric("rewind_recording_failures_total ").await >= 1);
    let (_, list) = srv.get("/v1/media?stream=blocked").await;
    assert_eq!(list["total"], 0);
    // Other streams still record.
    let (ok, _) =
        wait_child(ffmpeg_push(&fixture("av", 2), &srv.push_url("live/fine")), Duration::from_secs(30));
    assert!(ok);
    wait_media(&srv, "stream=fine", 1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn disk_full_keeps_what_was_written_playable() {
    let srv = TestServer::start(FLV_ALL);
    let dir = srv.dir.path().join("data/media/default/live/full");
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "this test needs to mount a small tmpfs (root, as in CI)");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(dir.clone());
    let push = ffmpeg_push(&fixture("av", 8), &srv.push_url("live/full"));
    assert!(srv.wait_log("recording failed", Duration::from_secs(20)), "{}", srv.log());
    assert!(srv.log().contains("No space left on device"), "the log says why: {}", srv.log());
    let (ok, err) = wait_child(push, Duration::from_secs(30));
    assert!(ok, "the push was not disturbed: {err}");
    let media = wait_media(&srv, "stream=full", 1, Duration::from_secs(10)).await;
    let path = media_path(&srv, &media[0]);
    assert_eq!(decode_errors(&path), "", "the part that fit is a valid FLV");
    let d = media[0]["duration"].as_f64().unwrap();
    assert!(d > 0.5 && d < 8.0, "{d}");
}
