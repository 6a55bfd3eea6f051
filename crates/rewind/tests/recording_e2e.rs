//! Recording end to end: rules pick templates at publish start, recorders write FLV and
//! AAC files that a real decoder accepts, files land in the media library.

mod common;
use common::*;
use serde_json::json;
use std::time::Duration;

const FLV_AAC_ALL: &str = r#"
[[record_templates]]
template_id = 1
name = "flv+aac"
flv = { enable = true }
aac = { enable = true }

[[record_rules]]
domain = "*"
template_id = 1
"#;

fn approx(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[tokio::test]
async fn flv_and_aac_files_are_valid_and_listed() {
    let srv = TestServer::start(FLV_AAC_ALL);
    let input = fixture("av", 3);
    let (ok, err) = wait_child(ffmpeg_push(&input, &srv.push_url("live/rec?k=v")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let media = wait_media(&srv, "stream=rec", 2, Duration::from_secs(10)).await;
    let flv = media.iter().find(|m| m["format"] == "flv").expect("an flv file");
    let aac = media.iter().find(|m| m["format"] == "aac").expect("an aac file");
    for m in [flv, aac] {
        assert_eq!(m["source"], "rule");
        assert_eq!(m["template_id"], 1);
        assert_eq!(m["stream_param"], "k=v");
        assert_eq!(m["session_ids"].as_array().unwrap().len(), 1);
        assert!(m["expires_at"].is_null(), "storage_time 0 keeps forever");
        let path = media_path(&srv, m);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), m["file_size"].as_u64().unwrap());
        assert_eq!(decode_errors(&path), "", "{} decodes cleanly", path.display());
        // Within one frame of what was pushed.
        let pushed = media_span(&input, if m["format"] == "aac" { "a" } else { "" });
        assert!(approx(m["duration"].as_f64().unwrap(), pushed, 0.041), "pushed {pushed}: {m}");
        assert!(m["file_name"].as_str().unwrap().starts_with("rec_20"), "default pattern: {m}");
    }
    // FLV: both tracks, real duration in onMetaData, timestamps as pushed.
    let probe = ffprobe(&media_path(&srv, flv));
    let codecs: Vec<&str> =
        probe["streams"].as_array().unwrap().iter().map(|s| s["codec_name"].as_str().unwrap()).collect();
    assert_eq!(codecs.len(), 2, "{probe}");
    assert!(codecs.contains(&"h264") && codecs.contains(&"aac"));
    let dur: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!(approx(dur, media_span(&input, ""), 0.041), "onMetaData duration {dur}");
    assert_eq!(packets(&media_path(&srv, flv), "v"), packets(&input, "v"), "video timestamps copied");
    assert_eq!(packets(&media_path(&srv, flv), "a"), packets(&input, "a"), "audio timestamps copied");
    // AAC: audio only, every frame.
    let probe = ffprobe(&media_path(&srv, aac));
    assert_eq!(probe["streams"].as_array().unwrap().len(), 1);
    assert_eq!(probe["streams"][0]["codec_name"], "aac");
    assert_eq!(packets(&media_path(&srv, aac), "a").len(), packets(&input, "a").len());
    assert!(flv["video"]["width"] == 320 && aac["video"].is_null());

    // Content over HTTP, whole and by range.
    let url = srv.url(&format!("/v1/media/{}/content", flv["file_id"].as_str().unwrap()));
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len() as u64, flv["file_size"].as_u64().unwrap());
    let r = reqwest::Client::new().get(&url).header("range", "bytes=0-99").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()["content-type"], "video/x-flv");
    assert_eq!(&r.bytes().await.unwrap()[..], &body[..100]);
    let (s, one) = srv.get(&format!("/v1/media/{}", aac["file_id"].as_str().unwrap())).await;
    assert_eq!((s, &one["format"]), (200, &json!("aac")));

    // Delete: record and bytes together.
    let (s, _) = srv.send("DELETE", &format!("/v1/media/{}", aac["file_id"].as_str().unwrap()), None).await;
    assert_eq!(s, 204);
    assert!(!is_stored(&srv, aac).await);
    let (s, v) = srv.get(&format!("/v1/media/{}", aac["file_id"].as_str().unwrap())).await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("ResourceNotFound.Media")));
}

