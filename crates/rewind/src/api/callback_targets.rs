//! `/v1/callback-templates` and `/v1/callback-rules`: where each kind of event of a
//! domain's app goes.

use super::respond::QueryParams;
use super::{JsonBody, Svc};
use crate::callbacks::targets::{CallbackRule, CallbackTemplate};
use crate::error::{Error, ErrorCode, Result};
use crate::wire_time::rfc3339_ms;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rewind_media::Time90k;
use serde::{Deserialize, Serialize};

fn unix_rfc3339(s: i64) -> String {
    rfc3339_ms(Time90k(s * 90_000))
}

/// A template as the API shows it.
#[derive(Serialize)]
pub struct TemplateView {
    template_id: i64,
    name: String,
    description: String,
    stream_begin_url: String,
    stream_end_url: String,
    record_url: String,
    record_status_url: String,
    callback_key: String,
    created_at: String,
    updated_at: String,
}

fn template_view(t: CallbackTemplate) -> TemplateView {
    TemplateView {
        created_at: unix_rfc3339(t.created_at_unix),
        updated_at: unix_rfc3339(t.updated_at_unix),
        template_id: t.template_id,
        name: t.name,
        description: t.description,
        stream_begin_url: t.stream_begin_url,
        stream_end_url: t.stream_end_url,
        record_url: t.record_url,
        record_status_url: t.record_status_url,
        callback_key: t.callback_key,
    }
}

fn template_id(s: &str) -> Result<i64> {
    s.parse().map_err(|_| {
        Error::new(ErrorCode::InvalidParameter, format!("callback template id {s:?} is not an integer"))
    })
}

/// `POST /v1/callback-templates`.
pub async fn create(
    State(svc): Svc,
    JsonBody(t): JsonBody<CallbackTemplate>,
) -> Result<(StatusCode, Json<TemplateView>)> {
    let t = svc.callback_targets.create_template(t, svc.clock.now_unix()).await?;
    tracing::info!(template_id = t.template_id, name = %t.name, "callback template created");
    Ok((StatusCode::CREATED, Json(template_view(t))))
}

/// `GET /v1/callback-templates`.
pub async fn list(State(svc): Svc) -> Json<serde_json::Value> {
    let v: Vec<TemplateView> = svc.callback_targets.templates().into_iter().map(template_view).collect();
    Json(serde_json::json!({ "templates": v }))
}

/// `GET /v1/callback-templates/{id}`.
pub async fn get_one(State(svc): Svc, Path(id): Path<String>) -> Result<Json<TemplateView>> {
    Ok(Json(template_view(svc.callback_targets.template(template_id(&id)?)?)))
}

/// `PUT /v1/callback-templates/{id}`: the fields sent change, the others stay.
pub async fn modify(
    State(svc): Svc,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<serde_json::Value>,
) -> Result<Json<TemplateView>> {
    let id = template_id(&id)?;
    let serde_json::Value::Object(patch) = patch else {
        return Err(Error::new(ErrorCode::InvalidBody, "the body must be a JSON object of template fields"));
    };
    let mut merged = serde_json::to_value(svc.callback_targets.template(id)?).map_err(Error::internal)?;
    for k in ["template_id", "created_at_unix", "updated_at_unix"] {
        merged.as_object_mut().map(|o| o.remove(k));
    }
    for (k, v) in patch {
        merged[k] = v;
    }
    let mut t: CallbackTemplate = serde_json::from_value(merged)
        .map_err(|e| Error::new(ErrorCode::InvalidBody, format!("callback template: {e}")))?;
    t.template_id = id;
    let t = svc.callback_targets.update_template(t, svc.clock.now_unix()).await?;
    tracing::info!(template_id = id, "callback template changed");
    Ok(Json(template_view(t)))
}

/// `DELETE /v1/callback-templates/{id}` (refused while a rule uses it).
pub async fn delete(State(svc): Svc, Path(id): Path<String>) -> Result<StatusCode> {
    let id = template_id(&id)?;
    svc.callback_targets.delete_template(id).await?;
    tracing::info!(template_id = id, "callback template deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A rule as the API shows it.
#[derive(Serialize)]
pub struct RuleView {
    domain: String,
    app: String,
    template_id: i64,
    created_at: String,
    updated_at: String,
}

fn rule_view(r: CallbackRule) -> RuleView {
    RuleView {
        created_at: unix_rfc3339(r.created_at_unix),
        updated_at: unix_rfc3339(r.updated_at_unix),
        domain: r.domain,
        app: r.app,
        template_id: r.template_id,
    }
}

/// Body of `POST /v1/callback-rules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    domain: String,
    #[serde(default)]
    app: String,
    template_id: i64,
}

/// `POST /v1/callback-rules`.
pub async fn create_rule(
    State(svc): Svc,
    JsonBody(b): JsonBody<RuleBody>,
) -> Result<(StatusCode, Json<RuleView>)> {
    let r = svc.callback_targets.create_rule(&b.domain, &b.app, b.template_id, svc.clock.now_unix()).await?;
    tracing::info!(domain = %r.domain, app = %r.app, template_id = r.template_id, "callback rule created");
    Ok((StatusCode::CREATED, Json(rule_view(r))))
}

/// `GET /v1/callback-rules`.
pub async fn list_rules(State(svc): Svc) -> Json<serde_json::Value> {
    let v: Vec<RuleView> = svc.callback_targets.rules().into_iter().map(rule_view).collect();
    Json(serde_json::json!({ "rules": v }))
}

/// Query of `DELETE /v1/callback-rules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleKey {
    domain: Option<String>,
    #[serde(default)]
    app: String,
}

/// `DELETE /v1/callback-rules?domain=&app=`.
pub async fn delete_rule(State(svc): Svc, QueryParams(k): QueryParams<RuleKey>) -> Result<StatusCode> {
    let domain = k.domain.ok_or_else(|| Error::new(ErrorCode::InvalidParameter, "domain is required"))?;
    svc.callback_targets.delete_rule(&domain, &k.app).await?;
    tracing::info!(%domain, app = %k.app, "callback rule deleted");
    Ok(StatusCode::NO_CONTENT)
}
