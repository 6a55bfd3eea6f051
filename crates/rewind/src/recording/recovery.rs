//! Crash recovery: at start-up, every `recording_file` row is a recording a crash
//! interrupted. Its bytes are read back up to the last complete frame and finished like
//! a normal close, so each lands in the library playable, and the library agrees with
//! the folder again.
//!
//! FLV, AAC and MP4 are *replayed*: frames are read from what is on disk (MP4 through
//! its side index) and written again through the same muxers into a new file; the
//! torn original is removed only after the new file is in the library. HLS segments are
//! kept in place; the last one is cut before its last (possibly torn) PES.

use crate::callbacks::RecordStatus;
use crate::ingest::frames::{FrameAssembler, Produced};
use crate::recording::hls_file::{self, HlsSegment, HlsState};
use crate::recording::recorder::{
    self, IDX_CODEC, IDX_SAMPLE, Plan, create_open, ext, finish, finish_hls, flush_if_due, write_frame,
};
use crate::recording::splice::{self, Parked, SpliceState};
use crate::recording::template::Format;
use crate::recording::{journal, sink};
use crate::registry::{AudioInfo, MediaInfo};
use crate::server::Services;
use crate::stream_id::StreamId;
use bytes::Bytes;
use rewind_media::flv::{self, TAG_AUDIO, TAG_VIDEO};
use rewind_media::mux::{adts, mp4, ts};
use rewind_media::{CodecConfig, Frame, Time90k, Track, aac::AacConfig, avc::AvcConfig, hevc::HevcConfig};
use std::path::Path;
use std::sync::Arc;

/// Repairs and finishes every interrupted recording. Returns how many files were kept.
pub async fn recover_all(svc: &Arc<Services>) -> anyhow::Result<usize> {
    let mut kept = 0;
    for r in journal::all(&svc.db, &svc.node.name).await? {
        let file_id = r.file_id;
        let tmp = svc.media_root().join(&r.tmp_path);
        let plan: Plan = match serde_json::from_str(&r.plan) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(%file_id, error = %e, "interrupted recording has an unreadable plan; left for an operator");
                continue;
            }
        };
        let start = r.start;
        let parked_until = r.parked_until_unix;
        let spliced: Option<SpliceState> =
            r.splice.and_then(|s| serde_json::from_str::<SpliceState>(&s).ok());
        let result = if plan.format == Format::Hls {
            recover_hls(svc, &file_id, &tmp, &plan, start, parked_until, spliced).await
        } else {
            recover_one(svc, &file_id, &tmp, &plan, start).await
        };
        match result {
            Ok(true) => {
                kept += 1;
                tracing::warn!(%file_id, format = plan.format.as_str(), "recovered a recording interrupted by a crash");
            }
            Ok(false) => tracing::warn!(%file_id, "an interrupted recording held no complete frame; removed"),
            Err(e) => {
                tracing::error!(%file_id, tmp = %tmp.display(), error = %e, "could not recover an interrupted recording")
            }
        }
    }
    Ok(kept)
}

async fn forget(svc: &Services, file_id: &str) -> anyhow::Result<()> {
    Ok(journal::forget(&svc.db, file_id).await?)
}

