//! Media retention (R-M4, B-M5): files whose `storage_time` has passed are deleted, and
//! an optional disk budget deletes the oldest files first once the library outgrows it.
//!
//! Crash safety: bytes go first, then the record. A kill in between leaves a record
//! whose bytes are gone; the next sweep finds it (still expired, or still over budget),
//! finds nothing to remove on disk, and drops the record. Nothing is left that a sweep
//! cannot repair.

use crate::db::Db;
use crate::library::media;
use crate::server::Services;
use crate::storage::{Storage, keys};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// How often the sweeper looks.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// Files deleted per query: bounds each step.
const BATCH: i64 = 200;

/// What a sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Files whose storage time passed.
    pub expired: u64,
    /// Files deleted to get back under the disk budget (oldest first).
    pub over_budget: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Removes one library file's bytes wherever they are (an HLS recording: its playlist
/// and segment folder).
pub(crate) async fn remove_bytes(storage: &Storage, rel_path: &str, format: &str) -> std::io::Result<()> {
    if format == "hls" {
        storage.remove_folder(&keys::hls_folder(rel_path)).await?;
    }
    storage.remove(&keys::media(rel_path)).await
}

async fn delete_files(db: &Db, root: &Storage, files: Vec<media::StoredFile>) -> anyhow::Result<(u64, u64)> {
    let (mut n, mut bytes) = (0, 0);
    for f in files {
        // Bytes first, then the record: a failure leaves a record the next sweep retries,
        // never a record without bytes.
        if let Err(e) = remove_bytes(root, &f.rel_path, &f.format).await {
            tracing::warn!(file = %f.rel_path, error = %e, "an expired file could not be removed; its record stays and the next sweep retries");
            continue;
        }
        media::forget(db, &f.file_id).await?;
        n += 1;
        bytes += f.file_size;
        tracing::info!(file_id = %f.file_id, file = %f.rel_path, "media deleted by retention");
    }
    Ok((n, bytes))
}

/// Deletes what expired by `now_unix`, then the oldest files while the library holds
/// more than `budget_bytes` (0: no budget).
pub async fn sweep(db: &Db, root: &Storage, now_unix: i64, budget_bytes: u64) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    loop {
        let files = media::expired(db, now_unix, BATCH).await?;
        let full = files.len() as i64 == BATCH;
        let (n, b) = delete_files(db, root, files).await?;
        swept.expired += n;
        swept.bytes += b;
        if !full || n == 0 {
            break;
        }
    }
    if budget_bytes == 0 {
        return Ok(swept);
    }
    let mut used = media::library_bytes(db).await?;
    if used > budget_bytes {
        tracing::warn!(
            used,
            budget = budget_bytes,
            "the media library is over its disk budget: deleting the oldest files"
        );
    }
    while used > budget_bytes {
        let files = media::oldest(db, 1).await?;
        if files.is_empty() {
            break;
        }
        let (n, b) = delete_files(db, root, files).await?;
        if n == 0 {
            break;
        }
        swept.over_budget += n;
        swept.bytes += b;
        used = used.saturating_sub(b);
    }
    Ok(swept)
}

/// The budget in force: bytes, or a percentage of the volume holding the library.
pub fn budget_bytes(svc: &Services) -> u64 {
    let r = &svc.config.retention;
    if r.disk_budget_bytes > 0 {
        return r.disk_budget_bytes;
    }
    if r.disk_budget_percent > 0.0 {
        return crate::disk_reserve::volume_size(&svc.config.data_dir)
            .map_or(0, |size| (size as f64 * r.disk_budget_percent / 100.0) as u64);
    }
    0
}

