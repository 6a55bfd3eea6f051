//! Stream leases (issue 17): which node has a stream. A publish takes its stream's
//! lease (refused when another node holds one that has not expired); the node's
//! heartbeat renews all its leases in one query; the end of the publish gives it back.
//! A node that dies stops renewing, and after `LEASE_MS` another node may take the
//! stream, with the next epoch. The only SQL on the `stream_lease` table.

use crate::db::Db;
use crate::error::{Error, ErrorCode, Result};
use sqlx::Row;

/// A publish's claim on its stream, checked by the writes that must stop once another
/// node took the stream (a node paused longer than its lease must not write after).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The node that holds the lease.
    pub node: String,
    /// The epoch it took.
    pub epoch: i64,
}

/// A SQL condition true while no other node (or later epoch) holds the lease of the
/// stream whose id is the parameter `$sid`; `$node` and `$epoch` are the fence's.
pub fn fence_condition(sid: u8, node: u8, epoch: u8) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM stream_lease fence WHERE fence.stream_id = ${sid} \
         AND (fence.node <> ${node} OR fence.epoch <> ${epoch}))"
    )
}

/// The error of a write refused by its fence.
pub fn lost(stream_id: &str, f: &Fence) -> Error {
    Error::new(
        ErrorCode::LeaseLost,
        format!("stream {stream_id}: node {} lost its lease (epoch {}) to another node", f.node, f.epoch),
    )
}

/// A publish's lease, given back when dropped: the publish and every recorder of it
/// hold the stream (through its `LiveStream`) until the last of them ends, so a
/// recorder's last chunk is never refused because the stream moved on.
#[derive(Debug)]
pub struct Held {
    /// What writes check.
    pub fence: Fence,
    stream_id: String,
    db: Db,
    book: Book,
    rt: tokio::runtime::Handle,
}

impl Held {
    /// Holds `fence` on `stream_id` (in `book`, so heartbeats renew it) until dropped
    /// (inside a Tokio runtime).
    pub fn new(db: Db, book: Book, stream_id: String, fence: Fence) -> Held {
        book.lock().insert(stream_id.clone(), fence.epoch);
        Held { fence, stream_id, db, book, rt: tokio::runtime::Handle::current() }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        {
            let mut b = self.book.lock();
            if b.get(&self.stream_id) == Some(&self.fence.epoch) {
                b.remove(&self.stream_id);
            }
        }
        let (db, sid, f) = (self.db.clone(), std::mem::take(&mut self.stream_id), self.fence.clone());
        // A runtime shutting down drops this task: the lease then expires on its own.
        self.rt.spawn(async move {
            if let Err(e) = release(&db, &sid, &f.node, f.epoch).await {
                tracing::warn!(stream = %sid, error = %e, "could not give the stream's lease back; it expires in 10 s");
            }
        });
    }
}

/// How long a lease lasts without renewal (two heartbeats).
pub const LEASE_MS: i64 = 10_000;

/// Takes `stream_id`'s lease for `node` at `now_ms`, unless another node holds one that
/// has not expired. Returns the lease's epoch (one more than the last holder's), or None.
pub async fn acquire(db: &Db, stream_id: &str, node: &str, now_ms: i64) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO stream_lease (stream_id, node, epoch, expires_at_ms) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (stream_id) DO UPDATE SET node = $2, epoch = stream_lease.epoch + 1, expires_at_ms = $3 \
         WHERE stream_lease.expires_at_ms <= $4 OR stream_lease.node = $2 \
         RETURNING epoch",
    )
    .bind(stream_id)
    .bind(node)
    .bind(now_ms + LEASE_MS)
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.try_get("epoch")).transpose()?)
}

