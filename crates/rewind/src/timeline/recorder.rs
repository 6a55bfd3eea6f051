//! The timeline recorder: a hub reader that cuts one publish session into CMAF
//! fragments (one per GOP), appends them to chunk files, shows them to playback as soon
//! as they are on disk (`live`), and indexes each chunk when it reaches
//! `segment_length` (one database transaction per chunk, not per fragment).

use crate::hub::{HubEvent, HubReader};
use crate::recording::sink::FileSink;
use crate::registry::LiveStream;
use crate::server::Services;
use crate::storage::keys;
use crate::timeline::chunk_table::FragmentRef;
use crate::timeline::index::{self, Chunk, Inits, Run};
use crate::timeline::live::LiveTail;
use rewind_media::mux::MuxOut;
use rewind_media::mux::cmaf::{self, Fragment, Fragmenter};
use rewind_media::{CodecConfig, Duration90k, Frame, Time90k, Track};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// What a timeline recorder was told at publish start.
#[derive(Clone, Copy, Debug)]
pub struct TimelinePlan {
    /// A chunk seals once it holds this much media.
    pub segment_length: Duration90k,
    /// Seconds of timeline kept (0: forever).
    pub retention_secs: u64,
}

/// A run's wall clock may drift this far from the ingest's before the run is cut (a
/// new run re-anchors it; the gap or overlap stays below this).
const MAX_DRIFT: Duration90k = Duration90k::from_secs(1);
/// Audio waited for before a run starts without it.
const AUDIO_WAIT: Duration90k = Duration90k::from_secs(2);

struct RunState {
    frag: Fragmenter,
    run: Run,
    init_id: i64,
    video: Option<Arc<CodecConfig>>,
    audio: Option<Arc<CodecConfig>>,
}

struct OpenChunk {
    sink: FileSink,
    row: Chunk,
}

struct Recorder {
    svc: Arc<Services>,
    stream_id: String,
    plan: TimelinePlan,
    next_seq: i64,
    next_run_seq: i64,
    /// Where the previous run ended: a new run never starts before it.
    floor: Option<Time90k>,
    run: Option<RunState>,
    chunk: Option<OpenChunk>,
    /// This publish's lease: seals are refused once another node took the stream.
    fence: Option<crate::leases::Fence>,
    /// A seal was refused by the fence: this node must stop writing the stream.
    lease_lost: bool,
}

fn same_codec(a: &Arc<CodecConfig>, b: &Arc<CodecConfig>) -> bool {
    let record = |c: &CodecConfig| match c {
        CodecConfig::Avc(c) => c.record.clone(),
        CodecConfig::Hevc(c) => c.record.clone(),
        CodecConfig::Aac(c) => c.record.clone(),
    };
    Arc::ptr_eq(a, b) || record(a) == record(b)
}

/// Runs until the publish session ends.
pub async fn run(svc: Arc<Services>, live: Arc<LiveStream>, mut reader: HubReader, plan: TimelinePlan) {
    let stream_id = live.id.to_string();
    let (next_seq, next_run_seq) = match index::next_numbers(&svc.db, &stream_id).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(stream = %stream_id, error = %e, "timeline recording not started: the index cannot be read");
            return;
        }
    };
    let floor = index::last_run(&svc.db, &stream_id).await.ok().flatten().map(|r| r.end);
    if let Err(e) = index::set_retention(&svc.db, &stream_id, plan.retention_secs).await {
        tracing::warn!(stream = %stream_id, error = %e, "could not record the timeline's retention; the previous setting stays");
    }
    let mut rec = Recorder {
        svc: svc.clone(),
        stream_id,
        plan,
        next_seq,
        next_run_seq,
        floor,
        run: None,
        chunk: None,
        fence: live.fence().cloned(),
        lease_lost: false,
    };
    svc.metrics.recorders_active.fetch_add(1, Relaxed);
    tracing::info!(stream = %rec.stream_id, "timeline recording started");
    let mut pending: Vec<Frame> = Vec::new();
    let result: std::io::Result<()> = async {
        loop {
            let f = match reader.next().await {
                HubEvent::Closed => break,
                HubEvent::Lagged { missed } => {
                    svc.metrics.hub_reader_lagged_frames_total.fetch_add(missed, Relaxed);
                    tracing::warn!(stream = %rec.stream_id, missed, "timeline recorder fell behind: frames lost, a new run starts at the next key frame");
                    rec.end_run().await?;
                    pending.clear();
                    continue;
                }
                HubEvent::Frame(f) => f,
            };
            if rec.run.as_ref().is_some_and(|r| breaks_run(r, &f)) {
                rec.end_run().await?;
            }
            if rec.run.is_some() {
                rec.push(f).await?;
                continue;
            }
            pending.push(f);
            if let Some((video, audio)) = ready(&mut pending) {
                rec.start_run(video, audio).await?;
                for f in std::mem::take(&mut pending) {
                    rec.push(f).await?;
                }
            }
        }
        rec.end_run().await
    }
    .await;
    if rec.lease_lost {
        // Split brain ended: the other node has the stream; this one lets go of the push.
        tracing::error!(stream = %rec.stream_id, "another node took this stream while it was recorded here (this node was paused past its lease): the push is dropped here, the open chunk stays for this node's next start-up");
        live.drop.cancel();
    } else if let Err(e) = result {
        svc.metrics.recording_failures_total.fetch_add(1, Relaxed);
        tracing::error!(stream = %rec.stream_id, error = %e, "timeline recording failed: it stops for this push; what is on disk stays indexed");
        let _ = rec.seal().await;
    }
    svc.timelines.remove(&rec.stream_id);
    svc.metrics.recorders_active.fetch_sub(1, Relaxed);
}

