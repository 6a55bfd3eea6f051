//! MPEG-TS muxer (ISO/IEC 13818-1) for HLS segments: PAT/PMT, PES with PTS/DTS in the
//! frames' own 90 kHz timestamps, PCR on the video PID, H.264/H.265 as Annex B with
//! access-unit delimiters and parameter sets before every key frame, AAC as ADTS.

use crate::codec::CodecConfig;
use crate::frame::{Frame, Track};
use crate::mux::MuxOut;
use crate::mux::adts;
use bytes::{BufMut, BytesMut};

const PACKET: usize = 188;
const PID_PMT: u16 = 0x1000;
/// PID of the video elementary stream.
pub const PID_VIDEO: u16 = 0x100;
/// PID of the audio elementary stream.
pub const PID_AUDIO: u16 = 0x101;
const TS_MASK: i64 = (1 << 33) - 1;

fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= (b as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

/// The muxer of one transport stream (one HLS segment after another share it, so
/// continuity counters run on across segments as players expect).
#[derive(Debug)]
pub struct TsMuxer {
    has_video: bool,
    has_audio: bool,
    video_type: u8,
    cc: [u8; 3],
    /// The current PES header (and ADTS header) bytes.
    head: BytesMut,
    /// The current PES as pieces, so the payload is copied once, straight into packets
    /// (no per-frame scratch copy; the list is reused).
    pieces: Vec<Piece>,
}

/// A piece of a PES: bytes of `head`, a constant, or a range of the frame or its codec.
#[derive(Debug, Clone, Copy)]
enum Piece {
    Head(usize, usize),
    Static(&'static [u8]),
    Data(usize, usize),
    Param(usize),
}

const START: &[u8] = &[0, 0, 0, 1];
const AUD_AVC: &[u8] = &[0, 0, 0, 1, 0x09, 0xf0];
const AUD_HEVC: &[u8] = &[0, 0, 0, 1, 0x46, 0x01, 0x50];

impl TsMuxer {
    /// A muxer for these tracks; `video` decides the PMT stream type.
    pub fn new(video: Option<&CodecConfig>, has_audio: bool) -> Self {
        let video_type = match video {
            Some(CodecConfig::Hevc(_)) => 0x24,
            _ => 0x1b,
        };
        TsMuxer {
            has_video: video.is_some(),
            has_audio,
            video_type,
            cc: [0; 3],
            head: BytesMut::with_capacity(32),
            pieces: Vec::with_capacity(16),
        }
    }

    fn cc(&mut self, pid: u16) -> u8 {
        let i = match pid {
            PID_PMT => 0,
            PID_VIDEO => 1,
            _ => 2,
        };
        let c = self.cc[i];
        self.cc[i] = (c + 1) & 0x0f;
        c
    }

    fn section(&mut self, out: &mut BytesMut, pid: u16, section: &[u8]) {
        let start = out.len();
        out.put_u8(0x47);
        out.put_u16(0x4000 | pid);
        let cc = if pid == 0 { 0 } else { self.cc(pid) };
        out.put_u8(0x10 | cc);
        out.put_u8(0); // pointer field
        out.put_slice(section);
        out.put_u32(crc32_mpeg2(section));
        out.resize(start + PACKET, 0xff);
    }

    /// Writes PAT and PMT (at the start of every segment).
    pub fn tables(&mut self, out: &mut BytesMut) {
        let pat = [
            0x00,
            0xb0,
            0x0d,
            0x00,
            0x01,
            0xc1,
            0x00,
            0x00,
            0x00,
            0x01,
            0xe0 | (PID_PMT >> 8) as u8,
            PID_PMT as u8,
        ];
        self.section(out, 0, &pat);
        let pcr_pid = if self.has_video { PID_VIDEO } else { PID_AUDIO };
        let mut pmt = vec![0x02, 0xb0, 0x00, 0x00, 0x01, 0xc1, 0x00, 0x00];
        pmt.extend_from_slice(&[0xe0 | (pcr_pid >> 8) as u8, pcr_pid as u8, 0xf0, 0x00]);
        if self.has_video {
            pmt.extend_from_slice(&[
                self.video_type,
                0xe0 | (PID_VIDEO >> 8) as u8,
                PID_VIDEO as u8,
                0xf0,
                0x00,
            ]);
        }
        if self.has_audio {
            pmt.extend_from_slice(&[0x0f, 0xe0 | (PID_AUDIO >> 8) as u8, PID_AUDIO as u8, 0xf0, 0x00]);
        }
        let len = pmt.len() - 3 + 4; // after the length field, plus CRC
        pmt[1] = 0xb0 | (len >> 8) as u8;
        pmt[2] = len as u8;
        // The PAT's own CRC is computed by `section`; its length is fixed above.
        self.section(out, PID_PMT, &pmt);
    }

    /// Appends one frame as a PES.
    pub fn frame(&mut self, f: &Frame, out: &mut impl MuxOut) {
        let (pid, stream_id) = match f.track {
            Track::Video => (PID_VIDEO, 0xe0u8),
            Track::Audio => (PID_AUDIO, 0xc0u8),
        };
        let with_dts = f.track == Track::Video && f.pts != f.dts;
        let mut head = std::mem::take(&mut self.head);
        let mut pieces = std::mem::take(&mut self.pieces);
        head.clear();
        pieces.clear();
        let flags = if with_dts { 0xc0 } else { 0x80 };
        head.put_slice(&[0, 0, 1, stream_id, 0, 0, 0x80, flags, if with_dts { 10 } else { 5 }]);
        put_ts(&mut head, if with_dts { 0x3 } else { 0x2 }, f.pts.0);
        if with_dts {
            put_ts(&mut head, 0x1, f.dts.0);
        }
        let pes_head = head.len();
        match &*f.codec {
            CodecConfig::Aac(cfg) => {
                adts::write_frame(cfg, &[], &mut head);
                // The ADTS length field counts the payload too.
                let len = 7 + f.data.len();
                let h = &mut head[pes_head..];
                h[3] = (h[3] & !3) | (len >> 11) as u8 & 3;
                h[4] = (len >> 3) as u8;
                h[5] = ((len & 7) as u8) << 5 | 0x1f;
                pieces.push(Piece::Head(0, head.len()));
                pieces.push(Piece::Data(0, f.data.len()));
            }
            c => {
                pieces.push(Piece::Head(0, pes_head));
                annex_b(c, f, &mut pieces);
            }
        }
        let total: usize = pieces.iter().map(|p| piece(p, &head, f).len()).sum();
        if f.track == Track::Audio && total - 6 <= u16::MAX as usize {
            head[4..6].copy_from_slice(&((total - 6) as u16).to_be_bytes());
        }
        let pcr = (f.track == Track::Video || !self.has_video).then_some(f.dts.0);
        let mut cursor = Cursor { pieces: &pieces, head: &head, frame: f, idx: 0, off: 0, left: total };
        self.packetize(out, pid, &mut cursor, pcr, f.keyframe && f.track == Track::Video);
        self.head = head;
        self.pieces = pieces;
    }

    fn packetize(
        &mut self,
        sink: &mut impl MuxOut,
        pid: u16,
        data: &mut Cursor,
        pcr: Option<i64>,
        random_access: bool,
    ) {
        let mut first = true;
        sink.reserve_hint((data.left / 184 + 2) * PACKET);
        while data.left > 0 {
            // Asked for per packet: a sink may move on to a fresh block between packets.
            // The header is built on the stack and appended whole: byte-by-byte appends
            // were a tenth of the recording's CPU.
            let out = sink.bytes();
            let mut h = [0u8; 12];
            let pid_bits = if first { 0x4000 } else { 0 } | pid;
            h[0] = 0x47;
            h[1..3].copy_from_slice(&pid_bits.to_be_bytes());
            let cc = self.cc(pid);
            // Adaptation field: PCR (+ random access) on the first packet, stuffing on the last.
            let mut af_buf = [0u8; 7];
            let mut af_len = 0;
            if first && (pcr.is_some() || random_access) {
                af_buf[0] = (random_access as u8) << 6 | (pcr.is_some() as u8) << 4;
                af_len = 1;
                if let Some(p) = pcr {
                    let base = (p & TS_MASK) as u64;
                    af_buf[1..5].copy_from_slice(&((base >> 1) as u32).to_be_bytes());
                    af_buf[5] = ((base & 1) << 7) as u8 | 0x7e;
                    af_buf[6] = 0;
                    af_len = 7;
                }
            }
            let af = &af_buf[..af_len];
            let room = 184 - if af.is_empty() { 0 } else { af.len() + 1 };
            // (header length, 0xff stuffing bytes after it)
            let (head_len, stuffing) = if data.left < room {
                // Stuff the adaptation field so the payload ends the packet exactly.
                let need = 184 - data.left;
                h[3] = 0x30 | cc;
                h[4] = (need - 1) as u8;
                if af.is_empty() {
                    if need == 1 { (5, 0) } else { (6, need - 2) }
                } else {
                    h[5..5 + af.len()].copy_from_slice(af);
                    (5 + af.len(), need - 1 - af.len())
                }
            } else if af.is_empty() {
                h[3] = 0x10 | cc;
                (4, 0)
            } else {
                h[3] = 0x30 | cc;
                h[4] = af.len() as u8;
                h[5..5 + af.len()].copy_from_slice(af);
                (5 + af.len(), 0)
            };
            out.extend_from_slice(&h[..head_len]);
            if stuffing > 0 {
                out.put_bytes(0xff, stuffing);
            }
            data.copy_to(out, PACKET - head_len - stuffing);
            first = false;
        }
    }
}

/// What a possibly truncated transport stream holds: the length of its complete PES
/// packets (cut before the last PES start, which may be unfinished), and the first DTS
/// and last DTS seen (33-bit, 90 kHz) among the kept ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanResult {
    /// Bytes to keep.
    pub complete_len: usize,
    /// DTS of the first PES kept.
    pub first_dts: Option<i64>,
    /// DTS of the last PES kept.
    pub last_dts: Option<i64>,
    /// Latest PTS among the kept PES (with B-frames it can pass the last DTS: the end
    /// of what was presented).
    pub max_pts: Option<i64>,
}

/// Scans a segment written by `TsMuxer` (PES are never interleaved, so every PES before
/// the last payload-unit start is complete).
pub fn scan(data: &[u8]) -> ScanResult {
    let whole = data.len() / PACKET * PACKET;
    let mut starts: Vec<(usize, Option<(i64, i64)>)> = Vec::new();
    for (i, p) in data[..whole].chunks(PACKET).enumerate() {
        if p[0] != 0x47 || p[1] & 0x40 == 0 {
            continue;
        }
        let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
        if pid != PID_VIDEO && pid != PID_AUDIO {
            // PAT/PMT start a segment's tables: a cut point too.
            starts.push((i * PACKET, None));
            continue;
        }
        let mut off = 4;
        if p[3] & 0x20 != 0 {
            off += 1 + p[4] as usize;
        }
        let pes = &p[off.min(PACKET)..];
        let times = (pes.len() >= 19 && pes[..3] == [0, 0, 1]).then(|| {
            let flags = pes[7] >> 6;
            let at = if flags == 3 { 14 } else { 9 };
            (read_ts(&pes[at..at + 5]), read_ts(&pes[9..14]))
        });
        starts.push((i * PACKET, times));
    }
    let Some(&(last_start, _)) = starts.last() else {
        return ScanResult { complete_len: 0, first_dts: None, last_dts: None, max_pts: None };
    };
    let kept: Vec<(i64, i64)> =
        starts.iter().filter(|(at, _)| *at < last_start).filter_map(|(_, d)| *d).collect();
    let first_dts = kept.first().map(|t| t.0);
    // 33-bit clock: the latest PTS is the one furthest after the first DTS, modulo 2^33.
    let max_pts =
        first_dts.and_then(|f| kept.iter().map(|t| t.1).max_by_key(|p| (p - f).rem_euclid(1 << 33)));
    ScanResult { complete_len: last_start, first_dts, last_dts: kept.last().map(|t| t.0), max_pts }
}

fn read_ts(b: &[u8]) -> i64 {
    (((b[0] as i64) >> 1) & 7) << 30
        | ((b[1] as i64) << 22)
        | (((b[2] as i64) >> 1) << 15)
        | ((b[3] as i64) << 7)
        | ((b[4] as i64) >> 1)
}

fn put_ts(out: &mut BytesMut, prefix: u8, t: i64) {
    let t = (t & TS_MASK) as u64;
    out.put_u8(prefix << 4 | ((t >> 29) & 0x0e) as u8 | 1);
    out.put_u16((((t >> 14) & 0xfffe) | 1) as u16);
    out.put_u16((((t << 1) & 0xfffe) | 1) as u16);
}

/// The bytes of a piece.
fn piece<'a>(p: &Piece, head: &'a [u8], f: &'a Frame) -> &'a [u8] {
    match *p {
        Piece::Head(a, b) => &head[a..b],
        Piece::Static(s) => s,
        Piece::Data(a, b) => &f.data[a..b],
        Piece::Param(i) => match &*f.codec {
            CodecConfig::Avc(c) => match c.sps.get(i) {
                Some(b) => &b[..],
                None => c.pps.get(i - c.sps.len()).map_or(&[][..], |b| &b[..]),
            },
            CodecConfig::Hevc(h) => h.nal_units.get(i).map_or(&[][..], |(_, b)| &b[..]),
            CodecConfig::Aac(_) => &[],
        },
    }
}

/// Reads a PES out of its pieces, in order.
struct Cursor<'a> {
    pieces: &'a [Piece],
    head: &'a [u8],
    frame: &'a Frame,
    idx: usize,
    off: usize,
    left: usize,
}

