//! `/v1/record-tasks`: create (scheduled or highlight), list, get, stop, delete.

use super::respond::QueryParams;
use super::{JsonBody, Svc};
use crate::error::{Error, ErrorCode, Result};
use crate::stream_id::StreamId;
use crate::tasks::model::{self, State, Task};
use crate::tasks::store::{self, Filter};
use axum::Json;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use serde::Deserialize;

/// Body of `POST /v1/record-tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    domain: String,
    app: String,
    stream: String,
    start_time: Option<i64>,
    end_time: i64,
    template_id: Option<i64>,
    stream_type: Option<i64>,
    extension: Option<String>,
}

/// `POST /v1/record-tasks`.
pub async fn create(AxState(svc): Svc, JsonBody(b): JsonBody<TaskBody>) -> Result<(StatusCode, Json<Task>)> {
    let id = StreamId::new(&b.domain, &b.app, &b.stream)?;
    let now = svc.clock.now_unix();
    let (start, end) = model::check_window(b.start_time, b.end_time, now)?;
    // Live here or on another node of the cluster (whose runner then records it).
    let live_somewhere = svc.registry.get(&id).is_some()
        || crate::leases::holder(&svc.db, &id.to_string(), svc.clock.now().0 / 90).await?.is_some();
    if b.start_time.is_none() && !live_somewhere {
        return Err(Error::new(
            ErrorCode::StreamNotLive,
            format!("stream {id} is not live: a task without start_time records now and needs a live stream"),
        ));
    }
    let stream_type = b.stream_type.unwrap_or(0);
    if !(0..=1).contains(&stream_type) {
        return Err(Error::new(ErrorCode::InvalidParameter, "stream_type must be 0 (push) or 1 (mixed)"));
    }
    let task = Task {
        task_id: crate::timeline::locator::new_id(),
        domain: id.domain.clone(),
        app: id.app.clone(),
        stream: id.stream.clone(),
        start_time: start,
        end_time: end,
        template_id: b.template_id.unwrap_or(0),
        stream_type,
        extension: b.extension,
        state: State::Scheduled,
        stopped_at: None,
        source: "task".into(),
        max_end_time: end,
    };
    Ok((StatusCode::CREATED, Json(svc.record_tasks.create(task).await?)))
}

/// `GET /v1/record-tasks`.
pub async fn list(AxState(svc): Svc, QueryParams(f): QueryParams<Filter>) -> Result<Json<serde_json::Value>> {
    let page = store::list(&svc.db, &f).await?;
    Ok(Json(serde_json::json!({"tasks": page.tasks, "next_page_token": page.next_page_token})))
}

/// `GET /v1/record-tasks/{task_id}`.
pub async fn get_one(AxState(svc): Svc, Path(id): Path<String>) -> Result<Json<Task>> {
    Ok(Json(store::get(&svc.db, &id).await?))
}

/// `POST /v1/record-tasks/{task_id}/stop`: its files are finished before this returns.
pub async fn stop(AxState(svc): Svc, Path(id): Path<String>) -> Result<Json<Task>> {
    Ok(Json(svc.record_tasks.stop(id).await?))
}

/// `DELETE /v1/record-tasks/{task_id}`: only a task that has not started.
pub async fn delete(AxState(svc): Svc, Path(id): Path<String>) -> Result<StatusCode> {
    svc.record_tasks.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /v1/streams/{sid}/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    pre_roll: i64,
    post_roll: i64,
    max_duration: i64,
    template_id: Option<i64>,
    label: Option<String>,
}

/// `POST /v1/streams/{domain}/{app}/{stream}/events`: an event clip with pre-roll.
pub async fn event(
    AxState(svc): Svc,
    Path((d, a, st)): Path<(String, String, String)>,
    JsonBody(b): JsonBody<EventBody>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let stream = StreamId::new(&d, &a, &st)?;
    model::check_event(b.pre_roll, b.post_roll, b.max_duration)?;
    let event_id = crate::timeline::locator::new_id();
    let e = crate::tasks::runner::Event {
        stream,
        pre_roll: b.pre_roll,
        post_roll: b.post_roll,
        max_duration: b.max_duration,
        template_id: b.template_id.unwrap_or(0),
    };
    let task = svc.record_tasks.event(e).await?;
    tracing::info!(%event_id, task_id = %task.task_id, label = b.label.as_deref().unwrap_or(""), "event");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"event_id": event_id, "task_id": task.task_id, "task": task})),
    ))
}
