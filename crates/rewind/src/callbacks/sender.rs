//! Delivers outbox events: POST JSON with `t` and `sign` added per try, any 2xx is
//! delivery; anything else (non-2xx, timeout, refused) is retried with doubling waits
//! until `max_attempts`, then the event is kept as failed for an operator to resend.

use super::event::{SIGN_VALID_SECS, sign};
use super::outbox::{self, Due};
use crate::config::CallbacksConfig;
use crate::server::Services;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Wait before try `attempts + 1`, after `attempts` failed tries (≥ 1).
pub fn backoff_ms(cfg: &CallbacksConfig, attempts: i64) -> u64 {
    let doublings = (attempts - 1).clamp(0, 30) as u32;
    cfg.first_retry_ms.saturating_mul(1u64 << doublings).min(cfg.max_retry_ms.max(cfg.first_retry_ms))
}

/// The client of every try: HTTP, or HTTPS checked against the system's trust store.
pub fn http_client(cfg: &CallbacksConfig) -> reqwest::Result<reqwest::Client> {
    // One crypto provider for the process; a second install is a no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        // A redirect would re-send the signed body wherever the receiver points (an
        // internal address): a 3xx is a failed try instead, said in words.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .connect_timeout(Duration::from_millis(cfg.timeout_ms.min(10_000)))
        .build()
}

/// Runs until shutdown.
pub async fn run(svc: Arc<Services>) {
    let cfg = svc.config.callbacks.clone();
    let client = match http_client(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: callbacks stay queued until the next start");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(cfg.concurrency));
    let mut last_count = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        if last_count.elapsed() >= Duration::from_secs(5) {
            last_count = std::time::Instant::now();
            if let Ok(n) = outbox::pending_count(&svc).await {
                svc.metrics.callbacks_pending.store(n, Relaxed);
            }
        }
        let free = permits.available_permits();
        if free > 0 {
            let now = svc.clock.now().as_ms();
            // A try that dies with the process is tried again after its lease.
            let lease = now + cfg.timeout_ms as i64 + 5_000;
            match outbox::claim_due(&svc, now, lease, free as i64).await {
                Ok(due) => {
                    for d in due {
                        let Ok(permit) = permits.clone().acquire_owned().await else { return };
                        let (svc, client) = (svc.clone(), client.clone());
                        tokio::spawn(async move {
                            deliver(&svc, &client, d).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading the callback outbox failed"),
            }
        }
        tokio::select! {
            _ = svc.callbacks.woken() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = svc.shutdown.cancelled() => return,
        }
    }
}

/// The body of one try: the stored event plus `t` (expiry) and `sign`.
pub fn signed_body(stored: &str, key: &str, now_unix: i64) -> String {
    let mut body: Value = serde_json::from_str(stored).unwrap_or_else(|_| json!({}));
    let t = now_unix + SIGN_VALID_SECS;
    body["t"] = json!(t);
    body["sign"] = json!(sign(key, t));
    body.to_string()
}

async fn deliver(svc: &Services, client: &reqwest::Client, d: Due) {
    let body = signed_body(&d.body, &d.key, svc.clock.now_unix());
    let result = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("x-rewind-event-id", &d.event_id)
        .body(body)
        .send()
        .await;
    let error = match result {
        Ok(r) if r.status().is_success() => None,
        Ok(r) if r.status().is_redirection() => Some(format!(
            "HTTP {} (redirects are not followed: point the callback URL at the final address)",
            r.status().as_u16()
        )),
        Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Some("no answer in time".to_string()),
        Err(e) if e.is_connect() => Some(format!("could not connect: {}", root_cause(&e))),
        Err(e) => Some(root_cause(&e)),
    };
    let cfg = &svc.config.callbacks;
    let attempts = d.attempts + 1;
    let r = match &error {
        None => {
            svc.metrics.callbacks_delivered_total.fetch_add(1, Relaxed);
            tracing::debug!(event_id = %d.event_id, url = %d.url, attempts, "callback delivered");
            outbox::delivered(svc, &d.event_id).await
        }
        Some(err) if attempts >= cfg.max_attempts as i64 => {
            svc.metrics.callbacks_failed_tries_total.fetch_add(1, Relaxed);
            svc.metrics.callbacks_given_up_total.fetch_add(1, Relaxed);
            tracing::error!(event_id = %d.event_id, url = %d.url, attempts, error = %err, "callback given up; resend it with POST /v1/callbacks/EVENT_ID/resend");
            outbox::failed(svc, &d.event_id, attempts, err, None).await
        }
        Some(err) => {
            svc.metrics.callbacks_failed_tries_total.fetch_add(1, Relaxed);
            let wait = backoff_ms(cfg, attempts);
            tracing::warn!(event_id = %d.event_id, url = %d.url, attempts, error = %err, retry_in_ms = wait, "callback try failed");
            outbox::failed(svc, &d.event_id, attempts, err, Some(svc.clock.now().as_ms() + wait as i64)).await
        }
    };
    if let Err(e) = r {
        tracing::error!(event_id = %d.event_id, error = %e, "could not record a callback try; it is tried again after its lease");
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_backoff_tries_at_least_12_times_over_12_minutes() {
        let cfg = CallbacksConfig::default();
        let waits: Vec<u64> = (1..cfg.max_attempts as i64).map(|a| backoff_ms(&cfg, a)).collect();
        assert_eq!(&waits[..6], &[10_000, 20_000, 40_000, 80_000, 160_000, 300_000]);
        assert!(cfg.max_attempts >= 12);
        assert!(waits.iter().sum::<u64>() >= 12 * 60_000, "{waits:?}");
    }

    #[tokio::test]
    async fn https_targets_get_a_tls_client() {
        let c = http_client(&CallbacksConfig::default()).expect("a client with TLS");
        // Nothing listens on port 1: the error is the connection, not a missing TLS stack.
        let e = c.post("https://127.0.0.1:1/cb").send().await.unwrap_err();
        assert!(e.is_connect(), "{e:?}");
    }

    #[test]
    fn signed_body_adds_t_and_sign() {
        let b: Value = serde_json::from_str(&signed_body(r#"{"event_type":100}"#, "k", 1000)).unwrap();
        assert_eq!(b["t"], 1600);
        assert_eq!(b["sign"], sign("k", 1600));
        assert_eq!(b["event_type"], 100);
    }
}
