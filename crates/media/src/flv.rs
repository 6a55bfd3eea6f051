//! FLV tags: parsing of the audio/video tag bodies RTMP carries (legacy and
//! Enhanced RTMP), and reading/writing whole FLV tags and files.

use crate::codec::CodecError;
use bytes::{BufMut, Bytes, BytesMut};

/// FLV tag type of audio tags.
pub const TAG_AUDIO: u8 = 8;
/// FLV tag type of video tags.
pub const TAG_VIDEO: u8 = 9;
/// FLV tag type of script-data tags (`onMetaData`).
pub const TAG_SCRIPT: u8 = 18;

/// A video codec carried in FLV.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 (legacy codec id 7 or Enhanced `avc1`).
    Avc,
    /// H.265 (Enhanced `hvc1`, or the widespread legacy codec id 12).
    Hevc,
}

/// What one video tag body carries.
#[derive(Clone, Debug, PartialEq)]
pub enum VideoPacket {
    /// A decoder configuration record (`avcC` / `hvcC`).
    SequenceStart(VideoCodec, Bytes),
    /// One coded picture: length-prefixed NAL units.
    Frame {
        /// Codec of the picture.
        codec: VideoCodec,
        /// True for a key frame.
        keyframe: bool,
        /// Composition time offset in milliseconds.
        cts_ms: i32,
        /// Length-prefixed NAL units.
        data: Bytes,
    },
    /// End of sequence, info frames and metadata: nothing to record.
    Ignored,
}

/// What one audio tag body carries.
#[derive(Clone, Debug, PartialEq)]
pub enum AudioPacket {
    /// An AAC AudioSpecificConfig.
    AacConfig(Bytes),
    /// One raw AAC frame.
    AacFrame(Bytes),
}

fn si24(b: &[u8]) -> i32 {
    ((((b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32) << 8) as i32) >> 8
}

/// Parses the body of an FLV/RTMP video tag.
pub fn parse_video(body: &Bytes) -> Result<VideoPacket, CodecError> {
    let b0 = *body.first().ok_or(CodecError::Truncated("video tag"))?;
    if b0 & 0x80 != 0 {
        return parse_enhanced_video(body);
    }
    let frame_type = b0 >> 4;
    let codec = match b0 & 0x0f {
        7 => VideoCodec::Avc,
        12 => VideoCodec::Hevc,
        id => return Err(CodecError::Unsupported(format!("FLV video codec id {id}"))),
    };
    if frame_type == 5 {
        return Ok(VideoPacket::Ignored); // video info / command frame
    }
    if body.len() < 5 {
        return Err(CodecError::Truncated("AVC video tag header"));
    }
    match body[1] {
        0 => Ok(VideoPacket::SequenceStart(codec, body.slice(5..))),
        1 => Ok(VideoPacket::Frame {
            codec,
            keyframe: frame_type == 1 || frame_type == 4,
            cts_ms: si24(&body[2..5]),
            data: body.slice(5..),
        }),
        2 => Ok(VideoPacket::Ignored),
        _ => Err(CodecError::Invalid("AVC packet type")),
    }
}

fn parse_enhanced_video(body: &Bytes) -> Result<VideoPacket, CodecError> {
    if body.len() < 5 {
        return Err(CodecError::Truncated("Enhanced RTMP video tag header"));
    }
    let frame_type = (body[0] >> 4) & 7;
    let packet_type = body[0] & 0x0f;
    let codec = match &body[1..5] {
        b"avc1" => VideoCodec::Avc,
        b"hvc1" => VideoCodec::Hevc,
        other => {
            return Err(CodecError::Unsupported(format!(
                "Enhanced RTMP video FourCC {:?}",
                String::from_utf8_lossy(other)
            )));
        }
    };
    if frame_type == 5 {
        return Ok(VideoPacket::Ignored);
    }
    let keyframe = frame_type == 1 || frame_type == 4;
    match packet_type {
        0 => Ok(VideoPacket::SequenceStart(codec, body.slice(5..))),
        1 => {
            if body.len() < 8 {
                return Err(CodecError::Truncated("Enhanced RTMP coded frame"));
            }
            Ok(VideoPacket::Frame { codec, keyframe, cts_ms: si24(&body[5..8]), data: body.slice(8..) })
        }
        3 => Ok(VideoPacket::Frame { codec, keyframe, cts_ms: 0, data: body.slice(5..) }),
        2 | 4 => Ok(VideoPacket::Ignored), // sequence end, HDR metadata
        t => Err(CodecError::Unsupported(format!("Enhanced RTMP video packet type {t}"))),
    }
}

/// Parses the body of an FLV/RTMP audio tag.
pub fn parse_audio(body: &Bytes) -> Result<AudioPacket, CodecError> {
    let b0 = *body.first().ok_or(CodecError::Truncated("audio tag"))?;
    match b0 >> 4 {
        10 => {
            if body.len() < 2 {
                return Err(CodecError::Truncated("AAC audio tag header"));
            }
            match body[1] {
                0 => Ok(AudioPacket::AacConfig(body.slice(2..))),
                1 => Ok(AudioPacket::AacFrame(body.slice(2..))),
                _ => Err(CodecError::Invalid("AAC packet type")),
            }
        }
        9 => {
            // Enhanced RTMP audio: packet type in the low nibble, then a FourCC.
            if body.len() < 5 {
                return Err(CodecError::Truncated("Enhanced RTMP audio tag header"));
            }
            if &body[1..5] != b"mp4a" {
                return Err(CodecError::Unsupported(format!(
                    "Enhanced RTMP audio FourCC {:?}",
                    String::from_utf8_lossy(&body[1..5])
                )));
            }
            match b0 & 0x0f {
                0 => Ok(AudioPacket::AacConfig(body.slice(5..))),
                1 => Ok(AudioPacket::AacFrame(body.slice(5..))),
                t => Err(CodecError::Unsupported(format!("Enhanced RTMP audio packet type {t}"))),
            }
        }
        f => Err(CodecError::Unsupported(format!("FLV sound format {f}"))),
    }
}

/// One FLV tag: type, 32-bit millisecond timestamp, body.
#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    /// `TAG_AUDIO`, `TAG_VIDEO` or `TAG_SCRIPT`.
    pub kind: u8,
    /// Timestamp in milliseconds (24 bits + 8-bit extension).
    pub timestamp_ms: u32,
    /// Tag body.
    pub body: Bytes,
}

