//! Media records: insert, get, search with keyset paging, delete.

use crate::db::Db;
use crate::error::{Error, ErrorCode, Result};
use crate::registry::MediaInfo;
use crate::wire_time::rfc3339_ms;
use rewind_media::Time90k;
use serde::Deserialize;
use sqlx::Row;

/// One finished recording file.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaRecord {
    /// Id.
    pub file_id: String,
    /// Domain.
    pub domain: String,
    /// App.
    pub app: String,
    /// Stream.
    pub stream: String,
    /// `flv`, `hls`, `mp4`, `aac`.
    pub format: String,
    /// `rule`, `task`, `event`.
    pub source: String,
    /// Template used.
    pub template_id: i64,
    /// Task, for task recordings.
    pub task_id: Option<String>,
    /// Publish sessions the file covers.
    pub session_ids: Vec<String>,
    /// UTC of the first frame.
    pub start: Time90k,
    /// UTC of the end of the last frame.
    pub end: Time90k,
    /// Media duration in milliseconds.
    pub duration_ms: i64,
    /// Bytes.
    pub file_size: i64,
    /// Tracks.
    pub media_info: MediaInfo,
    /// File name.
    pub file_name: String,
    /// Path under `data_dir/media`.
    pub rel_path: String,
    /// The push URL's query (absent for task recordings).
    pub stream_param: Option<String>,
    /// When retention deletes it (Unix seconds).
    pub expires_at_unix: Option<i64>,
}

impl MediaRecord {
    /// The API's JSON (API.md `Media`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file_id": self.file_id,
            "domain": self.domain,
            "app": self.app,
            "stream": self.stream,
            "format": self.format,
            "source": self.source,
            "template_id": self.template_id,
            "task_id": self.task_id,
            "session_ids": self.session_ids,
            "start_time": rfc3339_ms(self.start),
            "end_time": rfc3339_ms(self.end),
            "duration": self.duration_ms as f64 / 1000.0,
            "file_size": self.file_size,
            "video": self.media_info.video,
            "audio": self.media_info.audio,
            "file_name": self.file_name,
            "url": format!("/v1/media/{}/content", self.file_id),
            "stream_param": self.stream_param,
            "expires_at": self.expires_at_unix.map(|s| rfc3339_ms(Time90k(s * 90_000))),
        })
    }
}

const COLUMNS: &str = "file_id, domain, app, stream, format, source, template_id, task_id, session_ids, start_90k, end_90k, \
     duration_ms, file_size, media_info, file_name, rel_path, stream_param, expires_at_unix";

fn from_row(r: &sqlx::any::AnyRow) -> Result<MediaRecord> {
    let sessions: String = r.try_get("session_ids")?;
    let info: String = r.try_get("media_info")?;
    Ok(MediaRecord {
        file_id: r.try_get("file_id")?,
        domain: r.try_get("domain")?,
        app: r.try_get("app")?,
        stream: r.try_get("stream")?,
        format: r.try_get("format")?,
        source: r.try_get("source")?,
        template_id: r.try_get("template_id")?,
        task_id: r.try_get("task_id")?,
        session_ids: serde_json::from_str(&sessions).unwrap_or_default(),
        start: Time90k(r.try_get("start_90k")?),
        end: Time90k(r.try_get("end_90k")?),
        duration_ms: r.try_get("duration_ms")?,
        file_size: r.try_get("file_size")?,
        media_info: serde_json::from_str(&info).unwrap_or_default(),
        file_name: r.try_get("file_name")?,
        rel_path: r.try_get("rel_path")?,
        stream_param: r.try_get("stream_param")?,
        expires_at_unix: r.try_get("expires_at_unix")?,
    })
}

/// The node that recorded a library file (its bytes wait in that node's spool until
/// uploaded); '' for files from before nodes existed.
pub async fn node_of(db: &Db, file_id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT node FROM media WHERE file_id = $1")
        .bind(file_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("node")).transpose()?)
}

