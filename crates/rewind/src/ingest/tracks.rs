//! What every ingest protocol does with a publish session's media once it has decoded
//! it (RTMP's FLV bodies today, RTSP's RTP next): the tracks' codec configurations (a
//! change is reported only when the configuration differs), decode timestamps that
//! never go backwards, the wall-clock anchor, frame counts for the measured frame rate,
//! and the media description the API shows. Protocol parsing stays in the protocol's
//! module (`frames` for FLV).

use crate::registry::{AudioInfo, MediaInfo, VideoInfo};
use bytes::Bytes;
use rewind_media::time::{SteeredAnchor, TICKS_PER_MS, WallAnchor};
use rewind_media::{CodecConfig, CodecError, Duration90k, Frame, Time90k, Track};
use std::sync::Arc;

/// Why a media message closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A malformed message or codec configuration.
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
    /// or a codec we do not record — the latter reported once).
    Nothing,
}

#[derive(Debug, Default)]
struct TrackState {
    codec: Option<Arc<CodecConfig>>,
    last_dts: Option<Time90k>,
    frames: u64,
    first_dts: Option<Time90k>,
    unsupported_warned: bool,
}

/// How a session's media time becomes wall-clock time.
#[derive(Debug)]
enum Clock {
    /// A push: anchored at its first frame's arrival (a push is a session of hours).
    Pushed(WallAnchor),
    /// A pulled camera (days without a break): steered toward the camera's NTP time
    /// when its sender reports are trusted, else toward the receive time.
    Pulled {
        anchor: SteeredAnchor,
        /// The last trusted sender report: (media time, its NTP wall time).
        sender: Option<(Time90k, Time90k)>,
    },
}

/// Media that stalls for more than this against the wall clock re-anchors (a gap).
const MAX_LAG: Duration90k = Duration90k::from_secs(10);
/// How fast a pulled camera's wall time may be steered: 500 ppm (cameras drift tens).
const MAX_STEER_RATE: f64 = 500e-6;
/// A camera whose NTP time is further than this from ours has no trusted clock.
pub const MAX_CAMERA_CLOCK_OFFSET: Duration90k = Duration90k::from_secs(5);

/// One publish session's tracks.
#[derive(Debug)]
pub struct Tracks {
    video: TrackState,
    audio: TrackState,
    clock: Clock,
}

impl Default for Tracks {
    fn default() -> Self {
        Tracks {
            video: TrackState::default(),
            audio: TrackState::default(),
            clock: Clock::Pushed(WallAnchor::new(MAX_LAG)),
        }
    }
}

impl Tracks {
    /// The tracks of a pulled camera: wall time that does not drift over days.
    pub fn pulled() -> Self {
        Tracks {
            clock: Clock::Pulled { anchor: SteeredAnchor::new(MAX_LAG, MAX_STEER_RATE), sender: None },
            ..Tracks::default()
        }
    }

    /// A sender report of a pulled camera: media time `dts` was `utc` on the camera's
    /// clock, received at `now`. Used from now on when within
    /// `MAX_CAMERA_CLOCK_OFFSET` of our clock; false when not trusted.
    pub fn sender_report(&mut self, dts: Time90k, utc: Time90k, now: Time90k) -> bool {
        let Clock::Pulled { sender, .. } = &mut self.clock else { return false };
        let trusted = (utc - now).0.abs() <= MAX_CAMERA_CLOCK_OFFSET.0;
        *sender = trusted.then_some((dts, utc));
        trusted
    }

    fn track(&mut self, track: Track) -> &mut TrackState {
        if track == Track::Video { &mut self.video } else { &mut self.audio }
    }

    /// The configuration of `track`, once one arrived.
    pub fn codec(&self, track: Track) -> Option<&CodecConfig> {
        if track == Track::Video { self.video.codec.as_deref() } else { self.audio.codec.as_deref() }
    }

    /// A configuration arrived for `track`; encoders repeat theirs, so only a
    /// different one is a change.
    pub fn configure(&mut self, track: Track, c: CodecConfig) -> Produced {
        let t = self.track(track);
        if t.codec.as_deref() == Some(&c) {
            return Produced::Nothing;
        }
        t.codec = Some(Arc::new(c));
        Produced::ConfigChanged
    }

    /// A codec error on `track`: unsupported codecs are logged once and skipped, the
    /// rest close the connection.
    pub fn codec_error(&mut self, track: Track, e: CodecError) -> Result<Produced, FrameError> {
        match e {
            CodecError::Unsupported(what) => {
                let t = self.track(track);
                if !t.unsupported_warned {
                    t.unsupported_warned = true;
                    tracing::warn!(track = track_name(track), %what, "skipping a track we do not record");
                }
                Ok(Produced::Nothing)
            }
            e => Err(e.into()),
        }
    }

