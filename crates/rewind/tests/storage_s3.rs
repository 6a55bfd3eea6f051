//! Recordings and the timeline in an S3-compatible bucket (issue 16): a real S3 server
//! (moto, behind a relay a test can take down), real pushes, and everything read back
//! through the API the way users meet it. The rest of the end-to-end suite runs on a
//! bucket too (scripts/test: `TEST_STORAGE=s3`); these tests are what only a bucket has:
//! what is where, presigned URLs, the bucket going away, a full spool, crashes.

mod common;
use common::s3::S3;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Every format, the timeline with 3 s chunks, callbacks queued (nothing listens).
fn config(s3: &S3, extra: &str) -> String {
    format!(
        "[callbacks]\nurl = \"http://127.0.0.1:9/never\"\nmax_attempts = 1000\nfirst_retry_ms = 600000\n\n\
         [timeline]\nrecord_all = true\ntest_segment_length_secs = 3\n\n\
         [[record_templates]]\ntemplate_id = 1\nname = \"all\"\n\
         flv = {{ enable = true }}\nhls = {{ enable = true }}\nmp4 = {{ enable = true }}\naac = {{ enable = true }}\n\n\
         [[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n{}{extra}",
        s3.config()
    )
}

fn start(s3: &Arc<S3>, extra: &str) -> TestServer {
    let mut srv = TestServer::start(&config(s3, extra));
    srv.s3 = Some(s3.clone());
    srv
}

fn push(srv: &TestServer, stream: &str, secs: u32) {
    let (ok, err) = wait_child(
        ffmpeg_push(&fixture("av", secs), &srv.push_url(&format!("live/{stream}"))),
        Duration::from_secs(60),
    );
    assert!(ok, "{err}");
}

/// Regular files under the local root's `sub` folder that are not hidden (a recording
/// being written is hidden).
fn local_files(srv: &TestServer, sub: &str) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else if !name.starts_with('.') {
                out.push(e.path().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&srv.dir.path().join("data").join(sub), &mut out);
    out
}

async fn bytes(url: &str, range: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = c.get(url);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let r = req.send().await.unwrap();
    let (s, h) = (r.status().as_u16(), r.headers().clone());
    (s, h, r.bytes().await.unwrap().to_vec())
}

fn key_of(m: &Value) -> String {
    format!(
        "media/{}/{}/{}/{}",
        m["domain"].as_str().unwrap(),
        m["app"].as_str().unwrap(),
        m["stream"].as_str().unwrap(),
        m["file_name"].as_str().unwrap()
    )
}

