//! Progressive MP4 (ISO/IEC 14496-12): samples go into an `mdat` while recording; at
//! close the `moov` is built from the sample index kept here, to be written *before*
//! the `mdat` so players can start before the download ends. 64-bit sizes (`co64`,
//! `largesize` mdat) so multi-hour files work.

use crate::codec::CodecConfig;
use crate::frame::{Frame, Track};
use crate::mux::MuxOut;
use bytes::{BufMut, BytesMut};
use std::sync::Arc;

/// Media timescale of every track: our native 90 kHz, so durations are the frames' own.
const TIMESCALE: u32 = 90_000;
/// Movie timescale (mvhd, tkhd, elst).
const MOVIE_TIMESCALE: u32 = 1000;

#[derive(Debug, Clone, Copy)]
struct Sample {
    offset: u64,
    size: u32,
    dts: i64,
    cts: i32,
    key: bool,
}

#[derive(Debug)]
struct TrackIndex {
    codec: Arc<CodecConfig>,
    samples: Vec<Sample>,
}

/// Builds one MP4 file's index as frames are appended.
#[derive(Debug, Default)]
pub struct Mp4Muxer {
    video: Option<TrackIndex>,
    audio: Option<TrackIndex>,
    data_len: u64,
    start_dts: Option<i64>,
}

pub(crate) fn boxed(out: &mut BytesMut, kind: &[u8; 4], f: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_u32(0);
    out.put_slice(kind);
    f(out);
    let size = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

pub(crate) fn full(
    out: &mut BytesMut,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    f: impl FnOnce(&mut BytesMut),
) {
    boxed(out, kind, |o| {
        o.put_u32((version as u32) << 24 | flags);
        f(o)
    })
}

/// The `ftyp` box.
pub fn ftyp() -> BytesMut {
    let mut o = BytesMut::new();
    boxed(&mut o, b"ftyp", |o| {
        o.put_slice(b"isom");
        o.put_u32(0x200);
        for b in [b"isom", b"iso2", b"avc1", b"mp41"] {
            o.put_slice(b);
        }
    });
    o
}

/// An `mdat` header with a 64-bit size for `data_len` bytes of samples.
pub fn mdat_header(data_len: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&1u32.to_be_bytes());
    h[4..8].copy_from_slice(b"mdat");
    h[8..].copy_from_slice(&(data_len + 16).to_be_bytes());
    h
}

impl Mp4Muxer {
    /// An empty muxer.
    pub fn new() -> Self {
        Mp4Muxer::default()
    }

    /// Bytes of sample data so far (the `mdat` payload).
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Appends a frame's payload to `out` (the `mdat` payload) and indexes it. A codec
    /// change keeps the first configuration in the sample description.
    pub fn frame(&mut self, f: &Frame, out: &mut impl MuxOut) {
        self.index_sample(
            f.track,
            &f.codec,
            f.data.len() as u32,
            f.dts.0,
            (f.pts.0 - f.dts.0) as i32,
            f.keyframe,
        );
        out.payload(&f.data);
    }

    /// Indexes a sample whose bytes are (or were) appended to the `mdat` payload by
    /// someone else: crash recovery rebuilds the index from a side file this way.
    pub fn index_sample(
        &mut self,
        track: Track,
        codec: &Arc<CodecConfig>,
        size: u32,
        dts: i64,
        cts: i32,
        key: bool,
    ) {
        self.start_dts.get_or_insert(dts);
        let t = match track {
            Track::Video => &mut self.video,
            Track::Audio => &mut self.audio,
        };
        let t = t.get_or_insert_with(|| TrackIndex { codec: codec.clone(), samples: Vec::new() });
        t.samples.push(Sample { offset: self.data_len, size, dts, cts, key });
        self.data_len += size as u64;
    }

    /// Media duration in 90 kHz ticks (first sample to the end of the last).
    pub fn duration(&self) -> i64 {
        let start = self.start_dts.unwrap_or(0);
        [&self.video, &self.audio].into_iter().flatten().map(|t| t.end() - start).max().unwrap_or(0)
    }