    /// A frame of `track` decoded at `dts` (presented `cts` later), received at `now`.
    /// Nothing before the track's configuration (it could not be decoded); an error
    /// when its decode time goes backwards.
    pub fn frame(
        &mut self,
        track: Track,
        dts: Time90k,
        cts: Duration90k,
        keyframe: bool,
        data: Bytes,
        now: Time90k,
    ) -> Result<Produced, FrameError> {
        let t = self.track(track);
        let Some(codec) = t.codec.clone() else { return Ok(Produced::Nothing) };
        if let Some(last) = t.last_dts
            && dts < last
        {
            return Err(FrameError::Timestamp(format!(
                "{} timestamp went backwards from {} ms to {} ms",
                track_name(track),
                last.0 / TICKS_PER_MS,
                dts.0 / TICKS_PER_MS
            )));
        }
        t.last_dts = Some(dts);
        t.frames += 1;
        t.first_dts.get_or_insert(dts);
        let (utc, discontinuity) = match &mut self.clock {
            Clock::Pushed(a) => a.wall_of(dts, now),
            Clock::Pulled { anchor, sender } => {
                let reference = sender.map_or(now, |(d, u)| u + (dts - d));
                anchor.wall_of(dts, now, reference)
            }
        };
        Ok(Produced::Frame(Frame { track, dts, pts: dts + cts, utc, keyframe, discontinuity, codec, data }))
    }

    /// The media description: codecs, sizes and the measured frame rate.
    pub fn media_info(&self) -> MediaInfo {
        let v = &self.video;
        let video = v.codec.as_deref().and_then(|c| {
            let (width, height) = c.dimensions()?;
            let measured = match (v.first_dts, v.last_dts) {
                (Some(first), Some(last)) if v.frames >= 2 && last > first => {
                    Some((v.frames - 1) as f64 / (last - first).as_secs_f64())
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

fn track_name(t: Track) -> &'static str {
    if t == Track::Video { "video" } else { "audio" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewind_media::aac::AacConfig;

    #[test]
    fn frames_need_a_configuration_and_time_that_never_goes_back() {
        let mut t = Tracks::default();
        let now = Time90k(1_000_000);
        let data = Bytes::from_static(b"x");
        let f = |t: &mut Tracks, ms: i64| {
            t.frame(Track::Audio, Time90k(ms * 90), Duration90k(0), true, data.clone(), now)
        };
        assert!(matches!(f(&mut t, 0).unwrap(), Produced::Nothing), "before a configuration");
        let asc = AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap();
        assert!(matches!(t.configure(Track::Audio, CodecConfig::Aac(asc.clone())), Produced::ConfigChanged));
        assert!(matches!(t.configure(Track::Audio, CodecConfig::Aac(asc)), Produced::Nothing));
        let Produced::Frame(first) = f(&mut t, 100).unwrap() else { panic!() };
        assert_eq!((first.dts, first.utc), (Time90k(9_000), now));
        assert!(matches!(f(&mut t, 100).unwrap(), Produced::Frame(_)), "equal is not backwards");
        let e = f(&mut t, 50).unwrap_err();
        assert_eq!(e.to_string(), "audio timestamp went backwards from 100 ms to 50 ms");
        assert_eq!(t.media_info().audio.unwrap().sample_rate, 44100);
        assert!(t.codec(Track::Video).is_none());
        assert!(matches!(
            t.codec_error(Track::Video, CodecError::Unsupported("VP6".into())).unwrap(),
            Produced::Nothing
        ));
        assert!(t.codec_error(Track::Video, CodecError::Invalid("bad")).is_err());
    }

    #[test]
    fn a_pulled_camera_takes_its_clock_from_trusted_sender_reports() {
        let asc = AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap();
        let now = Time90k(1_700_000_000 * 90_000);
        let data = Bytes::from_static(b"x");
        let mut t = Tracks::pulled();
        t.configure(Track::Audio, CodecConfig::Aac(asc.clone()));
        // The camera's clock is 2 s behind ours: within the bound, so trusted.
        let camera = now - Duration90k::from_secs(2);
        assert!(t.sender_report(Time90k(0), camera, now));
        let f = |t: &mut Tracks, dts: i64| match t.frame(
            Track::Audio,
            Time90k(dts),
            Duration90k(0),
            true,
            data.clone(),
            now,
        ) {
            Ok(Produced::Frame(f)) => f.utc,
            other => panic!("{other:?}"),
        };
        assert_eq!(f(&mut t, 9_000), camera + Duration90k(9_000));
        // A camera clock a minute off is not trusted: receive time instead.
        let mut t = Tracks::pulled();
        t.configure(Track::Audio, CodecConfig::Aac(asc));
        assert!(!t.sender_report(Time90k(0), now - Duration90k::from_secs(60), now));
        assert_eq!(f(&mut t, 9_000), now);
        assert!(!Tracks::default().sender_report(Time90k(0), now, now), "pushes keep their anchor");
    }
}