#[tokio::test]
async fn files_split_at_the_interval_without_losing_or_repeating_frames() {
    let srv = TestServer::start(&format!("[recording]\ntest_record_interval_secs = 2\n{FLV_AAC_ALL}"));
    let input = fixture("av", 5);
    let (ok, err) = wait_child(ffmpeg_push(&input, &srv.push_url("live/split")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let flvs = wait_media(&srv, "stream=split&format=flv", 3, Duration::from_secs(10)).await;
    assert_eq!(flvs.len(), 3, "5 s at 2 s intervals with 1 s GOPs");
    let aacs = wait_media(&srv, "stream=split&format=aac", 3, Duration::from_secs(10)).await;
    // Every file starts where the previous ended, and every frame is in exactly one file.
    let mut video = 0;
    let mut starts = Vec::new();
    for m in &flvs {
        let p = media_path(&srv, m);
        assert_eq!(decode_errors(&p), "");
        let v = packets(&p, "v");
        assert_eq!(v[0].1, 0, "each file starts at 0");
        video += v.len();
        starts.push(m["start_time"].as_str().unwrap().to_string());
    }
    assert_eq!(video, packets(&input, "v").len());
    let audio: usize = aacs.iter().map(|m| packets(&media_path(&srv, m), "a").len()).sum();
    assert_eq!(audio, packets(&input, "a").len());
    let durations: Vec<f64> = flvs.iter().map(|m| m["duration"].as_f64().unwrap()).collect();
    assert!(approx(durations[0], 2.0, 0.05) && approx(durations[1], 2.0, 0.05), "{durations:?}");
    let input_dur: f64 = ffprobe(&input)["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!(approx(durations.iter().sum::<f64>(), input_dur, 0.1), "{durations:?} vs {input_dur}");
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "listed by start time");
    let names: std::collections::HashSet<_> = flvs.iter().map(|m| m["file_name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3, "names never clash");
}

#[tokio::test]
async fn empty_template_excludes_a_stream_and_short_pushes_are_recorded() {
    let srv = TestServer::start(&format!(
        "{FLV_AAC_ALL}\n[[record_templates]]\ntemplate_id = 2\nname = \"none\"\n\n[[record_rules]]\ndomain = \"default\"\nstream = \"private\"\ntemplate_id = 2\n"
    ));
    let short = fixture("av", 2);
    for name in ["private", "public"] {
        let (ok, err) =
            wait_child(ffmpeg_push(&short, &srv.push_url(&format!("live/{name}"))), Duration::from_secs(30));
        assert!(ok, "{err}");
    }
    let public = wait_media(&srv, "stream=public", 2, Duration::from_secs(10)).await;
    for m in &public {
        assert_eq!(decode_errors(&media_path(&srv, m)), "");
        let pushed = media_span(&short, if m["format"] == "aac" { "a" } else { "" });
        assert!(approx(m["duration"].as_f64().unwrap(), pushed, 0.041), "pushed {pushed}: {m}");
    }
    let (_, v) = srv.get("/v1/media?stream=private").await;
    assert_eq!(v["total"], 0, "the empty template means do not record: {v}");
    assert!(srv.wait_log("not recording: the rule's template enables no format", Duration::from_secs(5)));
}

#[tokio::test]
async fn template_changes_apply_to_the_next_publish_only() {
    let srv = TestServer::start("");
    let (s, t) =
        srv.send("POST", "/v1/record-templates", Some(json!({"name": "a", "flv": {"enable": 1}}))).await;
    assert_eq!(s, 201, "{t}");
    let id = t["template_id"].as_i64().unwrap();
    let (s, _) = srv
        .send(
            "POST",
            "/v1/record-rules",
            Some(json!({"domain": "default", "app": "live", "template_id": id})),
        )
        .await;
    assert_eq!(s, 201);
    let long = ffmpeg_push(&fixture("av", 4), &srv.push_url("live/cfg"));
    srv.wait_stream("default/live/cfg", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true).await;
    // Mid-push: switch the template to AAC only.
    let (s, v) = srv
        .send(
            "PUT",
            &format!("/v1/record-templates/{id}"),
            Some(json!({"flv": {"enable": false}, "aac": {"enable": true}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["aac"]["enable"], true);
    assert_eq!(v["flv"]["record_interval"], 1800, "untouched fields keep their values");
    let (ok, err) = wait_child(long, Duration::from_secs(30));
    assert!(ok, "{err}");
    let first = wait_media(&srv, "stream=cfg", 1, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["format"], "flv", "the push in progress kept its settings");
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 2), &srv.push_url("live/cfg")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let both = wait_media(&srv, "stream=cfg", 2, Duration::from_secs(10)).await;
    assert_eq!(
        both.iter().filter(|m| m["format"] == "aac").count(),
        1,
        "the next push used the new settings"
    );
}

#[tokio::test]
async fn template_and_rule_api_validation() {
    let srv = TestServer::start("");
    let post = |b: serde_json::Value| srv.send("POST", "/v1/record-templates", Some(b));
    for (body, code) in [
        (json!({"name": "x", "flv": {"record_interval": 59}}), "InvalidParameter.RecordInterval"),
        (json!({"name": "x", "aac": {"record_interval": 7201}}), "InvalidParameter.RecordInterval"),
        (json!({"name": "x", "mp4": {"storage_time": 200_000_000u64}}), "InvalidParameter.StorageTime"),
        (
            json!({"name": "x", "flv": {"file_name": "{StreamID}/{Oops}"}}),
            "InvalidParameter.InvalidVodFileName",
        ),
        (
            json!({"name": "x", "hls_special": {"flow_continue_duration": 2000}}),
            "InvalidParameter.FlowContinueDuration",
        ),
        (json!({"name": "x", "timeline": {"segment_length": 31}}), "InvalidParameter.SegmentLength"),
        (json!({"name": ""}), "InvalidParameter"),
        (json!({"name": "x", "flv": {"enable": "yes"}}), "InvalidParameter.Body"),
    ] {
        let (s, v) = post(body.clone()).await;
        assert_eq!((s, v["error"]["code"].as_str()), (400, Some(code)), "{body} → {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let (s, t) = post(json!({"name": "ok", "description": "d", "hls": {"enable": true}})).await;
    assert_eq!(s, 201);
    let id = t["template_id"].as_i64().unwrap();
    let (_, list) = srv.get("/v1/record-templates").await;
    assert_eq!(list["templates"].as_array().unwrap().len(), 2, "template 0 is built in");
    assert_eq!(list["templates"][0]["template_id"], 0);
    let (s, v) = srv.send("DELETE", "/v1/record-templates/0", None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("UnsupportedOperation.BuiltinTemplate")));
    let rule = json!({"domain": "default", "app": "", "stream": "cam", "template_id": id});
    assert_eq!(srv.send("POST", "/v1/record-rules", Some(rule.clone())).await.0, 201);
    let (s, v) = srv.send("POST", "/v1/record-rules", Some(rule)).await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("FailedOperation.RuleAlreadyExist")));
    let (s, v) =
        srv.send("POST", "/v1/record-rules", Some(json!({"domain": "default", "template_id": 99}))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("InvalidParameter.ConfNotFound")));
    let (s, v) = srv.send("DELETE", &format!("/v1/record-templates/{id}"), None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("FailedOperation.ConfInUsed")));
    let (_, rules) = srv.get("/v1/record-rules").await;
    assert!(rules["rules"][0]["created_at"].as_str().unwrap().ends_with('Z'));
    let (s, v) = srv.send("DELETE", "/v1/record-rules?domain=default&app=&stream=other", None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("InternalError.RuleNotFound")));
    assert_eq!(srv.send("DELETE", "/v1/record-rules?domain=default&stream=cam", None).await.0, 204);
    assert_eq!(srv.send("DELETE", &format!("/v1/record-templates/{id}"), None).await.0, 204);
    let (s, _) = srv.get(&format!("/v1/record-templates/{id}")).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn hls_recording_is_an_event_playlist_while_recording_and_vod_after() {
    let srv = TestServer::start("[[record_rules]]\ndomain = \"*\"\ntemplate_id = 0\n");
    let input = fixture("av", 14);
    let push = ffmpeg_push(&input, &srv.push_url("live/hls"));
    // While recording: an EVENT playlist of the finished segments, written whole for
    // the first and appended to for the next.
    let dir = srv.dir.path().join("data/media/default/live/hls");
    let mut event = String::new();
    let found = wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&dir).into_iter().flatten().flatten().any(|e| {
            std::fs::read_to_string(e.path().join("index.m3u8")).is_ok_and(|t| {
                let two = t.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && t.matches(".ts\n").count() >= 2;
                if two {
                    event = t;
                }
                two
            })
        })
    });
    assert!(found, "an EVENT playlist of two segments appears while recording; log:\n{}", srv.log());
    let body: Vec<&str> = event.lines().skip_while(|l| !l.starts_with("#EXT-X-PROGRAM-DATE-TIME")).collect();
    assert_eq!(event.matches("#EXTM3U").count(), 1, "{event}");
    assert!(!event.contains("#EXT-X-ENDLIST"), "{event}");
    assert_eq!(body.len(), 5, "{event}");
    assert!(body[1].starts_with("#EXTINF:") && body[2] == "000001.ts", "{event}");
    assert!(body[3].starts_with("#EXTINF:") && body[4] == "000002.ts", "{event}");
    let (ok, err) = wait_child(push, Duration::from_secs(30));
    assert!(ok, "{err}");
    let media = wait_media(&srv, "stream=hls&format=hls", 1, Duration::from_secs(10)).await;
    let m = &media[0];
    assert_eq!(m["template_id"], 0);
    let playlist = media_path(&srv, m);
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    let segments: Vec<&str> = text.lines().filter(|l| l.ends_with(".ts")).collect();
    assert!(segments.len() >= 2, "{text}");
    // Every segment starts with a key frame and decodes on its own.
    for s in &segments {
        let seg = playlist.parent().unwrap().join(s);
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v", "-show_entries", "packet=flags", "-of", "csv=p=0"])
            .arg(&seg)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with('K'), "{s} starts with a key frame");
    }
    assert_eq!(decode_errors(&playlist), "");
    assert_eq!(packets(&playlist, "v").len(), packets(&input, "v").len(), "no video frame lost");
    assert_eq!(packets(&playlist, "a").len(), packets(&input, "a").len(), "no audio frame lost");
    let pushed = media_span(&input, "");
    assert!(approx(m["duration"].as_f64().unwrap(), pushed, 0.041), "pushed {pushed}: {m}");
    // Over HTTP: the playlist's relative segment URIs resolve under /v1/media/{id}/.
    let url = srv.url(&format!("/v1/media/{}/content", m["file_id"].as_str().unwrap()));
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", &url, "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let seg_url = format!("{}/{}/{}", srv.url("/v1/media"), m["file_id"].as_str().unwrap(), segments[0]);
    let r = reqwest::get(&seg_url).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    let (s, _) =
        srv.get(&format!("/v1/media/{}/..%2F..%2Frewind.toml", m["file_id"].as_str().unwrap())).await;
    assert_eq!(s, 404, "nothing outside the recording's folder is served");
}

