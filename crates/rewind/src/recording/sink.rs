//! The file sink around a pure muxer: buffers bytes in memory and writes them on a
//! blocking thread, so no file I/O ever runs on an async worker.

use bytes::{Bytes, BytesMut};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes buffered before a write is forced: small enough that a recorder holds little
/// memory (the buffer is reused, so this is most of a recorder's memory), large enough
/// that writes (each a hand-off to a blocking thread) stay few: ~3 a second at 2 Mbps.
const FLUSH_BYTES: usize = 96 * 1024;
/// Longest time bytes stay buffered: bounds what a crash can lose.
const FLUSH_EVERY: Duration = Duration::from_millis(1000);

/// A file being written.
#[derive(Debug)]
pub struct FileSink {
    file: Option<File>,
    path: PathBuf,
    buf: BytesMut,
    on_disk: u64,
    last_flush: Instant,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(std::io::Error::other)?
}

impl FileSink {
    /// Creates `path` (and its folder); fails if it exists.
    pub async fn create(path: PathBuf) -> std::io::Result<FileSink> {
        let p = path.clone();
        let file = blocking(move || {
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir)?;
            }
            File::options().write(true).create_new(true).open(&p)
        })
        .await?;
        Ok(FileSink {
            file: Some(file),
            path,
            buf: BytesMut::with_capacity(64 * 1024),
            on_disk: 0,
            last_flush: Instant::now(),
        })
    }

    /// A sink with no file, to stand in while the real one is moved out (its writes fail).
    pub fn placeholder() -> FileSink {
        FileSink {
            file: None,
            path: PathBuf::new(),
            buf: BytesMut::new(),
            on_disk: 0,
            last_flush: Instant::now(),
        }
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
        self.on_disk + self.buf.len() as u64
    }

    /// Bytes handed to the operating system so far.
    pub fn on_disk(&self) -> u64 {
        self.on_disk
    }

    /// True before anything was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the buffer if it is large or old enough.
    pub async fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= FLUSH_BYTES || (!self.buf.is_empty() && self.last_flush.elapsed() >= FLUSH_EVERY)
        {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes the buffer. On failure (disk full, I/O error) the partial write is cut
    /// off again, so the file still ends where the last good flush ended: what was
    /// written stays valid. The unwritten bytes are dropped.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.last_flush = Instant::now();
        if self.buf.is_empty() {
            return Ok(());
        }
        // The buffer itself travels to the blocking thread and back, so one allocation
        // serves the whole recording (no per-write allocation, no growth).
        let mut buf = std::mem::take(&mut self.buf);
        let mut file = self.file.take().ok_or_else(|| std::io::Error::other("file already failed"))?;
        let n = buf.len() as u64;
        let good = self.on_disk;
        let (file, buf_back, result) = blocking(move || {
            let r = file.write_all(&buf);
            if r.is_err() {
                use std::io::Seek;
                let _ = file.set_len(good);
                let _ = file.seek(std::io::SeekFrom::Start(good));
            }
            buf.clear();
            Ok((file, buf, r))
        })
        .await?;
        self.file = Some(file);
        self.buf = buf_back;
        result?;
        self.on_disk += n;
        Ok(())
    }

    /// Flushes, writes `patches` (offset, bytes) in place, syncs (if `sync`) and closes.
    /// Returns the size. Syncing is for power loss: a killed process loses nothing the
    /// kernel already has.
    pub async fn finish(mut self, patches: Vec<(u64, Bytes)>, sync: bool) -> std::io::Result<u64> {
        self.flush().await?;
        let file = self.file.take().ok_or_else(|| std::io::Error::other("file already failed"))?;
        blocking(move || {
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
}

impl FileSink {
    /// Ends this file and starts `next` in one trip to the blocking pool (HLS segment
    /// rotation), then atomically replaces `extra.0` with `extra.1` (the playlist), so
    /// it never lists a segment whose bytes are not written. Returns the new sink and
    /// the size of the ended file.
    pub async fn rotate(
        mut self,
        next: PathBuf,
        extra: Option<(PathBuf, Vec<u8>)>,
    ) -> std::io::Result<(FileSink, u64)> {
        let size = self.len();
        let mut buf = std::mem::take(&mut self.buf);
        let mut file = self.file.take().ok_or_else(|| std::io::Error::other("file already failed"))?;
        let good = self.on_disk;
        let next_path = next.clone();
        let (new_file, buf) = blocking(move || {
            if let Err(e) = file.write_all(&buf) {
                let _ = file.set_len(good);
                return Err(e);
            }
            buf.clear();
            let new_file = File::options().write(true).create_new(true).open(&next_path)?;
            if let Some((path, bytes)) = extra {
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, &bytes)?;
                std::fs::rename(&tmp, &path)?;
            }
            Ok((new_file, buf))
        })
        .await?;
        Ok((FileSink { file: Some(new_file), path: next, buf, on_disk: 0, last_flush: Instant::now() }, size))
    }
}

/// Links `tmp` to a free name in its folder (`name.ext`, `name_1.ext`, …) and removes
/// `tmp`: an existing file is never overwritten. Returns the final file name.
pub async fn publish_file(tmp: PathBuf, name: String, ext: &'static str) -> std::io::Result<String> {
    blocking(move || {
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
    })
    .await
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
}
