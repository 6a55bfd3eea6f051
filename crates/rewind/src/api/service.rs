//! `/healthz` and `/metrics`.

use super::Svc;
use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

/// Liveness.
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// Prometheus text exposition.
pub async fn metrics(State(svc): Svc) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        svc.metrics.render(),
    )
}
