//! The upload queue: finished local files go to the bucket, oldest first, a few at a
//! time, each retried with doubling waits until it is there; then the local copy goes.
//! Recording never waits for it: writers only add to the queue.
//!
//! Overflow policy: the queue holds keys, not bytes; the bytes wait in the spool. When
//! they pass `spool_max_bytes`, the oldest waiting *timeline chunks* are dropped (the
//! caller's `on_drop` takes them out of the index); recording files never are.

use super::keys::Key;
use super::sendfile_put;
use super::spool;
use super::store::Storage;
use object_store::multipart::MultipartStore;
use object_store::{ObjectStoreExt, PutPayload};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Uploads running at once.
pub const WORKERS: usize = 4;
/// Files up to this size go up in one PUT; larger ones in parts of this size (unless
/// `storage.test_part_bytes` says otherwise).
const PART_BYTES: u64 = 16 << 20;
/// The first wait after a failure; each next one doubles, up to `MAX_WAIT`.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const MAX_WAIT: Duration = Duration::from_secs(30);
/// A spool file still waiting this long after it was queued is synced to disk (it was
/// not as it closed: `Storage::syncs_on_close`), so a power loss can take only the
/// files of the last few seconds, which a killed process would not lose anyway.
pub const SYNC_AFTER: Duration = Duration::from_secs(5);

struct Item {
    /// Its place in the queue, kept across retries.
    seq: u64,
    key: Key,
    bytes: u64,
    attempts: u32,
    not_before: Instant,
    /// When it was queued.
    queued_at: Instant,
    /// Synced to disk while it waited.
    synced: bool,
}

#[derive(Default)]
struct Queue {
    next_seq: u64,
    /// Waiting uploads by arrival: the lowest is the oldest.
    waiting: BTreeMap<u64, Item>,
    by_key: HashMap<Key, u64>,
    /// Uploads running now, with their bytes.
    running: HashMap<Key, u64>,
    /// Running uploads whose object was deleted meanwhile: their result is thrown away.
    cancelled: HashSet<Key>,
    /// Bytes waiting or running.
    bytes: u64,
}

/// Upload counters, rendered on `/metrics`.
#[derive(Debug, Default)]
pub struct UploadMetrics {
    /// Bytes uploaded.
    pub bytes_total: AtomicU64,
    /// Files uploaded.
    pub files_total: AtomicU64,
    /// Upload tries that failed (each is retried).
    pub failures_total: AtomicU64,
    /// Microseconds spent in successful uploads (latency = this / files).
    pub micros_total: AtomicU64,
    /// Timeline chunks dropped from a full spool.
    pub dropped_chunks_total: AtomicU64,
    /// Their bytes.
    pub dropped_bytes_total: AtomicU64,
    /// Spool files synced to disk because they waited `SYNC_AFTER`.
    pub synced_files_total: AtomicU64,
}

/// The queue of one server's uploads.
pub struct Uploads {
    q: std::sync::Mutex<Queue>,
    wake: Notify,
    done: Notify,
    max_bytes: u64,
    part_bytes: u64,
    /// Counters.
    pub metrics: UploadMetrics,
}

impl Uploads {
    pub(super) fn new(max_bytes: u64, part_bytes: u64) -> Uploads {
        Uploads {
            q: std::sync::Mutex::new(Queue::default()),
            wake: Notify::new(),
            done: Notify::new(),
            max_bytes,
            part_bytes: if part_bytes == 0 { PART_BYTES } else { part_bytes },
            metrics: UploadMetrics::default(),
        }
    }

    /// Queues `key` (once: a key already queued or running is left as it is).
    pub fn push(&self, key: Key, bytes: u64) {
        {
            let mut q = crate::lock::lock(&self.q);
            if q.by_key.contains_key(&key) || q.running.contains_key(&key) {
                return;
            }
            let seq = q.next_seq;
            q.next_seq += 1;
            q.by_key.insert(key.clone(), seq);
            let now = Instant::now();
            let it = Item { seq, key, bytes, attempts: 0, not_before: now, queued_at: now, synced: false };
            q.waiting.insert(seq, it);
            q.bytes += bytes;
        }
        self.wake.notify_one();
    }

