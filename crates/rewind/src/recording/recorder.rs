//! A recorder: one format of one recording source (a rule today; tasks and events
//! later) for one publish session. It is a hub reader; the muxer is pure; the sink does
//! the I/O on blocking threads.

use crate::callbacks::{self, RecordStatus};
use crate::hub::{HubEvent, HubReader};
use crate::library::media::{self, MediaRecord};
use crate::recording::file_name::{self, NameParts};
use crate::recording::hls_file::{self, HlsState, segment_name};
use crate::recording::sink::{FileSink, publish_file};
use crate::recording::template::{Format, FormatParam};
use crate::recording::{journal, splice};
use crate::registry::{LiveStream, MediaInfo};
use crate::server::Services;
use crate::stream_id::StreamId;
use bytes::{BufMut, BytesMut};
use rewind_media::mux::mp4::{self, Mp4Muxer};
use rewind_media::mux::ts::TsMuxer;
use rewind_media::mux::{adts, flv::FlvMuxer, flv::METADATA_OFFSET};
use rewind_media::time::TICKS_PER_MS;
use rewind_media::{CodecConfig, Duration90k, Frame, Time90k, Track};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// What every file of one recorder shares; stored with each file being written so a
/// crash can be repaired.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// Stream.
    pub domain: String,
    /// App.
    pub app: String,
    /// Stream name.
    pub stream: String,
    /// Publish session.
    pub session_id: String,
    /// Push URL query (None for task recordings).
    pub stream_param: Option<String>,
    /// `rule`, `task` or `event`.
    pub source: String,
    /// Template used.
    pub template_id: i64,
    /// Task, if any.
    pub task_id: Option<String>,
    /// Format.
    pub format: Format,
    /// The template's parameters for this format, as read at publish start (R-R4).
    pub param: FormatParam,
    /// Split interval in seconds (the template's, or the test override).
    pub interval_secs: u32,
    /// Auto-splice window in seconds (HLS rule recordings; 0: off).
    #[serde(default)]
    pub flow_continue_secs: u32,
}

impl Plan {
    /// Where a file of this recording lives, relative to the media root:
    /// `{domain}/{app}/{stream}/{name}` (the library's `rel_path`).
    pub fn rel_path(&self, name: &str) -> String {
        format!("{}/{}/{}/{name}", self.domain, self.app, self.stream)
    }
}

/// Audio held while waiting for the first video key frame; past this, the stream is
/// taken as audio-only and the file starts with what was held.
const AUDIO_ONLY_AFTER: Duration90k = Duration90k::from_secs(2);

/// Shortest HLS segment: segments are cut at the first key frame after this (Apple's
/// recommended target). What a crash can lose is bounded by the sink's flush interval,
/// not by this: recovery keeps a torn segment's complete frames.
const HLS_MIN_SEGMENT: Duration90k = Duration90k::from_secs(6);
/// Most bytes a recorder buffers while more frames are ready (its queue is drained
/// in batches: half a second of a 2 Mbps stream is ~140 KB).
const BATCH_CAP_BYTES: usize = 64 * 1024;

pub(super) enum Mux {
    Flv(FlvMuxer),
    Adts,
    Hls(Box<HlsState>),
    Mp4(Box<Mp4Muxer>),
}

pub(super) struct Open {
    pub(super) file_id: String,
    pub(super) sink: FileSink,
    mux: Mux,
    first_dts: Time90k,
    first_utc: Time90k,
    last_dts: Time90k,
    last_video_dts: Option<Time90k>,
    last_dur: Duration90k,
    pub(super) frames: u64,
    has_video: bool,
    /// MP4 only: the side index (codecs and sample entries) that crash recovery
    /// rebuilds the `moov` from; records reach it only after their samples are on disk.
    idx: Option<FileSink>,
    idx_pending: BytesMut,
    idx_codecs: [Option<Arc<CodecConfig>>; 2],
    /// Added to every frame's timestamps: a resumed HLS recording continues the earlier
    /// pushes' timeline (each push starts near zero), so no track's decode time ever
    /// goes back across the discontinuity.
    shift: Duration90k,
    /// Where presentation ends: the latest `pts` plus its frame's duration (with
    /// B-frames, past the last `dts`).
    end_pts: Time90k,
}

/// A new file id: milliseconds since the epoch then randomness, so ids sort by time.
pub fn new_file_id(now: Time90k) -> String {
    format!("{:011x}{}", now.as_ms().max(0), hex::encode(rand::random::<[u8; 5]>()))
}

