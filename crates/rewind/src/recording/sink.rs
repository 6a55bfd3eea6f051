//! The file sink around a pure muxer: gathers bytes in pooled blocks (and frame payloads
//! passed on as they are) and hands them to a write thread (`write_threads`), so no file
//! I/O ever runs on an async worker, a plain write costs the recorder no wake-up, and
//! nothing is allocated or copied per write.

use crate::lock::lock;
use crate::recording::{block_pool, write_threads};
use bytes::{Bytes, BytesMut};
use rewind_media::mux::MuxOut;
use std::fs::File;
use std::io::{IoSlice, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes buffered before `maybe_flush` hands them over (recorders call it once per
/// batch of frames, so a job usually carries a whole batch).
const FLUSH_BYTES: usize = 48 * 1024;
/// Longest time bytes stay buffered: bounds what a crash can lose.
const FLUSH_EVERY: Duration = Duration::from_millis(1000);
/// Writes of one file queued on its write thread before the recorder wakes the thread
/// and waits (a lane drains every 50 ms, so a burst of batches must not make it wait).
pub const MAX_QUEUED_WRITES: usize = 6;
/// A block with less room than this is set aside for the next before a muxer appends, so
/// blocks rarely outgrow their size.
const ROLL_ROOM: usize = 4 * 1024;
/// Frame payloads at least this large are written from the frame's own memory (shared
/// with the hub) instead of being copied into a block.
const SHARE_MIN: usize = 2 * 1024;

/// Bytes waiting for the next hand-off, in file order.
#[derive(Debug, Default)]
struct Pending {
    /// Filled blocks the `Own` parts point into (the current block is the next index).
    blocks: Vec<BytesMut>,
    parts: Vec<Part>,
    /// Bytes in `parts`.
    len: usize,
    /// Where frames end (byte offsets into these parts, ascending): a write that fails
    /// part way keeps the frames that fit.
    boundaries: Vec<usize>,
}

#[derive(Debug)]
enum Part {
    /// `start..end` of block `block`.
    Own { block: usize, start: usize, end: usize },
    /// A frame payload, written as it is.
    Shared(Bytes),
}

impl Pending {
    /// Writes every part, in order, with as few system calls as the kernel allows. On
    /// failure, also says how many bytes did get written.
    fn write_to(&self, mut file: &File) -> Result<(), (usize, std::io::Error)> {
        let mut slices: Vec<IoSlice<'_>> = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Own { block, start, end } => IoSlice::new(&self.blocks[*block][*start..*end]),
                Part::Shared(b) => IoSlice::new(b),
            })
            .collect();
        let mut rest = &mut slices[..];
        let mut done = 0;
        // writev takes at most IOV_MAX (1024) slices at a time.
        while !rest.is_empty() {
            let n = rest.len().min(1024);
            match file.write_vectored(&rest[..n]) {
                Ok(0) => return Err((done, std::io::ErrorKind::WriteZero.into())),
                Ok(written) => {
                    done += written;
                    IoSlice::advance_slices(&mut rest, written);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err((done, e)),
            }
        }
        Ok(())
    }

    /// Of the first `done` bytes, how many end on a frame boundary.
    fn whole_frames_in(&self, done: usize) -> usize {
        let i = self.boundaries.partition_point(|&b| b <= done);
        if i == 0 { 0 } else { self.boundaries[i - 1] }
    }

    /// Gives the blocks back to the pool.
    fn recycle(self) {
        self.blocks.into_iter().for_each(block_pool::give);
    }
}

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
    /// The block muxers append to (from `block_pool`).
    buf: BytesMut,
    /// Where in `buf` the bytes not yet in `pending.parts` begin.
    run_start: usize,
    pending: Pending,
    handed_off: u64,
    last_flush: Instant,
    lane: usize,
    shared: Arc<Shared>,
    /// Writes are skipped once this other file failed (the MP4 side index trails its
    /// data file: it must never describe bytes that are not there).
    trails: Option<Arc<Shared>>,
}

impl Drop for FileSink {
    fn drop(&mut self) {
        block_pool::give(std::mem::take(&mut self.buf));
        std::mem::take(&mut self.pending).recycle();
    }
}