impl Cursor<'_> {
    /// Appends the next `n` bytes of the PES to `out`.
    fn copy_to(&mut self, out: &mut BytesMut, mut n: usize) {
        self.left -= n;
        while n > 0 {
            let p = piece(&self.pieces[self.idx], self.head, self.frame);
            let take = (p.len() - self.off).min(n);
            out.extend_from_slice(&p[self.off..self.off + take]);
            self.off += take;
            n -= take;
            if self.off == p.len() {
                self.idx += 1;
                self.off = 0;
            }
        }
    }
}

/// Length-prefixed NAL units → Annex B pieces, with an access-unit delimiter first and
/// the parameter sets before a key frame that lacks them.
fn annex_b(codec: &CodecConfig, f: &Frame, pieces: &mut Vec<Piece>) {
    let (len_size, hevc) = match codec {
        CodecConfig::Avc(a) => (a.nal_length_size as usize, false),
        CodecConfig::Hevc(h) => (h.nal_length_size as usize, true),
        CodecConfig::Aac(_) => return,
    };
    let nal_type = |n: &[u8]| if hevc { (n[0] >> 1) & 0x3f } else { n[0] & 0x1f };
    let (aud_type, ps_types): (u8, &[u8]) = if hevc { (35, &[32, 33, 34]) } else { (9, &[7, 8]) };
    pieces.push(Piece::Static(if hevc { AUD_HEVC } else { AUD_AVC }));
    if f.keyframe && !Nals::new(&f.data, len_size).any(|n| !n.is_empty() && ps_types.contains(&nal_type(n))) {
        match codec {
            CodecConfig::Avc(a) => {
                for i in 0..a.sps.len() + a.pps.len() {
                    pieces.push(Piece::Static(START));
                    pieces.push(Piece::Param(i));
                }
            }
            CodecConfig::Hevc(h) => {
                for (i, (t, _)) in h.nal_units.iter().enumerate() {
                    if ps_types.contains(t) {
                        pieces.push(Piece::Static(START));
                        pieces.push(Piece::Param(i));
                    }
                }
            }
            CodecConfig::Aac(_) => {}
        }
    }
    let base = f.data.as_ptr() as usize;
    for n in Nals::new(&f.data, len_size) {
        if n.is_empty() || nal_type(n) == aud_type {
            continue;
        }
        let at = n.as_ptr() as usize - base;
        pieces.push(Piece::Static(START));
        pieces.push(Piece::Data(at, at + n.len()));
    }
}