/// Whether `f` cannot continue run `r`: a codec change, a track that was not there, a
/// time jump on the wire, or a wall clock drifted too far.
fn breaks_run(r: &RunState, f: &Frame) -> bool {
    let codec_changed = match f.track {
        Track::Video => r.video.as_ref().is_none_or(|v| !same_codec(v, &f.codec)),
        Track::Audio => r.audio.as_ref().is_some_and(|a| !same_codec(a, &f.codec)),
    };
    let drift = r.frag.utc_of(f.dts).is_some_and(|u| (u - f.utc).0.abs() > MAX_DRIFT.0);
    codec_changed || f.discontinuity || drift
}

/// The codecs of a run's tracks: (video, audio).
type Codecs = (Option<Arc<CodecConfig>>, Option<Arc<CodecConfig>>);

/// When the frames held can start a run: the codecs of its tracks. Frames before the
/// first video key frame are dropped; audio is waited for up to `AUDIO_WAIT`.
fn ready(pending: &mut Vec<Frame>) -> Option<Codecs> {
    let first_audio = pending.iter().find(|f| f.track == Track::Audio).map(|f| f.dts);
    match pending.iter().position(|f| f.track == Track::Video && f.keyframe) {
        Some(k) => {
            pending.drain(..k);
            let audio = pending.iter().find(|f| f.track == Track::Audio).map(|f| f.codec.clone());
            let span = pending.last().map_or(Duration90k(0), |l| l.dts - pending[0].dts);
            (audio.is_some() || span >= AUDIO_WAIT).then(|| (Some(pending[0].codec.clone()), audio))
        }
        None => {
            // No key frame yet: an audio-only stream once audio has flowed alone a while.
            pending.retain(|f| f.track == Track::Audio);
            let last = pending.last()?.dts;
            (last - first_audio? >= AUDIO_WAIT).then(|| (None, Some(pending[0].codec.clone())))
        }
    }
}

impl Recorder {
    async fn start_run(
        &mut self,
        video: Option<Arc<CodecConfig>>,
        audio: Option<Arc<CodecConfig>>,
    ) -> std::io::Result<()> {
        let (v, a) = (video.as_deref(), audio.as_deref());
        let codecs: Vec<&str> = [v, a].into_iter().flatten().map(|c| c.codec_string()).collect();
        let inits = Inits {
            codecs: codecs.join(","),
            all: cmaf::init_segment(v, a, None).to_vec(),
            video: v.map(|v| cmaf::init_segment(Some(v), None, None).to_vec()),
            audio: a.map(|a| cmaf::init_segment(None, Some(a), None).to_vec()),
        };
        let init_id =
            index::put_init(&self.svc.db, &self.stream_id, &inits).await.map_err(std::io::Error::other)?;
        let seq = self.next_run_seq;
        self.next_run_seq += 1;
        self.run = Some(RunState {
            frag: Fragmenter::new(video.is_some(), audio.as_deref(), self.next_seq as u32),
            // The start is set by the first fragment.
            run: Run { start: Time90k(i64::MIN), kept_from: Time90k(i64::MIN), end: Time90k(i64::MIN), seq },
            init_id,
            video,
            audio,
        });
        Ok(())
    }

