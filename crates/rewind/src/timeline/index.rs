//! The timeline's index in the database: init segments, chunks (each with its packed
//! fragment table) and runs.
//!
//! Architecture invariant: the index is the truth about what exists. A chunk's bytes
//! are on disk before its row says they are; recovery cuts a chunk file back to what
//! the index (or, for an unsealed chunk, its own complete fragments) describes.

use crate::db::Db;
use crate::error::Result;
use crate::leases::Fence;
use crate::timeline::chunk_table::{self, FragmentRef};
use rewind_media::{Duration90k, Time90k};
use sqlx::Row;

/// The longest a chunk can span: `segment_length` (≤ 5 min) plus one fragment (≤ 60 s),
/// with room to spare. Range queries use it to bound their index scan.
pub const MAX_CHUNK_SPAN: Duration90k = Duration90k::from_secs(10 * 60);

/// A chunk: one file of consecutive fragments of one run and one init segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// `domain/app/stream`.
    pub stream_id: String,
    /// UTC of its first fragment; also its key and file name.
    pub start: Time90k,
    /// UTC end of its last fragment.
    pub end: Time90k,
    /// Start of the run it belongs to.
    pub run_start: Time90k,
    /// That run's number.
    pub run_seq: i64,
    /// Its init segment.
    pub init_id: i64,
    /// Media sequence number of its first fragment.
    pub first_seq: i64,
    /// Bytes in its file.
    pub bytes: u64,
    /// Sealed: complete and described here; otherwise being written (or torn by a crash).
    pub sealed: bool,
    /// Its fragments, in order.
    pub fragments: Vec<FragmentRef>,
}

/// A run: continuous media between gaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// UTC start: the run's identity.
    pub start: Time90k,
    /// UTC of its first media still kept (retention deletes from the front).
    pub kept_from: Time90k,
    /// UTC end (exclusive).
    pub end: Time90k,
    /// 0, 1, 2… per stream.
    pub seq: i64,
}

/// The init segments of one codec configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inits {
    /// RFC 6381 codecs, comma-separated, video first.
    pub codecs: String,
    /// Every track (HLS).
    pub all: Vec<u8>,
    /// The video track alone (DASH).
    pub video: Option<Vec<u8>>,
    /// The audio track alone (DASH).
    pub audio: Option<Vec<u8>>,
}

/// Which init segment of a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitPart {
    /// Every track.
    All,
    /// The video track alone.
    Video,
    /// The audio track alone.
    Audio,
}

/// Stores init segments (or finds the same ones stored before); returns their id.
pub async fn put_init(db: &Db, stream_id: &str, inits: &Inits) -> Result<i64> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT init_id FROM timeline_init WHERE stream_id = $1 AND data = $2")
            .bind(stream_id)
            .bind(inits.all.clone())
            .fetch_optional(db.pool())
            .await?;
    if let Some(id) = found {
        return Ok(id);
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO timeline_init (stream_id, codecs, data, video_data, audio_data) VALUES ($1, $2, $3, $4, $5) RETURNING init_id",
    )
    .bind(stream_id)
    .bind(&inits.codecs)
    .bind(inits.all.clone())
    .bind(inits.video.clone())
    .bind(inits.audio.clone())
    .fetch_one(db.pool())
    .await?)
}

/// An init segment's bytes.
pub async fn get_init(db: &Db, stream_id: &str, init_id: i64, part: InitPart) -> Result<Option<Vec<u8>>> {
    let sql = match part {
        InitPart::All => "SELECT data FROM timeline_init WHERE stream_id = $1 AND init_id = $2",
        InitPart::Video => "SELECT video_data FROM timeline_init WHERE stream_id = $1 AND init_id = $2",
        InitPart::Audio => "SELECT audio_data FROM timeline_init WHERE stream_id = $1 AND init_id = $2",
    };
    let v: Option<Option<Vec<u8>>> =
        sqlx::query_scalar(sql).bind(stream_id).bind(init_id).fetch_optional(db.pool()).await?;
    Ok(v.flatten())
}

