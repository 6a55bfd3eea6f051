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

/// The push ended: closes the open segment and parks the recording for
/// `flow_continue_secs`.
pub(super) async fn park(svc: &Arc<Services>, plan: &Plan, stream: StreamId, info: MediaInfo, o: Open) {
    let file_id = o.file_id.clone();
    let result: anyhow::Result<()> = async {
        let Some(mut hls) = recorder::close(svc, plan, o, info.clone()).await? else {
            anyhow::bail!("only HLS recordings splice");
        };
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
    write_row(svc, &p.file_id, &p.plan, Some(p.until_unix), &p.hls, None, p.info.clone()).await
}

/// Writes what a restart needs of a spliced recording into its `recording_file` row:
/// its plan, when it stops waiting (parked) or none (a push is recording), its closed
/// segments and sessions, and where the push being recorded began.
async fn write_row(
    svc: &Services,
    file_id: &str,
    plan: &Plan,
    parked_until_unix: Option<i64>,
    h: &HlsState,
    resumed_at_utc_90k: Option<i64>,
    info: MediaInfo,
) -> anyhow::Result<()> {
    let closed: Vec<HlsSegment> = h.segments.iter().filter(|s| s.duration_90k.is_some()).cloned().collect();
    let state =
        SpliceState { segments: closed, session_ids: h.session_ids.clone(), resumed_at_utc_90k, info };
    let (state, plan) = (serde_json::to_string(&state)?, serde_json::to_string(plan)?);
    crate::recording::journal::set_splice(&svc.db, file_id, parked_until_unix, &state, &plan).await?;
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
    write_row(svc, file_id, plan, None, h, h.segments.last().map(|s| s.utc_90k), info).await
}
