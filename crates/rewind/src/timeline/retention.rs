//! Timeline retention (issue 4 point 7): whole chunks older than their stream's
//! `retention` are deleted, and runs are trimmed (or removed) with them in the same
//! transaction, so availableMedia never shows deleted media.
//!
//! Crash safety: rows go first, files after. A kill in between leaves files no row
//! names; the next sweep removes every chunk file that must be older than the cutoff
//! (its name is its start), so nothing is left that a sweep cannot repair.

use crate::db::Db;
use crate::server::Services;
use crate::storage::{Storage, keys};
use crate::timeline::index;
use crate::timeline::index::MAX_CHUNK_SPAN;
use rewind_media::{Duration90k, Time90k};
use std::path::PathBuf;
use std::sync::Arc;

/// How often the sweeper looks.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// Chunks deleted per transaction: bounds how long a sweep holds the database.
const BATCH: i64 = 500;

/// What a sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Chunks deleted (rows and files).
    pub chunks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files no row named (left by a crash mid-sweep) removed.
    pub orphans: u64,
}

/// Deletes what every stream's retention no longer keeps, as of `now`.
pub async fn sweep(db: &Db, storage: &Storage, now: Time90k) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    for (stream_id, retention) in index::streams_with_retention(db).await? {
        let cutoff = now - Duration90k::from_secs(retention);
        let dir = storage.local_path(&keys::timeline_stream(&stream_id));
        loop {
            let n = sweep_batch(db, storage, &stream_id, cutoff, BATCH, &mut swept).await?;
            if n < BATCH as u64 {
                break;
            }
        }
        swept.orphans += remove_orphans(dir, cutoff).await?;
        let stream_key = keys::timeline_stream(&stream_id);
        let old = |k: &keys::Key| {
            let name = k.as_str().rsplit('/').next().unwrap_or("");
            keys::chunk_start(name).is_some_and(|s| s + MAX_CHUNK_SPAN <= cutoff)
        };
        match storage.remove_stale(&stream_key, 1000, old).await {
            Ok(n) => swept.orphans += n,
            Err(e) => {
                tracing::warn!(stream = %stream_id, error = %e, "could not look for chunks a crash left in the bucket")
            }
        }
        index::forget_holes_before(db, &stream_id, cutoff).await?;
    }
    Ok(swept)
}

/// While `short()` says the disk is short of space, deletes the oldest sealed chunks of
/// every stream, one at a time (looked up 20 at a time), until it is not or none is left.
pub async fn make_room(db: &Db, storage: &Storage, short: impl Fn() -> bool) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    while short() {
        let oldest = index::oldest_sealed(db, 20).await?;
        if oldest.is_empty() {
            break;
        }
        for (stream_id, end) in oldest {
            // The stream's oldest chunk is this one: it ends at `end`.
            sweep_batch(db, storage, &stream_id, end, 1, &mut swept).await?;
            if !short() {
                break;
            }
        }
    }
    Ok(swept)
}

/// One transaction: up to `limit` chunks ending at or before `cutoff`, and their runs.
async fn sweep_batch(
    db: &Db,
    storage: &Storage,
    stream_id: &str,
    cutoff: Time90k,
    limit: i64,
    swept: &mut Swept,
) -> anyhow::Result<u64> {
    let (starts, bytes) = index::delete_chunks_before(db, stream_id, cutoff, limit).await?;
    if starts.is_empty() {
        return Ok(0);
    }
    for start in &starts {
        let key = keys::chunk(stream_id, *start);
        if let Err(e) = storage.remove(&key).await {
            tracing::warn!(%key, error = %e, "timeline chunk no longer indexed but not removed");
        }
    }
    swept.chunks += starts.len() as u64;
    swept.bytes += bytes;
    Ok(starts.len() as u64)
}

