//! Record templates and rules: `CreateLiveRecordTemplate` … `DeleteLiveRecordRule`,
//! over `/v1/record-templates` and `/v1/record-rules`.

use super::Ctx;
use super::cloud_time;
use super::params::{Params, TcError};
use super::v1::query;
use serde_json::{Map, Value, json};

/// The cloud's four recording formats and rewind's names of them.
const FORMATS: [(&str, &str); 4] =
    [("FlvParam", "flv"), ("HlsParam", "hls"), ("Mp4Param", "mp4"), ("AacParam", "aac")];

/// `RecordParam` fields rewind keeps.
const RECORD_PARAM: &[&str] = &[
    "RecordInterval",
    "StorageTime",
    "Enable",
    "VodSubAppId",
    "VodFileName",
    "Procedure",
    "StorageMode",
    "ClassId",
    "CosBucketName",
    "CosBucketRegion",
    "CosBucketPath",
];

/// Refuses the fields of a `RecordParam` that ask for what rewind has no counterpart
/// of (VOD sub-apps, task flows, cold storage, COS buckets); their defaults are fine.
fn refuse_cloud_only(p: &Params, name: &str) -> Result<(), TcError> {
    let f = |x: &str| format!("{name}.{x}");
    if p.int("VodSubAppId")?.is_some_and(|v| v != 0) {
        return Err(TcError::unsupported(
            &f("VodSubAppId"),
            "rewind keeps recordings in its own library (no VOD sub-application)",
        ));
    }
    if p.int("ClassId")?.is_some_and(|v| v != 0) {
        return Err(TcError::unsupported(&f("ClassId"), "the library has no categories"));
    }
    if p.str("Procedure")?.is_some_and(|v| !v.is_empty()) {
        return Err(TcError::unsupported(&f("Procedure"), "rewind runs no VOD task flows on recordings"));
    }
    if p.str("StorageMode")?.is_some_and(|v| !v.is_empty() && v != "normal") {
        return Err(TcError::unsupported(
            &f("StorageMode"),
            "only normal storage (the configured folder or bucket)",
        ));
    }
    for cos in ["CosBucketName", "CosBucketRegion", "CosBucketPath"] {
        if p.str(cos)?.is_some_and(|v| !v.is_empty()) {
            return Err(TcError::unsupported(
                &f(cos),
                "rewind stores in its configured [storage], not a COS bucket",
            ));
        }
    }
    Ok(())
}

