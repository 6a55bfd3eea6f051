//! Codec configurations: what a decoder needs before the first frame of a track.

use crate::{aac::AacConfig, avc::AvcConfig, frame::Track, hevc::HevcConfig};

/// Why a codec configuration or bitstream could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The data ends before a field it must contain.
    #[error("{0} is truncated")]
    Truncated(&'static str),
    /// A field holds a value the standard forbids or we cannot use.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// A codec or packet kind we do not record.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// The configuration of one track's codec. A new one (compared by `Arc` pointer on
/// frames) means the encoder sent new parameter sets.
#[derive(Debug, Clone, PartialEq)]
pub enum CodecConfig {
    /// H.264 with its `avcC` record.
    Avc(AvcConfig),
    /// H.265 with its `hvcC` record.
    Hevc(HevcConfig),
    /// AAC with its AudioSpecificConfig.
    Aac(AacConfig),
}

impl CodecConfig {
    /// RFC 6381 codec string (`avc1.64001f`, `hvc1.1.6.L93.B0`, `mp4a.40.2`).
    pub fn codec_string(&self) -> &str {
        match self {
            CodecConfig::Avc(c) => &c.codec_string,
            CodecConfig::Hevc(c) => &c.codec_string,
            CodecConfig::Aac(c) => &c.codec_string,
        }
    }

    /// Which track this codec belongs to.
    pub fn track(&self) -> Track {
        match self {
            CodecConfig::Avc(_) | CodecConfig::Hevc(_) => Track::Video,
            CodecConfig::Aac(_) => Track::Audio,
        }
    }

    /// Picture size of a video codec.
    pub fn dimensions(&self) -> Option<(u32, u32)> {
        match self {
            CodecConfig::Avc(c) => Some((c.width, c.height)),
            CodecConfig::Hevc(c) => Some((c.width, c.height)),
            CodecConfig::Aac(_) => None,
        }
    }
}
