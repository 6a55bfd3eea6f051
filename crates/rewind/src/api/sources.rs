//! `/v1/sources`: RTSP cameras pulled as streams.

use super::{JsonBody, Svc};
use crate::error::Result;
use crate::sources::SourceView;
use crate::sources::spec::{SourceSpec, check_source_id};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// `GET /v1/sources`.
pub async fn list(State(svc): Svc) -> Result<Json<serde_json::Value>> {
    Ok(Json(serde_json::json!({ "sources": svc.sources.list().await? })))
}

/// `GET /v1/sources/{source_id}`.
pub async fn get_one(State(svc): Svc, Path(id): Path<String>) -> Result<Json<SourceView>> {
    check_source_id(&id)?;
    Ok(Json(svc.sources.get(&id).await?))
}

/// `POST /v1/sources`: declares a camera; it is pulled from now on (when enabled).
pub async fn create(
    State(svc): Svc,
    JsonBody(spec): JsonBody<SourceSpec>,
) -> Result<(StatusCode, Json<SourceView>)> {
    let v = svc.sources.create(&svc, &spec).await?;
    tracing::info!(source_id = %v.source_id(), "source created");
    Ok((StatusCode::CREATED, Json(v)))
}

/// `PUT /v1/sources/{source_id}`: replaces a source's declaration.
pub async fn put(
    State(svc): Svc,
    Path(id): Path<String>,
    JsonBody(spec): JsonBody<SourceSpec>,
) -> Result<Json<SourceView>> {
    check_source_id(&id)?;
    let v = svc.sources.update(&svc, &id, &spec).await?;
    tracing::info!(source_id = %id, "source changed");
    Ok(Json(v))
}

/// `DELETE /v1/sources/{source_id}`: stops pulling and forgets the source.
pub async fn delete(State(svc): Svc, Path(id): Path<String>) -> Result<StatusCode> {
    check_source_id(&id)?;
    svc.sources.delete(&svc, &id).await?;
    tracing::info!(source_id = %id, "source deleted");
    Ok(StatusCode::NO_CONTENT)
}
