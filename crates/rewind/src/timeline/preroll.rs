//! Pre-roll from the timeline: the frames of a stream's recent past read back from its
//! chunk files, for event clips on streams that keep no pre-roll in memory.

use crate::registry::LiveStream;
use crate::server::Services;
use crate::timeline::window::Window;
use crate::timeline::{index, select};
use rewind_media::mux::cmaf::{self, AUDIO_TRACK_ID, VIDEO_TRACK_ID};
use rewind_media::time::TICKS_PER_SECOND;
use rewind_media::{CodecConfig, Duration90k, Frame, Time90k, Track};

/// Two clocks closer than this are taken to be the same instant at the junction of the
/// timeline and the live GOP.
const JOIN_SLACK: Duration90k = Duration90k::from_secs(3);

/// The frames from the last key frame at or before `from` up to the current GOP, read
/// from the timeline with decode times on the live session's clock. Empty when the
/// timeline does not have them or uses other codec settings than the stream now.
pub async fn frames_since(svc: &Services, live: &LiveStream, from: Time90k) -> Vec<Frame> {
    match read(svc, live, from).await {
        Ok(frames) => frames,
        Err(e) => {
            tracing::warn!(stream = %live.id, error = %e, "no pre-roll from the timeline; the clip starts at the current GOP");
            Vec::new()
        }
    }
}

async fn read(svc: &Services, live: &LiveStream, from: Time90k) -> anyhow::Result<Vec<Frame>> {
    let stream_id = live.id.to_string();
    let (video, audio) = live.hub.codecs();
    let Some((gop_dts, gop_utc)) = live.hub.gop_head() else { return Ok(Vec::new()) };
    let until = gop_utc.max(from + Duration90k(1));
    let sel = match select::select(svc, &stream_id, Window::Between(from, until)).await {
        Ok(sel) => sel,
        Err(_) => return Ok(Vec::new()),
    };
    let first = &sel.segments[0];
    let codecs = index::init_codecs(&svc.db, &stream_id, first.init_id).await?.unwrap_or_default();
    let now_codecs: Vec<&str> = [&video, &audio].into_iter().flatten().map(|c| c.codec_string()).collect();
    if sel.segments.iter().any(|s| s.init_id != first.init_id) || codecs != now_codecs.join(",") {
        anyhow::bail!("the timeline's codec settings ({codecs}) are not the stream's now");
    }
    let sample_rate = match audio.as_deref() {
        Some(CodecConfig::Aac(a)) => a.sample_rate.max(1) as u64,
        _ => 48_000,
    };
    // Timeline times are the run's wall clock; live decode times are the session's.
    let last_end = sel.segments.last().expect("a selection is never empty").frag.end();
    let offset =
        if (gop_utc - last_end).0.abs() <= JOIN_SLACK.0 { last_end - gop_dts } else { gop_utc - gop_dts };
    let mut frames = Vec::new();
    for s in sel.segments.iter().filter(|s| s.frag.start < gop_utc) {
        let key = crate::storage::keys::chunk(&stream_id, s.chunk_start);
        let buf = svc.storage.read_range(&key, s.frag.offset, s.frag.offset + s.frag.size as u64).await?;
        for smp in cmaf::read_samples(&buf) {
            let (track, codec, utc, cts) = match smp.track_id {
                VIDEO_TRACK_ID => (Track::Video, &video, Time90k(smp.decode_time as i64), smp.cts as i64),
                AUDIO_TRACK_ID => {
                    let t = (smp.decode_time as u128 * TICKS_PER_SECOND as u128 / sample_rate as u128) as i64;
                    (Track::Audio, &audio, Time90k(t), 0)
                }
                _ => continue,
            };
            let Some(codec) = codec.clone() else { continue };
            let dts = Time90k(utc.0 - offset.0);
            frames.push(Frame {
                track,
                dts,
                pts: Time90k(dts.0 + cts),
                utc,
                keyframe: smp.key,
                discontinuity: false,
                codec,
                data: buf.slice(smp.data),
            });
        }
    }
    // Each fragment holds its video, then its audio: interleave them by time.
    frames.sort_by_key(|f| f.dts);
    Ok(frames)
}