/// An init segment's codecs (RFC 6381, comma-separated).
pub async fn init_codecs(db: &Db, stream_id: &str, init_id: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT codecs FROM timeline_init WHERE stream_id = $1 AND init_id = $2")
        .bind(stream_id)
        .bind(init_id)
        .fetch_optional(db.pool())
        .await?)
}

/// Records a chunk that `node` is about to write (unsealed, no fragments yet).
pub async fn open_chunk(db: &Db, c: &Chunk, node: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO timeline_chunk (stream_id, start_90k, end_90k, run_start_90k, run_seq, init_id, first_seq, bytes, sealed, fragments, node) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, $9)",
    )
    .bind(&c.stream_id)
    .bind(c.start.0)
    .bind(c.start.0)
    .bind(c.run_start.0)
    .bind(c.run_seq)
    .bind(c.init_id)
    .bind(c.first_seq)
    .bind(Vec::<u8>::new())
    .bind(node)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Seals a chunk whose bytes are on disk, and extends (or starts) its run, in one
/// transaction. With a fence, refused (`LeaseLost`) once another node holds the stream.
pub async fn seal_chunk(db: &Db, c: &Chunk, fence: Option<&Fence>) -> Result<()> {
    let mut tx = db.pool().begin().await?;
    let sql = match fence {
        None => "UPDATE timeline_chunk SET end_90k = $3, bytes = $4, sealed = 1, fragments = $5 WHERE stream_id = $1 AND start_90k = $2".to_string(),
        Some(_) => format!(
            "UPDATE timeline_chunk SET end_90k = $3, bytes = $4, sealed = 1, fragments = $5 WHERE stream_id = $1 AND start_90k = $2 AND {}",
            crate::leases::fence_condition(1, 6, 7)
        ),
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&c.stream_id)
        .bind(c.start.0)
        .bind(c.end.0)
        .bind(c.bytes as i64)
        .bind(chunk_table::pack(c.start, &c.fragments));
    if let Some(f) = fence {
        q = q.bind(f.node.as_str()).bind(f.epoch);
    }
    if q.execute(&mut *tx).await?.rows_affected() == 0
        && let Some(f) = fence
    {
        return Err(crate::leases::lost(&c.stream_id, f));
    }
    let updated = sqlx::query(
        "UPDATE timeline_run SET end_90k = $3 WHERE stream_id = $1 AND start_90k = $2 AND end_90k < $3",
    )
    .bind(&c.stream_id)
    .bind(c.run_start.0)
    .bind(c.end.0)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO timeline_run (stream_id, start_90k, kept_from_90k, end_90k, run_seq) VALUES ($1, $2, $2, $3, $4) ON CONFLICT (stream_id, start_90k) DO NOTHING",
        )
        .bind(&c.stream_id)
        .bind(c.run_start.0)
        .bind(c.end.0)
        .bind(c.run_seq)
        .execute(&mut *tx)
        .await?;
    }
    Ok(tx.commit().await?)
}

/// Forgets a chunk that holds nothing.
pub async fn delete_chunk(db: &Db, stream_id: &str, start: Time90k) -> Result<()> {
    sqlx::query("DELETE FROM timeline_chunk WHERE stream_id = $1 AND start_90k = $2")
        .bind(stream_id)
        .bind(start.0)
        .execute(db.pool())
        .await?;
    Ok(())
}

const CHUNK_COLUMNS: &str =
    "stream_id, start_90k, end_90k, run_start_90k, run_seq, init_id, first_seq, bytes, sealed, fragments";

fn chunk_of(r: &sqlx::any::AnyRow) -> Result<Chunk> {
    chunk_of_stream(r, r.try_get("stream_id")?)
}

