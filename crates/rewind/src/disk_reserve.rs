//! A reserve of disk space for the database: `{data_dir}/reserve.bin`, made at start.
//! When the disk fills (a recording's write or the database says so) it is deleted, so
//! the rows that keep what was recorded (library inserts, status callbacks) and the
//! deletes that free space (`DELETE /v1/media`, retention) still have room to commit —
//! they are how an operator gets out of a full disk. It is made again once the free
//! space is back to twice its size.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The reserve file and whether the disk was found full.
#[derive(Debug)]
pub struct DiskReserve {
    path: PathBuf,
    bytes: u64,
    full: AtomicBool,
}

impl DiskReserve {
    /// A reserve of `bytes` in `data_dir` (0: none). Nothing is written yet: `ensure`.
    pub fn new(data_dir: &Path, bytes: u64) -> DiskReserve {
        DiskReserve { path: data_dir.join("reserve.bin"), bytes, full: AtomicBool::new(false) }
    }

    /// True from a disk-full error until the reserve could be made again.
    pub fn disk_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Makes the reserve when it is missing and the disk has twice its size free.
    /// Blocking I/O: call it off the async threads.
    pub fn ensure(&self) -> std::io::Result<()> {
        if self.bytes == 0 {
            // No reserve to make: the disk counts as full until 64 MiB are free again.
            let free = free_bytes(self.path.parent().unwrap_or(Path::new(".")));
            if free.is_some_and(|f| f >= 64 << 20) {
                self.full.store(false, Ordering::Relaxed);
            }
            return Ok(());
        }
        if self.path.metadata().is_ok_and(|m| m.len() >= self.bytes) {
            return Ok(());
        }
        if free_bytes(self.path.parent().unwrap_or(Path::new("."))).is_some_and(|f| f < 2 * self.bytes) {
            return Ok(());
        }
        let f = std::fs::File::create(&self.path)?;
        // SAFETY: fallocate on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, self.bytes as libc::off_t) };
        if rc != 0 {
            drop(f);
            let _ = std::fs::remove_file(&self.path);
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        f.sync_all()?;
        if self.full.swap(false, Ordering::Relaxed) {
            tracing::info!(reserve = %self.path.display(), bytes = self.bytes, "disk space is back: the reserve is made again");
        }
        Ok(())
    }

    /// Deletes the reserve after a disk-full error; true the first time.
    pub fn release(&self) -> bool {
        if self.full.swap(true, Ordering::Relaxed) {
            return false;
        }
        let freed = std::fs::remove_file(&self.path).is_ok();
        tracing::error!(
            reserve = %self.path.display(),
            freed = if freed { self.bytes } else { 0 },
            "the disk is full: new recordings fail until space is freed (DELETE /v1/media, retention, a disk budget); the reserve is released so the library keeps what was recorded and deletes still work"
        );
        true
    }

    /// Runs `op`; when it fails because the disk is full, releases the reserve and runs it
    /// once more — how deletes (which need journal room too) get an operator out.
    pub async fn with_room<T, E, F, Fut>(&self, mut op: F) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        match op().await {
            Err(e) if is_disk_full(&e) => {
                self.release();
                op().await
            }
            r => r,
        }
    }

    /// Releases the reserve when `e` says the disk (or the database on it) is full.
    pub fn on_error(&self, e: &dyn std::fmt::Display) {
        if is_disk_full(e) {
            self.release();
        }
    }
}

/// True for the errors of a full disk: the OS's ENOSPC and SQLite's SQLITE_FULL.
pub fn is_disk_full(e: &dyn std::fmt::Display) -> bool {
    let text = format!("{e:#}");
    text.contains("No space left on device") || text.contains("database or disk is full")
}

/// Free bytes (for us: not the root-only blocks) on the file system holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    statvfs(path).map(|st| st.f_bavail * st.f_frsize)
}

/// Size in bytes of the file system holding `path`.
pub fn volume_size(path: &Path) -> Option<u64> {
    statvfs(path).map(|st| st.f_blocks * st.f_frsize)
}

fn statvfs(path: &Path) -> Option<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a NUL-terminated path and a zeroed statvfs for the call to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then_some(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_made_released_once_and_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let r = DiskReserve::new(dir.path(), 1 << 20);
        r.ensure().unwrap();
        assert_eq!(std::fs::metadata(dir.path().join("reserve.bin")).unwrap().len(), 1 << 20);
        r.on_error(&"error returned from database: (code: 13) database or disk is full");
        assert!(r.disk_full() && !dir.path().join("reserve.bin").exists());
        assert!(!r.release(), "released once");
        r.on_error(&"some other error");
        r.ensure().unwrap();
        assert!(!r.disk_full() && dir.path().join("reserve.bin").exists());
        assert!(is_disk_full(&std::io::Error::from_raw_os_error(libc::ENOSPC)));
    }
}
