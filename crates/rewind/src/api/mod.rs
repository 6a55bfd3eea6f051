//! The HTTP API: routes, API-key check and the JSON error mapping.

mod callback_targets;
mod callbacks;
mod console;
mod cross_site;
mod domains;
mod forward;
pub mod http_server;
mod locators;
mod media;
mod nodes;
mod publishes;
mod respond;
mod service;
mod signed_urls;
mod sources;
mod streams;
mod tasks;
mod templates;
pub mod tencent;
mod timeline;

pub use respond::{BodyTimeout, JsonBody};

use crate::error::{Error, ErrorCode};
use crate::server::Services;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// Shared state of every handler.
pub type Svc = State<Arc<Services>>;

/// All routes: signed URLs in front of the rest.
pub fn router(svc: Arc<Services>) -> Router {
    let routes = routes(svc.clone());
    let inner = routes.clone();
    Router::new()
        .route(
            "/v1/signed/{expires}/{signature}/{*path}",
            get(move |state, path, req| signed_urls::serve(inner, state, path, req)),
        )
        .fallback_service(routes)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(svc.clone(), cross_site::guard))
        .layer(middleware::map_response(nosniff))
        .with_state(svc)
}

/// No answer is ever sniffed into another type (an error's JSON as HTML, a playlist as
/// a script): every response says so.
async fn nosniff(mut r: Response) -> Response {
    r.headers_mut()
        .insert(axum::http::header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
    r
}

/// Every `/v1` route, behind the API key and the forwarding to a stream's node.
fn v1_routes(svc: &Arc<Services>) -> Router<Arc<Services>> {
    Router::new()
        .route("/nodes", get(nodes::list))
        .route("/streams", get(streams::list))
        .route("/streams/{domain}/{app}/{stream}", get(streams::get_one))
        .route("/streams/{domain}/{app}/{stream}/drop", post(streams::drop_publisher))
        .route(
            "/streams/{domain}/{app}/{stream}/forbid",
            get(publishes::get_forbid).put(publishes::forbid).delete(publishes::lift),
        )
        .route("/streams/{domain}/{app}/{stream}/publishes", get(publishes::of_stream))
        .route("/publishes", get(publishes::list))
        .route("/forbidden-streams", get(publishes::forbidden))
        .route("/streams/{domain}/{app}/{stream}/availableMedia", get(timeline::available_media))
        .route("/streams/{domain}/{app}/{stream}/manifest.m3u8", get(timeline::hls))
        .route("/streams/{domain}/{app}/{stream}/manifest.mpd", get(timeline::dash))
        .route("/streams/{domain}/{app}/{stream}/clip.mp4", get(timeline::clip))
        .route("/streams/{domain}/{app}/{stream}/timeline/init/{file}", get(timeline::init))
        .route("/streams/{domain}/{app}/{stream}/timeline/chunks/{file}", get(timeline::chunk))
        .route("/streams/{domain}/{app}/{stream}/timeline/{track}/{file}", get(timeline::part))
        .route("/streams/{domain}/{app}/{stream}/events", post(tasks::event))
        .route("/record-tasks", get(tasks::list).post(tasks::create))
        .route("/record-tasks/{task_id}", get(tasks::get_one).delete(tasks::delete))
        .route("/record-tasks/{task_id}/stop", post(tasks::stop))
        .route("/locators", post(locators::create))
        .route("/signed-urls", post(signed_urls::create))
        .route("/locators/{id}", get(locators::get_one).delete(locators::delete))
        .route("/callbacks", get(callbacks::list))
        .route("/callback-templates", get(callback_targets::list).post(callback_targets::create))
        .route(
            "/callback-templates/{template_id}",
            get(callback_targets::get_one).put(callback_targets::modify).delete(callback_targets::delete),
        )
        .route(
            "/callback-rules",
            get(callback_targets::list_rules)
                .post(callback_targets::create_rule)
                .delete(callback_targets::delete_rule),
        )
        .route("/callbacks/failed", get(callbacks::failed))
        .route("/callbacks/failed/resend", post(callbacks::resend_failed))
        .route("/callbacks/{event_id}", get(callbacks::get_one).delete(callbacks::delete))
        .route("/callbacks/{event_id}/resend", post(callbacks::resend_one))
        .route("/sources", get(sources::list).post(sources::create))
        .route("/sources/{source_id}", get(sources::get_one).put(sources::put).delete(sources::delete))
        .route("/domains", get(domains::list))
        .route("/domains/{domain}", get(domains::get_one).put(domains::put).delete(domains::delete))
        .route("/record-templates", get(templates::list).post(templates::create))
        .route(
            "/record-templates/{template_id}",
            get(templates::get_one).put(templates::modify).delete(templates::delete),
        )
        .route("/media", get(media::search))
        .route("/media/{file_id}", get(media::get_one).delete(media::delete))
        .route("/media/{file_id}/content", get(media::content))
        .route("/media/{file_id}/{*part}", get(media::segment))
        .route(
            "/record-rules",
            get(templates::list_rules).post(templates::create_rule).delete(templates::delete_rule),
        )
        // Layers run bottom-up: the key is checked before anything is forwarded.
        .route_layer(middleware::from_fn_with_state(svc.clone(), forward::to_owner))
        .route_layer(middleware::from_fn_with_state(svc.clone(), require_api_key))
}

fn routes(svc: Arc<Services>) -> Router {
    let v1 = v1_routes(&svc);
    // The cloud-compatible actions answer through the same `/v1` routes, in process.
    let tc = Arc::new(tencent::Tencent::new(
        &svc.config,
        svc.clock.clone(),
        Router::new().nest("/v1", v1.clone()).with_state(svc.clone()),
    ));
    let tc_get = tc.clone();
    let root = get(move |req: Request| async move {
        if tencent::is_call(req.headers(), req.uri().query()) {
            tencent::handle(tc_get, req).await
        } else {
            console::index(req.headers().clone()).await
        }
    })
    .post(move |req: Request| tencent::handle(tc, req));
    Router::new()
        // The console asks for the API key itself (its page and assets hold no data);
        // the same path takes the cloud's signed actions (they carry their own key).
        .route("/", root)
        .route("/assets/{file}", get(console::asset))
        .route("/healthz", get(service::healthz))
        .route("/metrics", get(service::metrics))
        .nest("/v1", v1)
        // Locator playback URLs: the unguessable id stands in for the API key.
        .route("/{locator}/content.ism/{file}", get(locators::content))
        .route("/{locator}/content.ism/timeline/init/{file}", get(locators::init))
        .route("/{locator}/content.ism/timeline/chunks/{file}", get(locators::chunk))
        .route("/{locator}/content.ism/timeline/{track}/{file}", get(locators::part))
        .route_layer(middleware::from_fn_with_state(svc.clone(), forward::to_owner))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(refuse_nul))
        .with_state(svc)
}

/// A NUL (`%00`) in a path or query is never a valid id, name or filter, and
/// PostgreSQL's text cannot hold it: refused before any handler sees it.
async fn refuse_nul(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or("", |p| p.as_str());
    if target.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0') {
        return Error::new(ErrorCode::InvalidParameter, "the path or query contains NUL (%00)")
            .into_response();
    }
    next.run(req).await
}

async fn not_found() -> Response {
    Error::new(ErrorCode::NotFound, "no such path").into_response()
}

async fn method_not_allowed() -> Response {
    Error::new(ErrorCode::MethodNotAllowed, "this path does not take that method").into_response()
}

async fn require_api_key(State(svc): Svc, req: Request, next: Next) -> Response {
    let key = &svc.config.api_key;
    if !key.is_empty() {
        let h = req.headers();
        let bearer =
            h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let given = bearer.or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()));
        if !given.is_some_and(|g| crate::secret::same(g, key)) {
            return Error::new(
                ErrorCode::AuthFailure,
                "missing or wrong API key (Authorization: Bearer KEY or X-Api-Key)",
            )
            .into_response();
        }
    }
    next.run(req).await
}