fn chunk_of_stream(r: &sqlx::any::AnyRow, stream_id: String) -> Result<Chunk> {
    let start = Time90k(r.try_get("start_90k")?);
    let packed: Vec<u8> = r.try_get("fragments")?;
    Ok(Chunk {
        stream_id,
        start,
        end: Time90k(r.try_get("end_90k")?),
        run_start: Time90k(r.try_get("run_start_90k")?),
        run_seq: r.try_get("run_seq")?,
        init_id: r.try_get("init_id")?,
        first_seq: r.try_get("first_seq")?,
        bytes: r.try_get::<i64, _>("bytes")? as u64,
        sealed: r.try_get::<i64, _>("sealed")? != 0,
        fragments: chunk_table::unpack(start, &packed),
    })
}

/// Sealed chunks of a stream that overlap `[from, to)`, in time order.
pub async fn chunks_in(db: &Db, stream_id: &str, from: Time90k, to: Time90k) -> Result<Vec<Chunk>> {
    // The stream id is known: not reading it back saves a string per row.
    let sql = format!(
        "SELECT {} FROM timeline_chunk WHERE stream_id = $1 AND start_90k >= $2 AND start_90k < $3 AND end_90k > $4 AND sealed = 1 ORDER BY start_90k",
        &CHUNK_COLUMNS["stream_id, ".len()..]
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind((from - MAX_CHUNK_SPAN).0)
        .bind(to.0)
        .bind(from.0)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| chunk_of_stream(r, stream_id.to_string())).collect()
}

/// One chunk by its key.
pub async fn chunk(db: &Db, stream_id: &str, start: Time90k) -> Result<Option<Chunk>> {
    let sql = format!("SELECT {CHUNK_COLUMNS} FROM timeline_chunk WHERE stream_id = $1 AND start_90k = $2");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(stream_id).bind(start.0).fetch_optional(db.pool()).await?;
    row.as_ref().map(chunk_of).transpose()
}

/// Chunks `node` (or a server before nodes existed) left unsealed when it crashed;
/// other nodes' open chunks are being written now.
pub async fn unsealed_chunks(db: &Db, node: &str) -> Result<Vec<Chunk>> {
    let sql = format!(
        "SELECT {CHUNK_COLUMNS} FROM timeline_chunk WHERE sealed = 0 AND (node = $1 OR node = '') ORDER BY stream_id, start_90k"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(node).fetch_all(db.pool()).await?;
    rows.iter().map(chunk_of).collect()
}

fn run_of(r: &sqlx::any::AnyRow) -> Result<Run> {
    Ok(Run {
        start: Time90k(r.try_get("start_90k")?),
        kept_from: Time90k(r.try_get("kept_from_90k")?),
        end: Time90k(r.try_get("end_90k")?),
        seq: r.try_get("run_seq")?,
    })
}

/// Runs of a stream that overlap `[from, to)`, in time order, split where media was
/// lost inside them (holes).
pub async fn runs_in(db: &Db, stream_id: &str, from: Time90k, to: Time90k) -> Result<Vec<Run>> {
    let rows = sqlx::query(
        "SELECT start_90k, kept_from_90k, end_90k, run_seq FROM timeline_run WHERE stream_id = $1 AND kept_from_90k < $2 AND end_90k > $3 ORDER BY start_90k",
    )
    .bind(stream_id)
    .bind(to.0)
    .bind(from.0)
    .fetch_all(db.pool())
    .await?;
    let runs: Vec<Run> = rows.iter().map(run_of).collect::<Result<_>>()?;
    // A hole starts inside its chunk's run, which may begin before `from`.
    let holes = sqlx::query(
        "SELECT start_90k, end_90k FROM timeline_hole WHERE stream_id = $1 AND start_90k < $2 AND end_90k > $3 ORDER BY start_90k",
    )
    .bind(stream_id)
    .bind(to.0)
    .bind(from.0 - MAX_CHUNK_SPAN.0)
    .fetch_all(db.pool())
    .await?;
    if holes.is_empty() {
        return Ok(runs);
    }
    let holes: Vec<(Time90k, Time90k)> = holes
        .iter()
        .map(|r| Ok((Time90k(r.try_get("start_90k")?), Time90k(r.try_get("end_90k")?))))
        .collect::<Result<_>>()?;
    Ok(runs.into_iter().flat_map(|r| split_run(r, &holes)).collect())
}

/// A run without the holes (sorted, not overlapping) inside it.
pub fn split_run(run: Run, holes: &[(Time90k, Time90k)]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut cur = run;
    for &(hs, he) in holes {
        if he <= cur.kept_from || hs >= cur.end {
            continue;
        }
        if hs > cur.kept_from {
            out.push(Run { end: hs, ..cur });
        }
        cur = Run { start: he.max(cur.start), kept_from: he, ..cur };
        if cur.kept_from >= cur.end {
            return out;
        }
    }
    out.push(cur);
    out
}

/// Streams whose timeline is kept for a limited time: (stream id, seconds kept).
pub async fn streams_with_retention(db: &Db) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT stream_id, retention_secs FROM timeline_stream WHERE retention_secs > 0")
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok((r.try_get("stream_id")?, r.try_get("retention_secs")?))).collect()
}

