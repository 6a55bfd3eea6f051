//! A recorder: one format of one recording source (a rule today; tasks and events
//! later) for one publish session. It is a hub reader; the muxer is pure; the sink does
//! the I/O on blocking threads.

use crate::callbacks::{self, RecordStatus};
use crate::hub::{HubEvent, HubReader};
use crate::library::media::{self, MediaRecord};
use crate::recording::file_name::{self, NameParts};
use crate::recording::sink::{FileSink, publish_file};
use crate::recording::template::{Format, FormatParam};
use crate::registry::{LiveStream, MediaInfo};
use crate::server::Services;
use crate::stream_id::StreamId;
use crate::wire_time::rfc3339_ms;
use bytes::{BufMut, BytesMut};
use rewind_media::mux::hls::{MediaPlaylist, Segment};
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
}

/// Audio held while waiting for the first video key frame; past this, the stream is
/// taken as audio-only and the file starts with what was held.
const AUDIO_ONLY_AFTER: Duration90k = Duration90k::from_secs(2);

/// Shortest HLS segment: segments are cut at the first key frame after this (Apple's
/// recommended target). What a crash can lose is bounded by the sink's flush interval,
/// not by this: recovery keeps a torn segment's complete frames.
const HLS_MIN_SEGMENT: Duration90k = Duration90k::from_secs(6);

pub(super) enum Mux {
    Flv(FlvMuxer),
    Adts,
    Hls(Box<HlsState>),
    Mp4(Box<Mp4Muxer>),
}

/// An HLS recording: a folder of MPEG-TS segments and a playlist.
pub(super) struct HlsState {
    pub(super) ts: TsMuxer,
    pub(super) dir: PathBuf,
    pub(super) segments: Vec<(String, Time90k, Time90k, u64)>, // (file, first dts, first utc, bytes)
    pub(super) seg_start_dts: Time90k,
    pub(super) seg_start_utc: Time90k,
}

impl HlsState {
    fn playlist(&self, uri_prefix: &str, end_dts: Option<Time90k>) -> MediaPlaylist {
        let mut segments: Vec<Segment> = Vec::with_capacity(self.segments.len());
        for (i, (file, dts, utc, _)) in self.segments.iter().enumerate() {
            let next = self.segments.get(i + 1).map(|s| s.1).or(end_dts).unwrap_or(*dts);
            segments.push(Segment {
                uri: format!("{uri_prefix}{file}"),
                duration_secs: (next - *dts).as_secs_f64(),
                discontinuity: false,
                program_date_time: (i == 0).then(|| rfc3339_ms(*utc)),
            });
        }
        MediaPlaylist { segments, finished: end_dts.is_some() }
    }
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
}

/// A new file id: milliseconds since the epoch then randomness, so ids sort by time.
pub fn new_file_id(now: Time90k) -> String {
    format!("{:011x}{}", now.as_ms().max(0), hex::encode(rand::random::<[u8; 5]>()))
}

