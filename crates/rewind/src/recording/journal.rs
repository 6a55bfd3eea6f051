//! The `recording_file` table — the journal of recordings being written: a row from
//! the first frame to the library insert, so that a crash leaves a row for recovery.
//! The only SQL on that table.

use crate::db::Db;
use crate::error::Result;
use rewind_media::Time90k;
use sqlx::Row;

/// An interrupted recording, as a start-up finds it.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its file id.
    pub file_id: String,
    /// Its temporary file (folder for HLS), relative to the media root.
    pub tmp_path: String,
    /// JSON of its plan.
    pub plan: String,
    /// UTC of its first frame.
    pub start: Time90k,
    /// Parked (auto-splice) until then; None: a push was recording it.
    pub parked_until_unix: Option<i64>,
    /// JSON of its splice state (HLS with auto-splice).
    pub splice: Option<String>,
}

/// A recording began on `node`.
#[allow(clippy::too_many_arguments)]
pub async fn begin(
    db: &Db,
    node: &str,
    file_id: &str,
    format: &str,
    tmp_path: &str,
    plan_json: &str,
    start: Time90k,
    now_unix: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO recording_file (file_id, format, tmp_path, plan, start_90k, started_at_unix, node) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(file_id)
    .bind(format)
    .bind(tmp_path)
    .bind(plan_json)
    .bind(start.0)
    .bind(now_unix)
    .bind(node)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The recording is over (in the library, or nothing to keep). Inside the library
/// insert's transaction when given one.
pub async fn end(conn: &mut sqlx::AnyConnection, file_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM recording_file WHERE file_id = $1").bind(file_id).execute(conn).await?;
    Ok(())
}

/// `end` on its own.
pub async fn forget(db: &Db, file_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM recording_file WHERE file_id = $1").bind(file_id).execute(db.pool()).await?;
    Ok(())
}

/// Whether the recording still has its row.
pub async fn is_open(db: &Db, file_id: &str) -> Result<bool> {
    let row = sqlx::query("SELECT file_id FROM recording_file WHERE file_id = $1")
        .bind(file_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// Every recording `node` has a row for (and those written before nodes existed),
/// oldest id first: at its start-up, those a crash interrupted. Other nodes' rows are
/// theirs: they may be recording them now.
pub async fn all(db: &Db, node: &str) -> Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT file_id, tmp_path, plan, start_90k, parked_until_unix, splice FROM recording_file WHERE node = $1 OR node = '' ORDER BY file_id",
    )
    .bind(node)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(entry_of).collect()
}

/// Auto-splice recordings other nodes have rows for (`node` ≠ `me`), with their node:
/// those a re-push here may continue once their node lost the stream.
pub async fn others_spliced(db: &Db, me: &str) -> Result<Vec<(Entry, String)>> {
    let rows = sqlx::query(
        "SELECT file_id, tmp_path, plan, start_90k, parked_until_unix, splice, node FROM recording_file WHERE node <> $1 AND format = 'hls' AND splice IS NOT NULL ORDER BY file_id",
    )
    .bind(me)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok((entry_of(r)?, r.try_get("node")?))).collect()
}

fn entry_of(r: &sqlx::any::AnyRow) -> Result<Entry> {
    Ok(Entry {
        file_id: r.try_get("file_id")?,
        tmp_path: r.try_get("tmp_path")?,
        plan: r.try_get("plan")?,
        start: Time90k(r.try_get("start_90k")?),
        parked_until_unix: r.try_get("parked_until_unix")?,
        splice: r.try_get("splice")?,
    })
}

/// Moves a recording from node `from` to node `to`, if `from` still has it: true when
/// `to` has it now (only one node can win).
pub async fn take_over(db: &Db, file_id: &str, from: &str, to: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE recording_file SET node = $3 WHERE file_id = $1 AND node = $2")
        .bind(file_id)
        .bind(from)
        .bind(to)
        .execute(db.pool())
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The node that has a recording now ('' : written before nodes existed), if it has a row.
pub async fn owner(db: &Db, file_id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT node FROM recording_file WHERE file_id = $1")
        .bind(file_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("node")).transpose()?)
}

/// An auto-splice recording's state for a restart: parked until when (None: a push is
/// recording it), its splice state and its plan (JSON). Only while `node` has the row:
/// false when another node took the recording over.
pub async fn set_splice(
    db: &Db,
    node: &str,
    file_id: &str,
    parked_until_unix: Option<i64>,
    splice_json: &str,
    plan_json: &str,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE recording_file SET parked_until_unix = $1, splice = $2, plan = $3 WHERE file_id = $4 AND (node = $5 OR node = '')",
    )
    .bind(parked_until_unix)
    .bind(splice_json)
    .bind(plan_json)
    .bind(file_id)
    .bind(node)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected() == 1)
}
