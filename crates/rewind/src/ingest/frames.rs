//! FLV tag bodies (as RTMP carries them) → `Frame`s: the FLV parsing, RTMP's 32-bit
//! millisecond timestamps (unwrapped) and composition offsets; what every protocol
//! does with the result — configurations, monotonic time, the wall-clock anchor, the
//! media description — is `tracks`.

use crate::ingest::tracks::Tracks;
pub use crate::ingest::tracks::{FrameError, Produced};
use crate::registry::MediaInfo;
use bytes::Bytes;
use rewind_media::flv::{self, AudioPacket, VideoCodec, VideoPacket};
use rewind_media::time::{TICKS_PER_MS, Unwrap32};
use rewind_media::{
    CodecConfig, CodecError, Duration90k, Time90k, Track, aac::AacConfig, avc::AvcConfig, hevc::HevcConfig,
};

/// Turns one publish session's audio and video messages into frames.
#[derive(Debug, Default)]
pub struct FrameAssembler {
    tracks: Tracks,
    video_ts: Unwrap32,
    audio_ts: Unwrap32,
}

fn ticks(ms: i64) -> Time90k {
    Time90k(ms * TICKS_PER_MS)
}

impl FrameAssembler {
    /// Handles a video message body with its RTMP timestamp, received at `now`.
    pub fn video(&mut self, raw_ms: u32, body: &Bytes, now: Time90k) -> Result<Produced, FrameError> {
        let packet = match flv::parse_video(body) {
            Ok(p) => p,
            Err(e) => return self.tracks.codec_error(Track::Video, e),
        };
        match packet {
            VideoPacket::SequenceStart(codec, record) => {
                let c = match codec {
                    VideoCodec::Avc => CodecConfig::Avc(AvcConfig::parse(record)?),
                    VideoCodec::Hevc => CodecConfig::Hevc(HevcConfig::parse(record)?),
                };
                Ok(self.tracks.configure(Track::Video, c))
            }
            VideoPacket::Frame { codec, keyframe, cts_ms, data } => {
                let matches = match (self.tracks.codec(Track::Video), codec) {
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
                let dts = ticks(self.video_ts.unwrap(raw_ms));
                let cts = Duration90k(cts_ms as i64 * TICKS_PER_MS);
                self.tracks.frame(Track::Video, dts, cts, keyframe, data, now)
            }
            VideoPacket::Ignored => Ok(Produced::Nothing),
        }
    }

    /// Handles an audio message body with its RTMP timestamp, received at `now`.
    pub fn audio(&mut self, raw_ms: u32, body: &Bytes, now: Time90k) -> Result<Produced, FrameError> {
        let packet = match flv::parse_audio(body) {
            Ok(p) => p,
            Err(e) => return self.tracks.codec_error(Track::Audio, e),
        };
        match packet {
            AudioPacket::AacConfig(asc) => {
                Ok(self.tracks.configure(Track::Audio, CodecConfig::Aac(AacConfig::parse(asc)?)))
            }
            AudioPacket::AacFrame(data) => {
                if self.tracks.codec(Track::Audio).is_none() {
                    return Ok(Produced::Nothing);
                }
                let dts = ticks(self.audio_ts.unwrap(raw_ms));
                self.tracks.frame(Track::Audio, dts, Duration90k(0), true, data, now)
            }
        }
    }

    /// The media description: codecs, sizes and the measured frame rate.
    pub fn media_info(&self) -> MediaInfo {
        self.tracks.media_info()
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
