//! Crash recovery: at start-up, every `recording_file` row is a recording a crash
//! interrupted. Its bytes are read back up to the last complete frame and finished like
//! a normal close, so each lands in the library playable, and the library agrees with
//! the folder again.
//!
//! FLV, AAC and MP4 are *replayed*: frames are read from what is on disk (MP4 through
//! its side index) and written again through the same muxers into a new file; the
//! torn original is removed only after the new file is in the library. HLS segments are
//! kept in place; the last one is cut before its last (possibly torn) PES.

use crate::ingest::frames::{FrameAssembler, Produced};
use crate::recording::recorder::{
    HlsState, IDX_CODEC, IDX_SAMPLE, Plan, create_open, ext, finish, flush_if_due, publish_hls, record_media,
    render_name, write_frame,
};
use crate::recording::template::Format;
use crate::registry::{AudioInfo, MediaInfo};
use crate::server::Services;
use crate::stream_id::StreamId;
use bytes::Bytes;
use rewind_media::flv::{self, TAG_AUDIO, TAG_VIDEO};
use rewind_media::mux::{adts, mp4, ts};
use rewind_media::{
    CodecConfig, Duration90k, Frame, Time90k, Track, aac::AacConfig, avc::AvcConfig, hevc::HevcConfig,
};
use sqlx::Row;
use std::path::Path;
use std::sync::Arc;

/// Repairs and finishes every interrupted recording. Returns how many files were kept.
pub async fn recover_all(svc: &Arc<Services>) -> anyhow::Result<usize> {
    let rows =
        sqlx::query("SELECT file_id, format, tmp_path, plan, start_90k FROM recording_file ORDER BY file_id")
            .fetch_all(&svc.db.pool)
            .await?;
    let mut kept = 0;
    for r in rows {
        let file_id: String = r.try_get(0)?;
        let tmp = svc.media_root().join(r.try_get::<String, _>(2)?);
        let plan: Plan = match serde_json::from_str(&r.try_get::<String, _>(3)?) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(%file_id, error = %e, "interrupted recording has an unreadable plan; left for an operator");
                continue;
            }
        };
        let start = Time90k(r.try_get(4)?);
        match recover_one(svc, &file_id, &tmp, &plan, start).await {
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
    sqlx::query("DELETE FROM recording_file WHERE file_id = $1").bind(file_id).execute(&svc.db.pool).await?;
    Ok(())
}

async fn recover_one(
    svc: &Arc<Services>,
    file_id: &str,
    tmp: &Path,
    plan: &Plan,
    start: Time90k,
) -> anyhow::Result<bool> {
    if plan.format == Format::Hls {
        return recover_hls(svc, file_id, tmp, plan, start).await;
    }
    let (path, fmt) = (tmp.to_path_buf(), plan.format);
    let frames = tokio::task::spawn_blocking(move || read_frames(&path, fmt, start)).await??;
    if frames.is_empty() {
        remove_leftovers(tmp).await;
        forget(svc, file_id).await?;
        return Ok(false);
    }
    let info = media_info(&frames);
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
    )
    .await?;
    for f in &frames {
        write_frame(&mut o, f);
        flush_if_due(&mut o).await?;
    }
    finish(svc, plan, info, o).await;
    let still_open: Option<String> =
        sqlx::query_scalar("SELECT file_id FROM recording_file WHERE file_id = $1")
            .bind(file_id)
            .fetch_optional(&svc.db.pool)
            .await?;
    anyhow::ensure!(still_open.is_none(), "finishing the replayed file failed");
    remove_leftovers(tmp).await;
    Ok(true)
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
        Format::Mp4 => mp4_frames(&data, &std::fs::read(path.with_extension("idx")).unwrap_or_default())?,
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

fn mp4_frames(data: &Bytes, idx: &[u8]) -> anyhow::Result<Vec<Frame>> {
    let mut offset = mp4::ftyp().len() + 16;
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

async fn recover_hls(
    svc: &Arc<Services>,
    file_id: &str,
    dir: &Path,
    plan: &Plan,
    start: Time90k,
) -> anyhow::Result<bool> {
    let d = dir.to_path_buf();
    let segments = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(String, i64, i64, u64)>> {
        let mut names: Vec<String> = match std::fs::read_dir(&d) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".ts"))
                .collect(),
            Err(_) => return Ok(Vec::new()),
        };
        names.sort();
        let mut out = Vec::new();
        let last = names.len().saturating_sub(1);
        for (i, n) in names.iter().enumerate() {
            let path = d.join(n);
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
            out.push((n.clone(), first, end, keep as u64));
        }
        Ok(out)
    })
    .await??;
    if segments.is_empty() {
        let _ = tokio::fs::remove_dir_all(dir).await;
        forget(svc, file_id).await?;
        return Ok(false);
    }
    // 33-bit timestamps: differences are taken modulo 2^33.
    let wrap = |a: i64, b: i64| (b - a).rem_euclid(1 << 33);
    let base = segments[0].1;
    let h = HlsState {
        ts: ts::TsMuxer::new(None, false),
        dir: dir.to_path_buf(),
        segments: segments
            .iter()
            .map(|(n, first, _, size)| {
                let off = Duration90k(wrap(base, *first));
                (n.clone(), Time90k(base) + off, start + off, *size)
            })
            .collect(),
        seg_start_dts: Time90k(base),
        seg_start_utc: start,
    };
    let last = segments.last().expect("non-empty");
    let duration = Duration90k(wrap(base, last.2));
    let name = render_name(plan, file_id, start, start + duration);
    let (playlist, playlist_size) = publish_hls(&h, name, Time90k(base) + duration).await?;
    let size = segments.iter().map(|s| s.3).sum::<u64>() + playlist_size;
    let id = StreamId { domain: plan.domain.clone(), app: plan.app.clone(), stream: plan.stream.clone() };
    let info = svc.registry.known_one(&id).await.ok().flatten().map(|k| k.last_info).unwrap_or_default();
    record_media(svc, plan, file_id, start, duration, size, playlist, info, Time90k(base).as_ms()).await?;
    Ok(true)
}