/// Removes chunk files that must have ended by `cutoff` (every such row is gone).
async fn remove_orphans(dir: PathBuf, cutoff: Time90k) -> anyhow::Result<u64> {
    let n = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        let mut n = 0;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for e in entries {
            let e = e?;
            let name = e.file_name();
            if let Some(start) = name.to_str().and_then(keys::chunk_start)
                && start + MAX_CHUNK_SPAN <= cutoff
            {
                std::fs::remove_file(e.path())?;
                n += 1;
            }
        }
        Ok(n)
    })
    .await??;
    Ok(n)
}

/// A chunk dropped from a full upload spool (its file is gone): the index forgets it
/// (a hole in its run), and the stream's domain is told with a `timeline_dropped` status
/// event naming the lost span.
pub async fn drop_unuploaded(svc: Arc<Services>, key: keys::Key, bytes: u64) {
    let Some((stream_id, start)) = keys::parse_chunk(&key) else { return };
    let end = match index::drop_chunk(&svc.db, &stream_id, start).await {
        Ok(Some(end)) => end,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(%key, error = %e, "a dropped chunk is still in the index");
            return;
        }
    };
    let mut parts = stream_id.splitn(3, '/');
    let (Some(domain), Some(app), Some(stream)) = (parts.next(), parts.next(), parts.next()) else { return };
    if crate::callbacks::event::target(&svc, domain, app, crate::callbacks::event::STATUS).is_none() {
        return;
    }
    let file_id = keys::chunk_file_name(start);
    let of = crate::callbacks::event::StatusOf {
        domain,
        app,
        stream,
        file_id: &file_id,
        format: "timeline",
        task_id: None,
        session_id: "",
    };
    let message = format!(
        "the upload spool was full: {bytes} bytes of timeline from {} to {} were dropped before upload",
        crate::wire_time::rfc3339_ms(start),
        crate::wire_time::rfc3339_ms(end)
    );
    let st = crate::callbacks::RecordStatus::TimelineDropped;
    let body =
        crate::callbacks::status_event(&of, st, svc.config.callbacks.appid, svc.clock.now_unix(), &message);
    crate::callbacks::outbox::send(&svc, domain, body).await;
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
            "timeline-retention",
            &svc.node.name,
            svc.clock.now(),
            2 * SWEEP_EVERY,
        )
        .await
        {
            continue;
        }
        match sweep(&svc.db, &svc.storage, svc.clock.now()).await {
            Ok(s) if s.chunks > 0 || s.orphans > 0 => {
                svc.metrics
                    .timeline_chunks_deleted_total
                    .fetch_add(s.chunks, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(
                    chunks = s.chunks,
                    bytes = s.bytes,
                    orphans = s.orphans,
                    "timeline retention deleted old chunks"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "timeline retention sweep failed; it retries in a minute"),
        }
        let min_free = svc.config.timeline.min_free_percent;
        if min_free > 0.0 && !svc.storage.is_remote() {
            let (root, cap) = (svc.config.data_dir.clone(), svc.config.timeline.min_free_bytes);
            let short = move || short_of_space(&root, min_free, cap);
            match make_room(&svc.db, &svc.storage, short).await {
                Ok(s) if s.chunks > 0 => {
                    svc.metrics
                        .timeline_chunks_deleted_for_space_total
                        .fetch_add(s.chunks, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(
                        chunks = s.chunks,
                        bytes = s.bytes,
                        min_free_percent = min_free,
                        "the disk was short of space: the oldest timeline chunks were deleted"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "could not make room on the disk; tried again in a minute")
                }
            }
        }
    }
}

/// Whether the volume holding `path` has less free space than `percent` of its size,
/// or than `cap` bytes when that is less (0: no cap).
fn short_of_space(path: &std::path::Path, percent: f64, cap: u64) -> bool {
    let (Some(free), Some(size)) =
        (crate::disk_reserve::free_bytes(path), crate::disk_reserve::volume_size(path))
    else {
        return false;
    };
    let want = (size as f64 * percent / 100.0).min(if cap == 0 { f64::MAX } else { cap as f64 });
    (free as f64) < want
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::chunk_table::FragmentRef;
    use crate::timeline::index::{self, Chunk};

    const S: &str = "d.example/live/cam";

    async fn chunk(db: &Db, root: &Storage, run: i64, start: i64, secs: i64) {
        let start = Time90k::from_ms(start * 1000);
        let d = Duration90k::from_secs(secs);
        let c = Chunk {
            stream_id: S.into(),
            start,
            end: start + d,
            run_start: Time90k::from_ms(run * 1000),
            run_seq: run,
            init_id: 1,
            first_seq: 0,
            bytes: 10,
            sealed: true,
            fragments: vec![FragmentRef {
                start,
                duration: d,
                offset: 0,
                size: 10,
                independent: true,
                video_len: 10,
            }],
        };
        index::open_chunk(db, &c, "n").await.unwrap();
        index::seal_chunk(db, &c, None).await.unwrap();
        let path = root.local_path(&keys::chunk(S, start));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"0123456789").unwrap();
    }

    #[tokio::test]
    async fn deletes_whole_old_chunks_and_trims_runs() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let root = Storage::open(dir.path(), &Default::default()).unwrap();
        // Run 100: chunks [100,130) [130,160); run 1000: [1000,1030) [1030,1060).
        for (run, start) in [(100, 100), (100, 130), (1000, 1000), (1000, 1030)] {
            chunk(&db, &root, run, start, 30).await;
        }
        index::set_retention(&db, S, 100).await.unwrap();
        // An orphan a crashed sweep left behind.
        std::fs::write(root.local_path(&keys::chunk(S, Time90k::from_ms(10_000))), b"x").unwrap();
        // now = 1135 s: the cutoff is 1035 s. Run 100 goes; run 1000 loses its first chunk only
        // (the second ends at 1060, after the cutoff, so it stays whole).
        let now = Time90k::from_ms(1_135_000);
        let swept = sweep(&db, &root, now).await.unwrap();
        assert_eq!(swept, Swept { chunks: 3, bytes: 30, orphans: 1 });
        let runs = index::runs_in(&db, S, Time90k(0), Time90k(i64::MAX / 2)).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].start, Time90k::from_ms(1_000_000), "the run keeps its identity");
        assert_eq!(runs[0].kept_from, Time90k::from_ms(1_030_000), "and shows only what is kept");
        let files: Vec<_> = std::fs::read_dir(root.local_path(&keys::timeline_stream(S))).unwrap().collect();
        assert_eq!(files.len(), 1, "only the kept chunk's file remains");
        // Nothing more to do at the same time; a stream kept forever is never touched.
        assert_eq!(sweep(&db, &root, now).await.unwrap(), Swept::default());
        index::set_retention(&db, S, 0).await.unwrap();
        assert_eq!(sweep(&db, &root, Time90k::from_ms(9_000_000)).await.unwrap(), Swept::default());
    }

    #[tokio::test]
    async fn a_disk_short_of_space_loses_the_oldest_chunks_first_until_it_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let root = Storage::open(dir.path(), &Default::default()).unwrap();
        for (run, start) in [(100, 100), (100, 130), (1000, 1000), (1000, 1030)] {
            chunk(&db, &root, run, start, 30).await;
        }
        // "Short" until two chunks are gone (the files are what frees space).
        let dir_of = root.local_path(&keys::timeline_stream(S));
        let files = || std::fs::read_dir(&dir_of).map(|d| d.count()).unwrap_or(0);
        let swept = make_room(&db, &root, || files() > 2).await.unwrap();
        assert_eq!(swept.chunks, 2, "{swept:?}");
        let runs = index::runs_in(&db, S, Time90k(0), Time90k(i64::MAX / 2)).await.unwrap();
        assert_eq!(runs.len(), 1, "the oldest run went first");
        assert_eq!(runs[0].start, Time90k::from_ms(1_000_000));
        // Not short: nothing deleted; always short: everything sealed goes, and it stops.
        assert_eq!(make_room(&db, &root, || false).await.unwrap(), Swept::default());
        make_room(&db, &root, || true).await.unwrap();
        assert!(index::runs_in(&db, S, Time90k(0), Time90k(i64::MAX / 2)).await.unwrap().is_empty());
    }
}