pub(super) fn ext(f: Format) -> &'static str {
    match f {
        Format::Flv => "flv",
        Format::Mp4 => "mp4",
        Format::Aac => "aac",
        Format::Hls => "m3u8",
    }
}

/// Runs until the publish session ends or `stop` is cancelled, writing one file per
/// `interval_secs`.
pub async fn run(
    svc: Arc<Services>,
    live: Arc<LiveStream>,
    mut reader: HubReader,
    plan: Plan,
    stop: tokio_util::sync::CancellationToken,
) {
    let id = live.id.clone();
    let interval = Duration90k::from_secs(plan.interval_secs as i64);
    let mut pending: Vec<Frame> = Vec::new();
    let mut saw_video = false;
    let mut open: Option<Open> = None;
    // The file being or last written: what status events name.
    let mut last_file_id = String::new();
    let _running = splice::wanted(&plan).then(|| svc.splices.enter(&id));
    let shipping = splice::ships(&svc, &plan);
    svc.metrics.recorders_active.fetch_add(1, Relaxed);
    loop {
        let event = tokio::select! {
            e = reader.next() => e,
            _ = stop.cancelled() => break,
        };
        let f = match event {
            HubEvent::Closed => break,
            HubEvent::Lagged { missed } => {
                svc.metrics.hub_reader_lagged_frames_total.fetch_add(missed, Relaxed);
                tracing::warn!(stream = %id, format = plan.format.as_str(), missed, "recorder fell behind: frames lost, resuming at the next key frame");
                continue;
            }
            HubEvent::Frame(f) => f,
        };
        // AAC files take audio only, but another track's frame may still end a batch,
        // and a batch's end is when the file is flushed (below).
        let skip = plan.format == Format::Aac && f.track != Track::Audio;
        if skip && (open.is_none() || reader.has_ready()) {
            continue;
        }
        saw_video |= f.track == Track::Video && !skip;
        if let Some(o) = open.as_ref().filter(|_| !skip) {
            let boundary = match plan.format {
                Format::Aac => true,
                _ if o.has_video => f.track == Track::Video && f.keyframe,
                _ => true,
            };
            if boundary && plan.format != Format::Hls && f.dts - o.first_dts >= interval {
                // The full file is finished (MP4 rewrite, library insert and its retries)
                // in the background: the next file starts now and the hub queue never
                // waits on it.
                let o = open.take().unwrap();
                let (svc2, plan2, media) = (svc.clone(), plan.clone(), live.media());
                svc.tasks.spawn(async move { finish(&svc2, &plan2, media, o).await });
            }
        }
        let started: Vec<Frame>;
        let single: [Frame; 1];
        let frames: &[Frame] = match &open {
            Some(_) if skip => &[],
            Some(_) => {
                single = [f];
                &single
            }
            None => match start_frames(&f, &mut pending, saw_video, plan.format) {
                Some(frames) => {
                    match open_file(&svc, &plan, &live, &frames[0], saw_video).await {
                        Ok((o, resumed)) => {
                            if resumed {
                                status(&svc, &plan, &o.file_id, RecordStatus::Resumed, "");
                            } else if last_file_id.is_empty() {
                                status(&svc, &plan, &o.file_id, RecordStatus::StartSucceeded, "");
                            }
                            last_file_id = o.file_id.clone();
                            open = Some(o);
                        }
                        Err(e) => {
                            fail(&svc, &id, &plan, &e);
                            let st = if last_file_id.is_empty() {
                                RecordStatus::StartFailed
                            } else {
                                RecordStatus::Error
                            };
                            status(&svc, &plan, &last_file_id, st, &e.to_string());
                            break; // dropping the reader unsubscribes it
                        }
                    }
                    started = frames;
                    &started
                }
                None => continue,
            },
        };
        let o = open.as_mut().expect("a file is open");
        let mut result = Ok(());
        for f in frames {
            let shifted;
            let f = if o.shift.0 == 0 {
                f
            } else {
                shifted = Frame { dts: f.dts + o.shift, pts: f.pts + o.shift, ..f.clone() };
                &shifted
            };
            match next_segment_if_due(o, f).await {
                Ok(Some(closed)) if shipping => {
                    if let Mux::Hls(h) = &o.mux {
                        splice::ship(&svc, &plan, &o.file_id, h, &closed, live.media()).await;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            write_frame(o, f);
        }
        // One hand-off to the write thread per batch of frames, not per frame (each is
        // a thread wake-up); the buffer's cap bounds what a long batch holds.
        let flushed = if reader.has_ready() && o.sink.buffered() < BATCH_CAP_BYTES {
            Ok(())
        } else {
            flush_if_due(o).await
        };
        if let Err(e) = result.and(flushed) {
            fail(&svc, &id, &plan, &e);
            status(&svc, &plan, &last_file_id, RecordStatus::Error, &e.to_string());
            // What was written stays; finish it as far as the disk lets us.
            let o = open.take().unwrap();
            finish(&svc, &plan, live.media(), o).await;
            break; // dropping the reader unsubscribes it
        }
    }
    let mut parked = false;
    if let Some(o) = open.take() {
        if splice::wanted(&plan) && !stop.is_cancelled() {
            splice::park(&svc, &plan, id.clone(), live.media(), o).await;
            parked = true;
        } else {
            finish(&svc, &plan, live.media(), o).await;
        }
    }
    if !last_file_id.is_empty() && !parked {
        status(&svc, &plan, &last_file_id, RecordStatus::Ended, "");
    }
    svc.metrics.recorders_active.fetch_sub(1, Relaxed);
}

/// Queues a status event (332) about this recorder's recording, off the recording path
/// (the insert runs as a tracked background task, so shutdown still waits for it).
pub(super) fn status(svc: &Arc<Services>, plan: &Plan, file_id: &str, st: RecordStatus, message: &str) {
    // Nobody to tell: no event to build (the outbox would drop it anyway).
    if callbacks::event::target(svc, &plan.domain, &plan.app, callbacks::event::STATUS).is_none() {
        return;
    }
    let of = callbacks::event::StatusOf {
        domain: &plan.domain,
        app: &plan.app,
        stream: &plan.stream,
        file_id,
        format: plan.format.as_str(),
        task_id: plan.task_id.as_deref(),
        session_id: &plan.session_id,
    };
    let body = callbacks::status_event(&of, st, svc.config.callbacks.appid, svc.clock.now_unix(), message);
    let (svc2, domain) = (svc.clone(), plan.domain.clone());
    svc.tasks.spawn(async move { callbacks::outbox::send(&svc2, &domain, body).await });
}

fn fail(svc: &Services, id: &StreamId, plan: &Plan, e: &std::io::Error) {
    svc.metrics.recording_failures_total.fetch_add(1, Relaxed);
    svc.disk_reserve.on_error(e);
    tracing::error!(stream = %id, format = plan.format.as_str(), error = %e, "recording failed: this format stops for this push; the push continues");
}

/// The frames a new file starts with, or None to keep waiting (for a video key frame,
/// or for enough audio to call the stream audio-only).
fn start_frames(f: &Frame, pending: &mut Vec<Frame>, saw_video: bool, format: Format) -> Option<Vec<Frame>> {
    if format == Format::Aac {
        return Some(vec![f.clone()]);
    }
    match f.track {
        Track::Video if f.keyframe => {
            pending.clear();
            Some(vec![f.clone()])
        }
        Track::Video => {
            pending.clear();
            None
        }
        Track::Audio if saw_video => None,
        Track::Audio => {
            pending.push(f.clone());
            if f.dts - pending[0].dts >= AUDIO_ONLY_AFTER { Some(std::mem::take(pending)) } else { None }
        }
    }
}

/// Opens the next file, or resumes the recording parked for this stream (auto-splice).
/// True when it resumed one.
async fn open_file(
    svc: &Services,
    plan: &Plan,
    live: &LiveStream,
    first: &Frame,
    saw_video: bool,
) -> std::io::Result<(Open, bool)> {
    let media = live.media();
    let has_video = saw_video && media.video.is_some();
    let parked = match splice::wanted(plan) {
        true => match svc.splices.take_when_parked(&live.id).await {
            // Parked here, unless another node continued it meanwhile.
            Some(p) if splice::still_mine(svc, &p.file_id).await => Some(p),
            _ => splice::adopt(svc, &live.id).await,
        },
        false => None,
    };
    if let Some(p) = parked {
        let file_id = p.file_id.clone();
        let o =
            resume_open(p.hls, file_id.clone(), first, has_video, media.audio.is_some(), &plan.session_id)
                .await?;
        let Mux::Hls(h) = &o.mux else { unreachable!("resume_open makes HLS") };
        splice::mark_resumed(svc, plan, &file_id, h, media.clone()).await.map_err(std::io::Error::other)?;
        tracing::info!(stream = %live.id, %file_id, sessions = h.session_ids.len(), "re-push within flow_continue_duration: HLS recording resumed");
        return Ok((o, true));
    }
    let file_id = new_file_id(svc.clock.now());
    let rel_tmp = plan.rel_path(&format!(".{file_id}.{}.part", ext(plan.format)));
    let plan_json = serde_json::to_string(plan).unwrap_or_default();
    let now = svc.clock.now_unix();
    journal::begin(
        &svc.db,
        &svc.node.name,
        &file_id,
        plan.format.as_str(),
        &rel_tmp,
        &plan_json,
        first.utc,
        now,
    )
    .await
    .map_err(std::io::Error::other)?;
    let o = create_open(
        &svc.media_root().join(&rel_tmp),
        plan.format,
        file_id,
        first,
        has_video,
        media.audio.is_some(),
        plan.interval_secs,
        &plan.session_id,
    )
    .await?;
    tracing::info!(stream = %live.id, format = plan.format.as_str(), file_id = %o.file_id, "recording started");
    Ok((o, false))
}

/// Continues a parked HLS recording with a new push: its next segment starts with a
/// discontinuity and a new muxer (codecs, resolution and timestamps may all change).
async fn resume_open(
    mut h: HlsState,
    file_id: String,
    first: &Frame,
    has_video: bool,
    has_audio: bool,
    session_id: &str,
) -> std::io::Result<Open> {
    let start_utc = h.start_utc();
    let shift = h.end_dts() - first.dts;
    let first_dts = first.dts + shift;
    h.ts = TsMuxer::new((first.track == Track::Video).then_some(&*first.codec), has_audio);
    h.session_ids.push(session_id.to_string());
    let name = h.open_segment(first_dts, first.utc, true);
    let sink = FileSink::create(h.dir.join(name)).await?;
    let mut o = Open {
        file_id,
        sink,
        mux: Mux::Hls(Box::new(h)),
        first_dts,
        first_utc: start_utc,
        last_dts: first_dts,
        last_video_dts: None,
        last_dur: Duration90k(0),
        frames: 0,
        has_video,
        idx: None,
        idx_pending: BytesMut::new(),
        idx_codecs: [None, None],
        shift,
        end_pts: first_dts,
    };
    if let Mux::Hls(h) = &mut o.mux {
        h.ts.tables(o.sink.buffer());
    }
    Ok(o)
}

/// Creates the file(s) of a recording at `tmp` and writes the container's header.
#[allow(clippy::too_many_arguments)]
pub(super) async fn create_open(
    tmp: &std::path::Path,
    format: Format,
    file_id: String,
    first: &Frame,
    has_video: bool,
    has_audio: bool,
    interval_secs: u32,
    session_id: &str,
) -> std::io::Result<Open> {
    let sink = match format {
        Format::Hls => FileSink::create(tmp.join(segment_name(1))).await?,
        _ => FileSink::create(tmp.to_path_buf()).await?,
    };
    let idx = match format {
        Format::Mp4 => Some(FileSink::create_trailing(&sink, tmp.with_extension("idx")).await?),
        _ => None,
    };
    let mut o = Open {
        file_id,
        sink,
        mux: match format {
            Format::Aac => Mux::Adts,
            Format::Mp4 => Mux::Mp4(Box::default()),
            Format::Hls => {
                let ts = TsMuxer::new((first.track == Track::Video).then_some(&*first.codec), has_audio);
                let mut h = HlsState::new(ts, tmp.to_path_buf(), Vec::new(), vec![session_id.to_string()]);
                h.open_segment(first.dts, first.utc, false);
                Mux::Hls(Box::new(h))
            }
            Format::Flv => Mux::Flv(FlvMuxer::new(has_video, has_audio, interval_secs as usize + 16)),
        },
        first_dts: first.dts,
        first_utc: first.utc,
        last_dts: first.dts,
        last_video_dts: None,
        last_dur: Duration90k(0),
        frames: 0,
        has_video,
        idx,
        idx_pending: BytesMut::new(),
        idx_codecs: [None, None],
        shift: Duration90k(0),
        end_pts: first.pts,
    };
    match &mut o.mux {
        Mux::Flv(m) => m.header(o.sink.buffer()),
        Mux::Hls(h) => h.ts.tables(o.sink.buffer()),
        Mux::Mp4(_) => {
            // [ftyp][mdat with a 64-bit size][samples…]: the moov is built at close.
            o.sink.buffer().extend_from_slice(&mp4::ftyp());
            o.sink.buffer().extend_from_slice(&mp4::mdat_header(0));
        }
        Mux::Adts => {}
    }
    o.sink.mark_boundary();
    Ok(o)
}

/// Flushes the file when due; then hands the side-index records of what was just
/// handed off to the index file, which trails the data file on its write thread (so
/// the index never names bytes that are not on disk).
pub(super) async fn flush_if_due(o: &mut Open) -> std::io::Result<()> {
    if o.sink.maybe_flush().await?
        && let Some(idx) = o.idx.as_mut()
    {
        idx.buffer().extend_from_slice(&o.idx_pending.split());
        idx.flush().await?;
    }
    Ok(())
}

/// Side-index record kinds.
pub(crate) const IDX_CODEC: u8 = 1;
pub(crate) const IDX_SAMPLE: u8 = 2;

fn idx_record(o: &mut Open, f: &Frame) {
    let t = (f.track == Track::Audio) as usize;
    if o.idx_codecs[t].as_ref().is_none_or(|c| !Arc::ptr_eq(c, &f.codec)) {
        o.idx_codecs[t] = Some(f.codec.clone());
        let (kind, record) = match &*f.codec {
            CodecConfig::Avc(c) => (0u8, &c.record),
            CodecConfig::Hevc(c) => (1, &c.record),
            CodecConfig::Aac(c) => (2, &c.record),
        };
        o.idx_pending.put_slice(&[IDX_CODEC, t as u8, kind]);
        o.idx_pending.put_u32(record.len() as u32);
        o.idx_pending.put_slice(record);
    }
    o.idx_pending.put_slice(&[IDX_SAMPLE, t as u8, f.keyframe as u8]);
    o.idx_pending.put_u32(f.data.len() as u32);
    o.idx_pending.put_i64(f.dts.0);
    o.idx_pending.put_i32((f.pts.0 - f.dts.0) as i32);
}

/// For HLS: closes the current segment and opens the next before `f` when `f` is a
/// cut point (a key frame, or any frame of an audio-only stream) past the minimum
/// length; extends the `EVENT` playlist so the recording is playable while it grows.
/// Returns the name of the segment it closed, whose bytes are then all written.
async fn next_segment_if_due(o: &mut Open, f: &Frame) -> std::io::Result<Option<String>> {
    let Mux::Hls(h) = &mut o.mux else { return Ok(None) };
    let cut = if o.has_video { f.track == Track::Video && f.keyframe } else { true };
    if !cut || f.dts - h.open_start_dts() < HLS_MIN_SEGMENT {
        return Ok(None);
    }
    // The EVENT playlist lists finished segments only: all but the new one.
    h.close_segment(f.dts, o.sink.len());
    let playlist = h.playlist_update();
    let name = segment_name(h.segments.len() + 1);
    // Segments are not synced one by one (the final close syncs): a kill loses nothing
    // the kernel has, and rotation stays one trip to the write thread.
    o.sink.rotate(h.dir.join(&name), Some(playlist)).await?;
    let closed = h.segments.last().map(|s| s.file.clone());
    h.open_segment(f.dts, f.utc, false);
    h.ts.tables(o.sink.buffer());
    Ok(closed)
}

pub(super) fn write_frame(o: &mut Open, f: &Frame) {
    match (&mut o.mux, &*f.codec) {
        (Mux::Flv(m), _) => m.frame(f, &mut o.sink),
        (Mux::Hls(h), _) => h.ts.frame(f, &mut o.sink),
        (Mux::Mp4(m), _) => {
            m.frame(f, &mut o.sink);
            idx_record(o, f);
        }
        (Mux::Adts, CodecConfig::Aac(cfg)) => adts::write_frame(cfg, &f.data, o.sink.buffer()),
        (Mux::Adts, _) => return,
    }
    // Not for MP4: its moov is built from the muxer's index, so a failed write there
    // must drop every frame of the batch, not keep some.
    if !matches!(o.mux, Mux::Mp4(_)) {
        o.sink.mark_boundary();
    }
    o.frames += 1;
    o.last_dts = o.last_dts.max(f.dts);
    o.last_dur = match (&*f.codec, f.track) {
        (CodecConfig::Aac(a), _) => Duration90k(1024 * 90_000 / a.sample_rate.max(1) as i64),
        (_, Track::Video) => {
            let d = o.last_video_dts.map_or(Duration90k(0), |p| f.dts - p);
            o.last_video_dts = Some(f.dts);
            d
        }
        _ => o.last_dur,
    };
    o.end_pts = o.end_pts.max(f.pts + o.last_dur);
}

/// Closes the file and puts it in the library (or, for an auto-splice HLS recording
/// whose push dropped, parks it to wait for a re-push: `park`).
pub(super) async fn finish(svc: &Services, plan: &Plan, media_info: MediaInfo, o: Open) {
    let tmp = o.sink.path().to_path_buf();
    let earlier_pushes = matches!(&o.mux, Mux::Hls(h) if h.segments.len() > 1);
    if o.frames == 0 && !earlier_pushes {
        if let Some(idx) = &o.idx {
            let _ = tokio::fs::remove_file(idx.path()).await;
        }
        match &o.mux {
            Mux::Hls(h) => drop(tokio::fs::remove_dir_all(&h.dir).await),
            _ => drop(tokio::fs::remove_file(&tmp).await),
        }
        let _ = journal::forget(&svc.db, &o.file_id).await;
        return;
    }
    let file_id = o.file_id.clone();
    let mut info = media_info;
    if plan.format == Format::Aac || !o.has_video {
        info.video = None;
    }
    let result: anyhow::Result<()> = async {
        if let Some(h) = close(svc, plan, o, info.clone()).await? {
            return finish_hls(svc, plan, &file_id, &h, info).await;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        svc.metrics.recording_failures_total.fetch_add(1, Relaxed);
        tracing::error!(%file_id, tmp = %tmp.display(), error = %e, "could not finish a recording file; it is repaired at the next start");
    }
}

/// Writes out and closes the file. FLV, AAC and MP4 files are finished and put in the
/// library here (their media info already settled by the caller); an HLS recording is
/// given back with every segment closed, to be published or parked.
pub(super) async fn close(
    svc: &Services,
    plan: &Plan,
    mut o: Open,
    info: MediaInfo,
) -> anyhow::Result<Option<HlsState>> {
    let tmp = o.sink.path().to_path_buf();
    let duration = (o.last_dts - o.first_dts) + o.last_dur;
    let duration_ms = duration.0 / TICKS_PER_MS;
    let patches = match &o.mux {
        Mux::Flv(m) => vec![(METADATA_OFFSET, m.final_metadata(duration_ms as u64).freeze())],
        Mux::Adts | Mux::Hls(_) | Mux::Mp4(_) => vec![],
    };
    // The side index is removed only once the file is in the library.
    let idx_path = o.idx.as_ref().map(|i| i.path().to_path_buf());
    let (hls, mp4) = match std::mem::replace(&mut o.mux, Mux::Adts) {
        Mux::Hls(h) => (Some(h), None),
        Mux::Mp4(m) => (None, Some(m)),
        _ => (None, None),
    };
    // A failed last write (disk full) drops what did not fit; the rest is finished.
    if let Err(e) = o.sink.flush().await {
        let id = StreamId { domain: plan.domain.clone(), app: plan.app.clone(), stream: plan.stream.clone() };
        fail(svc, &id, plan, &e);
    }
    let sync = svc.storage.syncs_on_close();
    // The side index takes the records of the last samples too (after their bytes):
    // until the file is in the library, recovery reads even a finished MP4 through it.
    if let Some(mut idx) = o.idx.take() {
        idx.buffer().extend_from_slice(&o.idx_pending.split());
        if let Err(e) = idx.finish(vec![], sync).await {
            tracing::warn!(file = %idx_path.as_deref().unwrap_or(std::path::Path::new("")).display(), error = %e, "could not finish an MP4's side index");
        }
    }
    let mut size = o.sink.finish(patches, sync).await?;
    if let Some(mut h) = hls {
        h.close_segment((o.last_dts + o.last_dur).max(o.end_pts), size);
        return Ok(Some(*h));
    }
    let name = render_name(plan, &o.file_id, o.first_utc, o.first_utc + duration);
    // The finished bytes: the file itself, or (MP4) its moov-first rewrite.
    let finished = match &mp4 {
        Some(m) => {
            let (final_tmp, final_size) = moov_first(&tmp, m, sync).await?;
            size = final_size;
            final_tmp
        }
        None => tmp.clone(),
    };
    let taken = media::names_taken(&svc.db, &plan.domain, &plan.app, &plan.stream, &name).await?;
    let file_name = publish_file(finished.clone(), name, ext(plan.format), taken, sync).await?;
    let done = Finished {
        file_id: o.file_id.clone(),
        start: o.first_utc,
        end: o.first_utc + duration,
        duration,
        size,
        file_name,
        info,
        media_start_ms: o.first_dts.as_ms(),
        session_ids: vec![plan.session_id.clone()],
    };
    record_media(svc, plan, done).await?;
    // In the library: the temporary name (which let recovery find the published one)
    // and the side index go.
    let _ = tokio::fs::remove_file(&finished).await;
    if let Some(p) = &idx_path {
        let _ = tokio::fs::remove_file(p).await;
    }
    Ok(None)
}

/// Publishes a closed HLS recording (folder and `VOD` playlist) and puts it in the
/// library: one record for every push it spans.
pub(super) async fn finish_hls(
    svc: &Services,
    plan: &Plan,
    file_id: &str,
    h: &HlsState,
    info: MediaInfo,
) -> anyhow::Result<()> {
    let name = render_name(plan, file_id, h.start_utc(), h.end_utc());
    let taken = media::names_taken(&svc.db, &plan.domain, &plan.app, &plan.stream, &name).await?;
    let (folder, playlist_size) =
        hls_file::publish(h, name, file_id, taken, svc.storage.syncs_on_close()).await?;
    record_hls(svc, plan, file_id, h, info, &folder, playlist_size).await
}

/// Puts a published HLS recording (`folder/` and `folder.m3u8`) in the library, then
/// drops the marker that let recovery find the folder.
pub(super) async fn record_hls(
    svc: &Services,
    plan: &Plan,
    file_id: &str,
    h: &HlsState,
    info: MediaInfo,
    folder: &str,
    playlist_size: u64,
) -> anyhow::Result<()> {
    let done = Finished {
        file_id: file_id.to_string(),
        start: h.start_utc(),
        end: h.end_utc(),
        duration: h.media_duration(),
        size: h.bytes() + playlist_size,
        file_name: format!("{folder}.m3u8"),
        info,
        media_start_ms: h.segments.first().map_or(0, |s| Time90k(s.dts_90k).as_ms()),
        session_ids: h.session_ids.clone(),
    };
    let rel_path = plan.rel_path(&done.file_name);
    let shipped =
        if splice::ships(svc, plan) { splice::publish_shipped(svc, h, &rel_path).await? } else { vec![] };
    record_media(svc, plan, done).await?;
    splice::forget_shipped(svc, shipped);
    let marker = h.dir.parent().map(|p| p.join(folder).join(hls_file::PUBLISHED_MARKER));
    if let Some(m) = marker {
        let _ = tokio::fs::remove_file(m).await;
    }
    Ok(())
}

/// A finished file, as the library records it.
pub(super) struct Finished {
    pub(super) file_id: String,
    /// UTC of the first frame.
    pub(super) start: Time90k,
    /// UTC where the last frame ends.
    pub(super) end: Time90k,
    /// Media time (less than `end - start` when a splice spans gaps).
    pub(super) duration: Duration90k,
    pub(super) size: u64,
    pub(super) file_name: String,
    pub(super) info: MediaInfo,
    /// Stream timestamp of the first frame (callbacks' `media_start_time`).
    pub(super) media_start_ms: i64,
    pub(super) session_ids: Vec<String>,
}

/// The final file name (without extension) from the template's pattern.
pub(super) fn render_name(plan: &Plan, file_id: &str, start: Time90k, end: Time90k) -> String {
    file_name::render(
        &plan.param.file_name,
        &NameParts {
            stream: &plan.stream,
            domain: &plan.domain,
            app: &plan.app,
            format: plan.format.as_str(),
            record_id: file_id,
            start,
            end,
        },
    )
}

/// Puts a finished file in the library and forgets its `recording_file` row, in one
/// transaction: afterwards it is either still a recording to repair, or a media file.
pub(super) async fn record_media(svc: &Services, plan: &Plan, done: Finished) -> anyhow::Result<()> {
    let Finished { file_id, start, end, duration, size, file_name, info, media_start_ms, session_ids } = done;
    let file_id = file_id.as_str();
    let duration_ms = duration.0 / TICKS_PER_MS;
    let rel_path = plan.rel_path(&file_name);
    let rec = MediaRecord {
        file_id: file_id.to_string(),
        domain: plan.domain.clone(),
        app: plan.app.clone(),
        stream: plan.stream.clone(),
        format: plan.format.as_str().to_string(),
        source: plan.source.clone(),
        template_id: plan.template_id,
        task_id: plan.task_id.clone(),
        session_ids,
        start,
        end,
        duration_ms,
        file_size: size as i64,
        media_info: info,
        rel_path: rel_path.clone(),
        file_name,
        stream_param: plan.stream_param.clone(),
        expires_at_unix: (plan.param.storage_time > 0)
            .then(|| end.0 / 90_000 + plan.param.storage_time as i64),
    };
    let cb = &svc.config.callbacks;
    let public_url = if cb.public_url.is_empty() {
        format!("http://{}", svc.config.http_addr)
    } else {
        cb.public_url.clone()
    };
    let event = callbacks::event::record_event(&rec, cb.appid, &public_url, media_start_ms);
    // The file, the end of its recording and its callback commit together. A failure
    // (a full disk, a busy database) is retried for about a minute: the bytes are
    // complete and published, and only this row makes them part of the library. After
    // that the `recording_file` row stays and the next start adopts the file.
    let mut tries = 0u32;
    let queued = loop {
        let attempt = async {
            let mut tx = svc.db.begin().await?;
            media::insert(&mut tx, &rec, svc.clock.now_unix(), &svc.node.name).await?;
            journal::end(&mut tx, file_id).await?;
            let queued = callbacks::outbox::enqueue(&mut *tx, svc, &plan.domain, event.clone()).await?;
            tx.commit().await?;
            anyhow::Ok(queued)
        };
        match attempt.await {
            Ok(q) => break q,
            Err(e) if tries < 5 && !svc.shutdown.is_cancelled() => {
                tries += 1;
                svc.metrics.library_insert_retries_total.fetch_add(1, Relaxed);
                tracing::warn!(%file_id, file = %rel_path, error = %e, tries, "could not put a finished file in the library; retrying");
                svc.disk_reserve.on_error(&e);
                tokio::time::sleep(std::time::Duration::from_secs(1 << tries)).await;
            }
            Err(e) => return Err(e),
        }
    };
    if queued.is_some() {
        svc.callbacks.wake();
    }
    let mut keys = vec![crate::storage::keys::media(&rel_path)];
    if plan.format == Format::Hls {
        keys.insert(0, crate::storage::keys::hls_folder(&rel_path));
    }
    svc.storage.finished(&keys).await;
    svc.metrics.recording_files_total.fetch_add(1, Relaxed);
    tracing::info!(
        stream = %format!("{}/{}/{}", plan.domain, plan.app, plan.stream),
        format = plan.format.as_str(),
        %file_id,
        file = %rel_path,
        duration_ms,
        size,
        "recording finished"
    );
    Ok(())
}

/// Rewrites a recorded `[ftyp][mdat]` file as `[ftyp][moov][mdat]` (progressive: plays
/// before it is fully downloaded). The samples are copied in the kernel
/// (`copy_file_range`); the original is removed. Returns the new file and its size.
async fn moov_first(part: &std::path::Path, m: &Mp4Muxer, sync: bool) -> std::io::Result<(PathBuf, u64)> {
    let ftyp = mp4::ftyp();
    let data_start = ftyp.len() as u64 + m.moov(0).len() as u64 + 16;
    let moov = m.moov(data_start);
    let data_len = m.data_len();
    let part = part.to_path_buf();
    let out = part.with_extension("final");
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, Write};
        let mut dst = std::fs::File::options().write(true).create_new(true).open(&out)?;
        dst.write_all(&ftyp)?;
        dst.write_all(&moov)?;
        dst.write_all(&mp4::mdat_header(data_len))?;
        let mut src = std::fs::File::open(&part)?;
        src.seek(std::io::SeekFrom::Start(ftyp.len() as u64 + 16))?;
        let copied = std::io::copy(&mut src.take(data_len), &mut dst)?;
        if copied != data_len {
            return Err(std::io::Error::other(format!("mp4 data is {copied} bytes, expected {data_len}")));
        }
        if sync {
            dst.sync_all()?;
        }
        std::fs::remove_file(&part)?;
        Ok((out, data_start + data_len))
    })
    .await
    .map_err(std::io::Error::other)?
}
