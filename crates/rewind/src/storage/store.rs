//! The one seam every recorded byte goes through once it is finished: reads fall back
//! from the local folder (the spool, when a bucket is configured) to the bucket, and
//! deletes reach both. Writers keep writing local files with their zero-copy paths;
//! a finished file is handed to [`Storage::finished`], which uploads it when a bucket
//! is configured and does nothing otherwise.

use super::keys::Key;
use super::uploads::Uploads;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where bytes live, as `[storage] url` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The local folder (`None`: the data folder).
    Local(Option<PathBuf>),
    /// An S3-compatible bucket, keys under `prefix` (no leading or trailing `/`).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix ("" for none).
        prefix: String,
    },
}

impl Location {
    /// Parses `""`, `file:///PATH` or `s3://BUCKET[/PREFIX]`.
    pub fn parse(url: &str) -> anyhow::Result<Location> {
        if url.is_empty() {
            return Ok(Location::Local(None));
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                anyhow::bail!(
                    "storage.url: file:// needs an absolute path (file:///srv/rewind), not {url:?}"
                );
            }
            return Ok(Location::Local(Some(PathBuf::from(path))));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_matches('/');
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            if !bucket_ok {
                anyhow::bail!("storage.url: {bucket:?} is not an S3 bucket name (3 to 63 of a-z 0-9 . -)");
            }
            if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
                anyhow::bail!("storage.url: the prefix {prefix:?} may not hold empty, . or .. parts");
            }
            return Ok(Location::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() });
        }
        anyhow::bail!("storage.url must be empty, file:///PATH or s3://BUCKET[/PREFIX], not {url:?}")
    }
}

/// The bucket side.
pub(super) struct Remote {
    pub(super) store: Arc<AmazonS3>,
    prefix: String,
    presign: Option<Duration>,
    /// Kept connections of whole-file PUTs, when the endpoint is plain HTTP.
    pub(super) plain_http: Option<Arc<super::sendfile_put::Conns>>,
}

impl Remote {
    pub(super) fn path(&self, key: &Key) -> object_store::path::Path {
        if self.prefix.is_empty() {
            object_store::path::Path::from(key.as_str())
        } else {
            object_store::path::Path::from(format!("{}/{}", self.prefix, key.as_str()))
        }
    }
}

/// Bytes to serve: a stream of pieces, and how many in all.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// The storage of one server.
pub struct Storage {
    root: PathBuf,
    remote: Option<Remote>,
    /// The upload queue (empty and idle without a bucket).
    pub uploads: Uploads,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("root", &self.root).field("remote", &self.remote.is_some()).finish()
    }
}

fn to_io(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        e => io::Error::other(e),
    }
}

impl Storage {
    /// Storage as configured: `data_dir` is the local root unless `url` or `spool_dir` say otherwise.
    pub fn open(data_dir: &Path, cfg: &crate::config::StorageConfig) -> anyhow::Result<Storage> {
        let (root, remote) = match Location::parse(&cfg.url)? {
            Location::Local(p) => (p.unwrap_or_else(|| data_dir.to_path_buf()), None),
            Location::S3 { bucket, prefix } => {
                let root = if cfg.spool_dir.is_empty() {
                    data_dir.to_path_buf()
                } else {
                    cfg.spool_dir.clone().into()
                };
                let (store, plain_http) = super::s3::client(&bucket, cfg)?;
                let presign = cfg.presign.then(|| Duration::from_secs(cfg.presign_secs));
                let plain_http = plain_http.then(Default::default);
                (root, Some(Remote { store: Arc::new(store), prefix, presign, plain_http }))
            }
        };
        Ok(Storage { root, remote, uploads: Uploads::new(cfg.spool_max_bytes, cfg.test_part_bytes) })
    }

    /// Where `key` is (or would be) in the local folder.
    pub fn local_path(&self, key: &Key) -> PathBuf {
        self.root.join(key.as_str())
    }