/// Inserts a record inside `tx` (with the removal of its `recording_file` row, so a
/// crash leaves either a recording to repair or a finished file, never both).
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    m: &MediaRecord,
    now_unix: i64,
    node: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO media (file_id, domain, app, stream, format, source, template_id, task_id, session_ids, start_90k, \
         end_90k, duration_ms, file_size, media_info, file_name, rel_path, stream_param, expires_at_unix, created_at_unix, node) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
    )
    .bind(&m.file_id)
    .bind(&m.domain)
    .bind(&m.app)
    .bind(&m.stream)
    .bind(&m.format)
    .bind(&m.source)
    .bind(m.template_id)
    .bind(&m.task_id)
    .bind(serde_json::to_string(&m.session_ids).map_err(Error::internal)?)
    .bind(m.start.0)
    .bind(m.end.0)
    .bind(m.duration_ms)
    .bind(m.file_size)
    .bind(serde_json::to_string(&m.media_info).map_err(Error::internal)?)
    .bind(&m.file_name)
    .bind(&m.rel_path)
    .bind(&m.stream_param)
    .bind(m.expires_at_unix)
    .bind(now_unix)
    .bind(node)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE media_stats SET longest_90k = $1 WHERE id = 1 AND longest_90k < $1")
        .bind((m.end - m.start).0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One record.
pub async fn get(db: &Db, file_id: &str) -> Result<MediaRecord> {
    let sql = format!("SELECT {COLUMNS} FROM media WHERE file_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(file_id).fetch_optional(db.pool()).await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(Error::new(ErrorCode::MediaNotFound, format!("no media file {file_id}"))),
    }
}

/// Whether a library file has its bytes at `rel_path` (`domain/app/stream/file_name`).
pub async fn has_file_at(db: &Db, rel_path: &str) -> Result<bool> {
    let parts: Vec<&str> = rel_path.splitn(4, '/').collect();
    let [domain, app, stream, file_name] = parts[..] else { return Ok(false) };
    let row = sqlx::query(
        "SELECT file_id FROM media WHERE domain = $1 AND app = $2 AND stream = $3 AND file_name = $4",
    )
    .bind(domain)
    .bind(app)
    .bind(stream)
    .bind(file_name)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// Where a library file's bytes are, for deleting them.
#[derive(Clone, Debug)]
pub struct StoredFile {
    /// The record.
    pub file_id: String,
    /// Its `rel_path`.
    pub rel_path: String,
    /// Its format (an HLS recording has a segment folder too).
    pub format: String,
    /// Its bytes.
    pub file_size: u64,
}

fn stored_files(rows: &[sqlx::any::AnyRow]) -> Result<Vec<StoredFile>> {
    rows.iter()
        .map(|r| {
            Ok(StoredFile {
                file_id: r.try_get("file_id")?,
                rel_path: r.try_get("rel_path")?,
                format: r.try_get("format")?,
                file_size: r.try_get::<i64, _>("file_size")?.max(0) as u64,
            })
        })
        .collect()
}

/// Up to `limit` files whose storage time ended by `now_unix`, soonest expired first.
pub async fn expired(db: &Db, now_unix: i64, limit: i64) -> Result<Vec<StoredFile>> {
    let rows = sqlx::query(
        "SELECT file_id, rel_path, format, file_size FROM media WHERE expires_at_unix IS NOT NULL AND expires_at_unix <= $1 ORDER BY expires_at_unix LIMIT $2",
    )
    .bind(now_unix)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    stored_files(&rows)
}

/// The `limit` files that start first.
pub async fn oldest(db: &Db, limit: i64) -> Result<Vec<StoredFile>> {
    let rows =
        sqlx::query("SELECT file_id, rel_path, format, file_size FROM media ORDER BY start_90k LIMIT $1")
            .bind(limit)
            .fetch_all(db.pool())
            .await?;
    stored_files(&rows)
}

/// Forgets a record whose bytes are gone (retention).
pub async fn forget(db: &Db, file_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM media WHERE file_id = $1").bind(file_id).execute(db.pool()).await?;
    Ok(())
}

/// Every stream with files in the library: (domain, app, stream), in order.
pub async fn streams(db: &Db) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query("SELECT DISTINCT domain, app, stream FROM media ORDER BY domain, app, stream")
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok((r.try_get("domain")?, r.try_get("app")?, r.try_get("stream")?))).collect()
}

/// Every file of one stream.
pub async fn files_of_stream(db: &Db, domain: &str, app: &str, stream: &str) -> Result<Vec<StoredFile>> {
    let rows = sqlx::query(
        "SELECT file_id, rel_path, format, file_size FROM media WHERE domain = $1 AND app = $2 AND stream = $3",
    )
    .bind(domain)
    .bind(app)
    .bind(stream)
    .fetch_all(db.pool())
    .await?;
    stored_files(&rows)
}