    async fn push(&mut self, mut f: Frame) -> std::io::Result<()> {
        let Some(r) = self.run.as_mut() else { return Ok(()) };
        if r.frag.is_empty() && r.run.start.0 == i64::MIN {
            // A run never starts inside the one before (a fast encoder clock can put
            // its frames there): its clock starts at the previous end at the earliest.
            if let Some(floor) = self.floor
                && f.utc < floor
            {
                f.utc = floor;
            }
        }
        if let Some(frag) = r.frag.push(f) {
            self.write_fragment(frag).await?;
        }
        Ok(())
    }

    /// Ends the run: its last fragment is written and its chunk sealed.
    async fn end_run(&mut self) -> std::io::Result<()> {
        let Some(mut r) = self.run.take() else { return Ok(()) };
        let last = r.frag.finish();
        self.run = Some(r);
        if let Some(frag) = last {
            self.write_fragment(frag).await?;
        }
        let r = self.run.take().expect("the run was put back");
        if r.run.start.0 != i64::MIN {
            self.floor = Some(r.run.end);
        }
        self.seal().await?;
        self.publish_tail();
        Ok(())
    }

    async fn write_fragment(&mut self, frag: Fragment) -> std::io::Result<()> {
        let r = self.run.as_mut().expect("fragments come from a run");
        if r.run.start.0 == i64::MIN {
            r.run.start = frag.utc;
            r.run.kept_from = frag.utc;
        }
        if self.chunk.is_none() {
            let row = Chunk {
                stream_id: self.stream_id.clone(),
                start: frag.utc,
                end: frag.utc,
                run_start: r.run.start,
                run_seq: r.run.seq,
                init_id: r.init_id,
                first_seq: self.next_seq,
                bytes: 0,
                sealed: false,
                fragments: Vec::new(),
            };
            index::open_chunk(&self.svc.db, &row, &self.svc.node.name)
                .await
                .map_err(std::io::Error::other)?;
            let path = self.svc.storage.local_path(&keys::chunk(&self.stream_id, row.start));
            let sink = FileSink::create(path).await?;
            self.chunk = Some(OpenChunk { sink, row });
        }
        let c = self.chunk.as_mut().expect("opened above");
        let offset = c.sink.len();
        let size = frag.len() as u32;
        // The frames' payloads are written from their own memory (shared with the hub),
        // not copied into the fragment: the sink copies only the small pieces.
        for piece in frag.pieces() {
            c.sink.payload(piece);
        }
        // Playback may read it as soon as it is listed: list it once it is on disk.
        c.sink.written_all().await?;
        let f = FragmentRef {
            start: frag.utc,
            duration: frag.duration,
            offset,
            size,
            independent: frag.independent,
            video_len: frag.video_len,
        };
        c.row.fragments.push(f);
        c.row.end = f.end();
        c.row.bytes = c.sink.len();
        r.run.end = f.end();
        self.next_seq += 1;
        let full = c.row.end - c.row.start >= self.plan.segment_length;
        if full {
            self.seal().await?;
        }
        self.publish_tail();
        Ok(())
    }

    /// Seals the open chunk: synced to disk, then indexed with its run.
    async fn seal(&mut self) -> std::io::Result<()> {
        let Some(c) = self.chunk.take() else { return Ok(()) };
        let path = c.sink.path().to_path_buf();
        c.sink.finish(vec![], self.svc.storage.syncs_on_close()).await?;
        if c.row.fragments.is_empty() {
            let _ = tokio::fs::remove_file(&path).await;
            return index::delete_chunk(&self.svc.db, &self.stream_id, c.row.start)
                .await
                .map_err(std::io::Error::other);
        }
        let mut row = c.row;
        row.sealed = true;
        if let Err(e) = index::seal_chunk(&self.svc.db, &row, self.fence.as_ref()).await {
            self.lease_lost |= e.code == crate::error::ErrorCode::LeaseLost;
            return Err(std::io::Error::other(e));
        }
        self.svc.metrics.timeline_chunks_total.fetch_add(1, Relaxed);
        self.svc.storage.finished(&[keys::chunk(&self.stream_id, row.start)]).await;
        Ok(())
    }

    fn publish_tail(&self) {
        let run = self.run.as_ref().map(|r| r.run).filter(|r| r.start.0 != i64::MIN);
        let chunk = self.chunk.as_ref().map(|c| c.row.clone());
        self.svc.timelines.set(&self.stream_id, LiveTail { run, chunk });
    }
}