    /// Bytes waiting for upload or being uploaded.
    pub fn spool_bytes(&self) -> u64 {
        crate::lock::lock(&self.q).bytes
    }

    /// Files waiting or running.
    pub fn pending(&self) -> usize {
        let q = crate::lock::lock(&self.q);
        q.waiting.len() + q.running.len()
    }

    /// Takes `key` out of the queue; when it is being uploaded, waits for that to end.
    pub(super) async fn cancel(&self, key: &Key) {
        loop {
            let done = self.done.notified();
            {
                let mut q = crate::lock::lock(&self.q);
                if let Some(seq) = q.by_key.remove(key)
                    && let Some(it) = q.waiting.remove(&seq)
                {
                    q.bytes -= it.bytes;
                }
                if !q.running.contains_key(key) {
                    return;
                }
                q.cancelled.insert(key.clone());
            }
            done.await;
        }
    }

    /// Past the spool's bound: takes the oldest waiting chunks out until it fits again.
    fn overflow(&self) -> Vec<(Key, u64)> {
        let mut q = crate::lock::lock(&self.q);
        let mut dropped = Vec::new();
        while q.bytes > self.max_bytes {
            let Some(seq) = q.waiting.iter().find(|(_, it)| it.key.is_chunk()).map(|(s, _)| *s) else {
                break;
            };
            let it = q.waiting.remove(&seq).expect("found above");
            q.by_key.remove(&it.key);
            q.bytes -= it.bytes;
            dropped.push((it.key, it.bytes));
        }
        dropped
    }

    /// The waiting files queued `SYNC_AFTER` or longer before `now` and not yet synced,
    /// each given once (it counts as synced from then on).
    fn due_for_sync(&self, now: Instant) -> Vec<Key> {
        let mut q = crate::lock::lock(&self.q);
        let mut due = Vec::new();
        for it in q.waiting.values_mut() {
            if !it.synced && now.saturating_duration_since(it.queued_at) >= SYNC_AFTER {
                it.synced = true;
                due.push(it.key.clone());
            }
        }
        due
    }

    /// The oldest upload that may be tried now, or how long until one may.
    fn take(&self) -> Result<Item, Option<Duration>> {
        let mut q = crate::lock::lock(&self.q);
        let now = Instant::now();
        let due = q.waiting.iter().find(|(_, it)| it.not_before <= now).map(|(s, _)| *s);
        match due {
            Some(seq) => {
                let it = q.waiting.remove(&seq).expect("found above");
                q.by_key.remove(&it.key);
                q.running.insert(it.key.clone(), it.bytes);
                Ok(it)
            }
            None => Err(q.waiting.values().map(|it| it.not_before - now).min()),
        }
    }

    /// Ends a running upload: done, or back in the queue (keeping its place) for a retry.
    fn settle(&self, mut it: Item, ok: bool) {
        {
            let mut q = crate::lock::lock(&self.q);
            q.running.remove(&it.key);
            let cancelled = q.cancelled.remove(&it.key);
            if ok || cancelled {
                q.bytes -= it.bytes;
            } else {
                it.attempts += 1;
                let wait = FIRST_WAIT.saturating_mul(1 << it.attempts.min(6)).min(MAX_WAIT);
                it.not_before = Instant::now() + wait;
                // Back in its old place: a retried file still goes before later ones.
                q.by_key.insert(it.key.clone(), it.seq);
                q.waiting.insert(it.seq, it);
            }
        }
        self.done.notify_waiters();
        self.wake.notify_one();
    }