#[tokio::test]
async fn every_byte_goes_to_the_bucket_and_plays_back_from_it() {
    let s3 = Arc::new(S3::start());
    let srv = start(&s3, "");
    push(&srv, "b", 8);
    let media = wait_media(&srv, "stream=b", 4, Duration::from_secs(20)).await;
    wait_uploaded(&srv).await;
    assert!(srv.metric("rewind_storage_upload_files_total ").await >= 5);

    // In the bucket: every file, every HLS segment, every timeline chunk; locally nothing
    // but the database (the spool is empty).
    let keys = s3.keys();
    for m in &media {
        assert!(keys.contains(&key_of(m)), "{} not in {keys:?}", key_of(m));
    }
    let hls = media.iter().find(|m| m["format"] == "hls").unwrap();
    let folder = key_of(hls).strip_suffix(".m3u8").unwrap().to_string();
    assert!(keys.iter().filter(|k| k.starts_with(&format!("{folder}/")) && k.ends_with(".ts")).count() >= 2);
    let chunks = keys.iter().filter(|k| k.starts_with("timeline/default/live/b/")).count();
    assert!(chunks >= 2, "{keys:?}");
    assert_eq!(local_files(&srv, "media"), Vec::<String>::new());
    assert_eq!(local_files(&srv, "timeline"), Vec::<String>::new());

    // Read back through the API: whole, by range, and decoded.
    let flv = media.iter().find(|m| m["format"] == "flv").unwrap();
    let url = srv.url(&format!("/v1/media/{}/content", flv["file_id"].as_str().unwrap()));
    let (s, h, whole) = bytes(&url, None).await;
    assert_eq!(s, 200);
    assert_eq!(whole, s3.get(&key_of(flv)).unwrap(), "the API serves the bucket's bytes");
    assert_eq!(whole.len() as u64, flv["file_size"].as_u64().unwrap());
    assert_eq!(h["content-type"], "video/x-flv");
    let (s, h, part) = bytes(&url, Some("bytes=100-199")).await;
    assert_eq!((s, part.as_slice()), (206, &whole[100..200]));
    assert_eq!(h["content-range"], format!("bytes 100-199/{}", whole.len()).as_str());
    let (s, h, _) = bytes(&url, Some(&format!("bytes={}-", whole.len() + 5))).await;
    assert_eq!(s, 416);
    assert_eq!(h["content-range"], format!("bytes */{}", whole.len()).as_str());
    for m in &media {
        let url = srv.url(&format!("/v1/media/{}/content", m["file_id"].as_str().unwrap()));
        assert_eq!(decode_errors(Path::new(&url)), "", "{}", m["format"]);
    }

    // The timeline from the bucket: a VOD manifest and a clip decode whole.
    let (s, v) = available_now(&srv, "default/live/b").await;
    assert_eq!(s, 200, "{v}");
    let manifest = srv.url("/v1/streams/default/live/b/manifest.m3u8");
    assert_eq!(decode_errors(Path::new(&manifest)), "");
    let clip = srv.url("/v1/streams/default/live/b/clip.mp4");
    assert_eq!(decode_errors(Path::new(&clip)), "");
    let dash = srv.url("/v1/streams/default/live/b/manifest.mpd");
    assert_eq!(decode_errors(Path::new(&dash)), "");

    // Deleting a record deletes its objects (an HLS recording: playlist and segments).
    let (s, _) = srv.send("DELETE", &format!("/v1/media/{}", hls["file_id"].as_str().unwrap()), None).await;
    assert_eq!(s, 204);
    let keys = s3.keys();
    assert!(!keys.iter().any(|k| *k == key_of(hls) || k.starts_with(&format!("{folder}/"))), "{keys:?}");
    assert!(keys.contains(&key_of(flv)), "the other files stay: {keys:?}");
}

