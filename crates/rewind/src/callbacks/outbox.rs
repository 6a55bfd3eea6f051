//! The outbox table: events written where they are decided, read by the sender.

use crate::error::{Error, ErrorCode, Result};
use crate::server::Services;
use crate::wire_time::rfc3339_ms;
use rewind_media::Time90k;
use serde_json::{Value, json};
use sqlx::Row;

/// Wakes the sender when an event is written (it also looks every half second).
#[derive(Debug, Default)]
pub struct Outbox {
    wake: tokio::sync::Notify,
}

impl Outbox {
    /// Tells the sender there is something new.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
    /// Waits for `wake`.
    pub async fn woken(&self) {
        self.wake.notified().await
    }
}

/// A new event id: milliseconds then randomness, so ids sort by creation.
fn new_event_id(now: Time90k) -> String {
    format!("ev{:011x}{}", now.as_ms().max(0), hex::encode(rand::random::<[u8; 6]>()))
}

/// Writes `body` as an event for `domain`'s target, through `exec` (a transaction
/// when the event must commit with what it reports). No target: nothing is written.
/// Returns the event id. Call `Outbox::wake` after the commit.
pub async fn enqueue<'e, E>(exec: E, svc: &Services, domain: &str, mut body: Value) -> Result<Option<String>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let event_type = body["event_type"].as_i64().unwrap_or(0);
    let app = body["appname"].as_str().unwrap_or("");
    let Some(target) = super::event::target(svc, domain, app, event_type) else { return Ok(None) };
    let now = svc.clock.now();
    let id = new_event_id(now);
    body["event_id"] = json!(id);
    sqlx::query(
        "INSERT INTO callback_outbox (event_id, domain, event_type, url, sign_key, body, state, attempts, \
         next_attempt_ms, created_at_unix) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8)",
    )
    .bind(&id)
    .bind(domain)
    .bind(event_type)
    .bind(&target.url)
    .bind(&target.key)
    .bind(body.to_string())
    .bind(now.as_ms())
    .bind(svc.clock.now_unix())
    .execute(exec)
    .await?;
    Ok(Some(id))
}

/// Writes an event on its own (not part of another change) and wakes the sender.
/// Failure is logged, never returned: callbacks must not stop recording.
pub async fn send(svc: &Services, domain: &str, body: Value) {
    match enqueue(svc.db.pool(), svc, domain, body).await {
        Ok(Some(_)) => svc.callbacks.wake(),
        Ok(None) => {}
        Err(e) => tracing::error!(%domain, error = %e, "could not queue a callback event"),
    }
}

/// An event due for a try.
#[derive(Debug, Clone)]
pub struct Due {
    /// Id.
    pub event_id: String,
    /// Target URL.
    pub url: String,
    /// Signing key.
    pub key: String,
    /// Body without `t` and `sign`.
    pub body: String,
    /// Tries so far.
    pub attempts: i64,
}

