//! FLV tag bodies (as RTMP carries them) → `Frame`s: codec configuration tracking,
//! 32-bit timestamp unwrapping, composition offsets and the wall-clock anchor.

use crate::registry::{AudioInfo, MediaInfo, VideoInfo};
use bytes::Bytes;
use rewind_media::flv::{self, AudioPacket, VideoCodec, VideoPacket};
use rewind_media::time::{TICKS_PER_MS, Unwrap32, WallAnchor};
use rewind_media::{
    CodecConfig, CodecError, Duration90k, Frame, Time90k, Track, aac::AacConfig, avc::AvcConfig,
    hevc::HevcConfig,
};
use std::sync::Arc;

/// Why a media message closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A malformed tag or codec configuration.
    #[error("{0}")]
    Codec(#[from] CodecError),
    /// A track's decode timestamps went backwards.
    #[error("{0}")]
    Timestamp(String),
}

impl FrameError {
    /// Metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            FrameError::Codec(_) => "codec",
            FrameError::Timestamp(_) => "timestamp",
        }
    }
}

/// What a media message produced.
#[derive(Debug)]
pub enum Produced {
    /// A frame for the hub.
    Frame(Frame),
    /// A new codec configuration: the media description changed.
    ConfigChanged,
    /// Nothing to forward (end-of-sequence, info frames, frames before a configuration,
    /// or a codec we do not record — the latter reported once through `unsupported`).
    Nothing,
}

#[derive(Debug, Default)]
struct TrackState {
    codec: Option<Arc<CodecConfig>>,
    ts: Unwrap32,
    last_dts_ms: Option<i64>,
    frames: u64,
    first_dts: Option<Time90k>,
    last_dts: Time90k,
    unsupported_warned: bool,
}

/// Turns one publish session's audio and video messages into frames.
#[derive(Debug)]
pub struct FrameAssembler {
    video: TrackState,
    audio: TrackState,
    anchor: WallAnchor,
}

impl Default for FrameAssembler {
    fn default() -> Self {
        // Media that stalls for more than 10 s against the wall clock re-anchors (a gap).
        FrameAssembler {
            video: TrackState::default(),
            audio: TrackState::default(),
            anchor: WallAnchor::new(Duration90k::from_secs(10)),
        }
    }
}

/// Returns `Some(error)` only for errors that must close the connection; unsupported
/// codecs are logged once and skipped.
fn triage(t: &mut TrackState, e: CodecError, track: &str) -> Result<Produced, FrameError> {
    match e {
        CodecError::Unsupported(what) => {
            if !t.unsupported_warned {
                t.unsupported_warned = true;
                tracing::warn!(track, %what, "skipping a track we do not record");
            }
            Ok(Produced::Nothing)
        }
        e => Err(e.into()),
    }
}

impl FrameAssembler {
    fn set_codec(t: &mut TrackState, c: CodecConfig) -> Produced {
        // Encoders repeat sequence headers; only a different configuration is a change.
        if t.codec.as_deref() == Some(&c) {
            return Produced::Nothing;
        }
        t.codec = Some(Arc::new(c));
        Produced::ConfigChanged
    }

    fn stamp(t: &mut TrackState, raw_ms: u32, name: &str) -> Result<i64, FrameError> {
        let ms = t.ts.unwrap(raw_ms);
        if let Some(last) = t.last_dts_ms
            && ms < last
        {
            return Err(FrameError::Timestamp(format!(
                "{name} timestamp went backwards from {last} ms to {ms} ms"
            )));
        }
        t.last_dts_ms = Some(ms);
        Ok(ms)
    }

    fn frame(
        &mut self,
        track: Track,
        dts_ms: i64,
        cts_ms: i32,
        keyframe: bool,
        data: Bytes,
        now: Time90k,
    ) -> Frame {
        let dts = Time90k(dts_ms * TICKS_PER_MS);
        let (utc, discontinuity) = self.anchor.wall_of(dts, now);
        let t = if track == Track::Video { &mut self.video } else { &mut self.audio };
        t.frames += 1;
        t.first_dts.get_or_insert(dts);
        t.last_dts = dts;
        Frame {
            track,
            dts,
            pts: Time90k(dts.0 + cts_ms as i64 * TICKS_PER_MS),
            utc,
            keyframe,
            discontinuity,
            codec: t.codec.clone().expect("frames are made only after a configuration"),
            data,
        }
    }

