//! Start-up repair of chunks a crash left unsealed: each is re-indexed from its own
//! bytes (every fragment carries its UTC in `prft` and its durations in `trun`), cut
//! after its last complete fragment, and sealed; an empty one is removed. Afterwards
//! the index and the chunk files agree.

use crate::server::Services;
use crate::timeline::chunk_table::FragmentRef;
use crate::timeline::index::{self, Chunk};
use rewind_media::mux::cmaf;
use rewind_media::time::TICKS_PER_SECOND;
use rewind_media::{Duration90k, Time90k};
use std::path::PathBuf;

/// Repairs every unsealed chunk. Returns how many were sealed.
pub async fn run(svc: &Services) -> anyhow::Result<usize> {
    let mut sealed = 0;
    for c in index::unsealed_chunks(&svc.db, &svc.node.name).await? {
        match repair(svc, c.clone()).await {
            Ok(true) => sealed += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(stream = %c.stream_id, chunk = c.start.0, error = %e, "could not repair a timeline chunk; it stays unsealed and unplayable");
            }
        }
    }
    Ok(sealed)
}

/// An unsealed chunk is always local: only sealed ones are uploaded.
fn chunk_path(svc: &Services, c: &Chunk) -> PathBuf {
    svc.storage.local_path(&crate::storage::keys::chunk(&c.stream_id, c.start))
}

async fn repair(svc: &Services, mut c: Chunk) -> anyhow::Result<bool> {
    let path = chunk_path(svc, &c);
    let init =
        index::get_init(&svc.db, &c.stream_id, c.init_id, index::InitPart::All).await?.unwrap_or_default();
    let scales = cmaf::timescales(&init);
    let p = path.clone();
    let scanned = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<cmaf::ScannedFragment>> {
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let found = cmaf::scan(&bytes);
        let good = found.last().map_or(0, |f| f.offset + f.size);
        if good < bytes.len() as u64 {
            let f = std::fs::OpenOptions::new().write(true).open(&p)?;
            f.set_len(good)?;
            f.sync_all()?;
        }
        Ok(found)
    })
    .await??;
    if scanned.is_empty() {
        let _ = tokio::fs::remove_file(&path).await;
        index::delete_chunk(&svc.db, &c.stream_id, c.start).await?;
        tracing::info!(stream = %c.stream_id, chunk = c.start.0, "removed an empty timeline chunk left by a crash");
        return Ok(false);
    }
    c.fragments = scanned
        .iter()
        .map(|f| {
            let scale = scales.iter().find(|(id, _)| *id == f.track_id).map_or(90_000, |s| s.1.max(1)) as u64;
            FragmentRef {
                start: f.utc,
                duration: Duration90k((f.duration * TICKS_PER_SECOND as u64 / scale) as i64),
                offset: f.offset,
                size: f.size as u32,
                independent: f.independent,
                video_len: f.video_len as u32,
            }
        })
        .collect();
    // NTP rounds by a tick: the chunk's key is its first fragment's exact start, and
    // fragments of a run tile it exactly, as the recorder wrote them.
    c.fragments[0].start = c.start;
    for i in 1..c.fragments.len() {
        let prev_end = c.fragments[i - 1].end();
        if (c.fragments[i].start - prev_end).0.abs() <= 2 {
            c.fragments[i].start = prev_end;
        }
    }
    let last = *c.fragments.last().expect("not empty");
    c.end = last.end().max(Time90k(c.start.0));
    c.bytes = last.offset + last.size as u64;
    c.sealed = true;
    index::seal_chunk(&svc.db, &c, None).await?;
    tracing::info!(stream = %c.stream_id, chunk = c.start.0, fragments = c.fragments.len(), "repaired a timeline chunk left unsealed by a crash");
    Ok(true)
}
