//! What is recorded is never lost to a clumsy operator or a full disk: file names that
//! fit the file system whatever the pattern, finished files adopted by recovery when
//! the library insert failed, and a data folder that fills up while recording.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn all_formats(pattern: &str, extra: &str) -> String {
    let f = format!("{{ enable = true, file_name = \"{pattern}\" }}");
    format!(
        "{extra}\n[[record_templates]]\ntemplate_id = 1\nname = \"all\"\n\
         flv = {f}\nhls = {f}\nmp4 = {f}\naac = {f}\n\
         [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n"
    )
}

/// Checks that the library and the media folder agree: every file on disk belongs to a
/// record (no orphans, no temporary leftovers), and every record's file is there and
/// decodes.
async fn library_agrees_with_the_folder(srv: &TestServer, stream: &str) -> Vec<serde_json::Value> {
    let (_, v) = srv.get(&format!("/v1/media?stream={stream}&page_size=100")).await;
    let media = v["media"].as_array().unwrap().clone();
    let stream_dir = format!("default/live/{stream}");
    let mut owned: Vec<String> = Vec::new();
    for m in &media {
        let path = media_path(srv, m);
        assert!(path.exists(), "record {} has no file", m["file_name"]);
        assert_eq!(decode_errors(&path), "", "{}", path.display());
        let name = m["file_name"].as_str().unwrap();
        assert!(name.len() <= 255, "{name}");
        owned.push(format!("{stream_dir}/{name}"));
        if let Some(folder) = name.strip_suffix(".m3u8") {
            let dir = path.with_extension("");
            owned.push(format!("{stream_dir}/{folder}"));
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                owned.push(format!("{stream_dir}/{folder}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    owned.sort();
    let on_disk: Vec<String> = stored_media_tree(srv)
        .await
        .into_iter()
        .filter(|p| p.starts_with(&format!("{stream_dir}/")))
        .collect();
    assert_eq!(on_disk, owned, "the stream's folder holds exactly the library's files");
    media
}

#[tokio::test]
async fn long_names_and_patterns_fit_the_file_system() {
    let srv = TestServer::start("");
    // A pattern that can render more than a file name takes is refused, saying why.
    let (s, v) = srv
        .send(
            "POST",
            "/v1/record-templates",
            Some(serde_json::json!({"name": "long", "flv": {"enable": true, "file_name": "{StreamID}{StreamID}"}})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "InvalidParameter.InvalidVodFileName");
    assert!(v["error"]["message"].as_str().unwrap().contains("up to 256 bytes"), "{v}");
    let literal = "x".repeat(200);
    let (s, _) = srv
        .send(
            "POST",
            "/v1/record-templates",
            Some(serde_json::json!({"name": "lit", "flv": {"enable": true, "file_name": format!("{literal}{{StreamID}}")}})),
        )
        .await;
    assert_eq!(s, 400);
    drop(srv);

    // The longest pattern accepted, with the longest stream name: every format is
    // recorded, and survives a kill -9 in the middle of the next push.
    let pattern = format!("{}_{{StreamID}}_{{StartYear}}", "p".repeat(111)); // 111 + 1 + 128 + 1 + 4 = 245
    let cfg = all_formats(&pattern, "");
    let mut srv = TestServer::start(&cfg);
    let stream = "s".repeat(128);
    let push = ffmpeg_push(&fixture("av", 3), &srv.push_url(&format!("live/{stream}")));
    let (ok, err) = wait_child(push, Duration::from_secs(30));
    assert!(ok, "{err}");
    wait_media(&srv, &format!("stream={stream}"), 4, Duration::from_secs(20)).await;
    let push = ffmpeg_push(&fixture("av", 20), &srv.push_url(&format!("live/{stream}")));
    tokio::time::sleep(Duration::from_secs(5)).await;
    srv.kill_9();
    let _ = wait_child(push, Duration::from_secs(30));
    let srv = srv.restart(&cfg);
    assert!(
        srv.wait_log("recovered a recording interrupted by a crash", Duration::from_secs(20)),
        "{}",
        srv.log()
    );
    wait_media(&srv, &format!("stream={stream}"), 8, Duration::from_secs(20)).await;
    let media = library_agrees_with_the_folder(&srv, &stream).await;
    assert_eq!(media.len(), 8);
    assert!(!srv.log().contains("File name too long"), "{}", srv.log());
    assert!(!srv.log().contains("could not recover"), "{}", srv.log());
}

/// Opens the server's database (SQLite beside it, or its PostgreSQL) as a second client.
async fn db(srv: &TestServer) -> rewind::db::Db {
    let url = match &srv.pg {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}", srv.dir.path().join("data/rewind.db").display()),
    };
    rewind::db::Db::open(&url).await.unwrap()
}

/// Makes every insert into the library fail the way a full database does.
async fn refuse_inserts(db: &rewind::db::Db, postgres: bool) {
    let stmts: &[&str] = if postgres {
        &[
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'database or disk is full'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON media FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
    } else {
        &[
            "CREATE TRIGGER refuse BEFORE INSERT ON media BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END",
        ]
    };
    for s in stmts {
        sqlx::query(*s).execute(db.pool()).await.unwrap();
    }
}

#[tokio::test]
async fn files_whose_library_insert_failed_are_adopted_at_the_next_start() {
    let mut srv = TestServer::start(&all_formats("{StreamID}_{StartSecond}", ""));
    // The library refuses every insert, as a full database does.
    let pool = db(&srv).await;
    let postgres = srv.pg.is_some();
    refuse_inserts(&pool, postgres).await;
    let push = ffmpeg_push(&fixture("av", 4), &srv.push_url("live/adopt"));
    let (ok, err) = wait_child(push, Duration::from_secs(30));
    assert!(ok, "{err}");
    // Every format finished and published its file, then failed to enter the library.
    assert!(
        wait_for(Duration::from_secs(20), || srv
            .log()
            .matches("could not put a finished file in the library")
            .count()
            >= 4),
        "{}",
        srv.log()
    );
    srv.kill_9();
    let drop = if postgres { "DROP TRIGGER refuse ON media" } else { "DROP TRIGGER refuse" };
    sqlx::query(drop).execute(pool.pool()).await.unwrap();
    pool.close().await;
    let cfg = all_formats("{StreamID}_{StartSecond}", "");
    let srv = srv.restart(&cfg);
    let media = wait_media(&srv, "stream=adopt", 4, Duration::from_secs(20)).await;
    let mut formats: Vec<_> = media.iter().map(|m| m["format"].as_str().unwrap().to_string()).collect();
    formats.sort();
    assert_eq!(formats, ["aac", "flv", "hls", "mp4"]);
    let media = library_agrees_with_the_folder(&srv, "adopt").await;
    for m in &media {
        // Adopted under the names they were published with (not re-published as `_1`).
        let name = m["file_name"].as_str().unwrap();
        assert!(!name.contains("_1."), "{name}");
        let d = m["duration"].as_f64().unwrap();
        assert!(d > 3.6 && d < 4.6, "{} lasts {d} s of 4", m["format"]);
        let probed = media_span(&media_path(&srv, m), if m["format"] == "aac" { "a" } else { "" });
        assert!((probed - d).abs() < 0.5, "{}: library says {d} s, file holds {probed} s", m["format"]);
    }
}

/// A tmpfs of `mb` MiB mounted on `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mb: u32) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "this test needs to mount a small tmpfs (root, as in CI)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` until `leave` bytes are free, with `dir/filler`.
fn fill(dir: &Path, leave: u64) {
    let free = rewind::disk_reserve::free_bytes(dir).unwrap();
    let f = std::fs::File::create(dir.join("filler")).unwrap();
    f.set_len(0).unwrap();
    use std::io::Write;
    let mut w = std::io::BufWriter::new(f);
    let block = vec![0u8; 1 << 16];
    let mut left = free.saturating_sub(leave);
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        w.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    w.flush().unwrap();
}

#[tokio::test]
async fn a_full_disk_fails_new_recordings_loudly_keeps_what_is_complete_and_deletes_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _fs = Tmpfs::mount(&data, 32);
    // Status events go to a receiver that is not there: they wait in the outbox.
    let cfg = "[callbacks]\nurl = \"http://127.0.0.1:9/hook\"\nfirst_retry_ms = 600000\n\
               [retention]\ndisk_reserve_bytes = 2097152\n[timeline]\nrecord_all = true\n\
               [[record_templates]]\ntemplate_id = 1\nname = \"t\"\nflv = { enable = true }\nhls = { enable = true }\n\
               [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n";
    let mut srv = TestServer::start_in(dir, cfg);
    assert!(data.join("reserve.bin").exists());
    // A first push fits; then the disk is filled to 600 KB free.
    let push = ffmpeg_push(&fixture("av", 3), &srv.push_url("live/before"));
    assert!(wait_child(push, Duration::from_secs(30)).0);
    wait_media(&srv, "stream=before", 2, Duration::from_secs(15)).await;
    // (Room for the timeline's first fragments beside the database's own writes of a
    // publish: its history row, its begin event, their WAL pages.)
    fill(&data, 600 << 10);
    let push = ffmpeg_push(&fixture("av", 12), &srv.push_url("live/full"));
    assert!(srv.wait_log("the disk is full", Duration::from_secs(30)), "{}", srv.log());
    let (ok, err) = wait_child(push, Duration::from_secs(40));
    assert!(ok, "the push was not disturbed: {err}");
    assert_eq!(srv.metric("rewind_disk_full ").await, 1);
    assert!(srv.metric("rewind_recording_failures_total ").await >= 1);
    // What fit is in the library, playable; the failure was told to the callback target.
    let media = wait_media(&srv, "stream=full", 2, Duration::from_secs(20)).await;
    for m in &media {
        assert_eq!(decode_errors(&media_path(&srv, m)), "", "{}", m["format"]);
    }
    let (_, events) = srv.get("/v1/callbacks?state=pending").await;
    let text = events.to_string();
    assert!(text.contains("record_error"), "a status event says the recording failed: {text}");
    // DELETE works on the full disk: it is how the operator gets out.
    let before = wait_media(&srv, "stream=before", 2, Duration::from_secs(5)).await;
    let id = before[0]["file_id"].as_str().unwrap();
    let (s, v) = srv.send("DELETE", &format!("/v1/media/{id}"), None).await;
    assert_eq!(s, 204, "{v}");
    // A crash on the full disk, then a restart: nothing is lost or orphaned.
    srv.kill_9();
    let mut srv = srv.restart(cfg);
    library_agrees_with_the_folder(&srv, "full").await;
    library_agrees_with_the_folder(&srv, "before").await;
    // The timeline kept what fit of the push on the full disk too.
    let (s, v) = available_now(&srv, "default/live/full").await;
    assert_eq!(s, 200, "{v}");
    assert!(
        !v["timeRanges"].as_array().unwrap().is_empty(),
        "the timeline indexed nothing: {v}\n{}",
        srv.log()
    );
    // Space is freed: the reserve is made again at the next start, and pushes record.
    std::fs::remove_file(data.join("filler")).unwrap();
    srv.kill_9();
    let srv = srv.restart(cfg);
    assert!(data.join("reserve.bin").exists());
    assert_eq!(srv.metric("rewind_disk_full ").await, 0);
    let push = ffmpeg_push(&fixture("av", 3), &srv.push_url("live/after"));
    assert!(wait_child(push, Duration::from_secs(30)).0);
    let media = wait_media(&srv, "stream=after", 2, Duration::from_secs(15)).await;
    for m in &media {
        assert_eq!(decode_errors(&media_path(&srv, m)), "");
        assert!(m["duration"].as_f64().unwrap() > 2.5);
    }
}