impl MuxOut for FileSink {
    fn bytes(&mut self) -> &mut BytesMut {
        self.buffer()
    }

    fn reserve_hint(&mut self, _n: usize) {
        // Blocks keep their size: bytes that do not fit go to the next block.
    }

    fn payload(&mut self, data: &Bytes) {
        if data.len() >= SHARE_MIN {
            self.close_run();
            self.pending.len += data.len();
            self.pending.parts.push(Part::Shared(data.clone()));
        } else {
            // Through `buffer`: many small payloads in a row roll to the next block
            // instead of growing this one.
            self.buffer().extend_from_slice(data);
        }
    }
}

fn create_file(p: &Path) -> std::io::Result<File> {
    create_file_racing(p, || {})
}

/// `create_file`, with `between` run after the folder is made (tests race it there).
fn create_file_racing(p: &Path, between: impl Fn()) -> std::io::Result<File> {
    let open = || {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        between();
        File::options().write(true).create_new(true).open(p)
    };
    match open() {
        // With a bucket, the upload of a folder's last file removes the emptied folder;
        // it can do so between our making it and opening the file in it. Once more is
        // enough: the folder is empty again only after another upload.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => open(),
        r => r,
    }
}

impl FileSink {
    fn new(file: File, path: PathBuf, lane: usize, trails: Option<Arc<Shared>>) -> FileSink {
        FileSink {
            file: Some(Arc::new(file)),
            path,
            buf: block_pool::take(),
            run_start: 0,
            pending: Pending::default(),
            handed_off: 0,
            last_flush: Instant::now(),
            lane,
            shared: Arc::default(),
            trails,
        }
    }

    /// Moves what was appended to the current block since the last part into `pending`.
    fn close_run(&mut self) {
        let end = self.buf.len();
        if end > self.run_start {
            let block = self.pending.blocks.len();
            self.pending.parts.push(Part::Own { block, start: self.run_start, end });
            self.pending.len += end - self.run_start;
            self.run_start = end;
        }
    }

    /// Sets the current block aside (its bytes stay pending) and starts a fresh one.
    fn next_block(&mut self) {
        self.close_run();
        let full = std::mem::replace(&mut self.buf, block_pool::take());
        self.pending.blocks.push(full);
        self.run_start = 0;
    }

    /// Creates `path` (and its folder); fails if it exists.
    pub async fn create(path: PathBuf) -> std::io::Result<FileSink> {
        let lane = write_threads::pick_lane();
        let p = path.clone();
        let file = write_threads::run(lane, move || create_file(&p)).await?;
        Ok(FileSink::new(file, path, lane, None))
    }

    /// Creates `path` as a file whose writes happen after `leader`'s writes queued
    /// before them, and stop when `leader`'s fail.
    pub async fn create_trailing(leader: &FileSink, path: PathBuf) -> std::io::Result<FileSink> {
        let p = path.clone();
        let file = write_threads::run(leader.lane, move || create_file(&p)).await?;
        Ok(FileSink::new(file, path, leader.lane, Some(leader.shared.clone())))
    }

