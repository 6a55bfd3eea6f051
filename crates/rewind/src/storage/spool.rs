//! The local files behind keys: walking the spool for what is final and not uploaded.

use super::keys::Key;
use std::path::{Path, PathBuf};

/// Suffix of the file that remembers a multipart upload in progress (its upload id), so
/// that after a crash the upload is aborted instead of left open in the bucket.
pub const MULTIPART_MARK: &str = ".multipart-upload";

/// Every file under `dir` (inside `root`) whose path is a key, with its size. Hidden
/// files and folders (recordings being written, upload marks) are left out.
pub async fn files_under(root: &Path, dir: &Path) -> Vec<(Key, u64)> {
    let (root, dir) = (root.to_path_buf(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        walk(&root, &dir, &mut out, &mut Vec::new());
        out.sort();
        out
    })
    .await
    .unwrap_or_default()
}

/// Upload marks left under `dir` by a crash: (the key being uploaded, the mark's path).
pub async fn multipart_marks(root: &Path, dir: &Path) -> Vec<(Key, PathBuf)> {
    let (root, dir) = (root.to_path_buf(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let mut marks = Vec::new();
        walk(&root, &dir, &mut Vec::new(), &mut marks);
        marks
    })
    .await
    .unwrap_or_default()
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(Key, u64)>, marks: &mut Vec<(Key, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if let Some(of) = name.strip_suffix(MULTIPART_MARK).filter(|_| name.starts_with('.')) {
            let target = path.with_file_name(&of[1..]);
            if let Some(k) = key_of(root, &target) {
                marks.push((k, path));
            }
            continue;
        }
        if name.starts_with('.') {
            continue;
        }
        if ft.is_dir() {
            walk(root, &path, out, marks);
        } else if ft.is_file()
            && let (Some(k), Ok(m)) = (key_of(root, &path), e.metadata())
        {
            out.push((k, m.len()));
        }
    }
}

fn key_of(root: &Path, path: &Path) -> Option<Key> {
    Key::parse(path.strip_prefix(root).ok()?.to_str()?)
}

/// The mark of a multipart upload of the file at `path`.
pub fn mark_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    path.with_file_name(format!(".{name}{MULTIPART_MARK}"))
}