    /// The `moov` box for samples whose `mdat` payload starts at file offset `data_start`.
    pub fn moov(&self, data_start: u64) -> BytesMut {
        let start = self.start_dts.unwrap_or(0);
        let tracks: Vec<(&TrackIndex, u32)> = [(&self.video, 1u32), (&self.audio, 2u32)]
            .into_iter()
            .filter_map(|(t, id)| t.as_ref().map(|t| (t, id)))
            .collect();
        let movie_duration = tracks.iter().map(|(t, _)| to_movie(t.end() - start)).max().unwrap_or(0);
        let mut o =
            BytesMut::with_capacity(4096 + tracks.iter().map(|(t, _)| t.samples.len() * 20).sum::<usize>());
        boxed(&mut o, b"moov", |o| {
            full(o, b"mvhd", 0, 0, |o| {
                o.put_u32(0);
                o.put_u32(0);
                o.put_u32(MOVIE_TIMESCALE);
                o.put_u32(movie_duration as u32);
                o.put_u32(0x0001_0000);
                o.put_u16(0x0100);
                o.put_bytes(0, 10);
                put_matrix(o);
                o.put_bytes(0, 24);
                o.put_u32(3);
            });
            for (t, id) in &tracks {
                t.trak(o, *id, start, data_start);
            }
        });
        o
    }
}

fn to_movie(ticks: i64) -> u64 {
    (ticks.max(0) as u64 * MOVIE_TIMESCALE as u64) / TIMESCALE as u64
}

pub(crate) fn put_matrix(o: &mut BytesMut) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        o.put_u32(v);
    }
}

fn descriptor(o: &mut BytesMut, tag: u8, body: &[u8]) {
    o.put_u8(tag);
    let n = body.len() as u32;
    o.put_slice(&[
        0x80 | (n >> 21) as u8 & 0x7f,
        0x80 | (n >> 14) as u8 & 0x7f,
        0x80 | (n >> 7) as u8 & 0x7f,
        n as u8 & 0x7f,
    ]);
    o.put_slice(body);
}

impl TrackIndex {
    fn last_duration(&self) -> i64 {
        match (&*self.codec, self.samples.len()) {
            (CodecConfig::Aac(a), _) => 1024 * TIMESCALE as i64 / a.sample_rate.max(1) as i64,
            (_, n) if n >= 2 => self.samples[n - 1].dts - self.samples[n - 2].dts,
            _ => 3000,
        }
    }

    fn end(&self) -> i64 {
        self.samples.last().map_or(0, |s| s.dts + self.last_duration())
    }

    fn trak(&self, o: &mut BytesMut, id: u32, movie_start: i64, data_start: u64) {
        let first = self.samples.first().map_or(movie_start, |s| s.dts);
        let media_duration = self.end() - first;
        let video = !matches!(*self.codec, CodecConfig::Aac(_));
        let (w, h) = self.codec.dimensions().unwrap_or((0, 0));
        boxed(o, b"trak", |o| {
            tkhd(o, id, to_movie(self.end() - movie_start) as u32, video, (w, h));
            // A track that starts after the file does gets an empty edit first, so A/V
            // keep the offset they had on the wire.
            let delay = first - movie_start;
            if delay > 0 {
                boxed(o, b"edts", |o| {
                    full(o, b"elst", 0, 0, |o| {
                        o.put_u32(2);
                        o.put_u32(to_movie(delay) as u32);
                        o.put_i32(-1);
                        o.put_u32(0x0001_0000);
                        o.put_u32(to_movie(media_duration) as u32);
                        o.put_i32(0);
                        o.put_u32(0x0001_0000);
                    })
                });
            }
            mdia(o, video, TIMESCALE, media_duration.max(0) as u32, |o| self.stbl(o, data_start));
        });
    }

