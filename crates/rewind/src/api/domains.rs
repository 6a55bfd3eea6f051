//! `/v1/domains`: push authentication keys and callback targets per domain.

use super::{JsonBody, Svc};
use crate::domains::{DomainSettings, Source};
use crate::error::{Error, ErrorCode, Result};
use crate::stream_id::check_domain;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

/// A domain as the API shows it.
#[derive(Serialize)]
pub struct DomainView {
    domain: String,
    #[serde(flatten)]
    settings: DomainSettings,
    source: Source,
}

fn validate(s: &DomainSettings) -> Result<()> {
    if let Some(a) = &s.push_auth
        && a.primary_key.is_empty()
    {
        return Err(Error::new(ErrorCode::InvalidParameter, "push_auth.primary_key must not be empty"));
    }
    if let Some(c) = &s.callback
        && !(c.url.starts_with("http://") || c.url.starts_with("https://"))
    {
        return Err(Error::new(
            ErrorCode::InvalidParameter,
            "callback.url must be an http:// or https:// URL",
        ));
    }
    Ok(())
}

/// `GET /v1/domains`.
pub async fn list(State(svc): Svc) -> Json<serde_json::Value> {
    let domains: Vec<DomainView> = svc
        .domains
        .list()
        .into_iter()
        .map(|(domain, settings, source)| DomainView { domain, settings, source })
        .collect();
    Json(serde_json::json!({ "domains": domains }))
}

/// `GET /v1/domains/{domain}`.
pub async fn get_one(State(svc): Svc, Path(domain): Path<String>) -> Result<Json<DomainView>> {
    check_domain(&domain)?;
    match svc.domains.get(&domain) {
        Some((settings, source)) => Ok(Json(DomainView { domain, settings, source })),
        None => Err(Error::new(ErrorCode::DomainNotFound, format!("domain {domain} has no settings"))),
    }
}

/// `PUT /v1/domains/{domain}`: replaces the API settings of a domain.
pub async fn put(
    State(svc): Svc,
    Path(domain): Path<String>,
    JsonBody(settings): JsonBody<DomainSettings>,
) -> Result<Json<DomainView>> {
    check_domain(&domain)?;
    validate(&settings)?;
    svc.domains.put(&domain, settings.clone(), svc.clock.now_unix()).await?;
    tracing::info!(%domain, push_auth = settings.push_auth.is_some(), callback = settings.callback.is_some(), "domain settings updated");
    Ok(Json(DomainView { domain, settings, source: Source::Api }))
}

/// `DELETE /v1/domains/{domain}`: removes the API settings (file settings remain).
pub async fn delete(State(svc): Svc, Path(domain): Path<String>) -> Result<StatusCode> {
    check_domain(&domain)?;
    if svc.domains.delete(&domain).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::new(
            ErrorCode::DomainNotFound,
            format!("domain {domain} has no settings set through the API"),
        ))
    }
}
