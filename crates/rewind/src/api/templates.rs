//! `/v1/record-templates` and `/v1/record-rules`.

use super::respond::QueryParams;
use super::{JsonBody, Svc};
use crate::error::{Error, ErrorCode, Result};
use crate::recording::catalog::{Rule, Source};
use crate::recording::template::Template;
use crate::wire_time::rfc3339_ms;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rewind_media::Time90k;
use serde::{Deserialize, Serialize};

fn unix_rfc3339(s: i64) -> Option<String> {
    (s > 0).then(|| rfc3339_ms(Time90k(s * 90_000)))
}

/// A template as the API shows it.
#[derive(Serialize)]
pub struct TemplateView {
    #[serde(flatten)]
    template: Template,
    source: Source,
    created_at: Option<String>,
    updated_at: Option<String>,
}

fn template_view(t: &Template, source: Source, created: i64, updated: i64) -> TemplateView {
    TemplateView {
        template: t.clone(),
        source,
        created_at: unix_rfc3339(created),
        updated_at: unix_rfc3339(updated),
    }
}

/// `POST /v1/record-templates`.
pub async fn create(
    State(svc): Svc,
    JsonBody(t): JsonBody<Template>,
) -> Result<(StatusCode, Json<TemplateView>)> {
    let now = svc.clock.now_unix();
    let t = svc.catalog.create_template(t, now).await?;
    tracing::info!(template_id = t.template_id, name = %t.name, "record template created");
    Ok((StatusCode::CREATED, Json(template_view(&t, Source::Api, now, now))))
}

/// `GET /v1/record-templates`.
pub async fn list(State(svc): Svc) -> Json<serde_json::Value> {
    let v: Vec<TemplateView> =
        svc.catalog.templates().iter().map(|(t, s, c, u)| template_view(t, *s, *c, *u)).collect();
    Json(serde_json::json!({ "templates": v }))
}

fn template_id(s: &str) -> Result<i64> {
    s.parse()
        .map_err(|_| Error::new(ErrorCode::InvalidParameter, format!("template id {s:?} is not an integer")))
}

fn find(svc: &Svc, id: i64) -> Result<TemplateView> {
    svc.catalog
        .templates()
        .iter()
        .find(|(t, ..)| t.template_id == id)
        .map(|(t, s, c, u)| template_view(t, *s, *c, *u))
        .ok_or_else(|| Error::new(ErrorCode::TemplateNotFound, format!("template {id} does not exist")))
}

/// `GET /v1/record-templates/{id}`.
pub async fn get_one(svc: Svc, Path(id): Path<String>) -> Result<Json<TemplateView>> {
    find(&svc, template_id(&id)?).map(Json)
}

/// `PUT /v1/record-templates/{id}`: changes the given fields; recordings in progress keep
/// the settings they started with (R-R4).
pub async fn modify(
    svc: Svc,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<serde_json::Value>,
) -> Result<Json<TemplateView>> {
    let id = template_id(&id)?;
    if !patch.is_object() {
        return Err(Error::new(ErrorCode::InvalidBody, "the body must be a JSON object of template fields"));
    }
    svc.catalog.modify_template(id, patch, svc.clock.now_unix()).await?;
    tracing::info!(template_id = id, "record template modified");
    find(&svc, id).map(Json)
}

/// `DELETE /v1/record-templates/{id}`.
pub async fn delete(State(svc): Svc, Path(id): Path<String>) -> Result<StatusCode> {
    let id = template_id(&id)?;
    svc.catalog.delete_template(id).await?;
    tracing::info!(template_id = id, "record template deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A rule as the API shows it.
#[derive(Serialize)]
pub struct RuleView {
    domain: String,
    app: String,
    stream: String,
    template_id: i64,
    source: Source,
    created_at: Option<String>,
    updated_at: Option<String>,
}

fn rule_view(r: &Rule, source: Source) -> RuleView {
    RuleView {
        domain: r.domain.clone(),
        app: r.app.clone(),
        stream: r.stream.clone(),
        template_id: r.template_id,
        source,
        created_at: unix_rfc3339(r.created_at),
        updated_at: unix_rfc3339(r.updated_at),
    }
}

/// Body of `POST /v1/record-rules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    domain: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    stream: String,
    template_id: i64,
}

/// `POST /v1/record-rules`.
pub async fn create_rule(
    State(svc): Svc,
    JsonBody(b): JsonBody<RuleBody>,
) -> Result<(StatusCode, Json<RuleView>)> {
    let rule = Rule {
        domain: b.domain,
        app: b.app,
        stream: b.stream,
        template_id: b.template_id,
        created_at: 0,
        updated_at: 0,
    };
    let r = svc.catalog.create_rule(rule, svc.clock.now_unix()).await?;
    tracing::info!(domain = %r.domain, app = %r.app, stream = %r.stream, template_id = r.template_id, "record rule created");
    Ok((StatusCode::CREATED, Json(rule_view(&r, Source::Api))))
}

/// `GET /v1/record-rules`.
pub async fn list_rules(State(svc): Svc) -> Json<serde_json::Value> {
    let v: Vec<RuleView> = svc.catalog.rules().iter().map(|(r, s)| rule_view(r, *s)).collect();
    Json(serde_json::json!({ "rules": v }))
}

/// Query of `DELETE /v1/record-rules`.
#[derive(Deserialize)]
pub struct RuleKey {
    domain: Option<String>,
    #[serde(default)]
    app: String,
    #[serde(default)]
    stream: String,
}

/// `DELETE /v1/record-rules?domain=&app=&stream=` (the exact triple).
pub async fn delete_rule(State(svc): Svc, QueryParams(k): QueryParams<RuleKey>) -> Result<StatusCode> {
    let domain = k.domain.ok_or_else(|| Error::new(ErrorCode::InvalidParameter, "domain is required"))?;
    svc.catalog.delete_rule(&domain, &k.app, &k.stream).await?;
    tracing::info!(%domain, app = %k.app, stream = %k.stream, "record rule deleted");
    Ok(StatusCode::NO_CONTENT)
}
