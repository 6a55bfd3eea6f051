//! `clip.mp4`: one MP4 of any range up to 24 h, built on the fly from the timeline. It
//! is fragmented (an init segment with the clip's duration, then the stored fragments
//! with their decode times moved to start at zero), so its size is known before a byte
//! is read, any byte range maps straight to stored bytes, it plays while it downloads,
//! and serving it holds one fragment in memory at a time.

use crate::error::{Error, ErrorCode, Result};
use crate::server::Services;
use crate::storage::{Key, Storage, keys};
use crate::timeline::index::{self, InitPart};
use crate::timeline::select::Selection;
use crate::wire_time::rfc3339_ms;
use bytes::Bytes;
use rewind_media::mux::cmaf;
use rewind_media::time::TICKS_PER_SECOND;
use std::sync::Arc;

/// Stored bytes that make up part of a clip.
#[derive(Clone, Debug)]
pub struct Piece {
    /// The chunk.
    pub key: Key,
    /// Where the fragment starts in it.
    pub offset: u64,
    /// Its bytes.
    pub len: u64,
}

/// Everything needed to serve any byte range of a clip.
#[derive(Debug)]
pub struct Clip {
    /// Where the chunks are read from.
    pub storage: Arc<Storage>,
    /// The init segment, with the clip's duration.
    pub init: Bytes,
    /// The fragments, in order.
    pub pieces: Vec<Piece>,
    /// Size of the whole clip.
    pub total: u64,
    /// Decode time shift per track: (track id, ticks in that track's timescale).
    pub shifts: Vec<(u32, u64)>,
    /// Added to the video track's composition offsets: (track id, ticks).
    pub cts_add: Option<(u32, i32)>,
}

/// Plans the clip of a selection.
pub async fn plan(svc: &Services, stream_id: &str, sel: &Selection) -> Result<Clip> {
    let first = sel.segments.first().expect("a selection is never empty");
    if let Some(other) = sel.segments.iter().find(|s| s.init_id != first.init_id) {
        return Err(Error::new(
            ErrorCode::InvalidParameter,
            format!(
                "the stream changed codec settings at {}: one MP4 cannot hold both; ask for clips that end before it or start there",
                rfc3339_ms(other.frag.start)
            ),
        ));
    }
    let init = index::get_init(&svc.db, stream_id, first.init_id, InitPart::All).await?.ok_or_else(|| {
        Error::internal(format!("init segment {} of {stream_id} is missing", first.init_id))
    })?;
    let (start, end) = sel.media_span();
    let init = cmaf::with_duration(&init, end - start).freeze();
    // Stored video is presented from its decode times through negative composition
    // offsets (CMAF). A downloaded file is opened by players (ffmpeg's among them) that
    // shift a track with negative offsets later by their size: the clip makes them
    // positive again (decode times earlier by as much, presentation unchanged), and its
    // time zero is the earliest decode time of any track.
    let scales = cmaf::timescales(&init);
    let head = Piece {
        key: keys::chunk(stream_id, first.chunk_start),
        offset: first.frag.offset,
        len: first.frag.size as u64,
    };
    let first_bytes = read_piece(&svc.storage, &head).await.unwrap_or_default();
    let video_track = scales.iter().find(|s| s.0 == cmaf::VIDEO_TRACK_ID).map(|s| s.0);
    let delay = cmaf::read_samples(&first_bytes)
        .iter()
        .filter(|x| Some(x.track_id) == video_track)
        .map(|x| -(x.cts as i64))
        .max()
        .unwrap_or(0)
        .max(0);
    let zero = cmaf::decode_times(&first_bytes)
        .into_iter()
        .filter_map(|(track, t)| {
            let scale = scales.iter().find(|s| s.0 == track)?.1 as u128;
            let t = (t as u128 * TICKS_PER_SECOND as u128 / scale) as i64;
            Some(if Some(track) == video_track { t - delay } else { t })
        })
        .min()
        .unwrap_or(start.0)
        .min(start.0 - delay);
    let shifts = scales
        .into_iter()
        .map(|(id, scale)| {
            let z = if Some(id) == video_track { zero + delay } else { zero };
            (id, (z.max(0) as u128 * scale as u128 / TICKS_PER_SECOND as u128) as u64)
        })
        .collect();
    let cts_add = video_track.filter(|_| delay > 0).map(|t| (t, delay as i32));
    let pieces: Vec<Piece> = sel
        .segments
        .iter()
        .map(|s| Piece {
            key: keys::chunk(stream_id, s.chunk_start),
            offset: s.frag.offset,
            len: s.frag.size as u64,
        })
        .collect();
    let total = init.len() as u64 + pieces.iter().map(|p| p.len).sum::<u64>();
    Ok(Clip { storage: svc.storage.clone(), init, pieces, total, shifts, cts_add })
}