async fn recover_one(
    svc: &Arc<Services>,
    file_id: &str,
    tmp: &Path,
    plan: &Plan,
    start: Time90k,
) -> anyhow::Result<bool> {
    // The bytes: the torn file, or (MP4) its finished moov-first rewrite, which the
    // close may have made before the crash or a failed library insert.
    let final_mp4 = tmp.with_extension("final");
    let source = if plan.format == Format::Mp4 && !tmp.exists() && final_mp4.exists() {
        final_mp4.clone()
    } else {
        tmp.to_path_buf()
    };
    let (path, fmt) = (source.clone(), plan.format);
    let frames = tokio::task::spawn_blocking(move || read_frames(&path, fmt, start)).await??;
    if frames.is_empty() {
        if source != tmp {
            // A finished MP4 whose index cannot be read: kept for an operator.
            forget(svc, file_id).await?;
            anyhow::bail!(
                "{} is finished but its side index lists no sample; left in place",
                source.display()
            );
        }
        // Nothing complete in it (or no file at all): nothing of worth is removed.
        remove_leftovers(tmp).await;
        forget(svc, file_id).await?;
        return Ok(false);
    }
    let info = media_info(&frames);
    // Published before the crash (its final name is a second link to these bytes) but
    // not yet in the library: adopt the published file as it is.
    let src = source.clone();
    if let Some(name) = tokio::task::spawn_blocking(move || sink::published_name(&src)).await?? {
        let size = tokio::fs::metadata(&source).await?.len();
        let done = adopted(file_id, plan, start, &frames, info, name, size);
        recorder::record_media(svc, plan, done).await?;
        remove_leftovers(tmp).await;
        return Ok(true);
    }
    // A half-written replay from an earlier attempt goes first.
    let replay = tmp.with_file_name(format!(".{file_id}.r.{}.part", ext(plan.format)));
    remove_leftovers(&replay).await;
    let has_video = frames.iter().any(|f| f.track == Track::Video);
    let has_audio = frames.iter().any(|f| f.track == Track::Audio);
    let mut o = create_open(
        &replay,
        plan.format,
        file_id.to_string(),
        &frames[0],
        has_video,
        has_audio,
        plan.interval_secs,
        &plan.session_id,
    )
    .await?;
    for f in &frames {
        write_frame(&mut o, f);
        flush_if_due(&mut o).await?;
    }
    finish(svc, plan, info, o).await;
    anyhow::ensure!(!journal::is_open(&svc.db, file_id).await?, "finishing the replayed file failed");
    remove_leftovers(tmp).await;
    Ok(true)
}

/// The library entry of a file published before a crash, from its own frames.
fn adopted(
    file_id: &str,
    plan: &Plan,
    start: Time90k,
    frames: &[Frame],
    info: MediaInfo,
    file_name: String,
    size: u64,
) -> recorder::Finished {
    let first = frames.iter().map(|f| f.dts).min().unwrap_or(Time90k(0));
    let last = frames.iter().map(|f| f.dts).max().unwrap_or(first);
    // The last frame lasts as long as the one before it on its track.
    let last_track = frames.iter().rev().find(|f| f.dts == last).map(|f| f.track);
    let mut on_track = frames.iter().filter(|f| Some(f.track) == last_track).map(|f| f.dts).rev();
    let last_dur = match (on_track.next(), on_track.next()) {
        (Some(a), Some(b)) => a - b,
        _ => rewind_media::Duration90k(0),
    };
    let duration = (last - first) + last_dur;
    recorder::Finished {
        file_id: file_id.to_string(),
        start,
        end: start + duration,
        duration,
        size,
        file_name,
        info,
        media_start_ms: first.as_ms(),
        session_ids: vec![plan.session_id.clone()],
    }
}

async fn remove_leftovers(tmp: &Path) {
    let _ = tokio::fs::remove_file(tmp).await;
    let _ = tokio::fs::remove_file(tmp.with_extension("idx")).await;
    let _ = tokio::fs::remove_file(tmp.with_extension("final")).await;
}

fn media_info(frames: &[Frame]) -> MediaInfo {
    let mut a = FrameAssembler::default();
    let mut info = MediaInfo::default();
    for f in frames {
        match (&*f.codec, f.track) {
            (CodecConfig::Aac(c), _) if info.audio.is_none() => {
                info.audio = Some(AudioInfo {
                    codec: c.codec_string.clone(),
                    sample_rate: c.sample_rate,
                    channels: c.channels,
                })
            }
            (_, Track::Video) if info.video.is_none() => {
                // Reuse the ingest description of a video track (codec, size).
                let body = flv_sequence_body(&f.codec);
                if let Ok(Produced::ConfigChanged) = a.video(0, &body, Time90k(0)) {
                    info.video = a.media_info().video;
                }
            }
            _ => {}
        }
    }
    info
}

fn flv_sequence_body(c: &CodecConfig) -> Bytes {
    let mut b = Vec::new();
    match c {
        CodecConfig::Avc(a) => {
            b.extend_from_slice(&[0x17, 0, 0, 0, 0]);
            b.extend_from_slice(&a.record);
        }
        CodecConfig::Hevc(h) => {
            b.extend_from_slice(&[0x90, b'h', b'v', b'c', b'1']);
            b.extend_from_slice(&h.record);
        }
        CodecConfig::Aac(_) => {}
    }
    Bytes::from(b)
}

