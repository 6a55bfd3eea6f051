//! Auto-splice (R-S1, B-S3, B-S4): with `hls_special.flow_continue_duration` = N, an HLS
//! recording whose push drops is *parked* instead of finished. A re-push of the same
//! stream within N seconds resumes it — the next segment starts with a discontinuity —
//! and only N seconds without a push finish it: one file, one library record listing
//! every session, one record callback.
//!
//! A parked recording lives in memory (`Splices`, keyed by stream) and in its
//! `recording_file` row (`parked_until_unix`, and `splice`: its closed segments and
//! sessions), so a restart inside the window parks it again (`recovery`).

use crate::callbacks::RecordStatus;
use crate::recording::hls_file::{HlsSegment, HlsState};
use crate::recording::recorder::{self, Open, Plan};
use crate::recording::template::Format;
use crate::registry::MediaInfo;
use crate::server::Services;
use crate::stream_id::StreamId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the `splice` column keeps of a spliced recording.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SpliceState {
    /// Closed segments of the earlier pushes (later ones are found on disk).
    pub segments: Vec<HlsSegment>,
    /// Sessions so far, in order.
    pub session_ids: Vec<String>,
    /// UTC of the first frame of the push being recorded, when one is.
    #[serde(default)]
    pub resumed_at_utc_90k: Option<i64>,
    /// Tracks of the latest push.
    #[serde(default)]
    pub info: MediaInfo,
    /// The segment after `segments` continues the push they end (the row was written
    /// at a segment's close, not at a resume): no discontinuity before it.
    #[serde(default)]
    pub open_continues: bool,
}

/// An HLS recording waiting for a re-push.
pub struct Parked {
    /// The plan of its latest push.
    pub plan: Plan,
    /// Its file id.
    pub file_id: String,
    /// Its segments, all closed.
    pub hls: HlsState,
    /// Tracks of its latest push.
    pub info: MediaInfo,
    /// When it is finished if no push comes (Unix seconds).
    pub until_unix: i64,
    /// Which park this is (set by `keep`): its timer finishes only this one.
    pub park: u64,
}

/// Parked recordings by stream.
#[derive(Default)]
pub struct Splices {
    // std Mutexes: held only to move an entry in or out, never across an await.
    parked: Mutex<HashMap<StreamId, Parked>>,
    /// Splice-capable recorders running per stream: a re-push's recorder waits for the
    /// previous push's recorder to park, when that one has not yet seen its push end.
    running: Mutex<HashMap<StreamId, usize>>,
}

/// Counts a running splice-capable recorder until dropped.
pub struct Running<'a> {
    splices: &'a Splices,
    stream: StreamId,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut m = self.splices.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.stream) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.stream);
            }
        }
    }
}

/// Longest a re-push's recorder waits for the previous push's recorder to park (it
/// wakes at most every half second, then writes its last bytes).
const PARK_WAIT: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Splices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Splices({})", self.lock().len())
    }
}

impl Splices {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, Parked>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the recording parked for `id`, to resume it.
    pub fn take(&self, id: &StreamId) -> Option<Parked> {
        self.lock().remove(id)
    }

