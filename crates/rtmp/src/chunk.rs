//! The RTMP chunk stream: splitting messages into chunks and reassembling them.

use crate::error::RtmpError;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Chunk size every peer starts with.
pub const DEFAULT_CHUNK_SIZE: usize = 128;
/// Message type: Set Chunk Size.
pub const MSG_SET_CHUNK_SIZE: u8 = 1;
/// Message type: Abort.
pub const MSG_ABORT: u8 = 2;

/// One reassembled RTMP message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Chunk stream it arrived on.
    pub csid: u32,
    /// 32-bit millisecond timestamp (wraps; see `rewind_media::time::Unwrap32`).
    pub timestamp: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// Payload; for single-chunk messages a slice of the input, not a copy.
    pub payload: Bytes,
}

/// Bounds on what one peer may make us hold.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Distinct chunk stream ids one connection may use.
    pub max_chunk_streams: usize,
    /// Largest message accepted (the header field allows 16 MiB − 1).
    pub max_message_len: usize,
    /// Bytes of unfinished messages held across all chunk streams.
    pub max_partial_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_chunk_streams: 64, max_message_len: 0xff_ffff, max_partial_bytes: 32 << 20 }
    }
}

#[derive(Debug)]
struct ChunkStream {
    csid: u32,
    timestamp: u32,
    /// The last header's timestamp field (absolute for type 0, a delta for 1 and 2),
    /// which a type-3 chunk starting a new message adds again, as ffmpeg and librtmp do.
    ts_field: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
    extended: bool,
    partial: BytesMut,
    in_progress: bool,
}

/// Reassembles messages from chunks read off one connection.
#[derive(Debug)]
pub struct ChunkDecoder {
    chunk_size: usize,
    streams: Vec<ChunkStream>,
    limits: Limits,
    partial_total: usize,
}

fn chunk_err(m: impl Into<String>) -> RtmpError {
    RtmpError::Chunk(m.into())
}