    fn stbl(&self, o: &mut BytesMut, data_start: u64) {
        full(o, b"stsd", 0, 0, |o| {
            o.put_u32(1);
            sample_entry(o, &self.codec);
        });
        // stts: run-length sample durations.
        let n = self.samples.len();
        let durations: Vec<u32> = (0..n)
            .map(|i| {
                if i + 1 < n {
                    (self.samples[i + 1].dts - self.samples[i].dts).max(0) as u32
                } else {
                    self.last_duration() as u32
                }
            })
            .collect();
        full(o, b"stts", 0, 0, |o| put_runs(o, &durations));
        if self.samples.iter().any(|s| s.cts != 0) {
            let offsets: Vec<u32> = self.samples.iter().map(|s| s.cts as u32).collect();
            full(o, b"ctts", 1, 0, |o| put_runs(o, &offsets));
        }
        if !matches!(*self.codec, CodecConfig::Aac(_)) {
            let keys: Vec<u32> =
                self.samples.iter().enumerate().filter(|(_, s)| s.key).map(|(i, _)| i as u32 + 1).collect();
            full(o, b"stss", 0, 0, |o| {
                o.put_u32(keys.len() as u32);
                for k in keys {
                    o.put_u32(k);
                }
            });
        }
        // Chunks: runs of this track's samples that are contiguous in the mdat.
        let mut chunks: Vec<(u64, u32)> = Vec::new();
        for s in &self.samples {
            match chunks.last_mut() {
                Some((off, count)) if *off + self.run_bytes(*off, *count) == s.offset => *count += 1,
                _ => chunks.push((s.offset, 1)),
            }
        }
        let counts: Vec<u32> = chunks.iter().map(|c| c.1).collect();
        full(o, b"stsc", 0, 0, |o| {
            let mut entries: Vec<(u32, u32)> = Vec::new();
            for (i, c) in counts.iter().enumerate() {
                if entries.last().is_none_or(|e| e.1 != *c) {
                    entries.push((i as u32 + 1, *c));
                }
            }
            o.put_u32(entries.len() as u32);
            for (first, per) in entries {
                o.put_u32(first);
                o.put_u32(per);
                o.put_u32(1);
            }
        });
        full(o, b"stsz", 0, 0, |o| {
            o.put_u32(0);
            o.put_u32(n as u32);
            for s in &self.samples {
                o.put_u32(s.size);
            }
        });
        full(o, b"co64", 0, 0, |o| {
            o.put_u32(chunks.len() as u32);
            for (off, _) in &chunks {
                o.put_u64(data_start + off);
            }
        });
    }

    /// Bytes of the `count` samples starting at `offset` (they are contiguous).
    fn run_bytes(&self, offset: u64, count: u32) -> u64 {
        let i = self.samples.partition_point(|s| s.offset < offset);
        self.samples[i..i + count as usize].iter().map(|s| s.size as u64).sum()
    }
}

/// The sample description entry (`avc1`/`hvc1`/`mp4a`) of a codec configuration.
pub(crate) fn sample_entry(o: &mut BytesMut, codec: &CodecConfig) {
    match codec {
        CodecConfig::Avc(c) => visual(o, b"avc1", b"avcC", &c.record, c.width, c.height),
        CodecConfig::Hevc(c) => visual(o, b"hvc1", b"hvcC", &c.record, c.width, c.height),
        CodecConfig::Aac(a) => boxed(o, b"mp4a", |o| {
            o.put_bytes(0, 6);
            o.put_u16(1);
            o.put_bytes(0, 8);
            o.put_u16(a.channels.max(1) as u16);
            o.put_u16(16);
            o.put_u32(0);
            o.put_u32(a.sample_rate.min(65535) << 16);
            full(o, b"esds", 0, 0, |o| {
                let mut dsi = BytesMut::new();
                descriptor(&mut dsi, 5, &a.record);
                let mut dcd = BytesMut::new();
                dcd.put_slice(&[0x40, 0x15, 0, 0, 0]);
                dcd.put_u32(0);
                dcd.put_u32(0);
                dcd.put_slice(&dsi);
                let mut es = BytesMut::new();
                es.put_slice(&[0, 0, 0]);
                descriptor(&mut es, 4, &dcd);
                descriptor(&mut es, 6, &[2]);
                descriptor(o, 3, &es);
            });
        }),
    }
}