    /// Appends the upload metrics in Prometheus text.
    pub fn render(&self, out: &mut String) {
        let m = &self.metrics;
        let rows: [(&str, &str, &str, u64); 8] = [
            (
                "rewind_storage_upload_bytes_total",
                "counter",
                "Bytes uploaded to the bucket.",
                m.bytes_total.load(Relaxed),
            ),
            (
                "rewind_storage_upload_files_total",
                "counter",
                "Files uploaded to the bucket.",
                m.files_total.load(Relaxed),
            ),
            (
                "rewind_storage_upload_failures_total",
                "counter",
                "Upload tries that failed (each is retried).",
                m.failures_total.load(Relaxed),
            ),
            (
                "rewind_storage_upload_seconds_total",
                "counter",
                "Seconds spent in successful uploads (per file: divide by the files).",
                m.micros_total.load(Relaxed) / 1_000_000,
            ),
            (
                "rewind_storage_spool_bytes",
                "gauge",
                "Bytes in the spool waiting for upload.",
                self.spool_bytes(),
            ),
            (
                "rewind_storage_spool_dropped_chunks_total",
                "counter",
                "Timeline chunks dropped from a full spool before upload.",
                m.dropped_chunks_total.load(Relaxed),
            ),
            (
                "rewind_storage_spool_dropped_bytes_total",
                "counter",
                "Bytes of timeline chunks dropped from a full spool.",
                m.dropped_bytes_total.load(Relaxed),
            ),
            (
                "rewind_storage_spool_synced_files_total",
                "counter",
                "Spool files synced to disk because they waited 5 s or more for upload.",
                m.synced_files_total.load(Relaxed),
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
    }
}

/// Runs the uploads until `stop`: `WORKERS` at once, and the spool bound. `on_drop` is
/// told every chunk dropped from a full spool (after its file is gone).
pub async fn run<F, Fut>(
    storage: std::sync::Arc<Storage>,
    stop: tokio_util::sync::CancellationToken,
    on_drop: F,
) where
    F: Fn(Key, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    if !storage.is_remote() {
        return;
    }
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let s = storage.clone();
        let stop = stop.clone();
        workers.spawn(async move {
            loop {
                let wait = match s.uploads.take() {
                    Ok(it) => {
                        let ok = upload_one(&s, &it).await;
                        s.uploads.settle(it, ok);
                        continue;
                    }
                    Err(w) => w,
                };
                let notified = s.uploads.wake.notified();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = notified => {}
                    _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))) => {}
                }
            }
        });
    }
    loop {
        let due = storage.uploads.due_for_sync(Instant::now());
        if !due.is_empty() {
            let paths: Vec<_> = due.iter().map(|k| storage.local_path(k)).collect();
            if let Ok(n) = tokio::task::spawn_blocking(move || sync_files(&paths)).await {
                storage.uploads.metrics.synced_files_total.fetch_add(n, Relaxed);
            }
        }
        for (key, bytes) in storage.uploads.overflow() {
            let _ = tokio::fs::remove_file(storage.local_path(&key)).await;
            storage.uploads.metrics.dropped_chunks_total.fetch_add(1, Relaxed);
            storage.uploads.metrics.dropped_bytes_total.fetch_add(bytes, Relaxed);
            tracing::warn!(%key, bytes, "spool full: a timeline chunk not yet uploaded was dropped");
            on_drop(key, bytes).await;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    while workers.join_next().await.is_some() {}
}

/// Syncs each file and then each of their folders (the files' names) to disk; a file
/// gone meanwhile (uploaded, deleted) is skipped. Returns how many were synced. Blocking.
fn sync_files(paths: &[std::path::PathBuf]) -> u64 {
    let mut folders = std::collections::BTreeSet::new();
    let mut synced = 0;
    for p in paths {
        match std::fs::File::open(p).and_then(|f| f.sync_all()) {
            Ok(()) => {
                synced += 1;
                folders.extend(p.parent().map(|d| d.to_path_buf()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(file = %p.display(), error = %e, "could not sync a spool file"),
        }
    }
    for d in folders {
        if let Ok(d) = std::fs::File::open(d) {
            let _ = d.sync_all();
        }
    }
    synced
}

/// One try: the file to the bucket, then the local copy removed. False: try again later.
async fn upload_one(s: &Storage, it: &Item) -> bool {
    let path = s.local_path(&it.key);
    let started = Instant::now();
    let res = match it.bytes {
        n if n <= s.uploads.part_bytes => put_whole(s, &it.key, &path, started).await,
        _ => put_parts(s, &it.key, &path)
            .await
            .map(|()| Uploaded { took: started.elapsed(), forgotten: false }),
    };
    match res {
        Ok(up) => {
            let m = &s.uploads.metrics;
            m.bytes_total.fetch_add(it.bytes, Relaxed);
            m.files_total.fetch_add(1, Relaxed);
            m.micros_total.fetch_add(up.took.as_micros() as u64, Relaxed);
            if !up.forgotten {
                let (key, path) = (it.key.clone(), path.clone());
                let _ = tokio::task::spawn_blocking(move || forget_spool_copy(&key, &path)).await;
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !path.exists() => {
            // Deleted (retention, the API) before its turn: nothing to upload.
            true
        }
        Err(e) => {
            s.uploads.metrics.failures_total.fetch_add(1, Relaxed);
            if it.attempts < 3 || it.attempts.is_multiple_of(10) {
                tracing::warn!(key = %it.key, attempts = it.attempts + 1, error = %e, "upload failed; will retry");
            }
            false
        }
    }
}

/// A finished file's bytes, mapped: handed to the HTTP body without a copy in user space
/// (nor fresh pages to fault in), sliced for multipart parts.
async fn mapped(path: &std::path::Path) -> std::io::Result<bytes::Bytes> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&path)?;
        if f.metadata()?.len() == 0 {
            return Ok(bytes::Bytes::new());
        }
        // SAFETY: only finished files are uploaded, and a finished file is never written or
        // truncated again (only unlinked, which leaves the mapping valid).
        // Populated up front: one fault-in pass instead of a page fault per 4 KiB while
        // the socket copies it.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&f)? };
        Ok(bytes::Bytes::from_owner(map))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// How long a presigned upload URL is good for: it is used at once.
const PUT_URL_TTL: Duration = Duration::from_secs(600);

/// Removes an uploaded file's spool copy, and its folder once empty. Blocking.
fn forget_spool_copy(key: &Key, path: &std::path::Path) {
    // Readers fall back to the bucket once the local file is gone.
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%key, error = %e, "uploaded, but the spool copy could not be removed");
    }
    if let Some(dir) = path.parent() {
        // The last file of an HLS recording's folder leaves no empty folder behind.
        let _ = std::fs::remove_dir(dir);
    }
}

/// A finished upload.
struct Uploaded {
    /// From the start of the upload to the bucket's answer.
    took: Duration,
    /// The spool copy is already removed (the sendfile upload does it on its blocking
    /// thread, saving a hand-off per file).
    forgotten: bool,
}

/// Uploads a file in one request (`started`: when the upload began).
async fn put_whole(
    s: &Storage,
    key: &Key,
    path: &std::path::Path,
    started: Instant,
) -> std::io::Result<Uploaded> {
    let r = s.remote().expect("uploads run only with a bucket");
    if let Some(conns) = r.plain_http.clone() {
        use object_store::signer::Signer;
        let url = r
            .store
            .signed_url(axum::http::Method::PUT, &r.path(key), PUT_URL_TTL)
            .await
            .map_err(std::io::Error::other)?;
        let (key, path) = (key.clone(), path.to_path_buf());
        return tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&path)?;
            let len = f.metadata()?.len();
            sendfile_put::put(&conns, &url, &f, len)?;
            let took = started.elapsed();
            drop(f);
            forget_spool_copy(&key, &path);
            Ok(Uploaded { took, forgotten: true })
        })
        .await
        .map_err(std::io::Error::other)?;
    }
    let bytes = mapped(path).await?;
    r.store.put(&r.path(key), PutPayload::from(bytes)).await.map_err(std::io::Error::other)?;
    Ok(Uploaded { took: started.elapsed(), forgotten: false })
}