fn u24(b: &[u8]) -> u32 {
    (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32
}

impl ChunkDecoder {
    /// A decoder with the default chunk size and the given limits.
    pub fn new(limits: Limits) -> Self {
        ChunkDecoder { chunk_size: DEFAULT_CHUNK_SIZE, streams: Vec::new(), limits, partial_total: 0 }
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Takes the next complete message out of `input`, consuming whole chunks only.
    /// `Ok(None)` means more bytes are needed. Set Chunk Size and Abort are applied
    /// here (they change how the following chunks read) and still returned.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Message>, RtmpError> {
        loop {
            let Some(msg) = self.decode_chunk(input)? else {
                return Ok(None);
            };
            if let Some(msg) = msg {
                match msg.type_id {
                    MSG_SET_CHUNK_SIZE => {
                        if msg.payload.len() < 4 {
                            return Err(chunk_err("Set Chunk Size shorter than 4 bytes"));
                        }
                        let size = u32::from_be_bytes(msg.payload[..4].try_into().unwrap());
                        if size == 0 || size > 0x7fff_ffff {
                            return Err(chunk_err(format!("Set Chunk Size {size} out of range 1..2^31-1")));
                        }
                        self.chunk_size = size as usize;
                    }
                    MSG_ABORT if msg.payload.len() >= 4 => {
                        let csid = u32::from_be_bytes(msg.payload[..4].try_into().unwrap());
                        if let Some(s) = self.streams.iter_mut().find(|s| s.csid == csid) {
                            self.partial_total -= s.partial.len();
                            s.partial.clear();
                            s.in_progress = false;
                        }
                    }
                    _ => {}
                }
                return Ok(Some(msg));
            }
        }
    }

    /// One chunk: `None` = need more bytes; `Some(None)` = consumed, message unfinished.
    fn decode_chunk(&mut self, input: &mut BytesMut) -> Result<Option<Option<Message>>, RtmpError> {
        let Some(&b0) = input.first() else {
            return Ok(None);
        };
        let fmt = b0 >> 6;
        let (csid, basic_len) = match b0 & 0x3f {
            0 => match input.get(1) {
                Some(&b) => (64 + b as u32, 2),
                None => return Ok(None),
            },
            1 => match input.get(1..3) {
                Some(b) => (64 + b[0] as u32 + 256 * b[1] as u32, 3),
                None => return Ok(None),
            },
            c => (c as u32, 1),
        };
        let header_len = [11, 7, 3, 0][fmt as usize];
        let Some(header) = input.get(basic_len..basic_len + header_len) else {
            return Ok(None);
        };
        let idx = self.streams.iter().position(|s| s.csid == csid);
        let idx = match idx {
            Some(i) => i,
            None if fmt == 0 => {
                if self.streams.len() >= self.limits.max_chunk_streams {
                    return Err(chunk_err(format!(
                        "more than {} chunk streams",
                        self.limits.max_chunk_streams
                    )));
                }
                self.streams.push(ChunkStream {
                    csid,
                    timestamp: 0,
                    ts_field: 0,
                    length: 0,
                    type_id: 0,
                    stream_id: 0,
                    extended: false,
                    partial: BytesMut::new(),
                    in_progress: false,
                });
                self.streams.len() - 1
            }
            None => {
                return Err(chunk_err(format!("type-{fmt} chunk on unknown chunk stream {csid}")));
            }
        };
        let s = &self.streams[idx];
        let ts_field = if fmt < 3 { u24(&header[0..3]) } else { s.ts_field };
        let extended = if fmt < 3 { ts_field == 0xff_ffff } else { s.extended };
        let ext_len = if extended { 4 } else { 0 };
        let Some(ext) = input.get(basic_len + header_len..basic_len + header_len + ext_len) else {
            return Ok(None);
        };
        let ts_value =
            if extended && fmt < 3 { u32::from_be_bytes(ext.try_into().unwrap()) } else { ts_field };
        let new_message = !s.in_progress;
        if fmt < 3 && !new_message {
            return Err(chunk_err(format!(
                "type-{fmt} chunk inside an unfinished message on chunk stream {csid}"
            )));
        }
        let length = if fmt < 2 { u24(&header[3..6]) as usize } else { s.length };
        if length > self.limits.max_message_len {
            return Err(chunk_err(format!(
                "message of {length} bytes exceeds the {} limit",
                self.limits.max_message_len
            )));
        }
        let have = if new_message { 0 } else { s.partial.len() };
        let body_len = (length - have).min(self.chunk_size);
        let total = basic_len + header_len + ext_len + body_len;
        if input.len() < total {
            // Wait for the whole chunk; it is at most one message (≤ 16 MiB) long.
            input.reserve(total - input.len());
            return Ok(None);
        }
        // Commit: the chunk is complete.
        let s = &mut self.streams[idx];
        if fmt < 2 {
            s.length = length;
            s.type_id = header[6];
        }
        if fmt == 0 {
            s.stream_id = u32::from_le_bytes(header[7..11].try_into().unwrap());
        }
        if fmt < 3 {
            s.ts_field = ts_value;
            s.extended = extended;
        }
        if new_message {
            s.timestamp = if fmt == 0 { ts_value } else { s.timestamp.wrapping_add(s.ts_field) };
        }
        input.advance(basic_len + header_len + ext_len);
        let meta = (s.csid, s.timestamp, s.type_id, s.stream_id);
        let payload = if new_message && body_len == length {
            input.split_to(body_len).freeze()
        } else {
            if self.partial_total + body_len > self.limits.max_partial_bytes {
                return Err(chunk_err("unfinished messages exceed the per-connection buffer limit"));
            }
            if new_message {
                s.partial.reserve(length.min(1 << 20));
            }
            s.partial.extend_from_slice(&input[..body_len]);
            input.advance(body_len);
            self.partial_total += body_len;
            if s.partial.len() < length {
                s.in_progress = true;
                return Ok(Some(None));
            }
            self.partial_total -= s.partial.len();
            s.partial.split().freeze()
        };
        s.in_progress = false;
        let (csid, timestamp, type_id, stream_id) = meta;
        Ok(Some(Some(Message { csid, timestamp, type_id, stream_id, payload })))
    }
}

/// Splits outgoing messages into chunks.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: usize,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        ChunkEncoder { chunk_size: DEFAULT_CHUNK_SIZE }
    }
}

fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    match csid {
        2..=63 => out.put_u8(fmt << 6 | csid as u8),
        64..=319 => {
            out.put_u8(fmt << 6);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            out.put_u8(fmt << 6 | 1);
            out.put_u16_le((csid - 64) as u16);
        }
    }
}

impl ChunkEncoder {
    /// Sets our outgoing chunk size (after sending Set Chunk Size to the peer).
    pub fn set_chunk_size(&mut self, size: usize) {
        self.chunk_size = size.max(1);
    }