    /// Handles a video message body with its RTMP timestamp, received at `now`.
    pub fn video(&mut self, raw_ms: u32, body: &Bytes, now: Time90k) -> Result<Produced, FrameError> {
        let packet = match flv::parse_video(body) {
            Ok(p) => p,
            Err(e) => return triage(&mut self.video, e, "video"),
        };
        match packet {
            VideoPacket::SequenceStart(codec, record) => {
                let c = match codec {
                    VideoCodec::Avc => CodecConfig::Avc(AvcConfig::parse(record)?),
                    VideoCodec::Hevc => CodecConfig::Hevc(HevcConfig::parse(record)?),
                };
                Ok(Self::set_codec(&mut self.video, c))
            }
            VideoPacket::Frame { codec, keyframe, cts_ms, data } => {
                let matches = match (self.video.codec.as_deref(), codec) {
                    (Some(CodecConfig::Avc(_)), VideoCodec::Avc)
                    | (Some(CodecConfig::Hevc(_)), VideoCodec::Hevc) => true,
                    (None, _) => return Ok(Produced::Nothing), // no configuration yet: undecodable
                    _ => false,
                };
                if !matches {
                    return Err(
                        CodecError::Invalid("video frame codec differs from its sequence header").into()
                    );
                }
                let dts_ms = Self::stamp(&mut self.video, raw_ms, "video")?;
                Ok(Produced::Frame(self.frame(Track::Video, dts_ms, cts_ms, keyframe, data, now)))
            }
            VideoPacket::Ignored => Ok(Produced::Nothing),
        }
    }

    /// Handles an audio message body with its RTMP timestamp, received at `now`.
    pub fn audio(&mut self, raw_ms: u32, body: &Bytes, now: Time90k) -> Result<Produced, FrameError> {
        let packet = match flv::parse_audio(body) {
            Ok(p) => p,
            Err(e) => return triage(&mut self.audio, e, "audio"),
        };
        match packet {
            AudioPacket::AacConfig(asc) => {
                Ok(Self::set_codec(&mut self.audio, CodecConfig::Aac(AacConfig::parse(asc)?)))
            }
            AudioPacket::AacFrame(data) => {
                if self.audio.codec.is_none() {
                    return Ok(Produced::Nothing);
                }
                let dts_ms = Self::stamp(&mut self.audio, raw_ms, "audio")?;
                Ok(Produced::Frame(self.frame(Track::Audio, dts_ms, 0, true, data, now)))
            }
        }
    }

    /// The media description: codecs, sizes and the measured frame rate.
    pub fn media_info(&self) -> MediaInfo {
        let video = self.video.codec.as_deref().and_then(|c| {
            let (width, height) = c.dimensions()?;
            let measured = match self.video.first_dts {
                Some(first) if self.video.frames >= 2 && self.video.last_dts > first => {
                    Some((self.video.frames - 1) as f64 / (self.video.last_dts - first).as_secs_f64())
                }
                _ => None,
            };
            let hint = match c {
                CodecConfig::Avc(a) => a.fps,
                _ => None,
            };
            let fps = measured.or(hint).unwrap_or(0.0);
            Some(VideoInfo {
                codec: c.codec_string().to_string(),
                width,
                height,
                fps: (fps * 100.0).round() / 100.0,
            })
        });
        let audio = self.audio.codec.as_deref().and_then(|c| match c {
            CodecConfig::Aac(a) => Some(AudioInfo {
                codec: a.codec_string.clone(),
                sample_rate: a.sample_rate,
                channels: a.channels,
            }),
            _ => None,
        });
        MediaInfo { video, audio }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASC: &[u8] = &[0xaf, 0x00, 0x12, 0x10];

    #[test]
    fn audio_frames_carry_unwrapped_timestamps_and_backwards_is_an_error() {
        let mut a = FrameAssembler::default();
        let now = Time90k(1_000_000);
        assert!(matches!(a.audio(0, &Bytes::from_static(ASC), now).unwrap(), Produced::ConfigChanged));
        assert!(
            matches!(a.audio(0, &Bytes::from_static(ASC), now).unwrap(), Produced::Nothing),
            "repeat is no change"
        );
        let raw = Bytes::from_static(&[0xaf, 0x01, 0x21]);
        let Produced::Frame(f) = a.audio(u32::MAX, &raw, now).unwrap() else { panic!() };
        assert_eq!(f.dts, Time90k(u32::MAX as i64 * 90));
        let Produced::Frame(f) = a.audio(20, &raw, now).unwrap() else { panic!() };
        assert_eq!(f.dts, Time90k((u32::MAX as i64 + 21) * 90), "wrap crossed");
        assert!(matches!(a.audio(10, &raw, now), Err(FrameError::Timestamp(_))));
        let m = a.media_info();
        assert_eq!(m.audio.unwrap().sample_rate, 44100);
        assert!(m.video.is_none());
    }

    #[test]
    fn corrupt_sequence_header_is_an_error_and_unsupported_codec_is_skipped() {
        let mut a = FrameAssembler::default();
        assert!(a.video(0, &Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 2]), Time90k(0)).is_err());
        assert!(matches!(
            a.audio(0, &Bytes::from_static(&[0x2f, 1, 2]), Time90k(0)).unwrap(),
            Produced::Nothing
        ));
    }
}
