//! `/healthz` and `/metrics`.

use super::Svc;
use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

/// Liveness, and whether the API asks for a key (the console's first question).
pub async fn healthz(State(svc): Svc) -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok", "api_key_required": !svc.config.api_key.is_empty()}))
}

/// Prometheus text exposition.
pub async fn metrics(State(svc): Svc) -> impl IntoResponse {
    let mut text = svc.metrics.render();
    // Gauges over live streams are summed here, at scrape time, not kept on the hot path.
    let gop: usize = svc.registry.list().iter().map(|s| s.hub.gop_bytes()).sum();
    text.push_str("# HELP rewind_hub_gop_cache_bytes Bytes of current GOPs held for joining readers.\n");
    text.push_str("# TYPE rewind_hub_gop_cache_bytes gauge\n");
    text.push_str(&format!("rewind_hub_gop_cache_bytes {gop}\n"));
    let full = svc.disk_reserve.disk_full() as u8;
    text.push_str(
        "# HELP rewind_disk_full 1 from a disk-full error until the disk reserve could be made again.\n",
    );
    text.push_str(&format!("# TYPE rewind_disk_full gauge\nrewind_disk_full {full}\n"));
    text.push_str(crate::conn_slots::METRICS_HELP);
    crate::conn_slots::render_metrics(&mut text, "rtmp", &svc.rtmp_slots);
    crate::conn_slots::render_metrics(&mut text, "http", &svc.http_slots);
    svc.storage.uploads.render(&mut text);
    svc.sources.render_metrics(&mut text);
    ([("content-type", "text/plain; version=0.0.4")], text)
}