    /// Marks a splice-capable recorder of `id` as running (until the guard drops).
    pub fn enter(&self, id: &StreamId) -> Running<'_> {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()).entry(id.clone()).or_default() += 1;
        Running { splices: self, stream: id.clone() }
    }

    /// Takes the recording parked for `id`; if another splice-capable recorder of `id`
    /// (the previous push's) still runs, waits for it to park first.
    pub async fn take_when_parked(&self, id: &StreamId) -> Option<Parked> {
        let deadline = tokio::time::Instant::now() + PARK_WAIT;
        loop {
            if let Some(p) = self.take(id) {
                return Some(p);
            }
            let others =
                self.running.lock().unwrap_or_else(|p| p.into_inner()).get(id).copied().unwrap_or(0) > 1;
            if !others || tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Takes the entry of `id` if it is still the one parked as `park` (a recording
    /// resumed and parked again is a new park, with its own timer).
    fn take_if(&self, id: &StreamId, park: u64) -> Option<Parked> {
        let mut m = self.lock();
        if m.get(id).is_some_and(|p| p.park == park) { m.remove(id) } else { None }
    }
}

/// Whether a recorder's file waits for a re-push when its push ends (rule recordings
/// only: a task's file ends with its push, as the cloud service does).
pub fn wanted(plan: &Plan) -> bool {
    plan.format == Format::Hls && plan.flow_continue_secs > 0 && plan.source == "rule"
}

/// Whether a recorder ships its closed segments to the bucket as it goes (and keeps its
/// row up to date), so that another node can continue the recording if this one is
/// lost: auto-splice recordings kept in a bucket.
pub fn ships(svc: &Services, plan: &Plan) -> bool {
    wanted(plan) && svc.storage.is_remote()
}

/// The key of a segment in an HLS recording's working folder.
fn work_key(svc: &Services, h: &HlsState, segment: &str) -> Option<crate::storage::Key> {
    let rel = h.dir.strip_prefix(svc.media_root()).ok()?.to_str()?;
    Some(crate::storage::keys::hls_work_segment(rel, segment))
}

/// A segment closed: its bytes go to the bucket (queued; recording never waits) and the
/// row lists it, so another node taking the stream over can continue the file.
pub async fn ship(svc: &Services, plan: &Plan, file_id: &str, h: &HlsState, closed: &str, info: MediaInfo) {
    if let Some(k) = work_key(svc, h, closed) {
        svc.storage.finished(&[k]).await;
    }
    let open_utc = h.segments.last().map(|s| s.utc_90k);
    if let Err(e) = write_row(svc, file_id, plan, None, h, open_utc, info, true).await {
        tracing::warn!(%file_id, error = %e, "could not note a shipped HLS segment; another node continuing this file would miss it");
    }
}

/// Ships every segment of `h` still in its local working folder (after a restart).
pub async fn ship_local(svc: &Services, h: &HlsState) {
    let mut keys = Vec::new();
    for seg in &h.segments {
        if tokio::fs::metadata(h.dir.join(&seg.file)).await.is_ok()
            && let Some(k) = work_key(svc, h, &seg.file)
        {
            keys.push(k);
        }
    }
    svc.storage.finished(&keys).await;
}

/// Continues, on this node, an auto-splice recording another node was writing when it
/// lost the stream (it died, or the push moved here): the newest recording of `id` whose
/// splice window is still open, taken over in its row (one node wins). Its closed
/// segments are in the bucket; the next ones are written here.
pub async fn adopt(svc: &Services, id: &StreamId) -> Option<Parked> {
    if !svc.storage.is_remote() {
        return None;
    }
    let rows = match crate::recording::journal::others_spliced(&svc.db, &svc.node.name).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(stream = %id, error = %e, "could not look for a recording to continue; a new file starts");
            return None;
        }
    };
    let now = svc.clock.now_unix();
    for (e, node) in rows.into_iter().rev() {
        let Ok(plan) = serde_json::from_str::<Plan>(&e.plan) else { continue };
        let same = plan.domain == id.domain && plan.app == id.app && plan.stream == id.stream;
        let Some(state) = e.splice.as_deref().and_then(|j| serde_json::from_str::<SpliceState>(j).ok())
        else {
            continue;
        };
        let Some(last) = state.segments.last() else { continue };
        let ended = (last.utc_90k + last.duration_90k.unwrap_or(0)) / 90_000;
        let until = e.parked_until_unix.unwrap_or(ended + plan.flow_continue_secs as i64);
        if !same || !wanted(&plan) || until < now {
            continue;
        }
        match crate::recording::journal::take_over(&svc.db, &e.file_id, &node, &svc.node.name).await {
            Ok(true) => {}
            _ => continue,
        }
        let dir = svc.media_root().join(&e.tmp_path);
        if let Err(err) = tokio::fs::create_dir_all(&dir).await {
            tracing::error!(file_id = %e.file_id, error = %err, "could not make the working folder of a recording taken over");
            continue;
        }
        tracing::info!(stream = %id, file_id = %e.file_id, from = %node, segments = state.segments.len(), "continuing an HLS recording another node was writing");
        let hls = HlsState::new(
            rewind_media::mux::ts::TsMuxer::new(None, false),
            dir,
            state.segments,
            state.session_ids,
        );
        return Some(Parked { plan, file_id: e.file_id, hls, info: state.info, until_unix: until, park: 0 });
    }
    None
}