/// A fragment's bytes as stored (a copy: clips rewrite their decode times).
async fn read_piece(storage: &Storage, p: &Piece) -> std::io::Result<Vec<u8>> {
    Ok(Vec::from(storage.read_range(&p.key, p.offset, p.offset + p.len).await?))
}

impl Clip {
    /// Reads fragment `i`, rebased.
    pub async fn fragment(&self, i: usize) -> std::io::Result<Bytes> {
        let mut buf = read_piece(&self.storage, &self.pieces[i]).await?;
        if let Some((track, add)) = self.cts_add {
            cmaf::add_to_composition_offsets(&mut buf, track, add);
        }
        let shifts = &self.shifts;
        cmaf::rebase(&mut buf, |track| shifts.iter().find(|s| s.0 == track).map_or(0, |s| s.1));
        Ok(Bytes::from(buf))
    }

    /// The pieces that cover bytes `[from, to]` of the clip: (piece index or None for
    /// the init, start within it, end within it inclusive).
    pub fn cover(&self, from: u64, to: u64) -> Vec<(Option<usize>, u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0u64;
        let init_len = self.init.len() as u64;
        if from < init_len {
            out.push((None, from, to.min(init_len - 1)));
        }
        at += init_len;
        for (i, p) in self.pieces.iter().enumerate() {
            let (a, b) = (at, at + p.len - 1);
            if b >= from && a <= to {
                out.push((Some(i), from.max(a) - a, to.min(b) - a));
            }
            if a > to {
                break;
            }
            at += p.len;
        }
        out
    }
}

/// Parses a single `Range: bytes=…` against a size: Ok(None) for no range, Err for an
/// unsatisfiable or malformed one.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>> {
    let Some(h) = header else { return Ok(None) };
    let bad = || {
        Error::new(
            ErrorCode::RangeNotSatisfiable,
            format!("range {h:?} is not within the clip's {size} bytes"),
        )
    };
    let spec = h.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    if spec.contains(',') {
        // Several ranges: serve the whole clip, as RFC 9110 allows.
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (a, b) = (a.trim(), b.trim());
    let (from, to) = match (a.is_empty(), b.is_empty()) {
        (true, false) => {
            let n: u64 = b.parse().map_err(|_| bad())?;
            (size.saturating_sub(n), size.checked_sub(1).ok_or_else(bad)?)
        }
        (false, _) => {
            let from: u64 = a.parse().map_err(|_| bad())?;
            let to: u64 = if b.is_empty() { size.saturating_sub(1) } else { b.parse().map_err(|_| bad())? };
            (from, to.min(size.saturating_sub(1)))
        }
        _ => return Err(bad()),
    };
    if from > to || from >= size {
        return Err(bad());
    }
    Ok(Some((from, to)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clip(lens: &[u64]) -> Clip {
        let cfg = crate::config::StorageConfig::default();
        Clip {
            storage: Arc::new(Storage::open(std::path::Path::new("/nonexistent"), &cfg).unwrap()),
            init: Bytes::from(vec![0u8; 10]),
            pieces: lens
                .iter()
                .map(|&len| Piece { key: keys::chunk("d/a/s", rewind_media::Time90k(0)), offset: 0, len })
                .collect(),
            total: 10 + lens.iter().sum::<u64>(),
            shifts: vec![],
            cts_add: None,
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100).unwrap(), None);
        assert_eq!(parse_range(Some("bytes=0-9"), 100).unwrap(), Some((0, 9)));
        assert_eq!(parse_range(Some("bytes=90-"), 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range(Some("bytes=-10"), 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range(Some("bytes=50-500"), 100).unwrap(), Some((50, 99)));
        assert!(parse_range(Some("bytes=100-"), 100).is_err());
        assert!(parse_range(Some("bytes=9-1"), 100).is_err());
        assert!(parse_range(Some("items=0-1"), 100).is_err());
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100).unwrap(), None);
    }

    proptest! {
        /// The pieces that cover a range add up to exactly that range, in order.
        #[test]
        fn cover_is_exact(lens in prop::collection::vec(1u64..50, 1..20), a in 0u64..1000, n in 1u64..1000) {
            let c = clip(&lens);
            let from = a % c.total;
            let to = (from + n - 1).min(c.total - 1);
            let parts = c.cover(from, to);
            let covered: u64 = parts.iter().map(|(_, s, e)| e - s + 1).sum();
            prop_assert_eq!(covered, to - from + 1);
            let mut prev: Option<usize> = None;
            for (i, s, e) in &parts {
                prop_assert!(s <= e);
                if let (Some(p), Some(i)) = (prev, i) { prop_assert_eq!(*i, p + 1); }
                prev = *i;
            }
        }
    }
}
