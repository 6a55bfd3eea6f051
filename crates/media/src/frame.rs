//! The one internal frame type every protocol produces and every recorder consumes.

use crate::codec::CodecConfig;
use crate::time::Time90k;
use bytes::Bytes;
use std::sync::Arc;

/// Which elementary stream a frame belongs to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Track {
    /// The video track.
    Video,
    /// The audio track.
    Audio,
}

/// One access unit (a video picture or an audio frame) of a live stream.
///
/// Cloning is cheap (two reference counts), which is how the hub hands the same
/// frame to every reader without copying the payload.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Video or audio.
    pub track: Track,
    /// Decode timestamp as sent by the source, unwrapped to 64 bits, 90 kHz.
    pub dts: Time90k,
    /// Presentation timestamp (`dts` + composition offset), 90 kHz.
    pub pts: Time90k,
    /// Wall-clock instant of this frame (UTC ticks since the epoch), see `WallAnchor`.
    pub utc: Time90k,
    /// A random-access point (IDR/IRAP for video; every audio frame).
    pub keyframe: bool,
    /// True on the first frame after the wall-clock anchor moved forward (a gap).
    pub discontinuity: bool,
    /// The codec configuration in force; a different `Arc` means a configuration change.
    pub codec: Arc<CodecConfig>,
    /// Video: length-prefixed NAL units (`codec`'s NAL length size); audio: one raw AAC frame.
    pub data: Bytes,
}

impl Frame {
    /// Composition offset (`pts − dts`).
    pub fn cts(&self) -> crate::time::Duration90k {
        self.pts - self.dts
    }
}