/// Every stream that has a timeline, by id.
pub async fn streams(db: &Db) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT stream_id FROM timeline_stream ORDER BY stream_id").fetch_all(db.pool()).await?;
    rows.iter().map(|r| Ok(r.try_get("stream_id")?)).collect()
}

/// The starts of a stream's sealed chunks, in order (what its objects should be).
pub async fn sealed_starts(db: &Db, stream_id: &str) -> Result<Vec<Time90k>> {
    let rows = sqlx::query(
        "SELECT start_90k FROM timeline_chunk WHERE stream_id = $1 AND sealed = 1 ORDER BY start_90k",
    )
    .bind(stream_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok(Time90k(r.try_get("start_90k")?))).collect()
}

/// Retention, in one transaction: up to `limit` sealed chunks of a stream that end by
/// `cutoff` are deleted and their runs trimmed (or removed) with them, so availableMedia
/// never shows deleted media. Returns the chunks' starts and their bytes; their files
/// are the caller's to remove (rows first: a crash leaves only unnamed files).
/// The sealed chunks that start first, across every stream: (stream id, end), oldest
/// first, at most `limit` (what goes first when the disk runs short).
pub async fn oldest_sealed(db: &Db, limit: i64) -> Result<Vec<(String, Time90k)>> {
    let rows = sqlx::query(
        "SELECT stream_id, end_90k FROM timeline_chunk WHERE sealed = 1 ORDER BY start_90k LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok((r.try_get("stream_id")?, Time90k(r.try_get("end_90k")?)))).collect()
}

pub async fn delete_chunks_before(
    db: &Db,
    stream_id: &str,
    cutoff: Time90k,
    limit: i64,
) -> Result<(Vec<Time90k>, u64)> {
    let old = sqlx::query(
        "SELECT start_90k, run_start_90k, bytes FROM timeline_chunk WHERE stream_id = $1 AND sealed = 1 AND end_90k <= $2 ORDER BY start_90k LIMIT $3",
    )
    .bind(stream_id)
    .bind(cutoff.0)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let mut starts = Vec::with_capacity(old.len());
    let mut runs: Vec<i64> = Vec::new();
    let mut bytes = 0u64;
    for r in &old {
        starts.push(Time90k(r.try_get("start_90k")?));
        let run: i64 = r.try_get("run_start_90k")?;
        if !runs.contains(&run) {
            runs.push(run);
        }
        bytes += r.try_get::<i64, _>("bytes")? as u64;
    }
    if starts.is_empty() {
        return Ok((starts, 0));
    }
    let mut tx = db.pool().begin().await?;
    for s in &starts {
        sqlx::query("DELETE FROM timeline_chunk WHERE stream_id = $1 AND start_90k = $2")
            .bind(stream_id)
            .bind(s.0)
            .execute(&mut *tx)
            .await?;
    }
    for run in &runs {
        let first: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(start_90k) FROM timeline_chunk WHERE stream_id = $1 AND run_start_90k = $2",
        )
        .bind(stream_id)
        .bind(run)
        .fetch_one(&mut *tx)
        .await?;
        let q = match first {
            Some(f) => sqlx::query(
                "UPDATE timeline_run SET kept_from_90k = $3 WHERE stream_id = $1 AND start_90k = $2",
            )
            .bind(stream_id)
            .bind(run)
            .bind(f),
            None => sqlx::query("DELETE FROM timeline_run WHERE stream_id = $1 AND start_90k = $2")
                .bind(stream_id)
                .bind(run),
        };
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok((starts, bytes))
}

/// Forgets a stream's holes that ended by `cutoff` (retention passed them).
pub async fn forget_holes_before(db: &Db, stream_id: &str, cutoff: Time90k) -> Result<()> {
    sqlx::query("DELETE FROM timeline_hole WHERE stream_id = $1 AND end_90k <= $2")
        .bind(stream_id)
        .bind(cutoff.0)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Whether a chunk key names a sealed chunk of the index (then its file is final).
pub async fn is_sealed_chunk(db: &Db, key: &crate::storage::Key) -> Result<bool> {
    let Some((stream_id, start)) = crate::storage::keys::parse_chunk(key) else { return Ok(false) };
    Ok(chunk(db, &stream_id, start).await?.is_some_and(|c| c.sealed))
}

/// Drops a sealed chunk whose bytes were lost (a full upload spool): its row goes and
/// its span becomes a hole in its run, in one transaction.
/// Returns the chunk's end, or None when there was no such sealed chunk.
pub async fn drop_chunk(db: &Db, stream_id: &str, start: Time90k) -> Result<Option<Time90k>> {
    let mut tx = db.pool().begin().await?;
    let end: Option<i64> = sqlx::query_scalar(
        "SELECT end_90k FROM timeline_chunk WHERE stream_id = $1 AND start_90k = $2 AND sealed = 1",
    )
    .bind(stream_id)
    .bind(start.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(end) = end else { return Ok(None) };
    sqlx::query("DELETE FROM timeline_chunk WHERE stream_id = $1 AND start_90k = $2")
        .bind(stream_id)
        .bind(start.0)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO timeline_hole (stream_id, start_90k, end_90k) VALUES ($1, $2, $3) ON CONFLICT (stream_id, start_90k) DO NOTHING",
    )
    .bind(stream_id)
    .bind(start.0)
    .bind(end)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(Time90k(end)))
}

/// The stream's last run in the index.
pub async fn last_run(db: &Db, stream_id: &str) -> Result<Option<Run>> {
    let row = sqlx::query(
        "SELECT start_90k, kept_from_90k, end_90k, run_seq FROM timeline_run WHERE stream_id = $1 ORDER BY start_90k DESC LIMIT 1",
    )
    .bind(stream_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(run_of).transpose()
}

/// Where a stream's numbering continues: (next media sequence number, next run seq).
pub async fn next_numbers(db: &Db, stream_id: &str) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT first_seq, LENGTH(fragments) AS n FROM timeline_chunk WHERE stream_id = $1 ORDER BY start_90k DESC LIMIT 1",
    )
    .bind(stream_id)
    .fetch_optional(db.pool())
    .await?;
    let seq = match row {
        Some(r) => {
            r.try_get::<i64, _>("first_seq")? + chunk_table::count(r.try_get::<i64, _>("n")? as usize) as i64
        }
        None => 0,
    };
    let run = last_run(db, stream_id).await?.map_or(0, |r| r.seq + 1);
    Ok((seq, run))
}