/// Bytes of every file in the library, wherever they are kept.
pub async fn library_bytes(db: &Db) -> Result<u64> {
    let n: Option<i64> = sqlx::query_scalar("SELECT SUM(file_size) FROM media").fetch_one(db.pool()).await?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// File names of a stream's library files that start with `prefix`: names a new file
/// must not take even when their bytes are no longer in the local folder.
pub async fn names_taken(
    db: &Db,
    domain: &str,
    app: &str,
    stream: &str,
    prefix: &str,
) -> Result<std::collections::HashSet<String>> {
    // LIKE's wildcards in the prefix only widen the match; the caller compares exactly.
    let rows = sqlx::query(
        "SELECT file_name FROM media WHERE domain = $1 AND app = $2 AND stream = $3 AND file_name LIKE $4",
    )
    .bind(domain)
    .bind(app)
    .bind(stream)
    .bind(format!("{prefix}%"))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok(r.try_get::<String, _>("file_name")?)).collect()
}

/// Search filters (all optional).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Exact domain.
    pub domain: Option<String>,
    /// Exact app.
    pub app: Option<String>,
    /// Exact stream name, or several separated by commas (names hold none).
    pub stream: Option<String>,
    /// File ids, separated by commas.
    pub file_id: Option<String>,
    /// Format.
    pub format: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Task id.
    pub task_id: Option<String>,
    /// Files ending after this (RFC 3339 or Unix seconds).
    pub start_time: Option<String>,
    /// Files starting before this (RFC 3339 or Unix seconds).
    pub end_time: Option<String>,
    /// `start_time` (default) or `-start_time`.
    pub sort: Option<String>,
    /// Page size, 1–1000 (default 100).
    pub page_size: Option<u32>,
    /// Token from the previous page.
    pub page_token: Option<String>,
    /// Records skipped before the page (after `page_token`'s), at most 100000: for
    /// clients that page by offset.
    pub offset: Option<u32>,
}

/// Most values of one list filter.
const MAX_LIST: usize = 100;
/// Largest `offset`.
const MAX_OFFSET: u32 = 100_000;

/// One page of a search.
pub struct Page {
    /// Records of this page.
    pub media: Vec<MediaRecord>,
    /// Records matching the filters, all pages.
    pub total: i64,
    /// Token of the next page, if any.
    pub next_page_token: Option<String>,
}

/// Parses an RFC 3339 time or Unix seconds.
pub fn parse_time(what: &str, s: &str) -> Result<Time90k> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(Time90k(secs * 90_000));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
        Error::new(
            ErrorCode::InvalidParameter,
            format!("{what} must be RFC 3339 (2019-12-21T04:01:08.000Z) or Unix seconds"),
        )
    })?;
    Ok(Time90k::from_unix_micros((t.unix_timestamp_nanos() / 1000) as i64))
}

/// The SQL of a search: (count query, its binds, page query, its binds, page size).
struct Planned {
    total_sql: String,
    binds: Vec<BindValue>,
    page_sql: String,
    page_binds: Vec<BindValue>,
    page_size: u32,
}