    /// Where the bytes go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The buffer a muxer appends to (muxers that pass frame payloads on as they are
    /// take the sink itself, as a `MuxOut`).
    pub fn buffer(&mut self) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < ROLL_ROOM {
            self.next_block();
        }
        &mut self.buf
    }

    /// Marks the end of a frame (or of the file's header): if a write fails part way,
    /// the file is cut back to the last mark that was written whole.
    pub fn mark_boundary(&mut self) {
        let at = self.buffered();
        self.pending.boundaries.push(at);
    }

    /// Bytes written so far, buffered or not.
    pub fn len(&self) -> u64 {
        self.handed_off + self.buffered() as u64
    }

    /// Bytes buffered and not yet handed to the write thread.
    pub fn buffered(&self) -> usize {
        self.pending.len + self.buf.len() - self.run_start
    }

    /// True before anything was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands the buffer to the write thread if it is large or old enough. Returns
    /// whether it did.
    pub async fn maybe_flush(&mut self) -> std::io::Result<bool> {
        let buffered = self.buffered();
        if buffered >= FLUSH_BYTES || (buffered > 0 && self.last_flush.elapsed() >= FLUSH_EVERY) {
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
        self.close_run();
        if let Some(e) = self.shared.error() {
            self.buf.clear();
            self.run_start = 0;
            std::mem::take(&mut self.pending).recycle();
            return Err(e);
        }
        if self.pending.len == 0 {
            return Ok(());
        }
        let file = self.file.clone().ok_or_else(|| std::io::Error::other("no file"))?;
        // A stored permit makes this loop safe against a wake-up that came first.
        while self.shared.queued_writes.load(Relaxed) >= MAX_QUEUED_WRITES {
            write_threads::wake(self.lane);
            self.shared.done.notified().await;
        }
        if !self.buf.is_empty() {
            self.next_block();
        }
        let pending = std::mem::take(&mut self.pending);
        let n = pending.len as u64;
        self.handed_off += n;
        self.shared.queued_writes.fetch_add(1, Relaxed);
        let shared = self.shared.clone();
        let trails = self.trails.clone();
        write_threads::submit(self.lane, move || {
            let leader_failed = trails.is_some_and(|t| lock(&t.failed).is_some());
            if lock(&shared.failed).is_none() && !leader_failed {
                let good = shared.written.load(Relaxed);
                match pending.write_to(&file) {
                    Ok(()) => {
                        shared.written.fetch_add(n, Relaxed);
                    }
                    Err((done, e)) => {
                        // Keep the whole frames that fit; cut the torn one.
                        let good = good + pending.whole_frames_in(done) as u64;
                        shared.written.store(good, Relaxed);
                        let _ = file.set_len(good);
                        let _ = (&*file).seek(std::io::SeekFrom::Start(good));
                        *lock(&shared.failed) = Some((e.kind(), e.to_string()));
                    }
                }
            } else if leader_failed {
                *lock(&shared.failed) =
                    Some((std::io::ErrorKind::Other, "the file this one trails failed".into()));
            }
            pending.recycle();
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
    /// segment rotation), then makes `extra` (the playlist), so it never lists a
    /// segment whose bytes are not written. Returns the size of the ended file. On
    /// failure the sink stays on the old file, which ends where its last good write ended.
    pub async fn rotate(&mut self, next: PathBuf, extra: Option<SideWrite>) -> std::io::Result<u64> {
        let size = self.len();
        self.flush().await?;
        let shared = self.shared.clone();
        let next_path = next.clone();
        let new_file = write_threads::run(self.lane, move || {
            if let Some((kind, msg)) = lock(&shared.failed).clone() {
                return Err(std::io::Error::new(kind, msg));
            }
            let new_file = File::options().write(true).create_new(true).open(&next_path)?;
            if let Some(w) = extra {
                w.apply()?;
            }
            Ok(new_file)
        })
        .await?;
        *self = FileSink::new(new_file, next, self.lane, None);
        Ok(size)
    }
}

/// A small file written along with a rotation (an HLS recording's working playlist).
#[derive(Debug)]
pub enum SideWrite {
    /// Replace the file with these bytes, atomically (written aside, then renamed).
    Replace(PathBuf, Vec<u8>),
    /// Append these bytes to the file, in one write.
    Append(PathBuf, Vec<u8>),
}

impl SideWrite {
    /// Writes it (blocking: on a write thread or the blocking pool).
    pub fn apply(self) -> std::io::Result<()> {
        match self {
            SideWrite::Replace(path, bytes) => {
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, &bytes)?;
                std::fs::rename(&tmp, &path)
            }
            // One write: a killed process leaves whole lines (the kernel finishes it).
            SideWrite::Append(path, bytes) => match File::options().append(true).open(&path) {
                Ok(mut f) => f.write_all(&bytes),
                // Someone removed it: the finished playlist is built from the state.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            },
        }
    }
}

/// Links `tmp` to a free name in its folder (`name.ext`, `name_1.ext`, …): an existing
/// file is never overwritten, nor is a name in `taken` (the library's, whose bytes may
/// have left the folder for a bucket) used. Returns the final file name. `tmp` stays, a second name
/// of the same file, until the library has the file: the caller removes it then, and
/// until then recovery finds the published name by its inode (`published_name`). The
/// folder is synced (the new name made durable) if `sync`.
pub async fn publish_file(
    tmp: PathBuf,
    name: String,
    ext: &'static str,
    taken: std::collections::HashSet<String>,
    sync: bool,
) -> std::io::Result<String> {
    let job = move || {
        let dir = tmp.parent().ok_or_else(|| std::io::Error::other("no folder"))?.to_path_buf();
        for i in 0..10_000 {
            let candidate = if i == 0 { format!("{name}.{ext}") } else { format!("{name}_{i}.{ext}") };
            if taken.contains(&candidate) {
                continue;
            }
            match std::fs::hard_link(&tmp, dir.join(&candidate)) {
                Ok(()) => {
                    if sync && let Ok(d) = File::open(&dir) {
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

/// The name `publish_file` gave `tmp` (another visible name of the same inode in its
/// folder), if it got that far.
pub fn published_name(tmp: &std::path::Path) -> std::io::Result<Option<String>> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(tmp)?;
    if m.nlink() < 2 {
        return Ok(None);
    }
    let dir = tmp.parent().ok_or_else(|| std::io::Error::other("no folder"))?;
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Ok(em) = e.metadata()
            && em.ino() == m.ino()
            && em.dev() == m.dev()
        {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The folder removed under us once (an upload emptied it): made again, file created.
    #[test]
    fn a_folder_removed_between_making_it_and_opening_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("timeline/cam");
        let p = folder.join("1.m4s");
        let raced = std::cell::Cell::new(false);
        let f = create_file_racing(&p, || {
            if !raced.replace(true) {
                std::fs::remove_dir(&folder).unwrap();
            }
        });
        assert!(f.is_ok(), "{f:?}");
        assert!(p.is_file());
    }

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
        let name = publish_file(tmp.clone(), "n".into(), "flv", Default::default(), true).await.unwrap();
        assert_eq!(name, "n_1.flv");
        assert_eq!(std::fs::read(dir.path().join("a/n.flv")).unwrap(), b"keep");
        assert_eq!(published_name(&tmp).unwrap().as_deref(), Some("n_1.flv"));
        std::fs::remove_file(&tmp).unwrap();
        assert!(FileSink::create(dir.path().join("a/n.flv")).await.is_err(), "create never clobbers");
    }

    #[tokio::test]
    async fn built_bytes_and_shared_payloads_land_in_order_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileSink::create(dir.path().join("f")).await.unwrap();
        let mut want = Vec::new();
        let mut state = 7u32;
        for i in 0..3000usize {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            // Headers, small payloads (copied) and large ones (written from their own
            // memory, some larger than a block), in an irregular mix.
            let head = vec![(i % 256) as u8; 1 + (state as usize >> 8) % 40];
            s.bytes().extend_from_slice(&head);
            want.extend_from_slice(&head);
            let len = match state % 5 {
                0 => 0,
                1 | 2 => (state as usize >> 4) % SHARE_MIN,
                3 => SHARE_MIN + (state as usize >> 4) % 8000,
                _ => block_pool::BLOCK_BYTES + (state as usize >> 4) % 50_000,
            };
            let payload = Bytes::from(vec![(i % 251) as u8 ^ 0x5a; len]);
            s.payload(&payload);
            want.extend_from_slice(&payload);
            assert_eq!(s.len(), want.len() as u64);
            // The last half goes in one hand-off: more slices than one writev takes.
            if i % 37 == 0 && i < 1500 {
                s.maybe_flush().await.unwrap();
            }
        }
        assert_eq!(s.finish(vec![], false).await.unwrap(), want.len() as u64);
        assert!(std::fs::read(dir.path().join("f")).unwrap() == want, "file differs from what was written");
    }

    #[test]
    fn a_torn_write_keeps_the_whole_frames_that_fit() {
        let p = Pending { boundaries: vec![13, 400, 9000], ..Pending::default() };
        assert_eq!(p.whole_frames_in(0), 0);
        assert_eq!(p.whole_frames_in(12), 0);
        assert_eq!(p.whole_frames_in(13), 13);
        assert_eq!(p.whole_frames_in(8999), 400);
        assert_eq!(p.whole_frames_in(20_000), 9000);
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
