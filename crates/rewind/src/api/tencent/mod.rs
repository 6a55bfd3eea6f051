//! The Tencent-action-compatible API: Tencent Cloud CSS (`live`, 2018-08-01) and VOD
//! (`vod`, 2018-07-17) actions on `POST /` and `GET /`, so Tencent's SDKs, `tccli` and
//! signed scripts work against rewind with only their endpoint changed.
//!
//! One translation layer: it reads the call (`wire`), checks its signature
//! (`signature`), converts names and units, and answers each action through the `/v1`
//! API in process (`v1`), so every rule, limit and validation is the `/v1` API's own
//! and a template made either way is the same template. docs/tencent-api.md is the
//! user's guide; the action table is `dispatch` below.

mod cloud_time;
mod live_callbacks;
mod live_domains;
mod live_records;
mod live_streams;
mod live_tasks;
mod params;
pub mod signature;
mod v1;
mod vod_media;
mod wire;

use crate::clock::SharedClock;
use crate::config::Config;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::Response;
use params::{Params, TcError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use v1::V1;

/// Largest request body read (the largest real call is a few KB).
const MAX_BODY: usize = 1 << 20;
/// The services and versions answered.
const LIVE_VERSION: &str = "2018-08-01";
const VOD_VERSION: &str = "2018-07-17";

/// The handles the translation layer needs: the `/v1` routes, the credentials, the clock.
pub struct Tencent {
    v1: V1,
    keys: Vec<(String, String)>,
    clock: SharedClock,
    default_domain: String,
    public_url: String,
    signs_urls: bool,
    body_timeout: Duration,
}

/// What an action sees of the call beside its parameters.
pub struct Ctx<'a> {
    /// The `/v1` API.
    pub v1: &'a V1,
    /// Unix seconds now.
    pub now_unix: i64,
    /// The domain pushes to an IP or `localhost` land in.
    pub default_domain: &'a str,
    /// Base of the URLs answers hand out (`MediaUrl`): `http://host:port`.
    pub base_url: String,
    /// Whether content URLs must be signed (an API key is set).
    pub signs_urls: bool,
}

impl Tencent {
    /// The layer over `v1_routes` (which answer `/v1/…`).
    pub fn new(config: &Config, clock: SharedClock, v1_routes: axum::Router) -> Self {
        Tencent {
            v1: V1::new(v1_routes, config.api_key.clone()),
            keys: config.tencent_api.pairs().map(|(i, k)| (i.to_string(), k.to_string())).collect(),
            clock,
            default_domain: config.default_domain.clone(),
            public_url: config.callbacks.public_url.trim_end_matches('/').to_string(),
            signs_urls: !config.api_key.is_empty(),
            body_timeout: Duration::from_secs(config.http.body_read_timeout_secs.max(1)),
        }
    }

    fn key_of(&self, id: &str) -> Option<&str> {
        // Every configured id is compared, so the time does not tell which matched.
        let mut found = None;
        for (i, k) in &self.keys {
            if crate::secret::same(id, i) {
                found = Some(k.as_str());
            }
        }
        found
    }
}

/// Whether a `GET /` is a cloud call (else it is the console's page).
pub fn is_call(headers: &HeaderMap, query: Option<&str>) -> bool {
    wire::action_in_head(headers, query.unwrap_or("")).is_some()
}

/// `POST /` and a `GET /` that names an action: one cloud call.
pub async fn handle(tc: Arc<Tencent>, req: Request) -> Response {
    let request_id = wire::request_id();
    let result = call(&tc, req).await;
    if let Err(e) = &result {
        tracing::info!(code = %e.code, request_id, "cloud API call refused: {}", e.message);
    }
    wire::answer(result, &request_id)
}

async fn call(tc: &Tencent, req: Request) -> Result<Value, TcError> {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(tc.body_timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Err(_) => {
            return Err(TcError::new("RequestLimitExceeded", "the request body did not arrive in time"));
        }
        Ok(Err(_)) => return Err(TcError::new("RequestSizeLimitExceeded", "the request body is over 1 MiB")),
        Ok(Ok(b)) => b,
    };
    let method = parts.method.as_str();
    let query = parts.uri.query().unwrap_or("");
    let h = &parts.headers;
    let c = wire::read_call(method, h, query, &body)?;
    if tc.keys.is_empty() {
        return Err(TcError::new(
            "AuthFailure.SecretIdNotFound",
            "this server takes no cloud API calls: set [tencent_api] secret_id and secret_key",
        ));
    }
    let now = tc.clock.now_unix();
    let host = h.get("host").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let service = match &c.signing {
        wire::Signing::Tc3 => {
            let text = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
            let (authorization, timestamp) =
                (text("authorization").unwrap_or_default(), text("x-tc-timestamp").unwrap_or_default());
            let content_sha256 = text("x-tc-content-sha256");
            let r = signature::Tc3Request {
                method,
                query,
                body: &body,
                authorization: &authorization,
                timestamp: &timestamp,
                content_sha256: content_sha256.as_deref(),
                header: &text,
            };
            let (_, service) = signature::verify_tc3(&r, |id| tc.key_of(id), now)
                .map_err(|e| TcError::new(e.code, e.message))?;
            Some(service)
        }
        wire::Signing::Legacy(all) => {
            signature::verify_legacy(method, &host, all, |id| tc.key_of(id), now)
                .map_err(|e| TcError::new(e.code, e.message))?;
            None
        }
    };
    let base_url = if !tc.public_url.is_empty() {
        tc.public_url.clone()
    } else if host.contains("://") {
        host.trim_end_matches('/').to_string()
    } else {
        format!("http://{host}")
    };
    let ctx = Ctx {
        v1: &tc.v1,
        now_unix: now,
        default_domain: &tc.default_domain,
        base_url,
        signs_urls: tc.signs_urls,
    };
    dispatch(&ctx, service.as_deref(), &c.version, &c.action, &c.params).await
}

