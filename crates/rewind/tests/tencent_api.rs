//! The Tencent-action API driven by Tencent's own Python SDK and `tccli` (issue 28), as
//! a migrating user's code would drive it: every action, real ffmpeg pushes, the
//! signatures and their failures, callbacks from callback templates. Runs on both
//! backends (scripts/test runs it again on PostgreSQL and S3); the two-node case is in
//! tests/cluster.rs.

mod common;
use common::receiver::{Inbox, free_port, serve};
use common::tencent::{self, Sdk, Way};
use common::*;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn iso(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Polls `f` until it gives something, for at most `secs`.
fn poll<T>(what: &str, secs: u64, srv: &TestServer, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}\nlog:\n{}", srv.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_and_tccli_manage_templates_rules_callbacks_and_keys() {
    let srv = TestServer::start(&tencent::config());
    let mut sdk = Sdk::new(&srv.http);

    // Record templates: made, listed, read, changed in part, refused where rewind has
    // no counterpart, refused while a rule uses them.
    let params = json!({
        "TemplateName": "flv3d",
        "Description": "three_days",
        "FlvParam": {"Enable": 1, "RecordInterval": 1800, "StorageTime": 259200},
        "HlsSpecialParam": {"FlowContinueDuration": 60},
    });
    let id = sdk.live("CreateLiveRecordTemplate", params)["TemplateId"].as_i64().unwrap();
    assert!(id > 0);
    let list = sdk.live("DescribeLiveRecordTemplates", json!({}));
    let t = list["Templates"].as_array().unwrap().iter().find(|t| t["TemplateId"] == id).unwrap().clone();
    assert_eq!(t["TemplateName"], "flv3d");
    assert_eq!(t["FlvParam"]["Enable"], 1);
    assert_eq!(t["FlvParam"]["StorageTime"], 259200);
    let one = sdk.live("DescribeLiveRecordTemplate", json!({"TemplateId": id}));
    assert_eq!(one["Template"]["Description"], "three_days");
    // The same template through /v1: one catalog behind both APIs.
    let (s, v1) = srv.get(&format!("/v1/record-templates/{id}")).await;
    assert_eq!(s, 200, "{v1}");
    let timeline_before = v1["timeline"].clone();
    sdk.live("ModifyLiveRecordTemplate", json!({"TemplateId": id, "Description": "changed"}));
    let (_, v1) = srv.get(&format!("/v1/record-templates/{id}")).await;
    assert_eq!(v1["description"], "changed");
    assert_eq!(v1["flv"]["enable"], true, "fields not sent stay: {v1}");
    assert_eq!(v1["flv"]["storage_time"], 259200, "{v1}");
    assert_eq!(v1["timeline"], timeline_before, "rewind's own settings stay: {v1}");
    let e =
        sdk.live_err("CreateLiveRecordTemplate", json!({"TemplateName": "mp3", "Mp3Param": {"Enable": 1}}));
    assert_eq!(e.code, "UnsupportedOperation", "{e:?}");
    assert!(e.message.contains("Mp3Param"), "{e:?}");
    // The cloud's defaults of such fields are taken.
    sdk.live(
        "CreateLiveRecordTemplate",
        json!({"TemplateName": "plain", "IsDelayLive": 0, "Mp3Param": {"Enable": 0}}),
    );
    let e = sdk.live_err(
        "CreateLiveRecordTemplate",
        json!({"TemplateName": "short", "FlvParam": {"Enable": 1, "RecordInterval": 10}}),
    );
    assert!(e.message.contains("FlvParam.RecordInterval"), "the cloud's field is named: {e:?}");
    let e = sdk.live_err("DescribeLiveRecordTemplate", json!({"TemplateId": 99999}));
    assert!(e.code.starts_with("ResourceNotFound"), "{e:?}");

    // Record rules, with the cloud's Beijing-time stamps.
    sdk.live("CreateLiveRecordRule", json!({"DomainName": "default", "AppName": "live", "TemplateId": id}));
    let rules = sdk.live("DescribeLiveRecordRules", json!({}));
    let r = &rules["Rules"][0];
    assert_eq!(
        (r["DomainName"].as_str(), r["AppName"].as_str(), r["StreamName"].as_str()),
        (Some("default"), Some("live"), Some(""))
    );
    assert_eq!(r["CreateTime"].as_str().unwrap().len(), "2018-09-12 15:52:01".len(), "{r}");
    let e = sdk.live_err("DeleteLiveRecordTemplate", json!({"TemplateId": id}));
    assert_eq!(e.code, "FailedOperation.ConfInUsed", "{e:?}");
    // A missing and a mistyped field.
    let e = sdk.live_err("CreateLiveRecordRule", json!({"TemplateId": id}));
    assert_eq!(e.code, "MissingParameter", "{e:?}");
    assert!(e.message.contains("DomainName"), "{e:?}");
    let e = sdk.live_err("DescribeLiveRecordTemplate", json!({"TemplateId": "seven"}));
    assert_eq!(e.code, "InvalidParameterValue", "{e:?}");
    assert!(e.message.contains("TemplateId"), "{e:?}");
    sdk.live("DeleteLiveRecordRule", json!({"DomainName": "default", "AppName": "live"}));
    sdk.live("DeleteLiveRecordTemplate", json!({"TemplateId": id}));
    assert!(sdk.live("DescribeLiveRecordRules", json!({}))["Rules"].as_array().unwrap().is_empty());

    // Callback templates and rules, the same through /v1.
    let cb = json!({
        "TemplateName": "hooks",
        "Description": "ops",
        "StreamBeginNotifyUrl": "http://127.0.0.1:9/begin",
        "RecordNotifyUrl": "http://127.0.0.1:9/record",
        "CallbackKey": "cbkey",
    });
    let cid = sdk.live("CreateLiveCallbackTemplate", cb)["TemplateId"].as_i64().unwrap();
    let all = sdk.live("DescribeLiveCallbackTemplates", json!({}));
    assert_eq!(all["Templates"][0]["TemplateName"], "hooks");
    assert_eq!(all["Templates"][0]["StreamEndNotifyUrl"], "");
    sdk.live(
        "ModifyLiveCallbackTemplate",
        json!({"TemplateId": cid, "StreamEndNotifyUrl": "http://127.0.0.1:9/end"}),
    );
    let one = sdk.live("DescribeLiveCallbackTemplate", json!({"TemplateId": cid}));
    assert_eq!(one["Template"]["StreamEndNotifyUrl"], "http://127.0.0.1:9/end");
    assert_eq!(one["Template"]["StreamBeginNotifyUrl"], "http://127.0.0.1:9/begin", "fields not sent stay");
    assert_eq!(one["Template"]["CallbackKey"], "cbkey");
    let (_, v1) = srv.get(&format!("/v1/callback-templates/{cid}")).await;
    assert_eq!(v1["stream_end_url"], "http://127.0.0.1:9/end", "{v1}");
    let e = sdk.live_err(
        "CreateLiveCallbackTemplate",
        json!({"TemplateName": "snap", "SnapshotNotifyUrl": "http://x/"}),
    );
    assert_eq!(e.code, "UnsupportedOperation", "{e:?}");
    assert!(e.message.contains("SnapshotNotifyUrl"), "{e:?}");
    let e = sdk.live_err(
        "CreateLiveCallbackTemplate",
        json!({"TemplateName": "bad", "RecordNotifyUrl": "ftp://x/"}),
    );
    assert_eq!(e.code, "InvalidParameter", "{e:?}");
    assert!(e.message.contains("RecordNotifyUrl"), "the cloud's field is named: {e:?}");
    sdk.live(
        "CreateLiveCallbackRule",
        json!({"DomainName": "default", "AppName": "live", "TemplateId": cid}),
    );
    let rules = sdk.live("DescribeLiveCallbackRules", json!({}));
    assert_eq!(rules["Rules"][0]["TemplateId"], cid);
    assert_eq!(rules["Rules"][0]["AppName"], "live");
    let (_, v1) = srv.get("/v1/callback-rules").await;
    assert_eq!(v1["rules"][0]["template_id"], cid, "{v1}");
    let e = sdk.live_err("DeleteLiveCallbackTemplate", json!({"TemplateId": cid}));
    assert_eq!(e.code, "FailedOperation.ConfInUsed", "{e:?}");
    let e = sdk.live_err(
        "CreateLiveCallbackRule",
        json!({"DomainName": "default", "AppName": "x", "TemplateId": 4242}),
    );
    assert!(e.code.starts_with("ResourceNotFound"), "{e:?}");
    sdk.live("DeleteLiveCallbackRule", json!({"DomainName": "default", "AppName": "live"}));
    sdk.live("DeleteLiveCallbackTemplate", json!({"TemplateId": cid}));
    assert!(sdk.live("DescribeLiveCallbackTemplates", json!({}))["Templates"].as_array().unwrap().is_empty());

    // Push keys and domains.
    sdk.live(
        "ModifyLivePushAuthKey",
        json!({"DomainName": "push.example.com", "Enable": 1, "MasterAuthKey": "m4ster"}),
    );
    let k = sdk.live("DescribeLivePushAuthKey", json!({"DomainName": "push.example.com"}));
    assert_eq!(k["PushAuthKeyInfo"]["MasterAuthKey"], "m4ster", "{k}");
    assert_eq!(k["PushAuthKeyInfo"]["Enable"], 1, "{k}");
    let e = sdk.live_err("ModifyLivePushAuthKey", json!({"DomainName": "push.example.com", "AuthDelta": 60}));
    assert_eq!(e.code, "UnsupportedOperation", "{e:?}");
    let d = sdk.live("DescribeLiveDomains", json!({}));
    let names: Vec<&str> =
        d["DomainList"].as_array().unwrap().iter().filter_map(|x| x["Name"].as_str()).collect();
    assert!(names.contains(&"push.example.com"), "{d}");

    // Every way the SDK signs and sends.
    for way in [
        Way { method: "GET", ..Way::default() },
        Way { unsigned: true, ..Way::default() },
        Way { sign: "HmacSHA256", ..Way::default() },
        Way { sign: "HmacSHA1", method: "GET", ..Way::default() },
    ] {
        let r = sdk.call_with(&way, "live", "DescribeLiveRecordRules", json!({}));
        assert!(r.is_ok(), "{way:?}: {r:?}");
    }
    let wrong = Way { secret_key: "not-the-key".into(), ..Way::default() };
    let e = sdk.call_with(&wrong, "live", "DescribeLiveRecordRules", json!({})).unwrap_err();
    assert_eq!(e.code, "AuthFailure.SignatureFailure", "{e:?}");
    let wrong = Way { secret_key: "not-the-key".into(), sign: "HmacSHA256", ..Way::default() };
    let e = sdk.call_with(&wrong, "live", "DescribeLiveRecordRules", json!({})).unwrap_err();
    assert_eq!(e.code, "AuthFailure.SignatureFailure", "{e:?}");
    let late = Way { skew: -600, ..Way::default() };
    let e = sdk.call_with(&late, "live", "DescribeLiveRecordRules", json!({})).unwrap_err();
    assert_eq!(e.code, "AuthFailure.SignatureExpire", "{e:?}");
    let stranger = Way { secret_id: "AKIDnobody".into(), ..Way::default() };
    let e = sdk.call_with(&stranger, "live", "DescribeLiveRecordRules", json!({})).unwrap_err();
    assert_eq!(e.code, "AuthFailure.SecretIdNotFound", "{e:?}");
    let e = sdk.call_with(&Way::default(), "live", "DescribeLiveSnapshotRules", json!({})).unwrap_err();
    assert_eq!(e.code, "InvalidAction", "{e:?}");
    let e = sdk.call_with(&Way::default(), "live", "NoSuchAction", json!({})).unwrap_err();
    assert_eq!(e.code, "InvalidAction", "{e:?}");

    // The library, empty yet.
    let found = sdk.vod("SearchMedia", json!({"StreamId": "cam"}));
    assert_eq!(found["TotalCount"], 0, "{found}");

    // tccli, pointed at rewind with --endpoint.
    let made = tencent::tccli(
        &srv.http,
        "live",
        "CreateLiveRecordTemplate",
        &["--TemplateName", "bycli", "--HlsParam", r#"{"Enable":1,"RecordInterval":600}"#],
    )
    .unwrap();
    let tid = made["TemplateId"].as_i64().unwrap();
    let listed = tencent::tccli(&srv.http, "live", "DescribeLiveRecordTemplates", &[]).unwrap();
    assert!(listed["Templates"].as_array().unwrap().iter().any(|t| t["TemplateId"] == tid), "{listed}");
    let (_, v1) = srv.get(&format!("/v1/record-templates/{tid}")).await;
    assert_eq!(v1["hls"]["record_interval"], 600, "{v1}");
    let err = tencent::tccli(&srv.http, "live", "DescribeLiveRecordTemplate", &["--TemplateId", "88888"])
        .unwrap_err();
    assert!(err.contains("ResourceNotFound"), "{err}");

    // The console is still at GET /.
    let page = reqwest::get(srv.url("/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"), "the console");
}

fn signed_by(e: &Value, key: &str) -> bool {
    let t = e["t"].as_i64().unwrap_or(0);
    e["sign"].as_str() == Some(&hex::encode(Md5::digest(format!("{key}{t}").as_bytes())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_seen_dropped_forbidden_recorded_and_called_back_through_the_sdk() {
    let port = free_port();
    let inbox = Arc::new(Inbox::default());
    serve(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap(), inbox.clone());
    let config = format!("{}\n[callbacks]\nfirst_retry_ms = 200\nmax_retry_ms = 400\n", tencent::config());
    let srv = TestServer::start(&config);
    let mut sdk = Sdk::new(&srv.http);
    let t0 = now();

    // Begin, end and record events of app `live` go where a callback template says.
    let cb = format!("http://127.0.0.1:{port}/cb");
    let cid = sdk.live(
        "CreateLiveCallbackTemplate",
        json!({
            "TemplateName": "hooks",
            "StreamBeginNotifyUrl": format!("{cb}?begin"),
            "StreamEndNotifyUrl": format!("{cb}?end"),
            "RecordNotifyUrl": format!("{cb}?record"),
            "CallbackKey": "cbkey",
        }),
    )["TemplateId"]
        .clone();
    sdk.live(
        "CreateLiveCallbackRule",
        json!({"DomainName": "default", "AppName": "live", "TemplateId": cid}),
    );
    let mp4 = sdk.live("CreateLiveRecordTemplate", json!({"TemplateName": "mp4", "Mp4Param": {"Enable": 1}}))
        ["TemplateId"]
        .clone();

    // A live push: online, active, its push info.
    let push = ffmpeg_push(&fixture("av", 14), &srv.push_url("live/cam"));
    let cam = json!({"DomainName": "default", "AppName": "live", "StreamName": "cam"});
    poll("the push to be active", 20, &srv, || {
        (sdk.live("DescribeLiveStreamState", cam.clone())["StreamState"] == "active").then_some(())
    });
    let online = sdk.live("DescribeLiveStreamOnlineList", json!({"DomainName": "default"}));
    assert_eq!(online["TotalNum"], 1, "{online}");
    assert_eq!(online["OnlineInfo"][0]["StreamName"], "cam");
    assert!(online["OnlineInfo"][0]["PublishTimeList"][0]["PublishTime"].as_str().unwrap().ends_with('Z'));
    let info = poll("codecs in the push info", 10, &srv, || {
        let i = sdk.live("DescribeLiveStreamPushInfoList", json!({"PushDomain": "default"}));
        (i["DataInfoList"][0]["Vcodec"] == "H264").then_some(i)
    });
    assert_eq!(info["DataInfoList"][0]["Acodec"], "AAC", "{info}");
    assert_eq!(info["DataInfoList"][0]["Resolution"], "320*240", "{info}");
    assert_eq!(info["DataInfoList"][0]["ClientIp"], "127.0.0.1", "{info}");

    // A highlight task over the next 4 s: its file is found through SearchMedia.
    let task = sdk.live(
        "CreateRecordTask",
        json!({"DomainName": "default", "AppName": "live", "StreamName": "cam",
               "StartTime": now(), "EndTime": now() + 4, "TemplateId": mp4, "Extension": "{\"k\":1}"}),
    )["TaskId"]
        .clone();
    assert!(task.is_string(), "TaskId is a string: {task}");
    let tasks = sdk.live("DescribeRecordTask", json!({"StartTime": t0 - 60, "EndTime": now() + 600}));
    assert!(tasks["TaskList"].as_array().unwrap().iter().any(|t| t["TaskId"] == task), "{tasks}");
    let file = poll("the task's file in SearchMedia", 30, &srv, || {
        let found = sdk.vod("SearchMedia", json!({"StreamId": "cam", "MediaTypes": ["mp4"]}));
        found["MediaInfoSet"].as_array().and_then(|m| m.first().cloned())
    });
    let file_id = file["FileId"].as_str().unwrap().to_string();
    assert_eq!(file["BasicInfo"]["Type"], "mp4", "{file}");
    let url = file["BasicInfo"]["MediaUrl"].as_str().unwrap().to_string();
    let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    let local = srv.dir.path().join("task.mp4");
    std::fs::write(&local, &bytes).unwrap();
    assert_eq!(decode_errors(&local), "", "the file MediaUrl gives decodes clean");
    let infos = sdk.vod("DescribeMediaInfos", json!({"FileIds": [file_id.clone(), "nope"]}));
    assert_eq!(infos["MediaInfoSet"][0]["FileId"], file_id.as_str());
    assert_eq!(infos["NotExistFileIdSet"], json!(["nope"]));

    // Dropped: ffmpeg's push ends, the stream is inactive.
    sdk.live("DropLiveStream", cam.clone());
    let (_, _) = wait_child(push, Duration::from_secs(20));
    poll("the stream to be inactive", 10, &srv, || {
        (sdk.live("DescribeLiveStreamState", cam.clone())["StreamState"] == "inactive").then_some(())
    });

    // Forbidden: a push is refused until the forbid is lifted.
    sdk.live(
        "ForbidLiveStream",
        json!({"DomainName": "default", "AppName": "live", "StreamName": "cam",
               "ResumeTime": iso(now() + 3600), "Reason": "maintenance"}),
    );
    assert_eq!(sdk.live("DescribeLiveStreamState", cam.clone())["StreamState"], "forbid");
    let (_, v1) = srv.get("/v1/forbidden-streams").await;
    assert_eq!(v1["forbids"][0]["reason"], "maintenance", "{v1}");
    let (ok, _) =
        wait_child(ffmpeg_push(&fixture("av", 2), &srv.push_url("live/cam")), Duration::from_secs(20));
    assert!(!ok, "a forbidden stream's push is refused");
    assert!(srv.log().contains("forbidden until"), "the refusal is logged with its reason");
    assert!(srv.metric("rewind_publish_refused_total{reason=\"forbidden\"} ").await >= 1);
    let e = sdk.live_err(
        "ForbidLiveStream",
        json!({"DomainName": "default", "AppName": "live", "StreamName": "cam", "ResumeTime": iso(now() + 100 * 86400)}),
    );
    assert!(e.message.contains("ResumeTime"), "{e:?}");
    sdk.live("ResumeLiveStream", cam.clone());
    assert_eq!(sdk.live("DescribeLiveStreamState", cam.clone())["StreamState"], "inactive");
    let (ok, err) =
        wait_child(ffmpeg_push(&fixture("av", 2), &srv.push_url("live/cam")), Duration::from_secs(20));
    assert!(ok, "{err}");

    // The history of pushes: both publishes, ended, newest first.
    let history = poll("both publishes ended in the history", 10, &srv, || {
        let h = sdk.live(
            "DescribeLiveStreamPublishedList",
            json!({"DomainName": "default", "StartTime": iso(t0 - 60), "EndTime": iso(now())}),
        );
        let ended = h["PublishInfo"].as_array().unwrap().iter().filter(|p| p["StreamEndTime"] != "").count();
        (h["TotalNum"] == 2 && ended == 2).then_some(h)
    });
    let newest = &history["PublishInfo"][0];
    assert_eq!(newest["StreamName"], "cam");
    assert_eq!(newest["ClientIp"], "127.0.0.1");
    assert!(
        newest["StreamStartTime"].as_str().unwrap()
            > history["PublishInfo"][1]["StreamStartTime"].as_str().unwrap()
    );
    let (_, v1) = srv.get("/v1/streams/default/live/cam/publishes").await;
    assert_eq!(v1["total"], 2, "{v1}");
    assert_eq!(v1["publishes"][1]["stop_reason"], "the server dropped the publisher", "{v1}");
    let none = sdk.live(
        "DescribeLiveStreamPublishedList",
        json!({"DomainName": "default", "StartTime": iso(t0 - 7200), "EndTime": iso(t0 - 3600)}),
    );
    assert_eq!(none["TotalNum"], 0, "{none}");

    // The events, each signed md5(CallbackKey + t), at the URL of its kind.
    let want = |et: i64, n: usize| {
        poll(&format!("{n} events of type {et}"), 30, &srv, || {
            let got: Vec<Value> =
                inbox.by_id.lock().unwrap().values().filter(|e| e["event_type"] == et).cloned().collect();
            (got.len() >= n).then_some(got)
        })
    };
    let begins = want(1, 2);
    let ends = want(0, 2);
    let records = want(100, 1);
    for e in begins.iter().chain(&ends).chain(&records) {
        assert!(signed_by(e, "cbkey"), "signed with the template's key: {e}");
        assert_eq!(e["appname"], "live");
        assert_eq!(e["stream_id"], "cam");
    }
    assert_eq!(begins[0]["user_ip"], "127.0.0.1", "{}", begins[0]);
    assert!(ends.iter().all(|e| e["push_duration"].as_i64().unwrap() > 0), "{ends:?}");
    assert_eq!(records[0]["file_id"], file_id.as_str());

    // Deleted through vod: gone from both APIs.
    sdk.vod("DeleteMedia", json!({"FileId": file_id}));
    let infos = sdk.vod("DescribeMediaInfos", json!({"FileIds": [file_id.clone()]}));
    assert_eq!(infos["NotExistFileIdSet"], json!([file_id.clone()]));
    let (s, _) = srv.get(&format!("/v1/media/{file_id}")).await;
    assert_eq!(s, 404);
    let e = sdk.call_with(&Way::default(), "vod", "DeleteMedia", json!({"FileId": file_id})).unwrap_err();
    assert_eq!(e.code, "ResourceNotFound.FileNotExist", "{e:?}");

    // A task of a later window: deleted before it starts; an unknown one is not found.
    let later = sdk.live(
        "CreateRecordTask",
        json!({"DomainName": "default", "AppName": "live", "StreamName": "cam",
               "StartTime": now() + 3600, "EndTime": now() + 7200}),
    )["TaskId"]
        .clone();
    sdk.live("DeleteRecordTask", json!({"TaskId": later}));
    let e = sdk.live_err("StopRecordTask", json!({"TaskId": "no-such-task"}));
    assert!(e.code.starts_with("ResourceNotFound"), "{e:?}");
}