    /// The local root (the spool when a bucket is configured).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether finished bytes go to a bucket.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Whether a finished file is synced to disk as it is closed. In the local folder it
    /// is the copy kept, so yes. A spool file is on its way to the bucket within seconds:
    /// it is synced only if it waits there (`uploads::SYNC_AFTER`), so the bytes of
    /// prompt uploads never go to the disk at all. Syncing is for power loss only: a
    /// killed process loses nothing the kernel already has.
    pub fn syncs_on_close(&self) -> bool {
        self.remote.is_none()
    }

    pub(super) fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// A finished file (or HLS segment folder's files) is final: upload it when a bucket
    /// is configured. `key` names a file or, for an HLS recording, its playlist.
    pub async fn finished(&self, keys: &[Key]) {
        if self.remote.is_none() {
            return;
        }
        for key in keys {
            let path = self.local_path(key);
            match tokio::fs::metadata(&path).await {
                Ok(m) if m.is_dir() => {
                    for (k, len) in super::spool::files_under(&self.root, &path).await {
                        self.uploads.push(k, len);
                    }
                }
                Ok(m) => self.uploads.push(key.clone(), m.len()),
                Err(e) => tracing::warn!(%key, error = %e, "a finished file to upload is missing"),
            }
        }
    }

    /// Bytes `[from, to)` of an object: from the local folder when the file is there,
    /// else from the bucket (one ranged GET).
    pub async fn read_range(&self, key: &Key, from: u64, to: u64) -> io::Result<Bytes> {
        self.local_else_remote(key, from, to, move |f| {
            let mut buf = vec![0u8; (to - from) as usize];
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, from)?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    /// Bytes `[from, to)` of an object that never changes: sliced from a mapping when
    /// local (served from the page cache in one copy), else one ranged GET.
    pub async fn read_sealed_range(&self, key: &Key, from: u64, to: u64) -> io::Result<Bytes> {
        self.local_else_remote(key, from, to, move |f| {
            // SAFETY: only finished files come here, and a finished file is never written
            // or truncated again (it is only unlinked, which leaves a mapping valid).
            let map = unsafe { memmap2::Mmap::map(&f)? };
            if to > map.len() as u64 || from > to {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "past the end of the file"));
            }
            Ok(Bytes::from_owner(map).slice(from as usize..to as usize))
        })
        .await
    }

    /// `read` on the local file (off the async threads); when there is none and a bucket
    /// is configured, bytes `[from, to)` of the object instead.
    async fn local_else_remote(
        &self,
        key: &Key,
        from: u64,
        to: u64,
        read: impl FnOnce(std::fs::File) -> io::Result<Bytes> + Send + 'static,
    ) -> io::Result<Bytes> {
        let path = self.local_path(key);
        let local = tokio::task::spawn_blocking(move || read(std::fs::File::open(&path)?))
            .await
            .map_err(io::Error::other)?;
        match (local, &self.remote) {
            (Err(e), Some(_)) if e.kind() == io::ErrorKind::NotFound => {
                self.remote_range(key, from, to).await
            }
            (res, _) => res,
        }
    }

    async fn remote_range(&self, key: &Key, from: u64, to: u64) -> io::Result<Bytes> {
        let r = self.remote.as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no bucket"))?;
        let got = r.store.get_range(&r.path(key), from..to).await.map_err(to_io)?;
        if got.len() as u64 != to - from {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{key}: short object")));
        }
        Ok(got)
    }

    /// Whether the file is in the local folder now (then it is served from there).
    pub async fn is_local(&self, key: &Key) -> bool {
        tokio::fs::metadata(self.local_path(key)).await.is_ok()
    }

    /// The size of an object kept in the bucket.
    pub async fn remote_size(&self, key: &Key) -> io::Result<u64> {
        let r = self.remote.as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no bucket"))?;
        Ok(r.store.head(&r.path(key)).await.map_err(to_io)?.size)
    }

    /// Bytes `[from, to]` (inclusive) of an object in the bucket, as a stream: nothing
    /// is buffered whole, whatever the object's size.
    pub async fn remote_stream(&self, key: &Key, from: u64, to: u64) -> io::Result<ByteStream> {
        let r = self.remote.as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no bucket"))?;
        let opts = GetOptions { range: Some(GetRange::Bounded(from..to + 1)), ..Default::default() };
        let got = r.store.get_opts(&r.path(key), opts).await.map_err(to_io)?;
        Ok(got.into_stream().map(|r| r.map_err(to_io)).boxed())
    }

