//! The only SQL on `rtsp_source` (sources made through the API) and
//! `rtsp_source_status` (every source's status, written by the node that pulls it).

use super::spec::{SourceSpec, Transport};
use super::status::{Phase, State};
use crate::db::Db;
use crate::error::Result;
use sqlx::Row;

/// Every source made through the API, by id.
pub async fn list(db: &Db) -> Result<Vec<SourceSpec>> {
    let rows = sqlx::query(
        "SELECT source_id, url, domain, app, stream, transport, enable, rtp_timeout_secs FROM rtsp_source ORDER BY source_id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SourceSpec {
                source_id: Some(r.try_get("source_id")?),
                url: r.try_get("url")?,
                domain: Some(r.try_get("domain")?),
                app: r.try_get("app")?,
                stream: r.try_get("stream")?,
                transport: Transport::parse(&r.try_get::<String, _>("transport")?).unwrap_or_default(),
                enable: r.try_get::<i64, _>("enable")? != 0,
                rtp_timeout_secs: r.try_get::<i64, _>("rtp_timeout_secs")? as u64,
            })
        })
        .collect()
}

/// Adds a source (`created` false when its id is taken) or, with `replace`, changes it.
pub async fn put(db: &Db, s: &SourceSpec, replace: bool, now_unix: i64) -> Result<bool> {
    let on_conflict = if replace {
        "ON CONFLICT (source_id) DO UPDATE SET url = excluded.url, domain = excluded.domain, app = excluded.app, \
         stream = excluded.stream, transport = excluded.transport, enable = excluded.enable, \
         rtp_timeout_secs = excluded.rtp_timeout_secs"
    } else {
        "ON CONFLICT (source_id) DO NOTHING"
    };
    let sql = format!(
        "INSERT INTO rtsp_source (source_id, url, domain, app, stream, transport, enable, rtp_timeout_secs, created_at_unix) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) {on_conflict}"
    );
    let n = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(s.source_id.as_deref().unwrap_or_default())
        .bind(&s.url)
        .bind(s.domain.as_deref().unwrap_or_default())
        .bind(&s.app)
        .bind(&s.stream)
        .bind(s.transport.as_str())
        .bind(s.enable as i64)
        .bind(s.rtp_timeout_secs as i64)
        .bind(now_unix)
        .execute(db.pool())
        .await?;
    Ok(n.rows_affected() > 0)
}

/// Removes a source and its status; false when there was none.
pub async fn delete(db: &Db, source_id: &str) -> Result<bool> {
    let n = sqlx::query("DELETE FROM rtsp_source WHERE source_id = $1")
        .bind(source_id)
        .execute(db.pool())
        .await?;
    forget_status(db, source_id).await?;
    Ok(n.rows_affected() > 0)
}

/// Writes a source's status as the node pulling it sees it.
pub async fn save_status(db: &Db, source_id: &str, p: &Phase) -> Result<()> {
    sqlx::query(
        "INSERT INTO rtsp_source_status (source_id, node, state, last_error, note, retries, connected_at_unix) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (source_id) DO UPDATE SET node = excluded.node, state = excluded.state, \
         last_error = excluded.last_error, note = excluded.note, retries = excluded.retries, \
         connected_at_unix = excluded.connected_at_unix",
    )
    .bind(source_id)
    .bind(p.node.as_deref().unwrap_or_default())
    .bind(p.state.as_str())
    .bind(p.last_error.as_deref())
    .bind(p.note.as_deref())
    .bind(p.retries as i64)
    .bind(p.connected_at_unix)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A source's status as its node last wrote it.
pub async fn status(db: &Db, source_id: &str) -> Result<Option<Phase>> {
    let row = sqlx::query(
        "SELECT node, state, last_error, note, retries, connected_at_unix FROM rtsp_source_status WHERE source_id = $1",
    )
    .bind(source_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Phase {
        node: Some(r.try_get::<String, _>("node")?).filter(|n| !n.is_empty()),
        state: State::parse(&r.try_get::<String, _>("state")?),
        last_error: r.try_get("last_error")?,
        note: r.try_get("note")?,
        retries: r.try_get::<i64, _>("retries")? as u64,
        connected_at_unix: r.try_get("connected_at_unix")?,
    }))
}

/// Forgets a source's status (it was deleted).
pub async fn forget_status(db: &Db, source_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM rtsp_source_status WHERE source_id = $1")
        .bind(source_id)
        .execute(db.pool())
        .await?;
    Ok(())
}
