//! Callback templates and rules: `CreateLiveCallbackTemplate` … `DeleteLiveCallbackRule`,
//! over `/v1/callback-templates` and `/v1/callback-rules`.

use super::params::{Params, TcError};
use super::v1::query;
use super::{Ctx, cloud_time};
use serde_json::{Map, Value, json};

/// The cloud's template fields rewind keeps, and their `/v1` names.
const FIELDS: &[(&str, &str)] = &[
    ("TemplateName", "name"),
    ("Description", "description"),
    ("StreamBeginNotifyUrl", "stream_begin_url"),
    ("StreamEndNotifyUrl", "stream_end_url"),
    ("RecordNotifyUrl", "record_url"),
    ("RecordStatusNotifyUrl", "record_status_url"),
    ("CallbackKey", "callback_key"),
];

/// URLs of events rewind does not send: refused when set, so none is silently ignored.
const NOT_SENT: &[(&str, &str)] = &[
    ("SnapshotNotifyUrl", "rewind takes no snapshots"),
    ("PornCensorshipNotifyUrl", "rewind does no content moderation"),
    ("StreamMixNotifyUrl", "rewind does not mix streams"),
    ("PushExceptionNotifyUrl", "rewind sends no push exception events"),
    ("AudioAuditNotifyUrl", "rewind does no audio moderation"),
    ("RecordExceptionNotifyUrl", "rewind reports recording problems as RecordStatusNotifyUrl events"),
];

fn cloud_names(mut e: TcError) -> TcError {
    for (cloud, ours) in FIELDS {
        e.message = e.message.replace(ours, cloud);
    }
    e
}

/// The `/v1` body of the fields `p` sets, after refusing the ones rewind cannot honour.
fn patch(p: &Params, action: &str) -> Result<Map<String, Value>, TcError> {
    let mut known: Vec<&str> = FIELDS.iter().map(|(c, _)| *c).collect();
    known.extend(NOT_SENT.iter().map(|(c, _)| *c));
    known.extend(["TemplateId", "RecordExceptionLevels"]);
    p.only(action, &known)?;
    for (field, why) in NOT_SENT {
        if p.str(field)?.is_some_and(|u| !u.is_empty()) {
            return Err(TcError::unsupported(field, why));
        }
    }
    if !p.str_list("RecordExceptionLevels")?.is_empty() {
        return Err(TcError::unsupported("RecordExceptionLevels", "rewind sends no record exception events"));
    }
    let mut out = Map::new();
    for (cloud, ours) in FIELDS {
        if let Some(v) = p.str(cloud)? {
            out.insert(ours.to_string(), json!(v));
        }
    }
    Ok(out)
}

fn template_info(t: &Value) -> Value {
    json!({
        "TemplateId": t["template_id"],
        "TemplateName": t["name"],
        "Description": t["description"],
        "StreamBeginNotifyUrl": t["stream_begin_url"],
        "StreamMixNotifyUrl": "",
        "StreamEndNotifyUrl": t["stream_end_url"],
        "RecordNotifyUrl": t["record_url"],
        "RecordStatusNotifyUrl": t["record_status_url"],
        "SnapshotNotifyUrl": "",
        "PornCensorshipNotifyUrl": "",
        "CallbackKey": t["callback_key"],
        "PushExceptionNotifyUrl": "",
        "AudioAuditNotifyUrl": "",
        "RecordExceptionNotifyUrl": "",
        "RecordExceptionLevels": [],
    })
}

/// Callback template ids start at 1.
fn template_id(p: &Params) -> Result<i64, TcError> {
    p.need_template_id(1)
}

/// `CreateLiveCallbackTemplate` → `{TemplateId}`.
pub async fn create_template(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.need_str("TemplateName")?;
    let body = patch(p, "CreateLiveCallbackTemplate")?;
    let t = ctx.v1.post("/v1/callback-templates", &Value::Object(body)).await.map_err(cloud_names)?;
    Ok(json!({ "TemplateId": t["template_id"] }))
}

/// `DescribeLiveCallbackTemplates` → `{Templates}`.
pub async fn describe_templates(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveCallbackTemplates", &[])?;
    let all = ctx.v1.get("/v1/callback-templates").await?;
    let list: Vec<Value> =
        all["templates"].as_array().map(|a| a.iter().map(template_info).collect()).unwrap_or_default();
    Ok(json!({ "Templates": list }))
}

/// `DescribeLiveCallbackTemplate` → `{Template}`.
pub async fn describe_template(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveCallbackTemplate", &["TemplateId"])?;
    let t = ctx.v1.get(&format!("/v1/callback-templates/{}", template_id(p)?)).await?;
    Ok(json!({ "Template": template_info(&t) }))
}

/// `ModifyLiveCallbackTemplate`: only the fields sent change.
pub async fn modify_template(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let id = template_id(p)?;
    let body = patch(p, "ModifyLiveCallbackTemplate")?;
    ctx.v1.put(&format!("/v1/callback-templates/{id}"), &Value::Object(body)).await.map_err(cloud_names)?;
    Ok(json!({}))
}

/// `DeleteLiveCallbackTemplate` (refused while a rule uses it: `FailedOperation.ConfInUsed`).
pub async fn delete_template(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DeleteLiveCallbackTemplate", &["TemplateId"])?;
    ctx.v1.delete(&format!("/v1/callback-templates/{}", template_id(p)?)).await?;
    Ok(json!({}))
}

/// `CreateLiveCallbackRule`: `DomainName`'s `AppName` (empty: every app) sends its
/// events as the template says.
pub async fn create_rule(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("CreateLiveCallbackRule", &["DomainName", "AppName", "TemplateId"])?;
    let body = json!({
        "domain": p.need_str("DomainName")?,
        "app": p.str("AppName")?.unwrap_or_default(),
        "template_id": template_id(p)?,
    });
    ctx.v1.post("/v1/callback-rules", &body).await?;
    Ok(json!({}))
}

/// `DescribeLiveCallbackRules` → `{Rules}`, times in Beijing time as the cloud writes them.
pub async fn describe_rules(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLiveCallbackRules", &[])?;
    let all = ctx.v1.get("/v1/callback-rules").await?;
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
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({ "Rules": rules }))
}

/// `DeleteLiveCallbackRule` (the exact domain and app).
pub async fn delete_rule(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DeleteLiveCallbackRule", &["DomainName", "AppName"])?;
    let q = query(&[
        ("domain", Some(p.need_str("DomainName")?)),
        ("app", Some(p.str("AppName")?.unwrap_or_default())),
    ]);
    ctx.v1.delete(&format!("/v1/callback-rules?{q}")).await?;
    Ok(json!({}))
}