/// Frames of a torn FLV, AAC or MP4 recording, up to the last complete one. UTC times
/// are the recording's start plus media time.
fn read_frames(path: &Path, format: Format, start: Time90k) -> anyhow::Result<Vec<Frame>> {
    let data = match std::fs::read(path) {
        Ok(d) => Bytes::from(d),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut frames = match format {
        Format::Flv => flv_frames(&data),
        Format::Aac => adts_frames(&data),
        Format::Mp4 => {
            let idx = std::fs::read(path.with_extension("idx")).unwrap_or_default();
            mp4_frames(&data, mdat_payload_offset(&data), &idx)?
        }
        Format::Hls => Vec::new(),
    };
    if let Some(first) = frames.iter().map(|f| f.dts).min() {
        for f in &mut frames {
            f.utc = start + (f.dts - first);
        }
    }
    Ok(frames)
}

fn flv_frames(data: &Bytes) -> Vec<Frame> {
    let Ok(tags) = flv::read_file(data) else { return Vec::new() };
    let mut a = FrameAssembler::default();
    let mut out = Vec::new();
    for t in tags {
        let r = match t.kind {
            TAG_VIDEO => a.video(t.timestamp_ms, &t.body, Time90k::from_ms(t.timestamp_ms as i64)),
            TAG_AUDIO => a.audio(t.timestamp_ms, &t.body, Time90k::from_ms(t.timestamp_ms as i64)),
            _ => continue,
        };
        match r {
            Ok(Produced::Frame(f)) => out.push(f),
            Ok(_) => {}
            Err(_) => break, // a torn tail
        }
    }
    out
}

fn adts_frames(data: &Bytes) -> Vec<Frame> {
    let (len, _, _) = adts::scan(data);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut codec: Option<Arc<CodecConfig>> = None;
    while pos < len {
        let h = &data[pos..pos + 7];
        let flen = ((h[3] as usize & 3) << 11) | ((h[4] as usize) << 3) | (h[5] as usize >> 5);
        let (aot, freq, ch) = ((h[2] >> 6) + 1, (h[2] >> 2) & 0x0f, ((h[2] & 1) << 2) | (h[3] >> 6));
        let codec = codec.get_or_insert_with(|| {
            let asc = [aot << 3 | freq >> 1, (freq & 1) << 7 | ch << 3];
            Arc::new(CodecConfig::Aac(
                AacConfig::parse(Bytes::copy_from_slice(&asc)).expect("ADTS fields make a valid config"),
            ))
        });
        let rate = match &**codec {
            CodecConfig::Aac(a) => a.sample_rate as i64,
            _ => 44_100,
        };
        let dts = Time90k(out.len() as i64 * 1024 * 90_000 / rate);
        out.push(Frame {
            track: Track::Audio,
            dts,
            pts: dts,
            utc: dts,
            keyframe: true,
            discontinuity: false,
            codec: codec.clone(),
            data: data.slice(pos + 7..pos + flen),
        });
        pos += flen;
    }
    out
}

/// Where the samples start: after the `mdat` header, which follows `ftyp` in a torn
/// recording and `ftyp` + `moov` in its finished moov-first rewrite.
fn mdat_payload_offset(data: &[u8]) -> usize {
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        if &data[pos + 4..pos + 8] == b"mdat" {
            return pos + if size == 1 { 16 } else { 8 };
        }
        if size < 8 {
            break;
        }
        pos += size;
    }
    mp4::ftyp().len() + 16
}