/// Claims up to `limit` due events: each is leased until `lease_until_ms` (a try that
/// dies with the process is tried again after the lease; receivers de-duplicate).
pub async fn claim_due(svc: &Services, now_ms: i64, lease_until_ms: i64, limit: i64) -> Result<Vec<Due>> {
    let rows = sqlx::query(
        "SELECT event_id, url, sign_key, body, attempts, next_attempt_ms FROM callback_outbox \
         WHERE state = 'pending' AND next_attempt_ms <= $1 ORDER BY next_attempt_ms, event_id LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit)
    .fetch_all(svc.db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let d = Due {
            event_id: r.try_get(0)?,
            url: r.try_get(1)?,
            key: r.try_get(2)?,
            body: r.try_get(3)?,
            attempts: r.try_get(4)?,
        };
        // Another node's sender may have seen it too: only the one whose claim finds
        // the row as it was read sends it.
        if claim_one(&svc.db, &d.event_id, r.try_get(5)?, lease_until_ms).await? {
            out.push(d);
        }
    }
    Ok(out)
}

/// Leases one event seen due with `seen_next_ms` until `lease_until_ms`: true when this
/// claim won (compare-and-set on the row, so two senders — two nodes — never both do).
async fn claim_one(
    db: &crate::db::Db,
    event_id: &str,
    seen_next_ms: i64,
    lease_until_ms: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE callback_outbox SET next_attempt_ms = $1 WHERE event_id = $2 AND state = 'pending' AND next_attempt_ms = $3",
    )
    .bind(lease_until_ms)
    .bind(event_id)
    .bind(seen_next_ms)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The receiver took the event: it leaves the outbox.
pub async fn delivered(svc: &Services, event_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM callback_outbox WHERE event_id = $1")
        .bind(event_id)
        .execute(svc.db.pool())
        .await?;
    Ok(())
}

/// A try failed: the next is at `next_ms`, or, with `next_ms` None, the event is given up.
pub async fn failed(
    svc: &Services,
    event_id: &str,
    attempts: i64,
    error: &str,
    next_ms: Option<i64>,
) -> Result<()> {
    let q = match next_ms {
        Some(next) => sqlx::query(
            "UPDATE callback_outbox SET attempts = $1, last_error = $2, next_attempt_ms = $3 WHERE event_id = $4",
        )
        .bind(attempts)
        .bind(error.to_string())
        .bind(next),
        None => sqlx::query(
            "UPDATE callback_outbox SET attempts = $1, last_error = $2, state = 'failed', failed_at_unix = $3 \
             WHERE event_id = $4",
        )
        .bind(attempts)
        .bind(error.to_string())
        .bind(svc.clock.now_unix()),
    };
    q.bind(event_id).execute(svc.db.pool()).await?;
    Ok(())
}

/// Events in `state` (`pending` or `failed`), oldest first, after `after` (an event id).
pub async fn list(svc: &Services, state: &str, after: Option<&str>, limit: i64) -> Result<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT event_id, domain, event_type, url, body, state, attempts, next_attempt_ms, last_error, \
         created_at_unix, failed_at_unix FROM callback_outbox WHERE state = $1 AND event_id > $2 \
         ORDER BY event_id LIMIT $3",
    )
    .bind(state)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(svc.db.pool())
    .await?;
    rows.iter().map(item).collect()
}

fn item(r: &sqlx::any::AnyRow) -> Result<Value> {
    let unix = |s: i64| rfc3339_ms(Time90k(s * 90_000));
    let body: String = r.try_get(4)?;
    let state: String = r.try_get(5)?;
    Ok(json!({
        "event_id": r.try_get::<String, _>(0)?,
        "domain": r.try_get::<String, _>(1)?,
        "event_type": r.try_get::<i64, _>(2)?,
        "url": r.try_get::<String, _>(3)?,
        "event": serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        "attempts": r.try_get::<i64, _>(6)?,
        "next_attempt_at": (state == "pending").then(|| rfc3339_ms(Time90k::from_ms(r.try_get::<i64, _>(7).unwrap_or(0)))),
        "last_error": r.try_get::<Option<String>, _>(8)?,
        "created_at": unix(r.try_get(9)?),
        "failed_at": r.try_get::<Option<i64>, _>(10)?.map(unix),
        "state": state,
    }))
}