#[tokio::test]
async fn mp4_is_progressive_with_the_moov_first() {
    let srv = TestServer::start(
        "[[record_templates]]\ntemplate_id = 3\nname = \"mp4\"\nmp4 = { enable = true }\n[[record_rules]]\ndomain = \"*\"\ntemplate_id = 3\n",
    );
    let input = fixture("av", 3);
    let (ok, err) = wait_child(ffmpeg_push(&input, &srv.push_url("live/mp4")), Duration::from_secs(30));
    assert!(ok, "{err}");
    let m = &wait_media(&srv, "stream=mp4&format=mp4", 1, Duration::from_secs(10)).await[0];
    let path = media_path(&srv, m);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, m["file_size"].as_u64().unwrap());
    // Top-level boxes in order: ftyp, moov, mdat.
    let mut boxes = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let mut size = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as u64;
        if size == 1 {
            size = u64::from_be_bytes(bytes[pos + 8..pos + 16].try_into().unwrap());
        }
        boxes.push(String::from_utf8_lossy(&bytes[pos + 4..pos + 8]).to_string());
        pos += size as usize;
    }
    assert_eq!(boxes, ["ftyp", "moov", "mdat"]);
    assert_eq!(pos, bytes.len());
    assert_eq!(decode_errors(&path), "");
    assert_eq!(packets(&path, "v"), packets(&input, "v"), "video timestamps copied");
    let (a_out, a_in) = (packets(&path, "a"), packets(&input, "a"));
    assert_eq!(a_out.len(), a_in.len());
    assert!(a_out.iter().zip(&a_in).all(|(o, i)| (o.0 - i.0).abs() <= 1), "audio timestamps copied (±1 ms)");
    let pushed = media_span(&input, "");
    assert!(approx(m["duration"].as_f64().unwrap(), pushed, 0.041), "pushed {pushed}: {m}");
    assert!(
        !std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with('.')),
        "no temporary files left"
    );
}