/// Before a recording that shipped segments enters the library: copies each segment
/// that is not in the published local folder from its working key to its published key
/// in the bucket (`rel_path`: the playlist's). Returns the working keys, to delete once
/// the library has the file.
pub async fn publish_shipped(
    svc: &Services,
    h: &HlsState,
    rel_path: &str,
) -> anyhow::Result<Vec<crate::storage::Key>> {
    let mut work = Vec::new();
    for seg in &h.segments {
        let Some(from) = work_key(svc, h, &seg.file) else { continue };
        work.push(from.clone());
        let to = crate::storage::keys::hls_segment(rel_path, &seg.file);
        if svc.storage.is_local(&to).await {
            continue; // uploaded with the folder
        }
        let mut tries = 0;
        loop {
            match svc.storage.copy_remote(&from, &to).await {
                Ok(()) => break,
                // Copied before a crash, or it was never shipped but published whole.
                Err(_) if svc.storage.remote_size(&to).await.is_ok() => break,
                // Shipped a moment ago: its upload may still be waiting in the queue.
                Err(_) if tries < 10 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => anyhow::bail!("segment {} is not in the bucket: {e}", seg.file),
            }
        }
    }
    Ok(work)
}

/// Deletes shipped segments' working copies (the library has the published ones), in
/// the background.
pub fn forget_shipped(svc: &Services, work: Vec<crate::storage::Key>) {
    if work.is_empty() {
        return;
    }
    let storage = svc.storage.clone();
    svc.tasks.spawn(async move {
        for k in work {
            if let Err(e) = storage.remove(&k).await {
                tracing::warn!(key = %k, error = %e, "could not delete a shipped segment's working copy; it stays in the bucket");
            }
        }
    });
}

/// Whether this node still has the recording (another may have taken it over).
pub async fn still_mine(svc: &Services, file_id: &str) -> bool {
    match crate::recording::journal::owner(&svc.db, file_id).await {
        Ok(Some(n)) => n == svc.node.name || n.is_empty(),
        Ok(None) => false,
        // Unknown: keep going; the row decides at the next step.
        Err(_) => true,
    }
}

/// The push ended: closes the open segment and parks the recording for
/// `flow_continue_secs`.
pub(super) async fn park(svc: &Arc<Services>, plan: &Plan, stream: StreamId, info: MediaInfo, o: Open) {
    let file_id = o.file_id.clone();
    let result: anyhow::Result<()> = async {
        let Some(mut hls) = recorder::close(svc, plan, o, info.clone()).await? else {
            anyhow::bail!("only HLS recordings splice");
        };
        if ships(svc, plan)
            && let Some(k) = hls.segments.last().and_then(|s| work_key(svc, &hls, &s.file))
        {
            svc.storage.finished(&[k]).await;
        }
        // The folder's EVENT playlist now lists every segment: it plays while parked.
        let update = hls.playlist_update();
        tokio::task::spawn_blocking(move || update.apply()).await??;
        let until_unix = svc.clock.now_unix() + plan.flow_continue_secs as i64;
        let parked = Parked { plan: plan.clone(), file_id: file_id.clone(), hls, info, until_unix, park: 0 };
        store(svc, &parked).await?;
        tracing::info!(%stream, %file_id, wait_secs = plan.flow_continue_secs, "push ended: HLS recording parked for a re-push");
        recorder::status(svc, plan, &file_id, RecordStatus::Paused, "");
        keep(svc, stream, parked);
        Ok(())
    }
    .await;
    if let Err(e) = result {
        svc.metrics.recording_failures_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(%file_id, error = %e, "could not park an HLS recording; it is repaired at the next start");
    }
}