pub(super) fn segment_name(n: usize) -> String {
    format!("{n:06}.ts")
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
        if plan.format == Format::Aac && f.track != Track::Audio {
            continue;
        }
        saw_video |= f.track == Track::Video;
        if let Some(o) = &open {
            let boundary = match plan.format {
                Format::Aac => true,
                _ if o.has_video => f.track == Track::Video && f.keyframe,
                _ => true,
            };
            if boundary && plan.format != Format::Hls && f.dts - o.first_dts >= interval {
                let o = open.take().unwrap();
                finish(&svc, &plan, live.media(), o).await;
            }
        }
        let started: Vec<Frame>;
        let single: [Frame; 1];
        let frames: &[Frame] = match &open {
            Some(_) => {
                single = [f];
                &single
            }
            None => match start_frames(&f, &mut pending, saw_video, plan.format) {
                Some(frames) => {
                    match open_file(&svc, &plan, &live, &frames[0], saw_video).await {
                        Ok(o) => {
                            if last_file_id.is_empty() {
                                status(&svc, &plan, &o.file_id, RecordStatus::StartSucceeded, "").await;
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
                            status(&svc, &plan, &last_file_id, st, &e.to_string()).await;
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
            if let Err(e) = next_segment_if_due(o, f).await {
                result = Err(e);
                break;
            }
            write_frame(o, f);
        }
        if let Err(e) = result.and(flush_if_due(o).await) {
            fail(&svc, &id, &plan, &e);
            status(&svc, &plan, &last_file_id, RecordStatus::Error, &e.to_string()).await;
            // What was written stays; finish it as far as the disk lets us.
            let o = open.take().unwrap();
            finish(&svc, &plan, live.media(), o).await;
            break; // dropping the reader unsubscribes it
        }
    }
    if let Some(o) = open.take() {
        finish(&svc, &plan, live.media(), o).await;
    }
    if !last_file_id.is_empty() {
        status(&svc, &plan, &last_file_id, RecordStatus::Ended, "").await;
    }
    svc.metrics.recorders_active.fetch_sub(1, Relaxed);
}

/// Queues a status event (332) about this recorder's recording.
async fn status(svc: &Services, plan: &Plan, file_id: &str, st: RecordStatus, message: &str) {
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
    callbacks::outbox::send(svc, &plan.domain, body).await;
}

fn fail(svc: &Services, id: &StreamId, plan: &Plan, e: &std::io::Error) {
    svc.metrics.recording_failures_total.fetch_add(1, Relaxed);
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

async fn open_file(
    svc: &Services,
    plan: &Plan,
    live: &LiveStream,
    first: &Frame,
    saw_video: bool,
) -> std::io::Result<Open> {
    let file_id = new_file_id(svc.clock.now());
    let rel_tmp =
        format!("{}/{}/{}/.{file_id}.{}.part", plan.domain, plan.app, plan.stream, ext(plan.format));
    sqlx::query(
        "INSERT INTO recording_file (file_id, format, tmp_path, plan, start_90k, started_at_unix) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&file_id)
    .bind(plan.format.as_str())
    .bind(&rel_tmp)
    .bind(serde_json::to_string(plan).unwrap_or_default())
    .bind(first.utc.0)
    .bind(svc.clock.now_unix())
    .execute(&svc.db.pool)
    .await
    .map_err(std::io::Error::other)?;
    let media = live.media();
    let has_video = saw_video && media.video.is_some();
    let o = create_open(
        &svc.media_root().join(&rel_tmp),
        plan.format,
        file_id,
        first,
        has_video,
        media.audio.is_some(),
        plan.interval_secs,
    )
    .await?;
    tracing::info!(stream = %live.id, format = plan.format.as_str(), file_id = %o.file_id, "recording started");
    Ok(o)
}

/// Creates the file(s) of a recording at `tmp` and writes the container's header.
pub(super) async fn create_open(
    tmp: &std::path::Path,
    format: Format,
    file_id: String,
    first: &Frame,
    has_video: bool,
    has_audio: bool,
    interval_secs: u32,
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
            Format::Hls => Mux::Hls(Box::new(HlsState {
                ts: TsMuxer::new((first.track == Track::Video).then_some(&*first.codec), has_audio),
                dir: tmp.to_path_buf(),
                segments: vec![(segment_name(1), first.dts, first.utc, 0)],
                seg_start_dts: first.dts,
                seg_start_utc: first.utc,
            })),
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
/// length; rewrites the `EVENT` playlist so the recording is playable while it grows.
async fn next_segment_if_due(o: &mut Open, f: &Frame) -> std::io::Result<()> {
    let Mux::Hls(h) = &mut o.mux else { return Ok(()) };
    let cut = if o.has_video { f.track == Track::Video && f.keyframe } else { true };
    if !cut || f.dts - h.seg_start_dts < HLS_MIN_SEGMENT {
        return Ok(());
    }
    let name = segment_name(h.segments.len() + 1);
    // The EVENT playlist lists finished segments only: all but the new one.
    let mut playlist = h.playlist("", None);
    playlist.segments.last_mut().expect("a segment is open").duration_secs =
        (f.dts - h.seg_start_dts).as_secs_f64();
    let text = playlist.render().into_bytes();
    // Segments are not synced one by one (the final close syncs): a kill loses nothing
    // the kernel has, and rotation stays one trip to the blocking pool.
    let size = o.sink.rotate(h.dir.join(&name), Some((h.dir.join("index.m3u8"), text))).await?;
    if let Some(last) = h.segments.last_mut() {
        last.3 = size;
    }
    h.segments.push((name, f.dts, f.utc, 0));
    h.seg_start_dts = f.dts;
    h.seg_start_utc = f.utc;
    h.ts.tables(o.sink.buffer());
    Ok(())
}

pub(super) fn write_frame(o: &mut Open, f: &Frame) {
    match (&mut o.mux, &*f.codec) {
        (Mux::Flv(m), _) => m.frame(f, o.sink.buffer()),
        (Mux::Hls(h), _) => h.ts.frame(f, o.sink.buffer()),
        (Mux::Mp4(m), _) => {
            m.frame(f, o.sink.buffer());
            idx_record(o, f);
        }
        (Mux::Adts, CodecConfig::Aac(cfg)) => adts::write_frame(cfg, &f.data, o.sink.buffer()),
        (Mux::Adts, _) => return,
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
}

pub(super) async fn finish(svc: &Services, plan: &Plan, media_info: MediaInfo, o: Open) {
    let tmp = o.sink.path().to_path_buf();
    if o.frames == 0 {
        if let Some(idx) = &o.idx {
            let _ = tokio::fs::remove_file(idx.path()).await;
        }
        match &o.mux {
            Mux::Hls(h) => drop(tokio::fs::remove_dir_all(&h.dir).await),
            _ => drop(tokio::fs::remove_file(&tmp).await),
        }
        let _ = sqlx::query("DELETE FROM recording_file WHERE file_id = $1")
            .bind(&o.file_id)
            .execute(&svc.db.pool)
            .await;
        return;
    }
    let duration = (o.last_dts - o.first_dts) + o.last_dur;
    let duration_ms = duration.0 / TICKS_PER_MS;
    let patches = match &o.mux {
        Mux::Flv(m) => vec![(METADATA_OFFSET, m.final_metadata(duration_ms as u64).freeze())],
        Mux::Adts | Mux::Hls(_) | Mux::Mp4(_) => vec![],
    };
    let mut o = o;
    // The side index is removed only once the file is in the library.
    let idx_path = o.idx.take().map(|i| i.path().to_path_buf());
    let (mut hls, mp4) = match std::mem::replace(&mut o.mux, Mux::Adts) {
        Mux::Hls(h) => (Some(h), None),
        Mux::Mp4(m) => (None, Some(m)),
        _ => (None, None),
    };
    let file_id = o.file_id.clone();
    // A failed last write (disk full) drops what did not fit; the rest is finished.
    if let Err(e) = o.sink.flush().await {
        let id = StreamId { domain: plan.domain.clone(), app: plan.app.clone(), stream: plan.stream.clone() };
        fail(svc, &id, plan, &e);
    }
    let result: anyhow::Result<()> = async {
        let mut size = o.sink.finish(patches, true).await?;
        let name = render_name(plan, &file_id, o.first_utc, o.first_utc + duration);
        let file_name = match &mut hls {
            None if mp4.is_some() => {
                let m = mp4.as_deref().expect("checked");
                let (final_tmp, final_size) = moov_first(&tmp, m).await?;
                size = final_size;
                publish_file(final_tmp, name, "mp4").await?
            }
            None => publish_file(tmp.clone(), name, ext(plan.format)).await?,
            Some(h) => {
                if let Some(last) = h.segments.last_mut() {
                    last.3 = size;
                }
                size = h.segments.iter().map(|s| s.3).sum();
                let (playlist_name, total) = publish_hls(h, name, o.last_dts + o.last_dur).await?;
                size += total;
                playlist_name
            }
        };
        let mut info = media_info;
        if plan.format == Format::Aac || !o.has_video {
            info.video = None;
        }
        record_media(svc, plan, &file_id, o.first_utc, duration, size, file_name, info, o.first_dts.as_ms())
            .await?;
        if let Some(p) = &idx_path {
            let _ = tokio::fs::remove_file(p).await;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        svc.metrics.recording_failures_total.fetch_add(1, Relaxed);
        tracing::error!(%file_id, tmp = %tmp.display(), error = %e, "could not finish a recording file; it is repaired at the next start");
    }
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
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_media(
    svc: &Services,
    plan: &Plan,
    file_id: &str,
    start: Time90k,
    duration: Duration90k,
    size: u64,
    file_name: String,
    info: MediaInfo,
    media_start_ms: i64,
) -> anyhow::Result<()> {
    let end = start + duration;
    let duration_ms = duration.0 / TICKS_PER_MS;
    let rel_path = format!("{}/{}/{}/{file_name}", plan.domain, plan.app, plan.stream);
    let rec = MediaRecord {
        file_id: file_id.to_string(),
        domain: plan.domain.clone(),
        app: plan.app.clone(),
        stream: plan.stream.clone(),
        format: plan.format.as_str().to_string(),
        source: plan.source.clone(),
        template_id: plan.template_id,
        task_id: plan.task_id.clone(),
        session_ids: vec![plan.session_id.clone()],
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
    // The file, the end of its recording and its callback commit together.
    let mut tx = svc.db.pool.begin().await?;
    media::insert(&mut tx, &rec, svc.clock.now_unix()).await?;
    sqlx::query("DELETE FROM recording_file WHERE file_id = $1").bind(file_id).execute(&mut *tx).await?;
    let queued = callbacks::outbox::enqueue(&mut *tx, svc, &plan.domain, event).await?;
    tx.commit().await?;
    if queued.is_some() {
        svc.callbacks.wake();
    }
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
async fn moov_first(part: &std::path::Path, m: &Mp4Muxer) -> std::io::Result<(PathBuf, u64)> {
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
        dst.sync_all()?;
        std::fs::remove_file(&part)?;
        Ok((out, data_start + data_len))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Moves a finished HLS recording's folder to `name/` (never over an existing one) and
/// writes its `VOD` playlist `name.m3u8` beside it. Returns the playlist's file name
/// and size.
pub(super) async fn publish_hls(
    h: &HlsState,
    name: String,
    end_dts: Time90k,
) -> std::io::Result<(String, u64)> {
    let dir = h.dir.clone();
    let parent = dir.parent().ok_or_else(|| std::io::Error::other("no folder"))?.to_path_buf();
    let segments = h.segments.clone();
    let hls = HlsState {
        ts: TsMuxer::new(None, false),
        dir: dir.clone(),
        segments,
        seg_start_dts: h.seg_start_dts,
        seg_start_utc: h.seg_start_utc,
    };
    tokio::task::spawn_blocking(move || {
        for i in 0..10_000 {
            let candidate = if i == 0 { name.clone() } else { format!("{name}_{i}") };
            let playlist = format!("{candidate}.m3u8");
            if parent.join(&playlist).exists() {
                continue;
            }
            // Reserve the folder name; renaming onto our own empty folder then replaces it.
            match std::fs::create_dir(parent.join(&candidate)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
            let _ = std::fs::remove_file(dir.join("index.m3u8"));
            std::fs::rename(&dir, parent.join(&candidate))?;
            let text = hls.playlist(&format!("{candidate}/"), Some(end_dts)).render();
            let mut f = std::fs::File::options().write(true).create_new(true).open(parent.join(&playlist))?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            f.sync_all()?;
            if let Ok(d) = std::fs::File::open(&parent) {
                let _ = d.sync_all();
            }
            return Ok((playlist, text.len() as u64));
        }
        Err(std::io::Error::other("no free file name"))
    })
    .await
    .map_err(std::io::Error::other)?
}