/// A large file in parts. Its upload id is kept beside it until the upload completes,
/// so that a crash in between leaves nothing open in the bucket (see `abort_leftovers`).
async fn put_parts(s: &Storage, key: &Key, path: &std::path::Path) -> std::io::Result<()> {
    let r = s.remote().expect("uploads run only with a bucket");
    let loc = r.path(key);
    let bytes = mapped(path).await?;
    let mark = spool::mark_path(path);
    if let Ok(old) = tokio::fs::read_to_string(&mark).await {
        // An earlier try's upload that could not be aborted then.
        r.store.abort_multipart(&loc, &old.trim().to_string()).await.map_err(std::io::Error::other)?;
    }
    let id = r.store.create_multipart(&loc).await.map_err(std::io::Error::other)?;
    tokio::fs::write(&mark, id.as_bytes()).await?;
    let res = async {
        let mut parts = Vec::new();
        let size = s.uploads.part_bytes as usize;
        for from in (0..bytes.len()).step_by(size) {
            let part = bytes.slice(from..(from + size).min(bytes.len()));
            let p = r.store.put_part(&loc, &id, parts.len(), PutPayload::from(part)).await;
            parts.push(p.map_err(std::io::Error::other)?);
        }
        r.store.complete_multipart(&loc, &id, parts).await.map_err(std::io::Error::other)?;
        Ok(())
    }
    .await;
    // The mark goes once nothing is left open in the bucket: completed, or aborted (an
    // abort that fails too keeps the mark, and the next start aborts it).
    let settled = res.is_ok() || r.store.abort_multipart(&loc, &id).await.is_ok();
    if settled {
        let _ = tokio::fs::remove_file(&mark).await;
    }
    res
}

