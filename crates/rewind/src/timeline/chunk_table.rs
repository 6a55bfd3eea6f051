//! A chunk's fragment table, packed into one database value: a chunk row carries its
//! fragments, so a 24-hour manifest reads ~3,000 rows, not ~43,000, and the index stays
//! small (21 bytes per fragment).

use rewind_media::{Duration90k, Time90k};

/// One fragment as the index knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentRef {
    /// UTC of its first frame.
    pub start: Time90k,
    /// Up to the next fragment's start.
    pub duration: Duration90k,
    /// Byte offset in its chunk file (at its `prft` box).
    pub offset: u64,
    /// Bytes (`prft` + `moof` + `mdat`).
    pub size: u32,
    /// Starts with a key frame.
    pub independent: bool,
    /// Bytes of its video part, which comes first (0 without video; the audio part is
    /// the rest): DASH serves each part as its track's segment.
    pub video_len: u32,
}

impl FragmentRef {
    /// Where it ends (exclusive).
    pub fn end(&self) -> Time90k {
        self.start + self.duration
    }
}

const ENTRY: usize = 21;

/// Packs fragments of a chunk starting at `chunk_start`. Starts are stored relative to
/// it, so they fit 32 bits (a chunk spans minutes; 2^32 ticks is 13 hours).
pub fn pack(chunk_start: Time90k, fragments: &[FragmentRef]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fragments.len() * ENTRY);
    for f in fragments {
        out.extend_from_slice(&((f.start - chunk_start).0.clamp(0, u32::MAX as i64) as u32).to_be_bytes());
        out.extend_from_slice(&(f.duration.0.clamp(0, u32::MAX as i64) as u32).to_be_bytes());
        out.extend_from_slice(&(f.offset.min(u32::MAX as u64) as u32).to_be_bytes());
        out.extend_from_slice(&f.size.to_be_bytes());
        out.push(f.independent as u8);
        out.extend_from_slice(&f.video_len.to_be_bytes());
    }
    out
}

/// Unpacks what `pack` wrote; a torn trailing entry is ignored.
pub fn unpack(chunk_start: Time90k, packed: &[u8]) -> Vec<FragmentRef> {
    packed
        .chunks_exact(ENTRY)
        .map(|e| {
            let u = |i: usize| u32::from_be_bytes([e[i], e[i + 1], e[i + 2], e[i + 3]]);
            FragmentRef {
                start: chunk_start + Duration90k(u(0) as i64),
                duration: Duration90k(u(4) as i64),
                offset: u(8) as u64,
                size: u(12),
                independent: e[16] != 0,
                video_len: u(17),
            }
        })
        .collect()
}

/// Fragments in a packed table.
pub fn count(packed_len: usize) -> usize {
    packed_len / ENTRY
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(base in 0i64..1 << 50, parts in prop::collection::vec((0u32..1 << 24, 1u32..1 << 24, 1u32..1 << 22, any::<bool>(), any::<u32>()), 0..40)) {
            let chunk_start = Time90k(base);
            let mut t = chunk_start;
            let mut off = 0u64;
            let frags: Vec<FragmentRef> = parts.iter().map(|&(gap, dur, size, ind, v)| {
                t += Duration90k(gap as i64);
                let f = FragmentRef { start: t, duration: Duration90k(dur as i64), offset: off, size, independent: ind, video_len: v % (size + 1) };
                t += Duration90k(dur as i64);
                off += size as u64;
                f
            }).collect();
            let packed = pack(chunk_start, &frags);
            prop_assert_eq!(count(packed.len()), frags.len());
            prop_assert_eq!(unpack(chunk_start, &packed), frags);
        }
    }
}