    /// Appends `payload` as one message: a type-0 chunk, then type-3 continuations.
    pub fn write(
        &self,
        out: &mut BytesMut,
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
    ) {
        let extended = timestamp >= 0xff_ffff;
        let chunks = payload.len().div_ceil(self.chunk_size).max(1);
        out.reserve(payload.len() + 16 + chunks * 8);
        put_basic_header(out, 0, csid);
        out.put_slice(&(if extended { 0xff_ffff } else { timestamp }).to_be_bytes()[1..]);
        out.put_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.put_u8(type_id);
        out.put_u32_le(stream_id);
        for (i, chunk) in payload.chunks(self.chunk_size).enumerate() {
            if i > 0 {
                put_basic_header(out, 3, csid);
            }
            if extended {
                out.put_u32(timestamp);
            }
            out.put_slice(chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(dec: &mut ChunkDecoder, mut input: BytesMut) -> Result<Vec<Message>, RtmpError> {
        let mut out = Vec::new();
        while let Some(m) = dec.decode(&mut input)? {
            out.push(m);
        }
        Ok(out)
    }

    #[test]
    fn multi_chunk_message_with_extended_timestamp() {
        let enc = ChunkEncoder::default();
        let mut buf = BytesMut::new();
        let payload: Vec<u8> = (0..1000).map(|i| i as u8).collect();
        enc.write(&mut buf, 6, 0x0100_0000, 9, 1, &payload);
        enc.write(&mut buf, 300, 7, 8, 1, b"abc");
        let msgs = decode_all(&mut ChunkDecoder::new(Limits::default()), buf).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].timestamp, 0x0100_0000);
        assert_eq!(&msgs[0].payload[..], &payload[..]);
        assert_eq!((msgs[1].csid, msgs[1].type_id, &msgs[1].payload[..]), (300, 8, &b"abc"[..]));
    }

    #[test]
    fn type_3_new_message_adds_the_last_delta() {
        // type 0 at t=100, type 2 delta 40, then type 3 (delta 40 again)
        let mut b = BytesMut::new();
        b.put_slice(&[0x04, 0, 0, 100, 0, 0, 1, 8, 1, 0, 0, 0, 0xaa]);
        b.put_slice(&[0x84, 0, 0, 40, 0xbb]);
        b.put_slice(&[0xc4, 0xcc]);
        let msgs = decode_all(&mut ChunkDecoder::new(Limits::default()), b).unwrap();
        let ts: Vec<u32> = msgs.iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, vec![100, 140, 180]);
    }

    #[test]
    fn bad_chunk_sizes_and_unknown_streams_are_errors() {
        for size in [0u32, 0x8000_0000] {
            let mut b = BytesMut::new();
            ChunkEncoder::default().write(&mut b, 2, 0, MSG_SET_CHUNK_SIZE, 0, &size.to_be_bytes());
            assert!(decode_all(&mut ChunkDecoder::new(Limits::default()), b).is_err());
        }
        let b = BytesMut::from(&[0xc5u8, 1, 2, 3][..]);
        assert!(decode_all(&mut ChunkDecoder::new(Limits::default()), b).is_err());
    }

    #[test]
    fn too_many_chunk_streams_is_an_error() {
        let mut b = BytesMut::new();
        for csid in 3..100 {
            ChunkEncoder::default().write(&mut b, csid, 0, 8, 1, &[csid as u8; 200]);
        }
        assert!(decode_all(&mut ChunkDecoder::new(Limits::default()), b).is_err());
    }

    proptest! {
        #[test]
        fn any_split_of_the_input_decodes_the_same(sizes in proptest::collection::vec(1usize..5000, 1..6), cut in 1usize..700, chunk in 1usize..600) {
            let mut enc = ChunkEncoder::default();
            let mut wire = BytesMut::new();
            enc.write(&mut wire, 2, 0, MSG_SET_CHUNK_SIZE, 0, &(chunk as u32).to_be_bytes());
            enc.set_chunk_size(chunk);
            for (i, n) in sizes.iter().enumerate() {
                enc.write(&mut wire, 4 + (i as u32 % 3), i as u32 * 33, 9, 1, &vec![i as u8; *n]);
            }
            let mut dec = ChunkDecoder::new(Limits::default());
            let mut input = BytesMut::new();
            let mut got = Vec::new();
            for piece in wire.chunks(cut) {
                input.extend_from_slice(piece);
                while let Some(m) = dec.decode(&mut input).unwrap() {
                    got.push(m);
                }
            }
            prop_assert_eq!(got.len(), sizes.len() + 1);
            for (i, n) in sizes.iter().enumerate() {
                prop_assert_eq!(got[i + 1].payload.len(), *n);
                prop_assert_eq!(got[i + 1].timestamp, i as u32 * 33);
            }
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut dec = ChunkDecoder::new(Limits::default());
            let mut input = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = dec.decode(&mut input) {}
        }
    }
}