fn plan(q: &Search) -> Result<Planned> {
    let desc = match q.sort.as_deref() {
        None | Some("start_time") => false,
        Some("-start_time") => true,
        Some(s) => {
            return Err(Error::new(
                ErrorCode::InvalidParameter,
                format!("sort must be start_time or -start_time, not {s:?}"),
            ));
        }
    };
    let page_size = q.page_size.unwrap_or(100);
    let offset = q.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(Error::new(ErrorCode::InvalidParameter, format!("offset must be 0 to {MAX_OFFSET}")));
    }
    if !(1..=1000).contains(&page_size) {
        return Err(Error::new(ErrorCode::InvalidParameter, "page_size must be 1 to 1000"));
    }
    let mut conds: Vec<String> = Vec::new();
    let mut binds: Vec<BindValue> = Vec::new();
    for (column, list) in [("stream", &q.stream), ("file_id", &q.file_id)] {
        let Some(list) = list else { continue };
        let items: Vec<&str> = list.split(',').collect();
        if items.len() > MAX_LIST {
            return Err(Error::new(
                ErrorCode::InvalidParameter,
                format!("{column} names at most {MAX_LIST} values, not {}", items.len()),
            ));
        }
        let mut marks = Vec::new();
        for v in items {
            binds.push(BindValue::Text(v.to_string()));
            marks.push(format!("${}", binds.len()));
        }
        conds.push(format!("{column} IN ({})", marks.join(", ")));
    }
    let mut add = |cond: &str, v: BindValue| {
        binds.push(v);
        conds.push(cond.replace('?', &format!("${}", binds.len())));
    };
    if let Some(v) = &q.domain {
        add("domain = ?", BindValue::Text(v.clone()));
    }
    if let Some(v) = &q.app {
        add("app = ?", BindValue::Text(v.clone()));
    }
    if let Some(v) = &q.format {
        if !matches!(v.as_str(), "flv" | "hls" | "mp4" | "aac") {
            return Err(Error::new(
                ErrorCode::InvalidParameter,
                format!("format must be flv, hls, mp4 or aac, not {v:?}"),
            ));
        }
        add("format = ?", BindValue::Text(v.clone()));
    }
    if let Some(v) = &q.source {
        if !matches!(v.as_str(), "rule" | "task" | "event") {
            return Err(Error::new(
                ErrorCode::InvalidParameter,
                format!("source must be rule, task or event, not {v:?}"),
            ));
        }
        add("source = ?", BindValue::Text(v.clone()));
    }
    if let Some(v) = &q.task_id {
        add("task_id = ?", BindValue::Text(v.clone()));
    }
    if let Some(v) = &q.start_time {
        let t = parse_time("start_time", v)?.0;
        add("end_90k > ?", BindValue::Int(t));
        // No file is longer than the longest: starts before that cannot overlap.
        add("start_90k >= ? - (SELECT longest_90k FROM media_stats WHERE id = 1)", BindValue::Int(t));
    }
    if let Some(v) = &q.end_time {
        add("start_90k < ?", BindValue::Int(parse_time("end_time", v)?.0));
    }
    let filter = if conds.is_empty() { "1 = 1".to_string() } else { conds.join(" AND ") };
    let total_sql = format!("SELECT COUNT(*) FROM media WHERE {filter}");
    let mut page_binds = binds.clone();
    let mut page_filter = filter.clone();
    if let Some(tok) = &q.page_token {
        let (start, id) = tok
            .split_once('_')
            .and_then(|(s, id)| Some((s.parse::<i64>().ok()?, id.to_string())))
            .ok_or_else(|| {
                Error::new(ErrorCode::InvalidParameter, "page_token is not one this server gave")
            })?;
        let op = if desc { "<" } else { ">" };
        let n = page_binds.len();
        page_filter.push_str(&format!(
            " AND (start_90k {op} ${} OR (start_90k = ${} AND file_id {op} ${}))",
            n + 1,
            n + 1,
            n + 2
        ));
        page_binds.push(BindValue::Int(start));
        page_binds.push(BindValue::Text(id));
    }
    let dir = if desc { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM media WHERE {page_filter} ORDER BY start_90k {dir}, file_id {dir} LIMIT {} OFFSET {offset}",
        page_size + 1
    );
    Ok(Planned { total_sql, binds, page_sql: sql, page_binds, page_size })
}

/// Searches with keyset paging: stable while records are inserted.
pub async fn search(db: &Db, q: &Search) -> Result<Page> {
    let Planned { total_sql, binds, page_sql: sql, page_binds, page_size } = plan(q)?;
    let mut total_q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(total_sql));
    for b in &binds {
        total_q = b.bind_scalar(total_q);
    }
    let total = total_q.fetch_one(db.pool()).await?;
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in &page_binds {
        query = b.bind(query);
    }
    let rows = query.fetch_all(db.pool()).await?;
    let mut media = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let next_page_token = if media.len() > page_size as usize {
        media.truncate(page_size as usize);
        media.last().map(|m| format!("{}_{}", m.start.0, m.file_id))
    } else {
        None
    };
    Ok(Page { media, total, next_page_token })
}