fn mp4_frames(data: &Bytes, samples_at: usize, idx: &[u8]) -> anyhow::Result<Vec<Frame>> {
    let mut offset = samples_at;
    let mut codecs: [Option<Arc<CodecConfig>>; 2] = [None, None];
    let mut out = Vec::new();
    let mut p = 0;
    while p < idx.len() {
        match idx[p] {
            IDX_CODEC if p + 7 <= idx.len() => {
                let (t, kind) = (idx[p + 1] as usize & 1, idx[p + 2]);
                let n = u32::from_be_bytes(idx[p + 3..p + 7].try_into()?) as usize;
                let Some(rec) = idx.get(p + 7..p + 7 + n) else { break };
                let rec = Bytes::copy_from_slice(rec);
                codecs[t] = Some(Arc::new(match kind {
                    0 => CodecConfig::Avc(AvcConfig::parse(rec)?),
                    1 => CodecConfig::Hevc(HevcConfig::parse(rec)?),
                    _ => CodecConfig::Aac(AacConfig::parse(rec)?),
                }));
                p += 7 + n;
            }
            IDX_SAMPLE if p + 23 <= idx.len() => {
                let t = idx[p + 1] as usize & 1;
                let key = idx[p + 2] != 0;
                let size = u32::from_be_bytes(idx[p + 3..p + 7].try_into()?) as usize;
                let dts = i64::from_be_bytes(idx[p + 7..p + 15].try_into()?);
                let cts = i32::from_be_bytes(idx[p + 15..p + 19].try_into()?) as i64;
                p += 19;
                let (Some(codec), true) = (codecs[t].clone(), offset + size <= data.len()) else { break };
                out.push(Frame {
                    track: if t == 0 { Track::Video } else { Track::Audio },
                    dts: Time90k(dts),
                    pts: Time90k(dts + cts),
                    utc: Time90k(dts),
                    keyframe: key,
                    discontinuity: false,
                    codec,
                    data: data.slice(offset..offset + size),
                });
                offset += size;
            }
            _ => break, // a torn record
        }
    }
    Ok(out)
}

/// An HLS recording: its segments stay where they are; the last is cut after its last
/// complete packet. One that may still be spliced (its window has not passed: counted
/// from the park, or from its last write when the crash ended its push) is parked
/// again, so a re-push after the restart continues it (B-S4); the others are finished.
/// Duration given to the last frame of a recovered HLS push (90 kHz ticks, 40 ms).
const LAST_FRAME_GUESS: i64 = 3_600;

