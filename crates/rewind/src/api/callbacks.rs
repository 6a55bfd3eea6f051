//! `/v1/callbacks`: the outbox seen by an operator — events waiting or given up — and
//! resending those given up.

use super::Svc;
use super::respond::QueryParams;
use crate::callbacks::outbox;
use crate::error::{Error, ErrorCode, Result};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// Query of the list endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
}

async fn list_in(svc: &crate::server::Services, state: &str, q: ListQuery) -> Result<Json<Value>> {
    let size = q.page_size.unwrap_or(100);
    if !(1..=1000).contains(&size) {
        return Err(Error::new(ErrorCode::InvalidParameter, "page_size must be 1 to 1000"));
    }
    let items = outbox::list(svc, state, q.page_token.as_deref(), size).await?;
    let next = (items.len() as i64 == size).then(|| items.last().map(|i| i["event_id"].clone())).flatten();
    Ok(Json(json!({"callbacks": items, "next_page_token": next})))
}

/// `GET /v1/callbacks?state=pending|failed`: events waiting (default) or given up.
pub async fn list(State(svc): Svc, QueryParams(mut q): QueryParams<ListQuery>) -> Result<Json<Value>> {
    let state = q.state.take().unwrap_or_else(|| "pending".into());
    if state != "pending" && state != "failed" {
        return Err(Error::new(ErrorCode::InvalidParameter, "state must be pending or failed"));
    }
    list_in(&svc, &state, q).await
}

/// `GET /v1/callbacks/failed`: events given up after their last try.
pub async fn failed(State(svc): Svc, QueryParams(q): QueryParams<ListQuery>) -> Result<Json<Value>> {
    if q.state.is_some() {
        return Err(Error::new(ErrorCode::InvalidParameter, "state is implied by this path"));
    }
    list_in(&svc, "failed", q).await
}

/// `GET /v1/callbacks/{event_id}`.
pub async fn get_one(State(svc): Svc, Path(id): Path<String>) -> Result<Json<Value>> {
    Ok(Json(outbox::get(&svc, &id).await?))
}

/// `POST /v1/callbacks/{event_id}/resend`: tries it again now, with a fresh count.
pub async fn resend_one(State(svc): Svc, Path(id): Path<String>) -> Result<Json<Value>> {
    Ok(Json(outbox::resend_one(&svc, &id).await?))
}

/// `POST /v1/callbacks/failed/resend`: every failed event again.
pub async fn resend_failed(State(svc): Svc) -> Result<Json<Value>> {
    Ok(Json(json!({"resent": outbox::resend_failed(&svc).await?})))
}

/// `DELETE /v1/callbacks/{event_id}`: gives up on it for good.
pub async fn delete(State(svc): Svc, Path(id): Path<String>) -> Result<StatusCode> {
    outbox::delete(&svc, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
