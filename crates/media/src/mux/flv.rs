//! FLV muxer: header, an `onMetaData` tag of fixed size (rewritten at close with the
//! real duration, file size and key-frame index), sequence headers and frame tags.
//!
//! Timestamps are the frames' own, rebased so the file starts at 0 (FLV's one required
//! change). H.265 is written as Enhanced RTMP/FLV (`hvc1` FourCC).

use crate::amf0::{self, Amf0};
use crate::codec::CodecConfig;
use crate::flv::{TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, write_tag, write_tag_header, write_tag_parts};
use crate::frame::{Frame, Track};
use crate::mux::MuxOut;
use crate::time::{TICKS_PER_MS, Time90k};
use bytes::{BufMut, BytesMut};
use std::sync::Arc;

/// Bytes of one key-frame index entry (two AMF numbers).
const INDEX_ENTRY: usize = 18;

/// The muxer of one FLV file.
#[derive(Debug)]
pub struct FlvMuxer {
    base: Option<Time90k>,
    written: u64,
    meta_body_len: usize,
    index_capacity: usize,
    keyframes: Vec<(f64, u64)>,
    video: Option<Arc<CodecConfig>>,
    audio: Option<Arc<CodecConfig>>,
    has_video: bool,
    has_audio: bool,
    last_ms: u32,
}

fn numbers(v: impl Iterator<Item = f64>) -> Amf0 {
    Amf0::StrictArray(v.map(Amf0::Number).collect())
}

/// Offset of the `onMetaData` tag in every file we write.
pub const METADATA_OFFSET: u64 = 13;

fn codec_id(c: &CodecConfig) -> f64 {
    match c {
        CodecConfig::Avc(_) => 7.0,
        CodecConfig::Hevc(_) => 12.0,
        CodecConfig::Aac(_) => 10.0,
    }
}

impl FlvMuxer {
    /// A muxer for a file of these tracks, with room in `onMetaData` for
    /// `index_capacity` key frames (more are thinned to fit).
    pub fn new(has_video: bool, has_audio: bool, index_capacity: usize) -> Self {
        FlvMuxer {
            base: None,
            written: 0,
            meta_body_len: 0,
            index_capacity: index_capacity.max(16),
            keyframes: Vec::new(),
            video: None,
            audio: None,
            has_video,
            has_audio,
            last_ms: 0,
        }
    }

    /// Bytes produced so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Milliseconds of the last frame written (the file's duration so far).
    pub fn last_ms(&self) -> u32 {
        self.last_ms
    }