/// At start-up: multipart uploads a crash left open are aborted (their files are
/// queued again whole by the caller).
pub async fn abort_leftovers(s: &Storage) {
    let Some(r) = s.remote() else { return };
    for (key, mark) in spool::multipart_marks(s.root(), s.root()).await {
        if let Ok(id) = tokio::fs::read_to_string(&mark).await {
            match r.store.abort_multipart(&r.path(&key), &id.trim().to_string()).await {
                Ok(()) => tracing::info!(%key, "aborted a multipart upload a crash left open"),
                Err(e) => {
                    tracing::warn!(%key, error = %e, "could not abort a multipart upload a crash left open")
                }
            }
        }
        let _ = tokio::fs::remove_file(&mark).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    #[test]
    fn a_full_spool_drops_the_oldest_chunks_never_files() {
        let u = Uploads::new(100, 0);
        u.push(k("media/d/a/s/x.flv"), 60);
        u.push(k("timeline/d/a/s/1.m4s"), 30);
        u.push(k("timeline/d/a/s/2.m4s"), 30);
        u.push(k("timeline/d/a/s/2.m4s"), 30); // once
        assert_eq!(u.spool_bytes(), 120);
        assert_eq!(u.overflow(), vec![(k("timeline/d/a/s/1.m4s"), 30)]);
        assert_eq!(u.spool_bytes(), 90);
        u.push(k("media/d/a/s/y.flv"), 100);
        assert_eq!(u.overflow(), vec![(k("timeline/d/a/s/2.m4s"), 30)]);
        // Only files are left: over the bound, but nothing more is dropped.
        assert_eq!(u.overflow(), vec![]);
        assert_eq!(u.spool_bytes(), 160);
    }

    #[test]
    fn a_failed_upload_keeps_its_place_and_waits() {
        let u = Uploads::new(1 << 30, 0);
        u.push(k("media/a/b/c/1.flv"), 1);
        u.push(k("media/a/b/c/2.flv"), 1);
        let first = u.take().ok().unwrap();
        assert_eq!(first.key, k("media/a/b/c/1.flv"));
        u.settle(first, false);
        // The retry waits; the second file goes meanwhile.
        assert_eq!(u.take().ok().unwrap().key, k("media/a/b/c/2.flv"));
        let wait = u.take().err().unwrap().unwrap();
        assert!(wait > Duration::from_millis(500) && wait <= MAX_WAIT, "{wait:?}");
        assert_eq!(u.pending(), 2);
    }

    #[test]
    fn files_that_wait_in_the_spool_are_synced_once() {
        let u = Uploads::new(1 << 30, 0);
        u.push(k("media/a/b/c/1.flv"), 1);
        u.push(k("media/a/b/c/2.flv"), 1);
        let now = Instant::now();
        assert!(u.due_for_sync(now).is_empty(), "files just queued go up unsynced");
        let running = u.take().ok().unwrap();
        let later = now + SYNC_AFTER + Duration::from_millis(1);
        assert_eq!(u.due_for_sync(later), vec![k("media/a/b/c/2.flv")]);
        assert!(u.due_for_sync(later).is_empty(), "once");
        // A failed upload waits again, now past the bound: synced.
        u.settle(running, false);
        assert_eq!(u.due_for_sync(later), vec![k("media/a/b/c/1.flv")]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.flv");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(sync_files(&[file, dir.path().join("gone.flv")]), 1);
    }
}