/// Records how long a stream's timeline is kept (0: forever).
pub async fn set_retention(db: &Db, stream_id: &str, retention_secs: u64) -> Result<()> {
    sqlx::query(
        "INSERT INTO timeline_stream (stream_id, retention_secs) VALUES ($1, $2) ON CONFLICT (stream_id) DO UPDATE SET retention_secs = $2",
    )
    .bind(stream_id)
    .bind(retention_secs as i64)
    .execute(db.pool())
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::available;

    proptest::proptest! {
        /// Splitting a run by holes keeps exactly the instants of the run outside every hole.
        #[test]
        fn split_run_is_run_minus_holes(
            start in 0i64..100, len in 1i64..100, cuts in proptest::collection::vec((0i64..220, 1i64..30), 0..6)
        ) {
            let run = Run { start: Time90k(start), kept_from: Time90k(start), end: Time90k(start + len), seq: 3 };
            let mut holes: Vec<(Time90k, Time90k)> = Vec::new();
            let mut at = 0;
            for (gap, l) in cuts {
                let hs = at + gap % 40;
                holes.push((Time90k(hs), Time90k(hs + l)));
                at = hs + l;
            }
            let parts = split_run(run, &holes);
            for t in 0..240 {
                let in_run = t >= start && t < start + len;
                let in_hole = holes.iter().any(|h| t >= h.0.0 && t < h.1.0);
                let covered = parts.iter().filter(|p| t >= p.kept_from.0 && t < p.end.0).count();
                proptest::prop_assert_eq!(covered, usize::from(in_run && !in_hole), "t={}", t);
            }
            for p in &parts {
                proptest::prop_assert!(p.kept_from < p.end && p.seq == 3);
            }
        }
    }

    /// The seed's worked examples through the real index: runs are sealed chunks in
    /// SQLite, answered exactly as the API does (runs_in, then available::answer).
    #[tokio::test]
    async fn seed_examples_over_a_real_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let t = |s: &str| Time90k(available::parse_full("t", s).unwrap());
        let mut seq = 0;
        let mut run = |db: Db, stream: &'static str, from: &str, to: &str| {
            let (start, end) = (t(from), t(to));
            seq += 1;
            let c = Chunk {
                stream_id: stream.into(),
                start,
                end,
                run_start: start,
                run_seq: seq,
                init_id: 1,
                first_seq: 0,
                bytes: 1,
                sealed: true,
                fragments: vec![],
            };
            async move {
                open_chunk(&db, &c, "n").await.unwrap();
                seal_chunk(&db, &c, None).await.unwrap();
            }
        };
        // Example 2: a 2 s outage at 04:01:08.
        run(db.clone(), "d/a/gap2", "2019-12-20T00:00:00Z", "2019-12-21T04:01:08Z").await;
        run(db.clone(), "d/a/gap2", "2019-12-21T04:01:10Z", "2019-12-23T00:00:00Z").await;
        // Example 4: no recording from 17 June to 6 September.
        run(db.clone(), "d/a/summer", "2019-01-01T00:00:00Z", "2019-06-17T12:00:00Z").await;
        run(db.clone(), "d/a/summer", "2019-09-06T08:00:00Z", "2020-01-01T00:00:00Z").await;
        let ask = |stream: &'static str, p: &'static str, a: &'static str, b: &'static str| {
            let db = db.clone();
            async move {
                let q = available::parse_query(Some(p), Some(a), Some(b)).unwrap();
                let lo = q.start.unwrap_or(Time90k(i64::MIN / 2));
                let hi = q.end.unwrap_or(Time90k(i64::MAX / 2));
                let runs: Vec<(Time90k, Time90k)> = runs_in(&db, stream, lo, hi)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.kept_from, r.end))
                    .collect();
                available::answer(&q, &runs)
            }
        };
        let s =
            |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        assert_eq!(
            ask("d/a/gap2", "full", "2019-12-21T00:00:00Z", "2019-12-22T00:00:00Z").await,
            s(&[
                ("2019-12-21T00:00:00.000Z", "2019-12-21T04:01:08.000Z"),
                ("2019-12-21T04:01:10.000Z", "2019-12-22T00:00:00.000Z")
            ])
        );
        assert_eq!(
            ask("d/a/summer", "month", "2019-01", "2019-12").await,
            s(&[("2019-01", "2019-06"), ("2019-09", "2019-12")])
        );
        assert_eq!(
            ask("d/a/summer", "day", "2019-06-01", "2019-06-30").await,
            s(&[("2019-06-01", "2019-06-17")])
        );
        assert_eq!(
            ask("d/a/summer", "day", "2018-06-01", "2018-06-30").await,
            s(&[]),
            "outside: empty, no error"
        );
    }

    /// Split brain: node A, paused longer than its lease, wakes after B took the stream.
    /// A's seal is refused (its chunk stays unsealed, for A's own start-up to repair);
    /// B's writes, and A's before B took over, go through. The lease's clock is explicit.
    #[tokio::test]
    async fn a_node_that_lost_its_lease_cannot_seal_chunks() {
        use crate::leases::{self, Fence, LEASE_MS};
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let s = "d/live/x";
        let chunk = |start: i64, node_secs: i64| Chunk {
            stream_id: s.into(),
            start: Time90k(start * 90_000),
            end: Time90k((start + node_secs) * 90_000),
            run_start: Time90k(start * 90_000),
            run_seq: start,
            init_id: 1,
            first_seq: 0,
            bytes: 1,
            sealed: true,
            fragments: vec![],
        };
        let a = Fence { node: "a".into(), epoch: leases::acquire(&db, s, "a", 0).await.unwrap().unwrap() };
        open_chunk(&db, &chunk(0, 4), "a").await.unwrap();
        seal_chunk(&db, &chunk(0, 4), Some(&a)).await.unwrap();
        open_chunk(&db, &chunk(4, 4), "a").await.unwrap();
        // A stops renewing (paused); at its lease's end B takes the stream.
        let b =
            Fence { node: "b".into(), epoch: leases::acquire(&db, s, "b", LEASE_MS).await.unwrap().unwrap() };
        assert_eq!(b.epoch, a.epoch + 1);
        let e = seal_chunk(&db, &chunk(4, 4), Some(&a)).await.unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::LeaseLost, "{}", e.message);
        assert!(!chunk_of_key(&db, s, 4).await.sealed, "A's refused chunk stays unsealed");
        assert_eq!(unsealed_chunks(&db, "a").await.unwrap().len(), 1, "for A's own start-up");
        assert!(unsealed_chunks(&db, "b").await.unwrap().is_empty(), "never B's to repair");
        // Even after A's heartbeat comes back, renewing nothing of B's.
        assert_eq!(leases::renew(&db, "a", &[s.to_string()], LEASE_MS + 1).await.unwrap(), 0);
        assert!(seal_chunk(&db, &chunk(4, 4), Some(&a)).await.is_err());
        open_chunk(&db, &chunk(20, 4), "b").await.unwrap();
        seal_chunk(&db, &chunk(20, 4), Some(&b)).await.unwrap();
        let runs: Vec<i64> = runs_in(&db, s, Time90k(0), Time90k(i64::MAX / 2))
            .await
            .unwrap()
            .iter()
            .map(|r| r.start.0 / 90_000)
            .collect();
        assert_eq!(runs, [0, 20], "A's run before the takeover and B's after; nothing of A's after");
    }

    async fn chunk_of_key(db: &Db, s: &str, start_secs: i64) -> Chunk {
        chunk(db, s, Time90k(start_secs * 90_000)).await.unwrap().unwrap()
    }
}
