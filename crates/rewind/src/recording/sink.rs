//! The file sink around a pure muxer: buffers bytes in memory and hands them to a write
//! thread (`write_threads`), so no file I/O ever runs on an async worker and a plain
//! write costs the recorder no wake-up.

use crate::recording::write_threads;
use bytes::{Bytes, BytesMut};
use std::fs::File;
use std::io::{Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes buffered before a write is forced: small enough that a recorder holds little
/// memory (its one buffer is reused, so this is most of a recorder's memory), large enough
/// that writes stay few: ~6 a second at 2 Mbps, each one hand-off to a write thread.
const FLUSH_BYTES: usize = 48 * 1024;
/// Longest time bytes stay buffered: bounds what a crash can lose.
const FLUSH_EVERY: Duration = Duration::from_millis(1000);
/// Writes of one file queued on its write thread before the recorder waits.
pub const MAX_QUEUED_WRITES: usize = 2;
const INITIAL_BUFFER: usize = FLUSH_BYTES + 16 * 1024;

/// What the recorder and the write thread share about one file.
#[derive(Debug, Default)]
struct Shared {
    /// The first write error; later writes are skipped so the file keeps ending where
    /// the last good write ended.
    failed: Mutex<Option<(std::io::ErrorKind, String)>>,
    queued_writes: AtomicUsize,
    /// Bytes the operating system has.
    written: AtomicU64,
    done: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn error(&self) -> Option<std::io::Error> {
        lock(&self.failed).as_ref().map(|(kind, msg)| std::io::Error::new(*kind, msg.clone()))
    }
}

/// A file being written.
#[derive(Debug)]
pub struct FileSink {
    file: Option<Arc<File>>,
    path: PathBuf,
    buf: BytesMut,
    handed_off: u64,
    last_flush: Instant,
    lane: usize,
    shared: Arc<Shared>,
    /// Writes are skipped once this other file failed (the MP4 side index trails its
    /// data file: it must never describe bytes that are not there).
    trails: Option<Arc<Shared>>,
}

fn create_file(p: &Path) -> std::io::Result<File> {
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::options().write(true).create_new(true).open(p)
}

impl FileSink {
    fn new(file: File, path: PathBuf, lane: usize, buf: BytesMut, trails: Option<Arc<Shared>>) -> FileSink {
        FileSink {
            file: Some(Arc::new(file)),
            path,
            buf,
            handed_off: 0,
            last_flush: Instant::now(),
            lane,
            shared: Arc::default(),
            trails,
        }
    }

    /// Creates `path` (and its folder); fails if it exists.
    pub async fn create(path: PathBuf) -> std::io::Result<FileSink> {
        let lane = write_threads::pick_lane();
        let p = path.clone();
        let file = write_threads::run(lane, move || create_file(&p)).await?;
        Ok(FileSink::new(file, path, lane, BytesMut::with_capacity(INITIAL_BUFFER), None))
    }

    /// Creates `path` as a file whose writes happen after `leader`'s writes queued
    /// before them, and stop when `leader`'s fail.
    pub async fn create_trailing(leader: &FileSink, path: PathBuf) -> std::io::Result<FileSink> {
        let p = path.clone();
        let file = write_threads::run(leader.lane, move || create_file(&p)).await?;
        Ok(FileSink::new(file, path, leader.lane, BytesMut::new(), Some(leader.shared.clone())))
    }

    /// Where the bytes go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The buffer a muxer appends to.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes written so far, buffered or not.
    pub fn len(&self) -> u64 {
        self.handed_off + self.buf.len() as u64
    }

    /// True before anything was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands the buffer to the write thread if it is large or old enough. Returns
    /// whether it did.
    pub async fn maybe_flush(&mut self) -> std::io::Result<bool> {
        if self.buf.len() >= FLUSH_BYTES || (!self.buf.is_empty() && self.last_flush.elapsed() >= FLUSH_EVERY)
        {
            self.flush().await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Hands the buffer to the write thread. A write error (disk full, I/O error) is
    /// reported by the next call: the partial write is cut off again, so the file still
    /// ends where the last good write ended, and nothing more is written.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.last_flush = Instant::now();
        if let Some(e) = self.shared.error() {
            self.buf.clear();
            return Err(e);
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let file = self.file.clone().ok_or_else(|| std::io::Error::other("no file"))?;
        // A stored permit makes this loop safe against a wake-up that came first.
        while self.shared.queued_writes.load(Relaxed) >= MAX_QUEUED_WRITES {
            self.shared.done.notified().await;
        }
        // The bytes leave as a view of the buffer's allocation; once written and dropped,
        // the next append reclaims it, so a recording lives on one allocation.
        let buf = self.buf.split().freeze();
        let n = buf.len() as u64;
        self.handed_off += n;
        self.shared.queued_writes.fetch_add(1, Relaxed);
        let shared = self.shared.clone();
        let trails = self.trails.clone();
        write_threads::submit(self.lane, move || {
            let leader_failed = trails.is_some_and(|t| lock(&t.failed).is_some());
            if lock(&shared.failed).is_none() && !leader_failed {
                let good = shared.written.load(Relaxed);
                match (&*file).write_all(&buf) {
                    Ok(()) => {
                        shared.written.fetch_add(n, Relaxed);
                    }
                    Err(e) => {
                        let _ = file.set_len(good);
                        let _ = (&*file).seek(std::io::SeekFrom::Start(good));
                        *lock(&shared.failed) = Some((e.kind(), e.to_string()));
                    }
                }
            } else if leader_failed {
                *lock(&shared.failed) =
                    Some((std::io::ErrorKind::Other, "the file this one trails failed".into()));
            }
            drop(buf);
            shared.queued_writes.fetch_sub(1, Relaxed);
            shared.done.notify_one();
        });
        Ok(())
    }

    /// Hands the buffer over and waits until every write so far is done: afterwards
    /// readers of the file see all of it, or the write error is returned.
    pub async fn written_all(&mut self) -> std::io::Result<()> {
        self.flush().await?;
        let shared = self.shared.clone();
        write_threads::run(self.lane, move || shared.error().map_or(Ok(()), Err)).await
    }

    /// Writes what is buffered (unless an earlier write failed: then the file ends
    /// where the last good write ended), writes `patches` (offset, bytes) in place,
    /// syncs (if `sync`) and closes. Returns the size. Syncing is for power loss: a
    /// killed process loses nothing the kernel already has.
    pub async fn finish(mut self, patches: Vec<(u64, Bytes)>, sync: bool) -> std::io::Result<u64> {
        let _ = self.flush().await; // an error here is the caller's to report, from its own flush
        let file = self.file.take().ok_or_else(|| std::io::Error::other("no file"))?;
        write_threads::run(self.lane, move || {
            for (off, b) in patches {
                file.write_all_at(&b, off)?;
            }
            if sync {
                file.sync_all()?;
            }
            Ok(file.metadata()?.len())
        })
        .await
    }

    /// Ends this file and continues in `next`, in one job on the write thread (HLS
    /// segment rotation), then atomically replaces `extra.0` with `extra.1` (the
    /// playlist), so it never lists a segment whose bytes are not written. Returns the
    /// size of the ended file. On failure the sink stays on the old file, which ends
    /// where its last good write ended.
    pub async fn rotate(&mut self, next: PathBuf, extra: Option<(PathBuf, Vec<u8>)>) -> std::io::Result<u64> {
        let size = self.len();
        self.flush().await?;
        let shared = self.shared.clone();
        let next_path = next.clone();
        let new_file = write_threads::run(self.lane, move || {
            if let Some((kind, msg)) = lock(&shared.failed).clone() {
                return Err(std::io::Error::new(kind, msg));
            }
            let new_file = File::options().write(true).create_new(true).open(&next_path)?;
            if let Some((path, bytes)) = extra {
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, &bytes)?;
                std::fs::rename(&tmp, &path)?;
            }
            Ok(new_file)
        })
        .await?;
        let buf = std::mem::take(&mut self.buf);
        *self = FileSink::new(new_file, next, self.lane, buf, None);
        Ok(size)
    }
}

/// Links `tmp` to a free name in its folder (`name.ext`, `name_1.ext`, …) and removes
/// `tmp`: an existing file is never overwritten. Returns the final file name.
pub async fn publish_file(tmp: PathBuf, name: String, ext: &'static str) -> std::io::Result<String> {
    let job = move || {
        let dir = tmp.parent().ok_or_else(|| std::io::Error::other("no folder"))?.to_path_buf();
        for i in 0..10_000 {
            let candidate = if i == 0 { format!("{name}.{ext}") } else { format!("{name}_{i}.{ext}") };
            match std::fs::hard_link(&tmp, dir.join(&candidate)) {
                Ok(()) => {
                    std::fs::remove_file(&tmp)?;
                    if let Ok(d) = File::open(&dir) {
                        let _ = d.sync_all(); // make the new name durable
                    }
                    return Ok(candidate);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free file name"))
    };
    tokio::task::spawn_blocking(job).await.map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_patches_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileSink::create(dir.path().join("a/.x.part")).await.unwrap();
        s.buffer().extend_from_slice(b"hello world");
        s.flush().await.unwrap();
        s.buffer().extend_from_slice(b"!");
        assert_eq!(s.len(), 12);
        let tmp = s.path().to_path_buf();
        assert_eq!(s.finish(vec![(0, Bytes::from_static(b"J"))], true).await.unwrap(), 12);
        assert_eq!(std::fs::read(&tmp).unwrap(), b"Jello world!");
        std::fs::write(dir.path().join("a/n.flv"), b"keep").unwrap();
        let name = publish_file(tmp.clone(), "n".into(), "flv").await.unwrap();
        assert_eq!(name, "n_1.flv");
        assert_eq!(std::fs::read(dir.path().join("a/n.flv")).unwrap(), b"keep");
        assert!(!tmp.exists());
        assert!(FileSink::create(dir.path().join("a/n.flv")).await.is_err(), "create never clobbers");
    }

    #[tokio::test]
    async fn many_queued_writes_land_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileSink::create(dir.path().join("f")).await.unwrap();
        let mut idx = FileSink::create_trailing(&s, dir.path().join("f.idx")).await.unwrap();
        let mut want = Vec::new();
        for i in 0..1000u32 {
            let chunk = vec![(i % 251) as u8; 1 + (i as usize * 7) % 300];
            want.extend_from_slice(&chunk);
            s.buffer().extend_from_slice(&chunk);
            s.flush().await.unwrap();
            idx.buffer().extend_from_slice(&i.to_be_bytes());
            idx.flush().await.unwrap();
        }
        assert_eq!(s.finish(vec![], false).await.unwrap(), want.len() as u64);
        assert_eq!(idx.finish(vec![], false).await.unwrap(), 4000);
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), want);
    }
}
