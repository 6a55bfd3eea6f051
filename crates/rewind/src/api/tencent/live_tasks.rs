//! Record tasks: `CreateRecordTask`, `StopRecordTask`, `DeleteRecordTask`,
//! `DescribeRecordTask`, over `/v1/record-tasks`.

use super::Ctx;
use super::params::{Params, TcError};
use super::v1::{query, seg};
use serde_json::{Value, json};

/// `CreateRecordTask` → `{TaskId}` (a string). A missing or unknown `TemplateId`
/// records HLS kept forever, as on the cloud.
pub async fn create(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only(
        "CreateRecordTask",
        &[
            "StreamName",
            "DomainName",
            "AppName",
            "EndTime",
            "StartTime",
            "StreamType",
            "TemplateId",
            "Extension",
        ],
    )?;
    let body = json!({
        "domain": p.need_str("DomainName")?,
        "app": p.need_str("AppName")?,
        "stream": p.need_str("StreamName")?,
        "end_time": p.need_int("EndTime")?,
        "start_time": p.int("StartTime")?,
        "stream_type": p.int("StreamType")?,
        "template_id": p.int("TemplateId")?,
        "extension": p.str("Extension")?,
    });
    let t = ctx.v1.post("/v1/record-tasks", &body).await?;
    Ok(json!({ "TaskId": t["task_id"] }))
}

fn task_id(p: &Params, action: &str) -> Result<String, TcError> {
    p.only(action, &["TaskId"])?;
    p.need_str("TaskId")
}

/// `StopRecordTask`: the files are finished before it answers; the task never restarts.
pub async fn stop(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let id = task_id(p, "StopRecordTask")?;
    ctx.v1.post(&format!("/v1/record-tasks/{}/stop", seg(&id)), &json!({})).await?;
    Ok(json!({}))
}

/// `DeleteRecordTask`: also of a started task, as on the cloud (its recording ends,
/// files already made stay, later pushes of its window are not recorded).
pub async fn delete(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    let id = task_id(p, "DeleteRecordTask")?;
    ctx.v1.delete(&format!("/v1/record-tasks/{}", seg(&id))).await?;
    Ok(json!({}))
}

/// `DescribeRecordTask`: the tasks wholly inside `[StartTime, EndTime]` (at most 7
/// days), paged with `ScrollToken`.
pub async fn describe(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only(
        "DescribeRecordTask",
        &["StartTime", "EndTime", "StreamName", "DomainName", "AppName", "ScrollToken"],
    )?;
    let (start, end) = (p.need_int("StartTime")?, p.need_int("EndTime")?);
    if end <= start {
        return Err(TcError::new("InvalidParameter", "EndTime must be after StartTime"));
    }
    let q = query(&[
        ("domain", p.str("DomainName")?),
        ("app", p.str("AppName")?),
        ("stream", p.str("StreamName")?),
        ("start_time", Some(start.to_string())),
        ("end_time", Some(end.to_string())),
        ("page_token", p.str("ScrollToken")?.filter(|t| !t.is_empty())),
    ]);
    let page = ctx.v1.get(&format!("/v1/record-tasks?{q}")).await.map_err(|mut e| {
        e.message = e
            .message
            .replace("start_time to end_time", "StartTime to EndTime")
            .replace("page_token", "ScrollToken");
        e
    })?;
    // The `/v1` window is an overlap; the cloud's holds only tasks wholly inside it.
    let inside = |t: &&Value| {
        t["start_time"].as_i64().is_some_and(|s| s >= start)
            && t["end_time"].as_i64().is_some_and(|e| e <= end)
    };
    let list: Vec<Value> = page["tasks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(inside)
                .map(|t| {
                    json!({
                        "TaskId": t["task_id"],
                        "DomainName": t["domain"],
                        "AppName": t["app"],
                        "StreamName": t["stream"],
                        "StartTime": t["start_time"],
                        "EndTime": t["end_time"],
                        "TemplateId": t["template_id"],
                        "Stopped": t["stopped_at"].as_i64().unwrap_or(0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({ "TaskList": list, "ScrollToken": page["next_page_token"].as_str().unwrap_or("") }))
}