/// Sweeps every minute until shutdown.
pub async fn run(svc: Arc<Services>) {
    loop {
        tokio::select! {
            _ = svc.shutdown.cancelled() => return,
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        // One node of a cluster sweeps at a time (its turn lasts two sweeps).
        if !crate::leases::my_turn(
            &svc.db,
            "media-retention",
            &svc.node.name,
            svc.clock.now(),
            2 * SWEEP_EVERY,
        )
        .await
        {
            continue;
        }
        let sweep_once = || sweep(&svc.db, &svc.storage, svc.clock.now_unix(), budget_bytes(&svc));
        match svc.disk_reserve.with_room(sweep_once).await {
            Ok(s) => {
                svc.metrics.media_deleted_expired_total.fetch_add(s.expired, Relaxed);
                svc.metrics.media_deleted_budget_total.fetch_add(s.over_budget, Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "media retention sweep failed; it retries in a minute"),
        }
        if let Ok(b) = media::library_bytes(&svc.db).await {
            svc.metrics.media_bytes.store(b, Relaxed);
        }
        let svc2 = svc.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || svc2.disk_reserve.ensure()).await {
            tracing::warn!(error = %e, "could not make the disk reserve again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::media::{self, MediaRecord};
    use rewind_media::Time90k;
    use std::path::Path;

    async fn add(db: &Db, root: &Path, id: &str, start_s: i64, expires: Option<i64>, format: &str) {
        let name = if format == "hls" { format!("{id}.m3u8") } else { format!("{id}.flv") };
        let rel = format!("d/a/s/{name}");
        let m = MediaRecord {
            file_id: id.into(),
            domain: "d".into(),
            app: "a".into(),
            stream: "s".into(),
            format: format.into(),
            source: "rule".into(),
            template_id: 1,
            task_id: None,
            session_ids: vec!["x".into()],
            start: Time90k::from_ms(start_s * 1000),
            end: Time90k::from_ms(start_s * 1000 + 1000),
            duration_ms: 1000,
            file_size: 100,
            media_info: Default::default(),
            file_name: name,
            rel_path: rel.clone(),
            stream_param: None,
            expires_at_unix: expires,
        };
        let mut tx = db.begin().await.unwrap();
        media::insert(&mut tx, &m, 0, "n").await.unwrap();
        tx.commit().await.unwrap();
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, [0u8; 100]).unwrap();
        if format == "hls" {
            std::fs::create_dir_all(path.with_extension("")).unwrap();
            std::fs::write(path.with_extension("").join("000001.ts"), b"ts").unwrap();
        }
    }

    async fn ids(db: &Db) -> Vec<String> {
        media::oldest(db, 100).await.unwrap().into_iter().map(|f| f.file_id).collect::<Vec<_>>()
    }

    #[tokio::test]
    async fn expired_files_go_then_the_oldest_past_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let root = dir.path().join("media");
        let storage = Storage::open(dir.path(), &Default::default()).unwrap();
        add(&db, &root, "a", 10, Some(1000), "hls").await;
        add(&db, &root, "b", 20, Some(5000), "flv").await;
        add(&db, &root, "c", 30, None, "flv").await;
        add(&db, &root, "d", 40, None, "flv").await;
        // A crash left a record whose bytes were already removed: it is repaired.
        add(&db, &root, "e", 5, Some(900), "flv").await;
        std::fs::remove_file(root.join("d/a/s/e.flv")).unwrap();

        // Time 2000: a and e expired (and a's segment folder goes with it).
        let s = sweep(&db, &storage, 2000, 0).await.unwrap();
        assert_eq!((s.expired, s.over_budget), (2, 0));
        assert_eq!(ids(&db).await, ["b", "c", "d"]);
        assert!(!root.join("d/a/s/a").exists() && !root.join("d/a/s/a.m3u8").exists());
        // A 250-byte budget: the oldest (b) goes, though it has not expired.
        let s = sweep(&db, &storage, 2000, 250).await.unwrap();
        assert_eq!((s.expired, s.over_budget, s.bytes), (0, 1, 100));
        assert_eq!(ids(&db).await, ["c", "d"]);
        assert!(!root.join("d/a/s/b.flv").exists() && root.join("d/a/s/c.flv").exists());
        assert_eq!(sweep(&db, &storage, 2000, 250).await.unwrap(), Swept::default(), "nothing more to do");
    }
}