    /// A short-lived presigned GET URL for an object in the bucket, when `presign` is on
    /// and the object is not (or no longer) only local.
    pub async fn presigned(&self, key: &Key) -> Option<io::Result<String>> {
        let r = self.remote.as_ref()?;
        let ttl = r.presign?;
        if self.is_local(key).await {
            return None;
        }
        use object_store::signer::Signer;
        Some(
            r.store
                .signed_url(axum::http::Method::GET, &r.path(key), ttl)
                .await
                .map(|u| u.to_string())
                .map_err(to_io),
        )
    }

    /// Deletes an object everywhere it is: the local file, a queued or running upload
    /// (waited for), and the bucket's copy. A missing object is not an error.
    pub async fn remove(&self, key: &Key) -> io::Result<()> {
        self.uploads.cancel(key).await;
        match tokio::fs::remove_file(self.local_path(key)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        if let Some(r) = &self.remote {
            match r.store.delete(&r.path(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(to_io(e)),
            }
        }
        Ok(())
    }

    /// In the bucket: every object under `prefix` (all pages), with when it was written
    /// (Unix seconds).
    pub async fn list_remote(&self, prefix: &Key) -> io::Result<Vec<(Key, i64)>> {
        let Some(r) = &self.remote else { return Ok(Vec::new()) };
        let strip = if r.prefix.is_empty() { String::new() } else { format!("{}/", r.prefix) };
        let mut listed = r.store.list(Some(&r.path(prefix)));
        let mut out = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(to_io)?;
            if let Some(key) = meta.location.as_ref().strip_prefix(&strip).and_then(Key::parse) {
                out.push((key, meta.last_modified.timestamp()));
            }
        }
        Ok(out)
    }

    /// Whether the bucket has the object now.
    pub async fn remote_exists(&self, key: &Key) -> io::Result<bool> {
        match self.remote_size(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// In the bucket: copies an object to another key (server side: no bytes pass here).
    pub async fn copy_remote(&self, from: &Key, to: &Key) -> io::Result<()> {
        let r = self.remote.as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no bucket"))?;
        r.store.copy(&r.path(from), &r.path(to)).await.map_err(to_io)
    }

    /// In the bucket: deletes the objects among the first `first` under `prefix` (in key
    /// order) that `old` says to, and returns how many. Retention removes what a crash
    /// left behind this way: its leftovers are the oldest keys, so one page finds them.
    pub async fn remove_stale(
        &self,
        prefix: &Key,
        first: usize,
        old: impl Fn(&Key) -> bool,
    ) -> io::Result<u64> {
        let Some(r) = &self.remote else { return Ok(0) };
        let root = r.path(prefix);
        let strip = if r.prefix.is_empty() { String::new() } else { format!("{}/", r.prefix) };
        let listed: Vec<_> = r.store.list(Some(&root)).take(first).collect().await;
        let mut n = 0;
        for meta in listed {
            let meta = meta.map_err(to_io)?;
            let Some(key) = meta.location.as_ref().strip_prefix(&strip).and_then(Key::parse) else {
                continue;
            };
            if old(&key) {
                match r.store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => n += 1,
                    Err(e) => return Err(to_io(e)),
                }
            }
        }
        Ok(n)
    }

    /// Deletes a folder of objects (an HLS recording's segments) everywhere.
    pub async fn remove_folder(&self, key: &Key) -> io::Result<()> {
        let local = self.local_path(key);
        if let Some(r) = &self.remote {
            for (k, _) in super::spool::files_under(&self.root, &local).await {
                self.uploads.cancel(&k).await;
            }
            let prefix = r.path(key);
            let listed: Vec<_> = r.store.list(Some(&prefix)).collect().await;
            for meta in listed {
                let meta = meta.map_err(to_io)?;
                match r.store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(to_io(e)),
                }
            }
        }
        match tokio::fs::remove_dir_all(&local).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