/// The rewind template fields (a partial template) a cloud template call sets.
fn template_patch(p: &Params, action: &str, modify: bool) -> Result<Map<String, Value>, TcError> {
    let mut known = vec![
        "TemplateName",
        "Description",
        "FlvParam",
        "HlsParam",
        "Mp4Param",
        "AacParam",
        "HlsSpecialParam",
        "Mp3Param",
        "CosStore",
        "RemoveWatermark",
        "FlvSpecialParam",
        "IsDelayLive",
    ];
    if modify {
        known.push("TemplateId");
    }
    p.only(action, &known)?;
    let mut out = Map::new();
    if let Some(n) = p.str("TemplateName")? {
        out.insert("name".into(), n.into());
    }
    if let Some(d) = p.str("Description")? {
        out.insert("description".into(), d.into());
    }
    for (cloud, ours) in FORMATS {
        let Some(fp) = p.obj(cloud)? else { continue };
        fp.only(&format!("{action} {cloud}"), RECORD_PARAM)?;
        refuse_cloud_only(&fp, cloud)?;
        let mut m = Map::new();
        if let Some(e) = fp.int("Enable")? {
            if !(0..=1).contains(&e) {
                return Err(TcError::new(
                    "InvalidParameterValue",
                    format!("{cloud}.Enable must be 0 or 1, not {e}"),
                ));
            }
            m.insert("enable".into(), (e == 1).into());
        }
        if let Some(i) = fp.int("RecordInterval")? {
            if !(0..=u32::MAX as i64).contains(&i) {
                return Err(TcError::new(
                    "InvalidParameter.RecordInterval",
                    format!("{cloud}.RecordInterval must be seconds, not {i}"),
                ));
            }
            m.insert("record_interval".into(), i.into());
        }
        if let Some(s) = fp.int("StorageTime")? {
            if s < 0 {
                return Err(TcError::new(
                    "InvalidParameter.StorageTime",
                    format!("{cloud}.StorageTime must be seconds, not {s}"),
                ));
            }
            m.insert("storage_time".into(), s.into());
        }
        if let Some(n) = fp.str("VodFileName")? {
            m.insert("file_name".into(), n.into());
        }
        out.insert(ours.into(), Value::Object(m));
    }
    if let Some(h) = p.obj("HlsSpecialParam")? {
        h.only(&format!("{action} HlsSpecialParam"), &["FlowContinueDuration"])?;
        if let Some(d) = h.int("FlowContinueDuration")? {
            out.insert("hls_special".into(), json!({ "flow_continue_duration": d }));
        }
    }
    if let Some(mp3) = p.obj("Mp3Param")? {
        mp3.only(&format!("{action} Mp3Param"), RECORD_PARAM)?;
        if mp3.int("Enable")?.is_some_and(|e| e != 0) {
            return Err(TcError::unsupported(
                "Mp3Param.Enable",
                "rewind records FLV, HLS, MP4 and AAC, not MP3 (AacParam records the sound)",
            ));
        }
    }
    if p.int("IsDelayLive")?.is_some_and(|v| v != 0) {
        return Err(TcError::unsupported("IsDelayLive", "rewind has no slow-live (delayed) streams"));
    }
    if p.int("CosStore")?.is_some_and(|v| v != 0) {
        return Err(TcError::unsupported("CosStore", "rewind stores in its configured [storage], not COS"));
    }
    if let Some(f) = p.obj("FlvSpecialParam")? {
        f.only(&format!("{action} FlvSpecialParam"), &["UploadInRecording"])?;
        if f.bool("UploadInRecording")? == Some(true) {
            return Err(TcError::unsupported(
                "FlvSpecialParam.UploadInRecording",
                "an FLV file enters the library (and the bucket) when it is finished",
            ));
        }
    }
    // RemoveWatermark: rewind records the pushed stream as it comes (no watermark or
    // transcode exists to remove), so both values record the same thing.
    p.bool("RemoveWatermark")?;
    Ok(out)
}

/// rewind's field names in a `/v1` message, as the cloud names them.
fn cloud_names(mut e: TcError) -> TcError {
    for (cloud, ours) in FORMATS {
        for (c, o) in [
            ("RecordInterval", "record_interval"),
            ("StorageTime", "storage_time"),
            ("VodFileName", "file_name"),
            ("Enable", "enable"),
        ] {
            e.message = e.message.replace(&format!("{ours}.{o}"), &format!("{cloud}.{c}"));
        }
    }
    e.message = e
        .message
        .replace("hls_special.flow_continue_duration", "HlsSpecialParam.FlowContinueDuration")
        .replace("name must be", "TemplateName must be")
        .replace("description is", "Description is");
    e
}

fn record_param(v: &Value) -> Value {
    json!({
        "RecordInterval": v["record_interval"].as_i64().unwrap_or(1800),
        "StorageTime": v["storage_time"].as_i64().unwrap_or(0),
        "Enable": i64::from(v["enable"].as_bool().unwrap_or(false)),
        "VodSubAppId": 0,
        "VodFileName": v["file_name"].as_str().unwrap_or(""),
        "Procedure": "",
        "StorageMode": "normal",
        "ClassId": 0,
        "CosBucketName": "",
        "CosBucketRegion": "",
        "CosBucketPath": "",
    })
}

/// A `/v1` template as the cloud's `RecordTemplateInfo`.
fn template_info(t: &Value) -> Value {
    let mut m = Map::new();
    m.insert("TemplateId".into(), t["template_id"].clone());
    m.insert("TemplateName".into(), t["name"].clone());
    m.insert("Description".into(), t["description"].clone());
    for (cloud, ours) in FORMATS {
        m.insert(cloud.into(), record_param(&t[ours]));
    }
    m.insert("Mp3Param".into(), record_param(&json!({"file_name": t["flv"]["file_name"]})));
    m.insert("IsDelayLive".into(), 0.into());
    m.insert(
        "HlsSpecialParam".into(),
        json!({"FlowContinueDuration": t["hls_special"]["flow_continue_duration"].as_i64().unwrap_or(0)}),
    );
    m.insert("RemoveWatermark".into(), true.into());
    m.insert("CosStore".into(), 0.into());
    m.insert("FlvSpecialParam".into(), json!({"UploadInRecording": false}));
    Value::Object(m)
}