/// The NAL units of a length-prefixed access unit, without allocating.
struct Nals<'a> {
    d: &'a [u8],
    len_size: usize,
}

impl<'a> Nals<'a> {
    fn new(d: &'a [u8], len_size: usize) -> Self {
        Nals { d, len_size }
    }
}

impl<'a> Iterator for Nals<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.d.len() < self.len_size || self.len_size == 0 {
            return None;
        }
        let n = self.d[..self.len_size].iter().fold(0usize, |n, &b| n << 8 | b as usize);
        let rest = &self.d[self.len_size..];
        if n > rest.len() {
            self.d = &[];
            return None; // truncated NAL: drop the rest rather than emit garbage
        }
        self.d = &rest[n..];
        Some(&rest[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_known_pat() {
        let pat = [0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00];
        assert_eq!(crc32_mpeg2(&pat), 0x2ab104b2);
    }

    #[test]
    fn scan_keeps_complete_pes_only() {
        let frames = crate::mux::flv::test_frames();
        let mut m = TsMuxer::new(Some(&frames[0].codec), true);
        let mut out = BytesMut::new();
        m.tables(&mut out);
        for f in &frames[..10] {
            m.frame(f, &mut out);
        }
        let whole = scan(&out);
        // The last PES is cut (it might be unfinished); everything before is kept.
        assert!(whole.complete_len < out.len() && whole.complete_len.is_multiple_of(PACKET));
        assert_eq!(whole.first_dts, Some(frames[0].dts.0));
        assert_eq!(whole.last_dts, Some(frames[8].dts.0));
        assert_eq!(whole.max_pts, frames[..9].iter().map(|f| f.pts.0).max());
        // Torn inside the last packet: that packet is dropped, and the PES before it
        // (which may be unfinished from the scanner's view) too.
        let torn = scan(&out[..out.len() - 100]);
        assert_eq!(torn.last_dts, Some(frames[7].dts.0));
    }

    #[test]
    fn every_packet_is_188_bytes_with_sync() {
        let frames = crate::mux::flv::test_frames();
        let mut m = TsMuxer::new(Some(&frames[0].codec), true);
        let mut out = BytesMut::new();
        m.tables(&mut out);
        for f in &frames {
            m.frame(f, &mut out);
        }
        assert_eq!(out.len() % PACKET, 0);
        assert!(out.chunks(PACKET).all(|p| p[0] == 0x47));
        crate::mux::assert_golden("av.ts", &out);
    }
}