#[tokio::test]
async fn presigned_urls_redirect_players_to_the_bucket() {
    let s3 = Arc::new(S3::start());
    let srv = start(&s3, "presign = true\npresign_secs = 60\n");
    push(&srv, "p", 5);
    let media = wait_media(&srv, "stream=p", 4, Duration::from_secs(20)).await;
    wait_uploaded(&srv).await;
    let mp4 = media.iter().find(|m| m["format"] == "mp4").unwrap();
    let (s, h, _) =
        bytes(&srv.url(&format!("/v1/media/{}/content", mp4["file_id"].as_str().unwrap())), None).await;
    assert_eq!(s, 307);
    let location = h["location"].to_str().unwrap().to_string();
    assert!(location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires=60"), "{location}");
    let (s, _, got) = bytes(&location, None).await;
    assert_eq!(s, 200);
    assert_eq!(got, s3.get(&key_of(mp4)).unwrap());
    // Players follow the redirects: the recording and the timeline decode. (ffmpeg says
    // at error level that it opens a new connection for the bucket's host: not an error.)
    let errors = |url: &str| {
        decode_errors(Path::new(url))
            .lines()
            .filter(|l| !l.contains("Cannot reuse HTTP connection"))
            .collect::<String>()
    };
    let url = srv.url(&format!("/v1/media/{}/content", mp4["file_id"].as_str().unwrap()));
    assert_eq!(errors(&url), "");
    let manifest = srv.url("/v1/streams/default/live/p/manifest.m3u8");
    assert_eq!(errors(&manifest), "");
    let hls = media.iter().find(|m| m["format"] == "hls").unwrap();
    assert_eq!(errors(&srv.url(&format!("/v1/media/{}/content", hls["file_id"].as_str().unwrap()))), "");
}

#[tokio::test]
async fn the_bucket_gone_for_30_s_loses_nothing() {
    let s3 = Arc::new(S3::start());
    let srv = start(&s3, "");
    s3.go_down();
    let down_at = std::time::Instant::now();
    push(&srv, "down", 8);
    let media = wait_media(&srv, "stream=down", 4, Duration::from_secs(20)).await;
    // Recording did not wait for the bucket: the files are in the library, waiting in
    // the spool, and served from it meanwhile.
    assert!(wait_metric(&srv, "rewind_storage_upload_failures_total ", 1).await, "{}", srv.log());
    assert!(srv.metric("rewind_storage_spool_bytes ").await > 0);
    for m in &media {
        let url = srv.url(&format!("/v1/media/{}/content", m["file_id"].as_str().unwrap()));
        assert_eq!(decode_errors(Path::new(&url)), "", "{} from the spool", m["format"]);
    }
    // Waiting files are synced to disk once they have waited 5 s (not as they closed).
    assert!(wait_metric(&srv, "rewind_storage_spool_synced_files_total ", 1).await, "{}", srv.log());
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed()));
    s3.come_back();
    wait_uploaded(&srv).await;
    let keys = s3.keys();
    for m in &media {
        assert!(keys.contains(&key_of(m)), "{} lost: {keys:?}", key_of(m));
        let url = srv.url(&format!("/v1/media/{}/content", m["file_id"].as_str().unwrap()));
        assert_eq!(decode_errors(Path::new(&url)), "", "{} from the bucket", m["format"]);
    }
    assert_eq!(local_files(&srv, "media"), Vec::<String>::new());
    let manifest = srv.url("/v1/streams/default/live/down/manifest.m3u8");
    assert_eq!(decode_errors(Path::new(&manifest)), "");
    assert_eq!(srv.metric("rewind_storage_spool_dropped_chunks_total ").await, 0);

    // The bucket gone again: reading what is only there, and deleting it, say so (503,
    // retry later), and a failed delete keeps the record (no object without a record).
    s3.go_down();
    let flv = media.iter().find(|m| m["format"] == "flv").unwrap();
    let id = flv["file_id"].as_str().unwrap();
    let (s, v) = srv.get(&format!("/v1/media/{id}/content")).await;
    assert_eq!((s, v["error"]["code"].as_str()), (503, Some("ResourceUnavailable.Storage")), "{v}");
    let (s, v) = srv.send("DELETE", &format!("/v1/media/{id}"), None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (503, Some("ResourceUnavailable.Storage")), "{v}");
    assert_eq!(srv.get(&format!("/v1/media/{id}")).await.0, 200, "the record stays");
    s3.come_back();
    let (s, _) = srv.send("DELETE", &format!("/v1/media/{id}"), None).await;
    assert_eq!(s, 204);
    assert!(!s3.keys().contains(&key_of(flv)));
    assert_eq!(srv.get(&format!("/v1/media/{id}")).await.0, 404);
}

#[tokio::test]
async fn kill_9_with_a_full_spool_uploads_it_at_the_next_start() {
    let s3 = Arc::new(S3::start());
    let mut srv = start(&s3, "");
    s3.go_down();
    push(&srv, "k", 6);
    let media = wait_media(&srv, "stream=k", 4, Duration::from_secs(20)).await;
    srv.kill_9();
    s3.come_back();
    let mut srv = srv.restart(&config(&s3, ""));
    srv.s3 = Some(s3.clone());
    assert!(srv.wait_log("uploading what the spool still holds", Duration::from_secs(10)), "{}", srv.log());
    wait_uploaded(&srv).await;
    let keys = s3.keys();
    for m in &media {
        assert!(keys.contains(&key_of(m)), "{} lost: {keys:?}", key_of(m));
        let url = srv.url(&format!("/v1/media/{}/content", m["file_id"].as_str().unwrap()));
        assert_eq!(decode_errors(Path::new(&url)), "");
    }
    // The library and the bucket agree: one object per file, nothing twice.
    let (_, v) = srv.get("/v1/media?stream=k").await;
    assert_eq!(v["total"], 4);
    assert_eq!(local_files(&srv, "media"), Vec::<String>::new());
    assert_eq!(local_files(&srv, "timeline"), Vec::<String>::new());
    let manifest = srv.url("/v1/streams/default/live/k/manifest.m3u8");
    assert_eq!(decode_errors(Path::new(&manifest)), "");
}