/// Reads every tag of an FLV file held in memory. Stops cleanly at a truncated last tag.
pub fn read_file(data: &Bytes) -> Result<Vec<Tag>, CodecError> {
    if data.len() < 9 || &data[..3] != b"FLV" {
        return Err(CodecError::Invalid("not an FLV file"));
    }
    let header_len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut pos = header_len.max(9) + 4;
    let mut tags = Vec::new();
    while pos + 11 <= data.len() {
        let h = &data[pos..pos + 11];
        let size = (h[1] as usize) << 16 | (h[2] as usize) << 8 | h[3] as usize;
        let ts = (h[7] as u32) << 24 | (h[4] as u32) << 16 | (h[5] as u32) << 8 | h[6] as u32;
        let end = pos + 11 + size;
        if end > data.len() {
            break;
        }
        tags.push(Tag { kind: h[0] & 0x1f, timestamp_ms: ts, body: data.slice(pos + 11..end) });
        pos = end + 4;
    }
    Ok(tags)
}

/// Appends one FLV tag with its trailing PreviousTagSize.
pub fn write_tag(out: &mut BytesMut, kind: u8, timestamp_ms: u32, body: &[u8]) {
    write_tag_parts(out, kind, timestamp_ms, &[], body);
}

/// Writes the 11-byte header of a tag whose body is `size` bytes.
pub fn write_tag_header(out: &mut BytesMut, kind: u8, timestamp_ms: u32, size: u32) {
    out.put_u8(kind);
    out.put_slice(&size.to_be_bytes()[1..]);
    out.put_slice(&timestamp_ms.to_be_bytes()[1..]);
    out.put_u8((timestamp_ms >> 24) as u8);
    out.put_slice(&[0, 0, 0]);
}

/// Appends one FLV tag whose body is `head` followed by `data` (no concatenation first).
pub fn write_tag_parts(out: &mut BytesMut, kind: u8, timestamp_ms: u32, head: &[u8], data: &[u8]) {
    let size = (head.len() + data.len()) as u32;
    out.reserve(15 + size as usize);
    write_tag_header(out, kind, timestamp_ms, size);
    out.put_slice(head);
    out.put_slice(data);
    out.put_u32(size + 11);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_avc_frame_with_negative_cts() {
        let body = Bytes::from_static(&[0x17, 1, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0x65]);
        match parse_video(&body).unwrap() {
            VideoPacket::Frame { codec, keyframe, cts_ms, data } => {
                assert_eq!(codec, VideoCodec::Avc);
                assert!(keyframe);
                assert_eq!(cts_ms, -2);
                assert_eq!(&data[..], &[0, 0, 0, 1, 0x65]);
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn enhanced_hevc_packets() {
        let seq = Bytes::from_static(&[0x90, b'h', b'v', b'c', b'1', 1, 2]);
        assert_eq!(
            parse_video(&seq).unwrap(),
            VideoPacket::SequenceStart(VideoCodec::Hevc, Bytes::from_static(&[1, 2]))
        );
        let x = Bytes::from_static(&[0xa3, b'h', b'v', b'c', b'1', 9]);
        assert!(matches!(parse_video(&x).unwrap(), VideoPacket::Frame { keyframe: false, cts_ms: 0, .. }));
        let av1 = Bytes::from_static(&[0x90, b'a', b'v', b'0', b'1']);
        assert!(matches!(parse_video(&av1), Err(CodecError::Unsupported(_))));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let body = Bytes::from_static(&[0x17, 1, 0, 0, 0]);
        for n in 0..body.len() {
            assert!(parse_video(&body.slice(..n)).is_err());
        }
        assert!(parse_audio(&Bytes::from_static(&[0xaf])).is_err());
    }

    #[test]
    fn tags_round_trip_through_a_file() {
        let mut f = BytesMut::from(&b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"[..]);
        write_tag(&mut f, TAG_VIDEO, 0x0123_4567, &[1, 2, 3]);
        write_tag(&mut f, TAG_AUDIO, 5, &[]);
        let tags = read_file(&f.freeze()).unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].timestamp_ms, 0x0123_4567);
        assert_eq!(&tags[0].body[..], &[1, 2, 3]);
        assert_eq!(tags[1].kind, TAG_AUDIO);
    }
}