async fn recover_hls(
    svc: &Arc<Services>,
    file_id: &str,
    dir: &Path,
    plan: &Plan,
    start: Time90k,
    parked_until: Option<i64>,
    spliced: Option<SpliceState>,
) -> anyhow::Result<bool> {
    let state = spliced.unwrap_or_else(|| SpliceState {
        session_ids: vec![plan.session_id.clone()],
        resumed_at_utc_90k: Some(start.0),
        ..Default::default()
    });
    let known: Vec<String> = state.segments.iter().map(|s| s.file.clone()).collect();
    // Published (renamed, maybe with its playlist) before the crash, not yet in the
    // library: the folder is found by its marker and adopted, never lost.
    let published = if tokio::fs::metadata(dir).await.is_err() {
        let (d, id) = (dir.to_path_buf(), file_id.to_string());
        tokio::task::spawn_blocking(move || hls_file::published_folder(&d, &id)).await?
    } else {
        None
    };
    let parent = dir.parent().ok_or_else(|| anyhow::anyhow!("no folder"))?.to_path_buf();
    let d = published.as_ref().map_or(dir.to_path_buf(), |f| parent.join(f));
    let (scanned, last_write) = tokio::task::spawn_blocking(move || scan_segments(&d, &known)).await??;
    let mut segments = state.segments.clone();
    if let (Some(first), Some(utc)) = (scanned.first(), state.resumed_at_utc_90k) {
        // 33-bit timestamps: differences are taken modulo 2^33.
        let wrap = |a: i64, b: i64| (b - a).rem_euclid(1 << 33);
        let base = first.1;
        let pushes_before = !segments.is_empty();
        for (i, (file, first_dts, last_dts, bytes)) in scanned.iter().enumerate() {
            // The last frame's own duration is not in the scan: one 25 fps frame stands
            // in for it, so a push that resumes this recording starts after every track.
            let end = scanned.get(i + 1).map_or(*last_dts + LAST_FRAME_GUESS, |n| n.1);
            segments.push(HlsSegment {
                file: file.clone(),
                dts_90k: base + wrap(base, *first_dts),
                utc_90k: utc + wrap(base, *first_dts),
                bytes: *bytes,
                duration_90k: Some(wrap(*first_dts, end)),
                discontinuity: i == 0 && pushes_before && !state.open_continues,
            });
        }
    }
    if segments.is_empty() && published.is_none() {
        let _ = tokio::fs::remove_dir_all(dir).await;
        forget(svc, file_id).await?;
        return Ok(false);
    }
    let h = HlsState::new(ts::TsMuxer::new(None, false), dir.to_path_buf(), segments, state.session_ids);
    let id = StreamId { domain: plan.domain.clone(), app: plan.app.clone(), stream: plan.stream.clone() };
    let info = if state.info == MediaInfo::default() {
        svc.registry.known_one(&id).await.ok().flatten().map(|k| k.last_info).unwrap_or_default()
    } else {
        state.info
    };
    if let Some(folder) = published {
        let h2 = HlsState::new(ts::TsMuxer::new(None, false), h.dir.clone(), h.segments.clone(), Vec::new());
        let f = folder.clone();
        let size = tokio::task::spawn_blocking(move || hls_file::write_vod_playlist(&h2, &parent, &f, true))
            .await??;
        recorder::record_hls(svc, plan, file_id, &h, info, &folder, size).await?;
        recorder::status(svc, plan, file_id, RecordStatus::Ended, "recovered after a crash");
        return Ok(true);
    }
    let until_unix = parked_until.unwrap_or(last_write + plan.flow_continue_secs as i64);
    if splice::wanted(plan) && until_unix > svc.clock.now_unix() {
        let p =
            Parked { plan: plan.clone(), file_id: file_id.to_string(), hls: h, info, until_unix, park: 0 };
        splice::store(svc, &p).await?;
        if splice::ships(svc, plan) {
            // Segments whose shipping the crash cut short: another node may continue
            // this recording, and reads them from the bucket.
            splice::ship_local(svc, &p.hls).await;
        }
        tracing::warn!(%file_id, stream = %id, until_unix, "an HLS recording interrupted inside its splice window waits for a re-push again");
        splice::keep(svc, id, p);
        return Ok(true);
    }
    finish_hls(svc, plan, file_id, &h, info).await?;
    recorder::status(svc, plan, file_id, RecordStatus::Ended, "recovered after a crash");
    Ok(true)
}

/// The `.ts` files of a recording's folder not in `known`, in order, as (name, first
/// dts, last dts or later pts, bytes) — the last cut after its last complete packet — and the Unix
/// time of the latest write to any segment.
#[allow(clippy::type_complexity)]
fn scan_segments(dir: &Path, known: &[String]) -> anyhow::Result<(Vec<(String, i64, i64, u64)>, i64)> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".ts"))
            .collect(),
        Err(_) => return Ok((Vec::new(), 0)),
    };
    names.sort();
    let mut last_write = 0;
    for n in &names {
        if let Ok(t) = std::fs::metadata(dir.join(n)).and_then(|m| m.modified()) {
            let secs = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            last_write = last_write.max(secs);
        }
    }
    names.retain(|n| !known.contains(n));
    let mut out = Vec::new();
    let last = names.len().saturating_sub(1);
    for (i, n) in names.iter().enumerate() {
        let path = dir.join(n);
        let data = std::fs::read(&path)?;
        // Finished segments are whole; the last may be torn: cut it.
        let scan = ts::scan(&data);
        let keep = if i == last { scan.complete_len } else { data.len() };
        let (Some(first), Some(end)) = (scan.first_dts, scan.last_dts) else {
            std::fs::remove_file(&path)?;
            continue;
        };
        if keep < data.len() {
            std::fs::OpenOptions::new().write(true).open(&path)?.set_len(keep as u64)?;
        }
        // With B-frames the last frame presented may come after the last decoded.
        let wrap = |t: i64| (t - first).rem_euclid(1 << 33);
        let end = scan.max_pts.filter(|p| wrap(*p) > wrap(end)).unwrap_or(end);
        out.push((n.clone(), first, end, keep as u64));
    }
    Ok((out, last_write))
}