#[tokio::test]
async fn a_full_spool_drops_timeline_chunks_first_and_never_files() {
    let s3 = Arc::new(S3::start());
    let srv = start(&s3, "spool_max_bytes = 1\n");
    s3.go_down();
    push(&srv, "full", 8);
    let media = wait_media(&srv, "stream=full", 4, Duration::from_secs(20)).await;
    assert!(wait_metric(&srv, "rewind_storage_spool_dropped_chunks_total ", 2).await, "{}", srv.log());
    assert!(
        srv.wait_log("spool full: a timeline chunk not yet uploaded was dropped", Duration::from_secs(5))
    );
    // The last chunk seals when the push ends: it is dropped too before the bucket returns.
    tokio::time::sleep(Duration::from_secs(3)).await;
    s3.come_back();
    wait_uploaded(&srv).await;
    // The files all made it; the dropped chunks are gone from the index, so what
    // availableMedia and the manifest list still plays.
    let keys = s3.keys();
    for m in &media {
        assert!(keys.contains(&key_of(m)), "{} lost: {keys:?}", key_of(m));
    }
    // The domain is told what was lost, with the span.
    let (s, v) = srv.get("/v1/callbacks?page_size=1000").await;
    assert_eq!(s, 200, "{v}");
    let dropped: Vec<&Value> = v["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["event"])
        .filter(|e| e["record_event"] == "timeline_dropped" && e["stream_id"] == "full")
        .collect();
    assert!(dropped.len() >= 2, "{v}");
    assert!(dropped[0]["message"].as_str().unwrap().contains("bytes of timeline from"), "{}", dropped[0]);
    // Every chunk waited behind the files, over the bound: all were dropped, and the
    // run they made is a hole end to end — availableMedia lists nothing unplayable.
    assert!(!keys.iter().any(|k| k.starts_with("timeline/")), "{keys:?}");
    assert_eq!(local_files(&srv, "timeline"), Vec::<String>::new());
    let (s, v) = available_now(&srv, "default/live/full").await;
    let ranges = v["timeRanges"].as_array().map_or(0, |a| a.len());
    assert!(s == 404 || ranges == 0, "{s} {v}");
}

#[tokio::test]
async fn large_files_go_up_in_parts_and_a_crash_leaves_no_upload_open() {
    let s3 = Arc::new(S3::start());
    // A multipart upload a crash left open: its mark beside the spooled file.
    let key = "media/default/live/mp/left.flv";
    let id = s3.start_multipart(key);
    assert_eq!(s3.open_multipart(), vec![format!("{}/{key}", common::s3::PREFIX)]);
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("data/media/default/live/mp");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(".left.flv.multipart-upload"), &id).unwrap();
    let mut srv = TestServer::start_in(dir, &config(&s3, "test_part_bytes = 32768\n"));
    srv.s3 = Some(s3.clone());
    assert!(
        srv.wait_log("aborted a multipart upload a crash left open", Duration::from_secs(10)),
        "{}",
        srv.log()
    );
    assert_eq!(s3.open_multipart(), Vec::<String>::new());
    assert!(!folder.join(".left.flv.multipart-upload").exists());

    // Files above the part size go up in parts, whole and in order.
    push(&srv, "mp", 6);
    let media = wait_media(&srv, "stream=mp", 4, Duration::from_secs(20)).await;
    wait_uploaded(&srv).await;
    let flv = media.iter().find(|m| m["format"] == "flv").unwrap();
    assert!(flv["file_size"].as_u64().unwrap() > 3 * 32768, "{flv}");
    let url = srv.url(&format!("/v1/media/{}/content", flv["file_id"].as_str().unwrap()));
    let (s, _, got) = bytes(&url, None).await;
    assert_eq!(s, 200);
    assert_eq!(got, s3.get(&key_of(flv)).unwrap());
    assert_eq!(got.len() as u64, flv["file_size"].as_u64().unwrap());
    assert_eq!(decode_errors(Path::new(&url)), "");
    assert_eq!(s3.open_multipart(), Vec::<String>::new(), "every multipart upload completed");
}

