//! The task table: the truth about every record task.

use crate::db::Db;
use crate::error::{Error, ErrorCode, Result};
use crate::tasks::model::{State, Task};
use sqlx::Row;

const COLUMNS: &str = "task_id, domain, app, stream, start_unix, end_unix, template_id, stream_type, extension, state, stopped_at_unix, source, max_end_unix";

fn task_of(r: &sqlx::any::AnyRow) -> Result<Task> {
    let state: String = r.try_get("state")?;
    Ok(Task {
        task_id: r.try_get("task_id")?,
        domain: r.try_get("domain")?,
        app: r.try_get("app")?,
        stream: r.try_get("stream")?,
        start_time: r.try_get("start_unix")?,
        end_time: r.try_get("end_unix")?,
        template_id: r.try_get("template_id")?,
        stream_type: r.try_get("stream_type")?,
        extension: r.try_get("extension")?,
        state: State::parse(&state).ok_or_else(|| Error::internal(format!("task state {state:?}")))?,
        stopped_at: r.try_get("stopped_at_unix")?,
        source: r.try_get("source")?,
        max_end_time: r.try_get("max_end_unix")?,
    })
}

/// Stores a new task.
pub async fn insert(db: &Db, t: &Task, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO record_task (task_id, domain, app, stream, start_unix, end_unix, template_id, stream_type, extension, state, recorded, stopped_at_unix, created_at_unix, source, max_end_unix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, NULL, $11, $12, $13)",
    )
    .bind(&t.task_id)
    .bind(&t.domain)
    .bind(&t.app)
    .bind(&t.stream)
    .bind(t.start_time)
    .bind(t.end_time)
    .bind(t.template_id)
    .bind(t.stream_type)
    .bind(&t.extension)
    .bind(t.state.as_str())
    .bind(now)
    .bind(&t.source)
    .bind(t.max_end_time)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// One task.
pub async fn get(db: &Db, id: &str) -> Result<Task> {
    let sql = format!("SELECT {COLUMNS} FROM record_task WHERE task_id = $1");
    match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db.pool()).await? {
        Some(r) => task_of(&r),
        None => Err(Error::new(ErrorCode::TaskNotFound, format!("no record task {id}"))),
    }
}

/// Moves a task that may still record to `state` (a task another node ended stays
/// ended); `recorded` marks that it started a recording.
pub async fn set_state(
    db: &Db,
    id: &str,
    state: State,
    recorded: bool,
    stopped_at: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE record_task SET state = $2, recorded = CASE WHEN $3 = 1 THEN 1 ELSE recorded END, stopped_at_unix = COALESCE($4, stopped_at_unix) WHERE task_id = $1 AND state IN ('scheduled', 'recording', 'waiting')",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(recorded as i64)
    .bind(stopped_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Ends a task whose window closed by `now`: finished if any node recorded it, else
/// expired. None when the database's task is not due (another node extended it) or
/// already ended; every node may try, the first one ends it.
pub async fn end(db: &Db, id: &str, now: i64) -> Result<Option<State>> {
    let r = sqlx::query(
        "UPDATE record_task SET state = CASE WHEN recorded = 1 THEN 'finished' ELSE 'expired' END WHERE task_id = $1 AND state IN ('scheduled', 'recording', 'waiting') AND end_unix <= $2",
    )
    .bind(id)
    .bind(now)
    .execute(db.pool())
    .await?;
    if r.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(Some(get(db, id).await?.state))
}

/// Moves a task's end (an event clip extended by a new event).
pub async fn set_end(db: &Db, id: &str, end: i64) -> Result<()> {
    sqlx::query("UPDATE record_task SET end_unix = $2 WHERE task_id = $1")
        .bind(id)
        .bind(end)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Deletes a task.
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM record_task WHERE task_id = $1").bind(id).execute(db.pool()).await?;
    Ok(())
}

/// Every task that may still record, with whether it recorded already.
pub async fn live_tasks(db: &Db) -> Result<Vec<(Task, bool)>> {
    let sql = format!(
        "SELECT {COLUMNS}, recorded FROM record_task WHERE state IN ('scheduled', 'recording', 'waiting') ORDER BY start_unix"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(db.pool()).await?;
    rows.iter().map(|r| Ok((task_of(r)?, r.try_get::<i64, _>("recorded")? != 0))).collect()
}

/// A page of tasks.
#[derive(Debug)]
pub struct Page {
    /// In start order.
    pub tasks: Vec<Task>,
    /// Where the next page starts.
    pub next_page_token: Option<String>,
}

/// Filters of `GET /v1/record-tasks`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Domain.
    pub domain: Option<String>,
    /// App.
    pub app: Option<String>,
    /// Stream name.
    pub stream: Option<String>,
    /// Tasks whose window ends after this (Unix seconds).
    pub start_time: Option<i64>,
    /// Tasks whose window starts before this (Unix seconds).
    pub end_time: Option<i64>,
    /// 1–100 (default 100).
    pub page_size: Option<i64>,
    /// From the previous page.
    pub page_token: Option<String>,
}

/// Lists tasks by stream and window, in start order, keyset-paged.
pub async fn list(db: &Db, f: &Filter) -> Result<Page> {
    let size = f.page_size.unwrap_or(100);
    if !(1..=100).contains(&size) {
        return Err(Error::new(ErrorCode::InvalidParameter, "page_size must be 1 to 100"));
    }
    if let (Some(s), Some(e)) = (f.start_time, f.end_time)
        && (e < s || e - s > 7 * 86400)
    {
        return Err(Error::new(
            ErrorCode::InvalidParameter,
            "start_time to end_time must be a window of at most 7 days",
        ));
    }
    let (after_start, after_id) = match &f.page_token {
        None => (i64::MIN, String::new()),
        Some(t) => {
            let bad = || Error::new(ErrorCode::InvalidParameter, "page_token is not one this server gave");
            let (s, id) = t.split_once(':').ok_or_else(bad)?;
            (s.parse().map_err(|_| bad())?, id.to_string())
        }
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM record_task WHERE ($1 IS NULL OR domain = $1) AND ($2 IS NULL OR app = $2) AND ($3 IS NULL OR stream = $3) AND ($4 IS NULL OR end_unix > $4) AND ($5 IS NULL OR start_unix < $5) AND (start_unix > $6 OR (start_unix = $6 AND task_id > $7)) ORDER BY start_unix, task_id LIMIT $8"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&f.domain)
        .bind(&f.app)
        .bind(&f.stream)
        .bind(f.start_time)
        .bind(f.end_time)
        .bind(after_start)
        .bind(&after_id)
        .bind(size + 1)
        .fetch_all(db.pool())
        .await?;
    let mut tasks: Vec<Task> = rows.iter().map(task_of).collect::<Result<_>>()?;
    let next_page_token = if tasks.len() > size as usize {
        tasks.truncate(size as usize);
        tasks.last().map(|t| format!("{}:{}", t.start_time, t.task_id))
    } else {
        None
    };
    Ok(Page { tasks, next_page_token })
}