/// Renews the leases `node` holds on `streams` (its heartbeat: the streams this process
/// still has, from its `Book`) — one query per 400 streams. A lease whose release failed
/// is not in the book and so expires instead of being renewed for ever.
pub async fn renew(db: &Db, node: &str, streams: &[String], now_ms: i64) -> Result<u64> {
    let mut renewed = 0;
    for part in streams.chunks(400) {
        let marks: Vec<String> = (0..part.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "UPDATE stream_lease SET expires_at_ms = $2 WHERE node = $1 AND stream_id IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(node).bind(now_ms + LEASE_MS);
        for s in part {
            q = q.bind(s.as_str());
        }
        renewed += q.execute(db.pool()).await?.rows_affected();
    }
    Ok(renewed)
}

/// The leases this process holds now (stream id → epoch): what its heartbeat renews.
#[derive(Clone, Debug, Default)]
pub struct Book(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, i64>>>);

impl Book {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, i64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The streams held, in order.
    pub fn streams(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}

/// Gives a lease back (the publish ended), if it is still this node's of that epoch.
pub async fn release(db: &Db, stream_id: &str, node: &str, epoch: i64) -> Result<()> {
    sqlx::query("DELETE FROM stream_lease WHERE stream_id = $1 AND node = $2 AND epoch = $3")
        .bind(stream_id)
        .bind(node)
        .bind(epoch)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Who holds `stream_id`'s lease at `now_ms`: (node, epoch).
pub async fn holder(db: &Db, stream_id: &str, now_ms: i64) -> Result<Option<(String, i64)>> {
    let row = sqlx::query("SELECT node, epoch FROM stream_lease WHERE stream_id = $1 AND expires_at_ms > $2")
        .bind(stream_id)
        .bind(now_ms)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| Ok::<_, sqlx::Error>((r.try_get("node")?, r.try_get("epoch")?))).transpose()?)
}

/// Every stream whose lease runs at `now_ms`: (stream id, node), by stream id.
pub async fn held(db: &Db, now_ms: i64) -> Result<Vec<(String, String)>> {
    let rows =
        sqlx::query("SELECT stream_id, node FROM stream_lease WHERE expires_at_ms > $1 ORDER BY stream_id")
            .bind(now_ms)
            .fetch_all(db.pool())
            .await?;
    rows.iter().map(|r| Ok((r.try_get("stream_id")?, r.try_get("node")?))).collect()
}

/// Takes (or keeps) the lease of a cluster-wide job — a sweeper that must run on one
/// node at a time — for `ttl_ms`: true when this node may run it now. A node that stops
/// running it loses it `ttl_ms` after its last turn.
pub async fn take_job(db: &Db, job: &str, node: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO job_lease (job, node, expires_at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (job) DO UPDATE SET node = $2, expires_at_ms = $3 \
         WHERE job_lease.expires_at_ms <= $4 OR job_lease.node = $2 \
         RETURNING node",
    )
    .bind(job)
    .bind(node)
    .bind(now_ms + ttl_ms)
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// Gives a job's lease back (the node stops running it), if this node holds it.
pub async fn leave_job(db: &Db, job: &str, node: &str) -> Result<()> {
    sqlx::query("DELETE FROM job_lease WHERE job = $1 AND node = $2")
        .bind(job)
        .bind(node)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// `take_job` for a sweeper's loop: whether this node runs `job` now (a database that
/// does not answer is logged and counts as not this node's turn).
pub async fn my_turn(
    db: &Db,
    job: &str,
    node: &str,
    now: rewind_media::Time90k,
    ttl: std::time::Duration,
) -> bool {
    match take_job(db, job, node, now.0 / 90, ttl.as_millis() as i64).await {
        Ok(mine) => mine,
        Err(e) => {
            tracing::warn!(error = %e, job, "could not take the job's turn; the next sweep tries again");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_runs_on_one_node_and_moves_when_it_stops() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        assert!(take_job(&db, "sweep", "a", 0, 120_000).await.unwrap());
        assert!(!take_job(&db, "sweep", "b", 60_000, 120_000).await.unwrap());
        assert!(take_job(&db, "sweep", "a", 60_000, 120_000).await.unwrap(), "a keeps it by running it");
        assert!(!take_job(&db, "sweep", "b", 150_000, 120_000).await.unwrap());
        assert!(take_job(&db, "sweep", "b", 180_000, 120_000).await.unwrap(), "a stopped: b takes it");
        assert!(!take_job(&db, "sweep", "a", 190_000, 120_000).await.unwrap());
        assert!(take_job(&db, "other", "a", 190_000, 120_000).await.unwrap(), "jobs are separate");
    }

    /// A lease the process no longer holds (its release failed) is not renewed: it
    /// expires and another node may take the stream.
    #[tokio::test]
    async fn only_the_leases_in_the_book_are_renewed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let book = Book::default();
        let (kept, lost) = ("d/live/kept", "d/live/lost");
        let e = acquire(&db, kept, "a", 0).await.unwrap().unwrap();
        acquire(&db, lost, "a", 0).await.unwrap().unwrap();
        let held = Held::new(db.clone(), book.clone(), kept.into(), Fence { node: "a".into(), epoch: e });
        assert_eq!(book.streams(), [kept]);
        assert_eq!(renew(&db, "a", &book.streams(), 8_000).await.unwrap(), 1);
        assert_eq!(holder(&db, kept, 12_000).await.unwrap(), Some(("a".into(), e)));
        assert_eq!(holder(&db, lost, 12_000).await.unwrap(), None, "expired, not renewed");
        assert_eq!(acquire(&db, lost, "b", 12_000).await.unwrap(), Some(2));
        drop(held);
        assert!(book.streams().is_empty());
        // Its release runs in the background; the lease is free once it has.
        for _ in 0..100 {
            if holder(&db, kept, 12_000).await.unwrap().is_none() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the dropped lease was never given back");
    }

    #[tokio::test]
    async fn one_node_at_a_time_and_the_next_after_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let s = "d/live/x";
        assert_eq!(acquire(&db, s, "a", 0).await.unwrap(), Some(1));
        // B is refused while A's lease runs, also after A renewed it past its first expiry.
        assert_eq!(acquire(&db, s, "b", 5_000).await.unwrap(), None);
        assert_eq!(renew(&db, "a", &[s.to_string()], 8_000).await.unwrap(), 1);
        assert_eq!(acquire(&db, s, "b", 15_000).await.unwrap(), None);
        assert_eq!(holder(&db, s, 15_000).await.unwrap(), Some(("a".into(), 1)));
        assert_eq!(held(&db, 15_000).await.unwrap(), vec![(s.to_string(), "a".to_string())]);
        // A stops renewing (dead): at its expiry B takes the stream, with the next epoch.
        assert_eq!(acquire(&db, s, "b", 18_000).await.unwrap(), Some(2));
        // A, back, neither renews nor releases B's lease.
        assert_eq!(renew(&db, "a", &[s.to_string()], 19_000).await.unwrap(), 0);
        release(&db, s, "a", 1).await.unwrap();
        assert_eq!(holder(&db, s, 19_000).await.unwrap(), Some(("b".into(), 2)));
        assert_eq!(acquire(&db, s, "a", 19_000).await.unwrap(), None);
        // B ends its publish: the stream is free at once.
        release(&db, s, "b", 2).await.unwrap();
        assert_eq!(holder(&db, s, 19_000).await.unwrap(), None);
        assert_eq!(acquire(&db, s, "a", 19_500).await.unwrap(), Some(1));
        // The same node may take its own stream again (a restart after a crash).
        assert_eq!(acquire(&db, s, "a", 19_600).await.unwrap(), Some(2));
    }
}