/// Timeline retention in the bucket, through the library: whole old chunks go with their
/// rows, and objects a crash left without a row (older than the cutoff) go too.
#[tokio::test]
async fn timeline_retention_deletes_old_chunks_and_leftovers_in_the_bucket() {
    use rewind::storage::keys;
    use rewind::timeline::chunk_table::FragmentRef;
    use rewind::timeline::index::{self, Chunk};
    use rewind_media::{Duration90k, Time90k};
    const S: &str = "d.example/live/cam";
    let s3 = S3::start();
    let dir = tempfile::tempdir().unwrap();
    let db = rewind::db::Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
    let storage = rewind::storage::Storage::open(dir.path(), &s3.storage_config()).unwrap();
    for start_s in [100i64, 130, 1000, 1030] {
        let start = Time90k::from_ms(start_s * 1000);
        let d = Duration90k::from_secs(30);
        let run = Time90k::from_ms(if start_s < 1000 { 100_000 } else { 1_000_000 });
        let frag = FragmentRef { start, duration: d, offset: 0, size: 10, independent: true, video_len: 10 };
        let c = Chunk {
            stream_id: S.into(),
            start,
            end: start + d,
            run_start: run,
            run_seq: i64::from(start_s >= 1000),
            init_id: 1,
            first_seq: 0,
            bytes: 10,
            sealed: true,
            fragments: vec![frag],
        };
        index::open_chunk(&db, &c, "n").await.unwrap();
        index::seal_chunk(&db, &c, None).await.unwrap();
        s3.put(keys::chunk(S, start).as_str(), b"0123456789");
    }
    // Left by a crash between a sweep's rows and its objects.
    s3.put(keys::chunk(S, Time90k::from_ms(10_000)).as_str(), b"x");
    index::set_retention(&db, S, 100).await.unwrap();
    let swept = rewind::timeline::retention::sweep(&db, &storage, Time90k::from_ms(1_135_000)).await.unwrap();
    assert_eq!((swept.chunks, swept.orphans), (3, 1), "{swept:?}");
    let left: Vec<String> = s3.keys().into_iter().filter(|k| k.starts_with("timeline/")).collect();
    assert_eq!(left, vec![keys::chunk(S, Time90k::from_ms(1_030_000)).as_str().to_string()]);
}

/// Polls a metric (10 s at most) until it reaches `min`.
async fn wait_metric(srv: &TestServer, prefix: &str, min: u64) -> bool {
    for _ in 0..100 {
        if srv.metric(prefix).await >= min {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn an_audit_drops_records_whose_bytes_are_gone_and_removes_objects_nothing_names() {
    let s3 = Arc::new(S3::start());
    let srv = start(&s3, "audit_interval_secs = 1\ntest_audit_grace_secs = 2\n");
    push(&srv, "aud", 12);
    let media = wait_media(&srv, "stream=aud", 4, Duration::from_secs(20)).await;
    wait_uploaded(&srv).await;
    let (_, before) = available_now(&srv, "default/live/aud").await;
    assert_eq!(before["timeRanges"].as_array().unwrap().len(), 1, "{before}");
    // Behind rewind's back: the FLV file and a chunk in the middle of the timeline are
    // deleted; a stray file, a stray chunk and a working copy of no recording appear.
    let flv = media.iter().find(|m| m["format"] == "flv").unwrap();
    s3.delete(&format!("media/default/live/aud/{}", flv["file_name"].as_str().unwrap()));
    let chunks: Vec<String> =
        s3.keys().into_iter().filter(|k| k.starts_with("timeline/default/live/aud/")).collect();
    assert!(chunks.len() >= 3, "{chunks:?}");
    s3.delete(&chunks[chunks.len() / 2]);
    let strays = [
        "media/default/live/aud/stray.flv",
        "timeline/default/live/aud/123.m4s",
        "media/default/live/aud/.1a2b3c.m3u8.part/000001.ts",
    ];
    for k in strays {
        s3.put(k, b"x");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let gone = srv.get(&format!("/v1/media/{}", flv["file_id"].as_str().unwrap())).await.0 == 404;
        let keys = s3.keys();
        let swept = strays.iter().all(|k| !keys.iter().any(|have| have == k));
        let (_, now) = available_now(&srv, "default/live/aud").await;
        let hole = now["timeRanges"].as_array().unwrap().len() == 2;
        if gone && swept && hole {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gone {gone}, swept {swept}, hole {hole}: {now}\n{keys:?}\n{}",
            srv.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(srv.metric("rewind_storage_audit_rows_dropped_total").await, 2);
    assert_eq!(srv.metric("rewind_storage_audit_objects_removed_total").await, 3);
    // Everything else is untouched and plays.
    for m in media.iter().filter(|m| m["format"] != "flv") {
        assert_eq!(srv.get(&format!("/v1/media/{}", m["file_id"].as_str().unwrap())).await.0, 200);
        assert_eq!(decode_errors(&media_path(&srv, m)), "", "{m}");
    }
}