/// Record template ids start at 0 (the built-in template).
fn template_id(p: &Params) -> Result<i64, TcError> {
    p.need_template_id(0)
}

/// `CreateLiveRecordTemplate` → `{TemplateId}`.
pub async fn create_template(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.need_str("TemplateName")?;
    let patch = template_patch(p, "CreateLiveRecordTemplate", false)?;
    let t = ctx.v1.post("/v1/record-templates", &Value::Object(patch)).await.map_err(cloud_names)?;
    Ok(json!({ "TemplateId": t["template_id"] }))
}

/// `DescribeLiveRecordTemplates` → `{Templates}` (not the built-in template 0, which
/// stands for the cloud's unnamed default).
pub async fn describe_templates(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveRecordTemplates", &["IsDelayLive"])?;
    if p.int("IsDelayLive")?.is_some_and(|v| v != 0) {
        return Ok(json!({ "Templates": [] }));
    }
    let all = ctx.v1.get("/v1/record-templates").await?;
    let list: Vec<Value> = all["templates"]
        .as_array()
        .map(|a| a.iter().filter(|t| t["template_id"].as_i64() != Some(0)).map(template_info).collect())
        .unwrap_or_default();
    Ok(json!({ "Templates": list }))
}

/// `DescribeLiveRecordTemplate` → `{Template}`.
pub async fn describe_template(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveRecordTemplate", &["TemplateId"])?;
    let id = template_id(p)?;
    let t = ctx.v1.get(&format!("/v1/record-templates/{id}")).await?;
    Ok(json!({ "Template": template_info(&t) }))
}

/// `ModifyLiveRecordTemplate`: only the fields sent change (rewind's `timeline`
/// settings are kept).
pub async fn modify_template(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let id = template_id(p)?;
    let patch = template_patch(p, "ModifyLiveRecordTemplate", true)?;
    ctx.v1.put(&format!("/v1/record-templates/{id}"), &Value::Object(patch)).await.map_err(cloud_names)?;
    Ok(json!({}))
}

/// `DeleteLiveRecordTemplate` (refused while a rule uses it: `FailedOperation.ConfInUsed`).
pub async fn delete_template(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DeleteLiveRecordTemplate", &["TemplateId"])?;
    let id = template_id(p)?;
    ctx.v1.delete(&format!("/v1/record-templates/{id}")).await?;
    Ok(json!({}))
}

/// `CreateLiveRecordRule`: empty `AppName`/`StreamName` match every app/stream.
pub async fn create_rule(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("CreateLiveRecordRule", &["DomainName", "TemplateId", "AppName", "StreamName"])?;
    let body = json!({
        "domain": p.need_str("DomainName")?,
        "app": p.str("AppName")?.unwrap_or_default(),
        "stream": p.str("StreamName")?.unwrap_or_default(),
        "template_id": template_id(p)?,
    });
    ctx.v1.post("/v1/record-rules", &body).await?;
    Ok(json!({}))
}

/// `DescribeLiveRecordRules` → `{Rules}` with `CreateTime`/`UpdateTime` in Beijing
/// time, as the cloud writes them.
pub async fn describe_rules(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveRecordRules", &[])?;
    let all = ctx.v1.get("/v1/record-rules").await?;
    let rules: Vec<Value> = all["rules"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    json!({
                        "CreateTime": cloud_time::beijing_of_v1(&r["created_at"]),
                        "UpdateTime": cloud_time::beijing_of_v1(&r["updated_at"]),
                        "TemplateId": r["template_id"],
                        "DomainName": r["domain"],
                        "AppName": r["app"],
                        "StreamName": r["stream"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({ "Rules": rules }))
}

/// `DeleteLiveRecordRule` (the exact triple).
pub async fn delete_rule(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DeleteLiveRecordRule", &["DomainName", "AppName", "StreamName"])?;
    let q = query(&[
        ("domain", Some(p.need_str("DomainName")?)),
        ("app", Some(p.str("AppName")?.unwrap_or_default())),
        ("stream", Some(p.str("StreamName")?.unwrap_or_default())),
    ]);
    ctx.v1.delete(&format!("/v1/record-rules?{q}")).await?;
    Ok(json!({}))
}