/// Which service an action belongs to.
fn service_of(action: &str) -> Option<&'static str> {
    match action {
        "SearchMedia" | "DescribeMediaInfos" | "DeleteMedia" => Some("vod"),
        a if LIVE_ACTIONS.contains(&a) => Some("live"),
        _ => None,
    }
}

/// Every live action answered.
const LIVE_ACTIONS: &[&str] = &[
    "CreateLiveRecordTemplate",
    "DescribeLiveRecordTemplates",
    "DescribeLiveRecordTemplate",
    "ModifyLiveRecordTemplate",
    "DeleteLiveRecordTemplate",
    "CreateLiveRecordRule",
    "DescribeLiveRecordRules",
    "DeleteLiveRecordRule",
    "CreateRecordTask",
    "StopRecordTask",
    "DeleteRecordTask",
    "DescribeRecordTask",
    "DescribeLiveStreamOnlineList",
    "DescribeLiveStreamState",
    "DropLiveStream",
    "DescribeLiveStreamPushInfoList",
    "ForbidLiveStream",
    "ResumeLiveStream",
    "DescribeLiveStreamPublishedList",
    "CreateLiveCallbackTemplate",
    "DescribeLiveCallbackTemplates",
    "DescribeLiveCallbackTemplate",
    "ModifyLiveCallbackTemplate",
    "DeleteLiveCallbackTemplate",
    "CreateLiveCallbackRule",
    "DescribeLiveCallbackRules",
    "DeleteLiveCallbackRule",
    "DescribeLivePushAuthKey",
    "ModifyLivePushAuthKey",
    "DescribeLiveDomains",
];

async fn dispatch(
    ctx: &Ctx<'_>,
    signed_service: Option<&str>,
    version: &str,
    action: &str,
    p: &Params,
) -> Result<Value, TcError> {
    let Some(service) = service_of(action) else {
        return Err(TcError::new("InvalidAction", format!("{action} is not an action this server answers")));
    };
    if let Some(s) = signed_service
        && s != service
    {
        return Err(TcError::new(
            "InvalidAction",
            format!("{action} is a {service} action; the request was signed for the {s} service"),
        ));
    }
    let want = if service == "vod" { VOD_VERSION } else { LIVE_VERSION };
    if !version.is_empty() && version != want {
        return Err(TcError::new(
            "NoSuchVersion",
            format!("{action} is answered in version {want}, not {version}"),
        ));
    }
    match action {
        "CreateLiveRecordTemplate" => live_records::create_template(ctx, p).await,
        "DescribeLiveRecordTemplates" => live_records::describe_templates(ctx, p).await,
        "DescribeLiveRecordTemplate" => live_records::describe_template(ctx, p).await,
        "ModifyLiveRecordTemplate" => live_records::modify_template(ctx, p).await,
        "DeleteLiveRecordTemplate" => live_records::delete_template(ctx, p).await,
        "CreateLiveRecordRule" => live_records::create_rule(ctx, p).await,
        "DescribeLiveRecordRules" => live_records::describe_rules(ctx, p).await,
        "DeleteLiveRecordRule" => live_records::delete_rule(ctx, p).await,
        "CreateRecordTask" => live_tasks::create(ctx, p).await,
        "StopRecordTask" => live_tasks::stop(ctx, p).await,
        "DeleteRecordTask" => live_tasks::delete(ctx, p).await,
        "DescribeRecordTask" => live_tasks::describe(ctx, p).await,
        "DescribeLiveStreamOnlineList" => live_streams::online_list(ctx, p).await,
        "DescribeLiveStreamState" => live_streams::state(ctx, p).await,
        "DropLiveStream" => live_streams::drop(ctx, p).await,
        "DescribeLiveStreamPushInfoList" => live_streams::push_info_list(ctx, p).await,
        "ForbidLiveStream" => live_streams::forbid(ctx, p).await,
        "ResumeLiveStream" => live_streams::resume(ctx, p).await,
        "DescribeLiveStreamPublishedList" => live_streams::published_list(ctx, p).await,
        "CreateLiveCallbackTemplate" => live_callbacks::create_template(ctx, p).await,
        "DescribeLiveCallbackTemplates" => live_callbacks::describe_templates(ctx, p).await,
        "DescribeLiveCallbackTemplate" => live_callbacks::describe_template(ctx, p).await,
        "ModifyLiveCallbackTemplate" => live_callbacks::modify_template(ctx, p).await,
        "DeleteLiveCallbackTemplate" => live_callbacks::delete_template(ctx, p).await,
        "CreateLiveCallbackRule" => live_callbacks::create_rule(ctx, p).await,
        "DescribeLiveCallbackRules" => live_callbacks::describe_rules(ctx, p).await,
        "DeleteLiveCallbackRule" => live_callbacks::delete_rule(ctx, p).await,
        "DescribeLivePushAuthKey" => live_domains::describe_push_auth_key(ctx, p).await,
        "ModifyLivePushAuthKey" => live_domains::modify_push_auth_key(ctx, p).await,
        "DescribeLiveDomains" => live_domains::describe_domains(ctx, p).await,
        "SearchMedia" => vod_media::search(ctx, p).await,
        "DescribeMediaInfos" => vod_media::describe(ctx, p).await,
        "DeleteMedia" => vod_media::delete(ctx, p).await,
        _ => Err(TcError::new("InvalidAction", format!("{action} is not an action this server answers"))),
    }
}
