//! The index agrees with the bucket: every `audit_interval_secs`, one stream (in turn,
//! on one node of the cluster at a time) has its objects listed and compared with its
//! rows. A library file or sealed chunk whose bytes are in neither the bucket nor the
//! spool (deleted behind rewind's back, a lost disk) is dropped from the index — a
//! chunk leaves a hole, so availableMedia never lists what cannot be played; an object
//! no row names (a crash between two steps, a working copy left behind) is removed once
//! it is older than the grace period (an hour), so nothing being written is touched.
//!
//! Objects are listed before rows are read: a row is always written before its bytes
//! are uploaded, so every object listed either has its row by then or is an orphan.

use crate::db::Db;
use crate::library::media;
use crate::storage::{Key, Storage, keys};
use crate::timeline::index;
use std::collections::HashSet;

/// What one audit changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Rows dropped: their bytes were nowhere.
    pub rows_dropped: u64,
    /// Objects removed: no row named them.
    pub objects_removed: u64,
}

/// Grace before an object without a row is removed, unless the configuration says.
const GRACE_SECS: i64 = 3600;

/// Whether `key`'s bytes are anywhere: the spool, or the bucket (asked again now).
async fn stored(storage: &Storage, listed: &HashSet<Key>, key: &Key) -> std::io::Result<bool> {
    Ok(listed.contains(key) || storage.is_local(key).await || storage.remote_exists(key).await?)
}

/// Audits one stream's library files (`stream` = domain/app/stream).
pub async fn media_of(
    db: &Db,
    storage: &Storage,
    (domain, app, stream): (&str, &str, &str),
    now_unix: i64,
    grace_secs: i64,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let objects = storage.list_remote(&keys::media_stream(domain, app, stream)).await?;
    let listed: HashSet<Key> = objects.iter().map(|(k, _)| k.clone()).collect();
    let files = media::files_of_stream(db, domain, app, stream).await?;
    let mut named: HashSet<Key> = HashSet::new();
    let mut folders: Vec<String> = Vec::new();
    for f in &files {
        let key = keys::media(&f.rel_path);
        if f.format == "hls" {
            folders.push(format!("{}/", keys::hls_folder(&f.rel_path)));
        }
        if stored(storage, &listed, &key).await? {
            named.insert(key);
            continue;
        }
        tracing::error!(file_id = %f.file_id, key = %key, "a library file's bytes are gone from the bucket: its record is dropped");
        media::forget(db, &f.file_id).await?;
        if f.format == "hls" {
            storage.remove_folder(&keys::hls_folder(&f.rel_path)).await?;
        }
        report.rows_dropped += 1;
    }
    for (key, written) in objects {
        if named.contains(&key) || folders.iter().any(|f| key.as_str().starts_with(f.as_str())) {
            continue;
        }
        if let Some(file_id) = keys::work_file_id(&key)
            && crate::recording::journal::is_open(db, file_id).await?
        {
            continue; // a recording being written (or parked) ships its segments there
        }
        if now_unix - written < grace_secs {
            continue;
        }
        tracing::warn!(%key, "an object no library record names: removed");
        storage.remove(&key).await?;
        report.objects_removed += 1;
    }
    Ok(report)
}

/// Audits one stream's timeline chunks.
pub async fn timeline_of(
    db: &Db,
    storage: &Storage,
    stream_id: &str,
    now_unix: i64,
    grace_secs: i64,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let objects = storage.list_remote(&keys::timeline_stream(stream_id)).await?;
    let listed: HashSet<Key> = objects.iter().map(|(k, _)| k.clone()).collect();
    let starts = index::sealed_starts(db, stream_id).await?;
    let mut named: HashSet<Key> = HashSet::with_capacity(starts.len());
    for start in starts {
        let key = keys::chunk(stream_id, start);
        if stored(storage, &listed, &key).await? {
            named.insert(key);
            continue;
        }
        tracing::error!(stream = stream_id, %key, "a timeline chunk's bytes are gone from the bucket: it is dropped (a hole in its run)");
        index::drop_chunk(db, stream_id, start).await?;
        report.rows_dropped += 1;
    }
    for (key, written) in objects {
        if named.contains(&key) || now_unix - written < grace_secs {
            continue;
        }
        // An unsealed chunk is never uploaded; a chunk sealed since the listing was
        // listed with its row.
        tracing::warn!(%key, "an object no timeline chunk names: removed");
        storage.remove(&key).await?;
        report.objects_removed += 1;
    }
    Ok(report)
}

/// Every `audit_interval_secs`, audits the next stream in turn (library files and
/// timeline), when this node has the audit's turn; until shutdown.
pub async fn run(svc: std::sync::Arc<crate::server::Services>) {
    let every = svc.config.storage.audit_interval_secs;
    if every == 0 || !svc.storage.is_remote() {
        return;
    }
    let grace = match svc.config.storage.test_audit_grace_secs {
        0 => GRACE_SECS,
        n => n as i64,
    };
    let period = std::time::Duration::from_secs(every);
    let mut turn = 0usize;
    loop {
        tokio::select! {
            _ = svc.shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        if !crate::leases::my_turn(&svc.db, "storage_audit", &svc.node.name, svc.clock.now(), period * 3)
            .await
        {
            continue;
        }
        let result = async {
            let mut subjects: Vec<String> = index::streams(&svc.db).await?;
            for (d, a, s) in media::streams(&svc.db).await? {
                subjects.push(format!("{d}/{a}/{s}"));
            }
            subjects.sort();
            subjects.dedup();
            let Some(sid) = subjects.get(turn % subjects.len().max(1)).cloned() else {
                return anyhow::Ok(Report::default());
            };
            turn += 1;
            let now = svc.clock.now_unix();
            let mut parts = sid.splitn(3, '/');
            let (d, a, s) =
                (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let m = media_of(&svc.db, &svc.storage, (d, a, s), now, grace).await?;
            let t = timeline_of(&svc.db, &svc.storage, &sid, now, grace).await?;
            Ok(Report {
                rows_dropped: m.rows_dropped + t.rows_dropped,
                objects_removed: m.objects_removed + t.objects_removed,
            })
        }
        .await;
        match result {
            Ok(r) => {
                use std::sync::atomic::Ordering::Relaxed;
                svc.metrics.storage_audit_rows_dropped_total.fetch_add(r.rows_dropped, Relaxed);
                svc.metrics.storage_audit_objects_removed_total.fetch_add(r.objects_removed, Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "storage audit failed; the next one tries again"),
        }
    }
}