    fn meta_props(&self, duration_s: f64, file_size: u64, keyframes: &[(f64, u64)]) -> Vec<(String, Amf0)> {
        let mut p: Vec<(&str, Amf0)> =
            vec![("duration", Amf0::Number(duration_s)), ("filesize", Amf0::Number(file_size as f64))];
        if let Some(v) = &self.video {
            if let Some((w, h)) = v.dimensions() {
                p.push(("width", Amf0::Number(w as f64)));
                p.push(("height", Amf0::Number(h as f64)));
            }
            p.push(("videocodecid", Amf0::Number(codec_id(v))));
        }
        if let Some(CodecConfig::Aac(a)) = self.audio.as_deref() {
            p.push(("audiocodecid", Amf0::Number(10.0)));
            p.push(("audiosamplerate", Amf0::Number(a.sample_rate as f64)));
            p.push(("stereo", Amf0::Boolean(a.channels >= 2)));
        }
        p.push(("encoder", Amf0::String("rewind".into())));
        p.push(("hasKeyframes", Amf0::Boolean(!keyframes.is_empty())));
        p.push((
            "keyframes",
            amf0::object([
                ("times", numbers(keyframes.iter().map(|k| k.0))),
                ("filepositions", numbers(keyframes.iter().map(|k| k.1 as f64))),
            ]),
        ));
        p.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The `onMetaData` body, padded to exactly `target` bytes. The padding is a strict
    /// array of zeros plus a short string: ffmpeg rejects metadata strings of 256 bytes or
    /// more, so one long filler string would make the file unreadable there.
    fn meta_body(
        &self,
        duration_s: f64,
        file_size: u64,
        keyframes: &[(f64, u64)],
        target: Option<usize>,
    ) -> BytesMut {
        let encode = |zeros: usize, pad: usize| {
            let mut props = self.meta_props(duration_s, file_size, keyframes);
            props.push(("filler".into(), numbers(std::iter::repeat_n(0.0, zeros))));
            props.push(("pad".into(), Amf0::String(" ".repeat(pad))));
            amf0::encode_all(&[Amf0::String("onMetaData".into()), Amf0::EcmaArray(props)])
        };
        let min = encode(0, 0);
        let Some(target) = target else { return min };
        let room = target.saturating_sub(min.len());
        encode(room / 9, room % 9)
    }

    /// The file header, the `onMetaData` placeholder and the sequence headers of the
    /// first frame's codec (the other track's come with its first frame).
    pub fn header(&mut self, out: &mut BytesMut) {
        let start = out.len();
        out.put_slice(b"FLV\x01");
        out.put_u8((self.has_audio as u8) << 2 | self.has_video as u8);
        out.put_u32(9);
        out.put_u32(0);
        // Reserve room for the final metadata: the empty index plus the capacity.
        let empty = self.meta_body(0.0, 0, &[], None).len();
        self.meta_body_len = empty + self.index_capacity * INDEX_ENTRY + 64;
        let body = self.meta_body(0.0, 0, &[], Some(self.meta_body_len));
        debug_assert_eq!(body.len(), self.meta_body_len);
        write_tag(out, TAG_SCRIPT, 0, &body);
        self.written += (out.len() - start) as u64;
    }

    fn sequence_header(&mut self, c: &CodecConfig, ts: u32, out: &mut BytesMut) {
        let start = out.len();
        match c {
            CodecConfig::Avc(a) => write_tag_parts(out, TAG_VIDEO, ts, &[0x17, 0, 0, 0, 0], &a.record),
            CodecConfig::Hevc(h) => {
                write_tag_parts(out, TAG_VIDEO, ts, &[0x90, b'h', b'v', b'c', b'1'], &h.record)
            }
            CodecConfig::Aac(a) => write_tag_parts(out, TAG_AUDIO, ts, &[0xaf, 0], &a.record),
        }
        self.written += (out.len() - start) as u64;
    }

    /// Appends one frame (and a sequence header first when its codec is new).
    pub fn frame(&mut self, f: &Frame, out: &mut impl MuxOut) {
        let base = *self.base.get_or_insert(f.dts);
        // Frames interleaved slightly before the first one (audio jitter) start at 0.
        let ts = ((f.dts.0 - base.0).max(0) / TICKS_PER_MS) as u32;
        let slot = if f.track == Track::Video { &mut self.video } else { &mut self.audio };
        if slot.as_ref().is_none_or(|c| !Arc::ptr_eq(c, &f.codec)) {
            *slot = Some(f.codec.clone());
            self.sequence_header(&f.codec.clone(), ts, out.bytes());
        }
        let cts = ((f.pts.0 - f.dts.0) / TICKS_PER_MS) as i32;
        let cts = cts.to_be_bytes();
        let mut h = [0u8; 8];
        let (kind, head): (u8, &[u8]) = match &*f.codec {
            CodecConfig::Avc(_) => {
                h[0] = if f.keyframe { 0x17 } else { 0x27 };
                h[1] = 1;
                h[2..5].copy_from_slice(&cts[1..]);
                (TAG_VIDEO, &h[..5])
            }
            CodecConfig::Hevc(_) => {
                let ft = if f.keyframe { 0x10 } else { 0x20 };
                h = [0x80 | ft | 1, b'h', b'v', b'c', b'1', 0, 0, 0];
                h[5..8].copy_from_slice(&cts[1..]);
                (TAG_VIDEO, &h[..8])
            }
            CodecConfig::Aac(_) => (TAG_AUDIO, &[0xaf, 1][..]),
        };
        if kind == TAG_VIDEO && f.keyframe {
            self.keyframes.push((ts as f64 / 1000.0, self.written));
        }
        let size = (head.len() + f.data.len()) as u32;
        let buf = out.bytes();
        write_tag_header(buf, kind, ts, size);
        buf.put_slice(head);
        out.payload(&f.data);
        out.bytes().put_u32(size + 11);
        self.written += 11 + size as u64 + 4;
        self.last_ms = self.last_ms.max(ts);
    }

    /// The final `onMetaData` tag, the same size as the placeholder, to be written at
    /// `METADATA_OFFSET`. `duration_ms` is the media duration.
    pub fn final_metadata(&self, duration_ms: u64) -> BytesMut {
        let mut kf: &[(f64, u64)] = &self.keyframes;
        let thinned: Vec<(f64, u64)>;
        if kf.len() > self.index_capacity {
            let step = kf.len().div_ceil(self.index_capacity);
            thinned = kf.iter().step_by(step).copied().collect();
            kf = &thinned;
        }
        let body = self.meta_body(duration_ms as f64 / 1000.0, self.written, kf, Some(self.meta_body_len));
        let mut out = BytesMut::with_capacity(body.len() + 15);
        write_tag(&mut out, TAG_SCRIPT, 0, &body);
        out
    }
}

/// Two seconds of synthetic A/V for muxer golden tests: a key frame every second,
/// B-frame offsets, AAC.
#[cfg(test)]
pub fn test_frames() -> Vec<Frame> {
    use crate::aac::AacConfig;
    use crate::avc::AvcConfig;
    use bytes::Bytes;
    const AVCC: &[u8] = &[
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb,
        0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01,
        0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
    ];
    let v = Arc::new(CodecConfig::Avc(AvcConfig::parse(Bytes::from_static(AVCC)).unwrap()));
    let a = Arc::new(CodecConfig::Aac(AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap()));
    let mut out = Vec::new();
    let base = 1_000_000i64;
    for i in 0..50i64 {
        let dts = Time90k(base + i * 3600);
        out.push(Frame {
            track: Track::Video,
            dts,
            pts: Time90k(dts.0 + if i % 25 == 0 { 0 } else { 7200 }),
            utc: dts,
            keyframe: i % 25 == 0,
            discontinuity: false,
            codec: v.clone(),
            data: Bytes::from(vec![0, 0, 0, 2, 0x65, i as u8]),
        });
        out.push(Frame {
            track: Track::Audio,
            dts: Time90k(base + i * 3600 + 100),
            pts: Time90k(base + i * 3600 + 100),
            utc: dts,
            keyframe: true,
            discontinuity: false,
            codec: a.clone(),
            data: Bytes::from(vec![0x21, i as u8]),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::read_file;

    fn mux() -> BytesMut {
        let mut m = FlvMuxer::new(true, true, 16);
        let mut out = BytesMut::new();
        m.header(&mut out);
        for f in test_frames() {
            m.frame(&f, &mut out);
        }
        let meta = m.final_metadata(m.last_ms() as u64 + 40);
        let off = METADATA_OFFSET as usize;
        out[off..off + meta.len()].copy_from_slice(&meta);
        assert_eq!(m.written(), out.len() as u64);
        out
    }

    #[test]
    fn golden() {
        let out = mux();
        crate::mux::assert_golden("av.flv", &out);
    }

    #[test]
    fn structure_timestamps_and_metadata() {
        let out = mux().freeze();
        let tags = read_file(&out).unwrap();
        // metadata, AVC seq header, then frames with an AAC seq header before the first audio frame
        assert_eq!(tags[0].kind, TAG_SCRIPT);
        assert_eq!(&tags[1].body[..2], &[0x17, 0]);
        assert_eq!(tags.len(), 1 + 2 + 100);
        assert_eq!(tags[2].timestamp_ms, 0, "rebased to 0");
        let last_video = tags.iter().rev().find(|t| t.kind == TAG_VIDEO).unwrap();
        assert_eq!(last_video.timestamp_ms, 49 * 40);
        assert_eq!(&last_video.body[2..5], &[0, 0, 80], "composition offset kept");
        let meta = String::from_utf8_lossy(&tags[0].body);
        assert!(meta.contains("duration") && meta.contains("filepositions"));
    }
}