/// SQLite's plan for a search's count and page queries (benchmarks and tests show that
/// every filter uses an index).
pub async fn explain(db: &Db, q: &Search) -> Result<Vec<String>> {
    let p = plan(q)?;
    let mut out = Vec::new();
    for (sql, binds) in [(&p.total_sql, &p.binds), (&p.page_sql, &p.page_binds)] {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for b in binds {
            query = b.bind(query);
        }
        for r in query.fetch_all(db.pool()).await? {
            out.push(r.try_get::<String, _>("detail")?);
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
enum BindValue {
    Text(String),
    Int(i64),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;
type AnyScalar<'q> = sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments>;

impl BindValue {
    fn bind<'q>(&self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        match self {
            BindValue::Text(s) => q.bind(s.clone()),
            BindValue::Int(i) => q.bind(*i),
        }
    }
    fn bind_scalar<'q>(&self, q: AnyScalar<'q>) -> AnyScalar<'q> {
        match self {
            BindValue::Text(s) => q.bind(s.clone()),
            BindValue::Int(i) => q.bind(*i),
        }
    }
}

/// Deletes a record; the caller removes the bytes after (record first: a crash between
/// leaves orphan bytes for the sweeper, never a record without bytes).
pub async fn delete(db: &Db, file_id: &str, reserve: &crate::disk_reserve::DiskReserve) -> Result<()> {
    let del = || sqlx::query("DELETE FROM media WHERE file_id = $1").bind(file_id).execute(db.pool());
    let n = reserve.with_room(del).await?;
    if n.rows_affected() == 0 {
        return Err(Error::new(ErrorCode::MediaNotFound, format!("no media file {file_id}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every filter the API offers is answered from an index that also gives the order:
    /// no full scan and no sort in memory (the benchmark, examples/media_search.rs,
    /// times them over a million records).
    #[tokio::test]
    async fn every_filter_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        // Plans depend on statistics: give the planner a table like a real one.
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19999) \
             INSERT INTO media (file_id, domain, app, stream, format, source, template_id, task_id, session_ids, start_90k, end_90k, duration_ms, file_size, media_info, file_name, rel_path, created_at_unix) \
             SELECT printf('%016x', i), 'd' || (i % 10), 'live', 'cam' || (i % 100), CASE i % 4 WHEN 0 THEN 'mp4' ELSE 'flv' END, \
             CASE i % 10 WHEN 0 THEN 'task' ELSE 'rule' END, 1, CASE i % 10 WHEN 0 THEN 't' || (i / 1000) END, '[]', \
             139167072000000 + i * 2700000, 139167072000000 + i * 2700000 + 2700000, 30000, 1, '{}', 'f', 'f', 0 FROM n",
        )
        .execute(db.pool())
        .await
        .unwrap();
        sqlx::query("ANALYZE").execute(db.pool()).await.unwrap();
        let day = |s: &str| Some(s.to_string());
        let cases = [
            Search { domain: day("d"), app: day("live"), stream: day("cam"), ..Default::default() },
            Search { stream: day("cam"), ..Default::default() },
            Search { task_id: day("t1"), ..Default::default() },
            Search { format: day("mp4"), start_time: day("2019-03-01T00:00:00Z"), ..Default::default() },
            Search { source: day("task"), sort: day("-start_time"), ..Default::default() },
            Search {
                start_time: day("2019-03-01T00:00:00Z"),
                end_time: day("2019-03-02T00:00:00Z"),
                ..Default::default()
            },
            // The lists SearchMedia sends (StreamIds, FileIds), and its Offset paging.
            Search { stream: day("cam1,cam2,cam3"), ..Default::default() },
            Search { file_id: day("0000000000000001,00000000000000ff"), ..Default::default() },
            Search {
                stream: day("cam1,cam2"),
                offset: Some(20),
                sort: day("-start_time"),
                ..Default::default()
            },
        ];
        for q in cases {
            // The page query's plan (an empty table's count may be planned as a scan).
            let plan = explain(&db, &q).await.unwrap().join(" | ");
            assert!(plan.contains("SEARCH media USING"), "{q:?}: {plan}");
            // A list of values is looked up value by value in the index, and only the rows
            // it found are sorted (at most 100 values: bounded by what matches).
            let list = q.stream.as_deref().is_some_and(|s| s.contains(',')) || q.file_id.is_some();
            assert!(list || !plan.contains("TEMP B-TREE"), "sorted in memory: {q:?}: {plan}");
        }
    }

    fn rec(i: i64, stream: &str, format: &str, source: &str, task: Option<&str>) -> MediaRecord {
        let start = Time90k::from_ms(1_700_000_000_000 + i * 60_000);
        MediaRecord {
            file_id: format!("f{i:04}"),
            domain: if i % 2 == 0 { "a.example" } else { "b.example" }.into(),
            app: "live".into(),
            stream: stream.into(),
            format: format.into(),
            source: source.into(),
            template_id: 1,
            task_id: task.map(String::from),
            session_ids: vec![format!("s{i}")],
            start,
            end: start + rewind_media::Duration90k::from_secs(30),
            duration_ms: 30_000,
            file_size: 1,
            media_info: MediaInfo::default(),
            file_name: "x".into(),
            rel_path: "x".into(),
            stream_param: None,
            expires_at_unix: None,
        }
    }

    async fn put(db: &Db, m: &MediaRecord) {
        let mut tx = db.pool().begin().await.unwrap();
        insert(&mut tx, m, 0, "n").await.unwrap();
        tx.commit().await.unwrap();
    }

    fn ids(p: &Page) -> Vec<String> {
        p.media.iter().map(|m| m.file_id.clone()).collect()
    }

    /// Each filter, both sorts, exact totals, and pages that neither skip nor repeat a
    /// record while newer and older ones are inserted between them.
    #[tokio::test]
    async fn search_filters_sorts_and_pages_stably_across_inserts() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        for i in 10..30 {
            let (stream, format) = if i % 3 == 0 { ("cam1", "hls") } else { ("cam10", "flv") };
            let (source, task) = if i % 5 == 0 { ("task", Some("t1")) } else { ("rule", None) };
            put(&db, &rec(i, stream, format, source, task)).await;
        }
        let q = |f: fn(&mut Search)| {
            let mut s = Search::default();
            f(&mut s);
            s
        };
        let total = |s: Search| {
            let db = db.clone();
            async move { search(&db, &s).await.unwrap().total }
        };
        assert_eq!(total(Search::default()).await, 20);
        assert_eq!(total(q(|s| s.stream = Some("cam1".into()))).await, 6, "exact, not a prefix of cam10");
        assert_eq!(total(q(|s| s.format = Some("flv".into()))).await, 14);
        assert_eq!(total(q(|s| s.source = Some("task".into()))).await, 4);
        assert_eq!(total(q(|s| s.task_id = Some("t1".into()))).await, 4);
        assert_eq!(total(q(|s| s.domain = Some("a.example".into()))).await, 10);
        // Time overlap: files of minutes 12..14 (each 30 s long) overlap [12:15, 14:00).
        let t = |min: i64| (1_700_000_000 + min * 60).to_string();
        let w = Search {
            start_time: Some((1_700_000_000 + 12 * 60 + 15).to_string()),
            end_time: Some(t(14)),
            ..Default::default()
        };
        let page = search(&db, &w).await.unwrap();
        assert_eq!(ids(&page), ["f0012", "f0013"]);

        // Newest first, pages of 6, with inserts between pages.
        let mut seen = Vec::new();
        let mut token = None;
        let mut round = 0;
        loop {
            let s = Search {
                sort: Some("-start_time".into()),
                page_size: Some(6),
                page_token: token.clone(),
                ..Default::default()
            };
            let page = search(&db, &s).await.unwrap();
            seen.extend(ids(&page));
            // A newer file (before the cursor) and an older one (after it) arrive.
            put(&db, &rec(100 + round, "cam2", "flv", "rule", None)).await;
            put(&db, &rec(round, "cam2", "flv", "rule", None)).await;
            round += 1;
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let original: Vec<String> = (10..30).rev().map(|i| format!("f{i:04}")).collect();
        let kept: Vec<String> = seen.iter().filter(|id| original.contains(id)).cloned().collect();
        assert_eq!(kept, original, "every original record once, in order");
        let mut dedup = seen.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), seen.len(), "no record twice: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first: {seen:?}");

        // Oldest first sees the older inserts that land after its cursor.
        let asc = search(&db, &Search { page_size: Some(1000), ..Default::default() }).await.unwrap();
        assert!(ids(&asc).windows(2).all(|w| w[0] < w[1]));
        assert_eq!(asc.total, 20 + 2 * round);
        let bad = Search { page_token: Some("nope".into()), ..Default::default() };
        assert_eq!(search(&db, &bad).await.err().map(|e| e.code), Some(ErrorCode::InvalidParameter));
    }
}