fn visual(o: &mut BytesMut, kind: &[u8; 4], config_kind: &[u8; 4], record: &[u8], w: u32, h: u32) {
    boxed(o, kind, |o| {
        o.put_bytes(0, 6);
        o.put_u16(1);
        o.put_bytes(0, 16);
        o.put_u16(w as u16);
        o.put_u16(h as u16);
        o.put_u32(0x0048_0000);
        o.put_u32(0x0048_0000);
        o.put_u32(0);
        o.put_u16(1);
        o.put_bytes(0, 32);
        o.put_u16(0x0018);
        o.put_i16(-1);
        boxed(o, config_kind, |o| o.put_slice(record));
    });
}

/// A `tkhd` for track `id`: its duration (movie timescale), and for video its size.
pub(crate) fn tkhd(o: &mut BytesMut, id: u32, duration: u32, video: bool, (w, h): (u32, u32)) {
    full(o, b"tkhd", 0, 3, |o| {
        o.put_u32(0);
        o.put_u32(0);
        o.put_u32(id);
        o.put_u32(0);
        o.put_u32(duration);
        o.put_bytes(0, 8);
        o.put_u16(0);
        o.put_u16(if video { 0 } else { 1 });
        o.put_u16(if video { 0 } else { 0x0100 });
        o.put_u16(0);
        put_matrix(o);
        o.put_u32(w << 16);
        o.put_u32(h << 16);
    });
}

/// An `mdia`: `mdhd` (timescale, duration), `hdlr`, and `minf` with the media header,
/// `dinf` and the `stbl` that `stbl` writes.
pub(crate) fn mdia(
    o: &mut BytesMut,
    video: bool,
    timescale: u32,
    duration: u32,
    stbl: impl FnOnce(&mut BytesMut),
) {
    boxed(o, b"mdia", |o| {
        full(o, b"mdhd", 0, 0, |o| {
            o.put_u32(0);
            o.put_u32(0);
            o.put_u32(timescale);
            o.put_u32(duration);
            o.put_u16(0x55c4); // 'und'
            o.put_u16(0);
        });
        full(o, b"hdlr", 0, 0, |o| {
            o.put_u32(0);
            o.put_slice(if video { b"vide" } else { b"soun" });
            o.put_bytes(0, 12);
            o.put_slice(if video { b"VideoHandler\0" } else { b"SoundHandler\0" });
        });
        boxed(o, b"minf", |o| {
            if video {
                full(o, b"vmhd", 0, 1, |o| o.put_bytes(0, 8));
            } else {
                full(o, b"smhd", 0, 0, |o| o.put_u32(0));
            }
            boxed(o, b"dinf", |o| {
                full(o, b"dref", 0, 0, |o| {
                    o.put_u32(1);
                    full(o, b"url ", 0, 1, |_| {});
                })
            });
            boxed(o, b"stbl", stbl);
        });
    });
}

/// A run-length table (`stts`, `ctts`): entry count, then (count, value) pairs.
fn put_runs(o: &mut BytesMut, values: &[u32]) {
    let runs = run_lengths(values);
    o.put_u32(runs.len() as u32);
    for (count, v) in runs {
        o.put_u32(count);
        o.put_u32(v);
    }
}

fn run_lengths(v: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &x in v {
        match runs.last_mut() {
            Some((count, val)) if *val == x => *count += 1,
            _ => runs.push((1, x)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden() {
        let mut m = Mp4Muxer::new();
        let mut data = BytesMut::new();
        for f in crate::mux::flv::test_frames() {
            m.frame(&f, &mut data);
        }
        let ftyp = ftyp();
        let moov_len = m.moov(0).len() as u64;
        let data_start = ftyp.len() as u64 + moov_len + 16;
        let mut out = ftyp;
        out.put_slice(&m.moov(data_start));
        out.put_slice(&mdat_header(m.data_len()));
        out.put_slice(&data);
        crate::mux::assert_golden("av.mp4", &out);
    }

    #[test]
    fn run_lengths_compress() {
        assert_eq!(run_lengths(&[3, 3, 3, 4, 3]), vec![(3, 3), (1, 4), (1, 3)]);
    }
}
