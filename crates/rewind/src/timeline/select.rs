//! Picks the segments of a manifest (or clip) from the index and the live tail.

use crate::error::{Error, ErrorCode, Result};
use crate::server::Services;
use crate::timeline::index::{self, Chunk, Run};
use crate::timeline::playlist::Segment;
use crate::timeline::window::{self, Bounds, Window};
use crate::wire_time::rfc3339_ms;

/// The segments to serve and how.
#[derive(Debug)]
pub struct Selection {
    /// In time order.
    pub segments: Vec<Segment>,
    /// The range asked for, resolved.
    pub bounds: Bounds,
}

impl Selection {
    /// Where the served media really starts and ends (fragments are whole, and an end
    /// in a gap snaps to media).
    pub fn media_span(&self) -> (rewind_media::Time90k, rewind_media::Time90k) {
        let first = self.segments.first().expect("a selection is never empty");
        let last = self.segments.last().expect("a selection is never empty");
        (first.frag.start, last.frag.end())
    }
}

/// The error for a stream that has never had a timeline.
pub fn no_timeline(stream_id: &str) -> Error {
    Error::new(
        ErrorCode::NoTimeline,
        format!(
            "stream {stream_id} has no timeline: only streams recorded into a timeline (template timeline.enable, or timeline.record_all) can be browsed and played by time"
        ),
    )
}

/// The stream's runs as far as the index and the live tail know, with the live tail's
/// run (if any) last.
pub async fn latest(svc: &Services, stream_id: &str) -> Result<(Option<Run>, bool)> {
    let tail = svc.timelines.get(stream_id);
    let indexed = index::last_run(&svc.db, stream_id).await?;
    let live_run = tail.as_ref().and_then(|t| t.run);
    let last = match (indexed, live_run) {
        (Some(a), Some(b)) => Some(if b.end >= a.end { b } else { a }),
        (a, b) => a.or(b),
    };
    Ok((last, tail.is_some()))
}

/// Limits on a selection (a locator's window): (from, to).
pub type Limits = (Option<rewind_media::Time90k>, Option<rewind_media::Time90k>);

/// The segments of `w` for a stream.
pub async fn select(svc: &Services, stream_id: &str, w: Window) -> Result<Selection> {
    select_within(svc, stream_id, w, (None, None)).await
}

/// The segments of `w` for a stream, never outside `limits`.
pub async fn select_within(svc: &Services, stream_id: &str, w: Window, limits: Limits) -> Result<Selection> {
    // The tail first: a chunk sealed meanwhile is then in both, and the index wins.
    let tail = svc.timelines.get(stream_id);
    let (last, recording) = latest(svc, stream_id).await?;
    let Some(last) = last else { return Err(no_timeline(stream_id)) };
    let mut bounds = window::bounds(w, last.end, recording)?;
    if let Some(lo) = limits.0 {
        bounds.from = bounds.from.max(lo);
    }
    if let Some(hi) = limits.1 {
        bounds.to = bounds.to.min(hi);
        bounds.live &= hi > last.end;
    }
    let mut chunks = index::chunks_in(&svc.db, stream_id, bounds.from, bounds.to).await?;
    if let Some(open) = tail.as_ref().and_then(|t| t.chunk.as_ref())
        && !chunks.iter().any(|c| c.start == open.start)
    {
        chunks.push(open.clone());
    }
    let segments = segments_of(&chunks, &bounds);
    if segments.is_empty() {
        return Err(Error::new(
            ErrorCode::NoMediaInRange,
            format!(
                "no media from {} to {}: the range falls in a gap of the timeline (availableMedia lists what exists)",
                rfc3339_ms(bounds.from),
                rfc3339_ms(bounds.to)
            ),
        ));
    }
    Ok(Selection { segments, bounds })
}

/// Every fragment of `chunks` that overlaps the bounds, in time order.
pub fn segments_of(chunks: &[Chunk], b: &Bounds) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for c in chunks {
        for (i, f) in c.fragments.iter().enumerate() {
            if f.end() > b.from && f.start < b.to {
                out.push(Segment {
                    chunk_start: c.start,
                    init_id: c.init_id,
                    run_start: c.run_start,
                    run_seq: c.run_seq,
                    seq: c.first_seq + i as i64,
                    frag: *f,
                });
            }
        }
    }
    out.sort_by_key(|s| s.frag.start);
    out.dedup_by_key(|s| s.frag.start);
    out
}