/// One event, whatever its state.
pub async fn get(svc: &Services, event_id: &str) -> Result<Value> {
    let r = sqlx::query(
        "SELECT event_id, domain, event_type, url, body, state, attempts, next_attempt_ms, last_error, \
         created_at_unix, failed_at_unix FROM callback_outbox WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(svc.db.pool())
    .await?;
    match r {
        Some(r) => item(&r),
        None => Err(not_found(event_id)),
    }
}

fn not_found(event_id: &str) -> Error {
    Error::new(
        ErrorCode::CallbackNotFound,
        format!("no callback event {event_id} waits or failed (delivered events are not kept)"),
    )
}

/// Puts one event back in the queue with a fresh count of tries, now, to its domain's
/// current target (the operator may have fixed it). Returns the event as it stands
/// before the sender is woken: once woken it may deliver and drop it.
pub async fn resend_one(svc: &Services, event_id: &str) -> Result<Value> {
    let rows = sqlx::query("SELECT event_id, domain, body FROM callback_outbox WHERE event_id = $1")
        .bind(event_id)
        .fetch_all(svc.db.pool())
        .await?;
    if rows.is_empty() {
        return Err(not_found(event_id));
    }
    requeue(svc, &rows).await?;
    let shown = get(svc, event_id).await?;
    svc.callbacks.wake();
    Ok(shown)
}

/// Every failed event again, as `resend_one` does; returns how many.
pub async fn resend_failed(svc: &Services) -> Result<u64> {
    let rows = sqlx::query("SELECT event_id, domain, body FROM callback_outbox WHERE state = 'failed'")
        .fetch_all(svc.db.pool())
        .await?;
    requeue(svc, &rows).await?;
    svc.callbacks.wake();
    Ok(rows.len() as u64)
}

/// Rows of (event_id, domain, body) back to `pending`, due now, with their domain's target.
async fn requeue(svc: &Services, rows: &[sqlx::any::AnyRow]) -> Result<()> {
    let now_ms = svc.clock.now().as_ms();
    for r in rows {
        let (id, domain): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        // The app and kind decide the target too (a callback rule's URL per kind).
        let body: Value = serde_json::from_str(&r.try_get::<String, _>(2)?).unwrap_or_default();
        let (app, event_type) =
            (body["appname"].as_str().unwrap_or(""), body["event_type"].as_i64().unwrap_or(0));
        let target = super::event::target(svc, &domain, app, event_type);
        sqlx::query(
            "UPDATE callback_outbox SET state = 'pending', attempts = 0, next_attempt_ms = $1, failed_at_unix = NULL, \
             url = COALESCE($2, url), sign_key = COALESCE($3, sign_key) WHERE event_id = $4",
        )
        .bind(now_ms)
        .bind(target.as_ref().map(|t| t.url.clone()))
        .bind(target.as_ref().map(|t| t.key.clone()))
        .bind(&id)
        .execute(svc.db.pool())
        .await?;
    }
    Ok(())
}

/// Drops one event from the outbox (a failed event the operator gave up on).
pub async fn delete(svc: &Services, event_id: &str) -> Result<()> {
    let n = sqlx::query("DELETE FROM callback_outbox WHERE event_id = $1")
        .bind(event_id)
        .execute(svc.db.pool())
        .await?;
    if n.rows_affected() == 0 {
        return Err(not_found(event_id));
    }
    Ok(())
}

/// Events waiting (for the metrics gauge).
pub async fn pending_count(svc: &Services) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM callback_outbox WHERE state = 'pending'")
        .fetch_one(svc.db.pool())
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two senders (two nodes) that read the same due event: exactly one claims it.
    #[tokio::test]
    async fn a_due_event_is_claimed_once_whoever_saw_it() {
        let dir = tempfile::tempdir().unwrap();
        let db =
            crate::db::Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        sqlx::query(
            "INSERT INTO callback_outbox (event_id, domain, event_type, url, sign_key, body, state, attempts, next_attempt_ms, created_at_unix) \
             VALUES ('e1', 'd', 100, 'http://x', 'k', '{}', 'pending', 0, 1000, 0)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        // Both read next_attempt_ms = 1000; A claims first, B's claim finds the row changed.
        assert!(claim_one(&db, "e1", 1000, 61_000).await.unwrap());
        assert!(!claim_one(&db, "e1", 1000, 62_000).await.unwrap());
        // After A's lease runs out, a sender that reads the new value may claim it again.
        assert!(claim_one(&db, "e1", 61_000, 121_000).await.unwrap());
    }
}