/// Writes a parked recording's row: when it ends and what it holds.
pub async fn store(svc: &Services, p: &Parked) -> anyhow::Result<()> {
    write_row(svc, &p.file_id, &p.plan, Some(p.until_unix), &p.hls, None, p.info.clone(), false).await
}

/// Writes what a restart needs of a spliced recording into its `recording_file` row:
/// its plan, when it stops waiting (parked) or none (a push is recording), its closed
/// segments and sessions, and where the push being recorded began (or, when
/// `open_continues`, where its open segment began).
#[allow(clippy::too_many_arguments)]
async fn write_row(
    svc: &Services,
    file_id: &str,
    plan: &Plan,
    parked_until_unix: Option<i64>,
    h: &HlsState,
    resumed_at_utc_90k: Option<i64>,
    info: MediaInfo,
    open_continues: bool,
) -> anyhow::Result<()> {
    let closed: Vec<HlsSegment> = h.segments.iter().filter(|s| s.duration_90k.is_some()).cloned().collect();
    let state = SpliceState {
        segments: closed,
        session_ids: h.session_ids.clone(),
        resumed_at_utc_90k,
        info,
        open_continues,
    };
    let (state, plan) = (serde_json::to_string(&state)?, serde_json::to_string(plan)?);
    let mine = crate::recording::journal::set_splice(
        &svc.db,
        &svc.node.name,
        file_id,
        parked_until_unix,
        &state,
        &plan,
    )
    .await?;
    anyhow::ensure!(mine, "another node took this recording over");
    Ok(())
}

/// Holds a parked recording in memory and finishes it when its time is up, unless a
/// re-push took it first. At shutdown it stays parked (its row says so).
pub fn keep(svc: &Arc<Services>, stream: StreamId, p: Parked) {
    static PARKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let mut p = p;
    p.park = PARKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (file_id, until, park) = (p.file_id.clone(), p.until_unix, p.park);
    let displaced = svc.splices.lock().insert(stream.clone(), p);
    if let Some(old) = displaced {
        // Two recordings parked for one stream (a re-push raced its predecessor's park
        // past `PARK_WAIT`): the older one is finished now rather than lost.
        let svc = svc.clone();
        svc.tasks.clone().spawn(async move { finish(&svc, old).await });
    }
    let svc2 = svc.clone();
    svc.tasks.spawn(async move {
        // Whole-second steps on the injectable clock.
        while svc2.clock.now_unix() < until {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = svc2.shutdown.cancelled() => return,
            }
        }
        if let Some(p) = svc2.splices.take_if(&stream, park) {
            tracing::info!(%stream, %file_id, "no re-push within flow_continue_duration: finishing the HLS recording");
            finish(&svc2, p).await;
        }
    });
}

/// Finishes a parked recording: published, in the library, one record callback.
pub async fn finish(svc: &Arc<Services>, p: Parked) {
    if !still_mine(svc, &p.file_id).await {
        tracing::info!(file_id = %p.file_id, "a parked HLS recording was continued by another node: it finishes there");
        return;
    }
    match recorder::finish_hls(svc, &p.plan, &p.file_id, &p.hls, p.info).await {
        Ok(()) => recorder::status(svc, &p.plan, &p.file_id, RecordStatus::Ended, ""),
        Err(e) => {
            svc.metrics.recording_failures_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(file_id = %p.file_id, error = %e, "could not finish a parked HLS recording; it is repaired at the next start");
        }
    }
}

/// Notes in the row that a push resumed the recording, so a crash now still knows
/// which segments came before it.
pub async fn mark_resumed(
    svc: &Services,
    plan: &Plan,
    file_id: &str,
    h: &HlsState,
    info: MediaInfo,
) -> anyhow::Result<()> {
    write_row(svc, file_id, plan, None, h, h.segments.last().map(|s| s.utc_90k), info, false).await
}
