//! Timeline manifests: HLS (fMP4 segments as byte ranges of chunks) and DASH (CMAF,
//! `SegmentList` with media ranges, one `Period` per run). Pure: segments in, text out.

use crate::timeline::chunk_table::FragmentRef;
use crate::wire_time::rfc3339_ms;
use rewind_media::{Duration90k, Time90k};
use std::fmt::Write;

/// One segment of a manifest: a fragment and where it sits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    /// The chunk holding it (its key and file name).
    pub chunk_start: Time90k,
    /// Its init segment.
    pub init_id: i64,
    /// Its run's start and number: a new run is a discontinuity.
    pub run_start: Time90k,
    /// Its run's number.
    pub run_seq: i64,
    /// Its media sequence number.
    pub seq: i64,
    /// The fragment.
    pub frag: FragmentRef,
}

/// Where segments and init segments are, relative to the manifest.
pub fn chunk_uri(chunk_start: Time90k) -> String {
    format!("timeline/chunks/{}.m4s", chunk_start.0)
}

/// Relative URI of an init segment.
pub fn init_uri(init_id: i64) -> String {
    format!("timeline/init/{init_id}.mp4")
}

fn secs(d: Duration90k) -> f64 {
    d.as_secs_f64()
}

/// An HLS media playlist (version 7, fMP4). `live`: no `ENDLIST` and no playlist type,
/// so players reload it; otherwise a `VOD` playlist.
pub fn hls(segments: &[Segment], live: bool) -> String {
    let target = segments.iter().map(|s| secs(s.frag.duration).round() as u64).max().unwrap_or(1).max(1);
    let mut o = String::with_capacity(128 + segments.len() * 96);
    let first = segments.first();
    let _ = write!(
        o,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
        first.map_or(0, |s| s.seq),
        first.map_or(0, |s| s.run_seq)
    );
    if !live {
        o.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    let mut prev: Option<&Segment> = None;
    let mut uri = String::new();
    for s in segments {
        let new_run = prev.is_none_or(|p| p.run_seq != s.run_seq);
        if prev.is_some() && new_run {
            o.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if prev.is_none_or(|p| p.init_id != s.init_id) {
            let _ = writeln!(o, "#EXT-X-MAP:URI=\"{}\"", init_uri(s.init_id));
        }
        if new_run {
            let _ = writeln!(o, "#EXT-X-PROGRAM-DATE-TIME:{}", rfc3339_ms(s.frag.start));
        }
        // A 24-hour manifest has 43,200 of these: plain integer writes, no float
        // formatting, the chunk's URI made once, and no offset where the range simply
        // continues the previous one (RFC 8216 §4.3.2.2).
        o.push_str("#EXTINF:");
        push_millis(&mut o, s.frag.duration);
        o.push_str(",\n#EXT-X-BYTERANGE:");
        push_u64(&mut o, s.frag.size as u64);
        let continues = prev.is_some_and(|p| {
            p.chunk_start == s.chunk_start && p.frag.offset + p.frag.size as u64 == s.frag.offset
        });
        if !continues {
            o.push('@');
            push_u64(&mut o, s.frag.offset);
        }
        o.push('\n');
        if prev.is_none_or(|p| p.chunk_start != s.chunk_start) {
            uri = chunk_uri(s.chunk_start);
        }
        o.push_str(&uri);
        o.push('\n');
        prev = Some(s);
    }
    if !live {
        o.push_str("#EXT-X-ENDLIST\n");
    }
    o
}

fn push_u64(o: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    o.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Seconds with three decimals, rounded to the millisecond.
fn push_millis(o: &mut String, d: Duration90k) {
    let ms = (d.0.max(0) as u64 + 45) / 90;
    push_u64(o, ms / 1000);
    o.push('.');
    let frac = ms % 1000;
    o.push_str(if frac < 10 {
        "00"
    } else if frac < 100 {
        "0"
    } else {
        ""
    });
    push_u64(o, frac);
}

/// ISO 8601 duration in seconds with milliseconds.
fn iso_duration(d: Duration90k) -> String {
    format!("PT{:.3}S", secs(d).max(0.0))
}

/// Which part of a fragment a DASH representation addresses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Video,
    Audio,
}

impl Part {
    /// The byte range of this part of `s`, if it has one.
    fn range(self, s: &Segment) -> Option<(u64, u64)> {
        let (start, len) = match self {
            Part::Video => (s.frag.offset, s.frag.video_len as u64),
            Part::Audio => (s.frag.offset + s.frag.video_len as u64, (s.frag.size - s.frag.video_len) as u64),
        };
        (len > 0).then(|| (start, start + len - 1))
    }
}

/// A DASH MPD: `static` (VOD) or `dynamic` (live), one `Period` per run (and per init
/// segment within a run), and in each one `AdaptationSet` per track (CMAF: one track
/// per representation) whose segments are that track's part of each fragment.
/// `codecs(init_id)` gives each init's RFC 6381 codecs, video first.
pub fn dash(segments: &[Segment], live: bool, now: Time90k, codecs: impl Fn(i64) -> String) -> String {
    let Some(first) = segments.first() else { return String::new() };
    let last = segments.last().expect("not empty");
    let total = last.frag.end() - first.frag.start;
    let mut o = String::with_capacity(512 + segments.len() * 160);
    let _ = write!(
        o,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" minBufferTime="PT2S" "#
    );
    if live {
        let _ = write!(
            o,
            r#"type="dynamic" availabilityStartTime="{}" publishTime="{}" minimumUpdatePeriod="PT2S" timeShiftBufferDepth="{}">"#,
            rfc3339_ms(first.frag.start),
            rfc3339_ms(now),
            iso_duration(total)
        );
    } else {
        let _ = write!(o, r#"type="static" mediaPresentationDuration="{}">"#, iso_duration(total));
    }
    o.push('\n');
    let mut i = 0;
    while i < segments.len() {
        let head = &segments[i];
        let n = segments[i..]
            .iter()
            .take_while(|s| s.run_seq == head.run_seq && s.init_id == head.init_id)
            .count();
        let period = &segments[i..i + n];
        let _ = writeln!(
            o,
            r#" <Period id="p{i}" start="{}">"#,
            iso_duration(head.frag.start - first.frag.start)
        );
        let all = codecs(head.init_id);
        for part in [Part::Video, Part::Audio] {
            let codec = all.split(',').find(|c| c.starts_with("mp4a") == (part == Part::Audio)).unwrap_or("");
            let parts: Vec<(&Segment, (u64, u64))> =
                period.iter().filter_map(|s| part.range(s).map(|r| (s, r))).collect();
            if !parts.is_empty() && !codec.is_empty() {
                adaptation_set(&mut o, part, codec, head.init_id, &parts);
            }
        }
        o.push_str(" </Period>\n");
        i += n;
    }
    o.push_str("</MPD>\n");
    o
}

fn adaptation_set(o: &mut String, part: Part, codec: &str, init_id: i64, parts: &[(&Segment, (u64, u64))]) {
    let (kind, suffix) = if part == Part::Video { ("video", "v") } else { ("audio", "a") };
    let bytes: u64 = parts.iter().map(|(_, (a, b))| b - a + 1).sum();
    let first = parts[0].0;
    let dur = parts[parts.len() - 1].0.frag.end() - first.frag.start;
    let bandwidth = (bytes as f64 * 8.0 / secs(dur).max(0.001)) as u64;
    // Decode times are wall-clock ticks, so the offset to remove is the period's start.
    let _ = write!(
        o,
        r#"  <AdaptationSet contentType="{kind}" mimeType="{kind}/mp4" segmentAlignment="true" startWithSAP="1">
   <Representation id="{suffix}{init_id}" codecs="{codec}" bandwidth="{bandwidth}">
    <SegmentList timescale="90000" presentationTimeOffset="{}">
     <Initialization sourceURL="timeline/init/{init_id}-{suffix}.mp4"/>
     <SegmentTimeline>
"#,
        first.frag.start.0
    );
    let mut j = 0;
    while j < parts.len() {
        let s = parts[j].0;
        let d = s.frag.duration.0;
        let repeat = parts[j + 1..]
            .iter()
            .zip(&parts[j..])
            .take_while(|(next, cur)| next.0.frag.duration.0 == d && next.0.frag.start == cur.0.frag.end())
            .count();
        if repeat > 0 {
            let _ = writeln!(o, r#"      <S t="{}" d="{d}" r="{repeat}"/>"#, s.frag.start.0);
        } else {
            let _ = writeln!(o, r#"      <S t="{}" d="{d}"/>"#, s.frag.start.0);
        }
        j += repeat + 1;
    }
    o.push_str("     </SegmentTimeline>\n");
    for (s, (a, b)) in parts {
        let _ =
            writeln!(o, r#"     <SegmentURL media="{}" mediaRange="{a}-{b}"/>"#, chunk_uri(s.chunk_start));
    }
    o.push_str("    </SegmentList>\n   </Representation>\n  </AdaptationSet>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two runs: three 2 s fragments in two chunks, a 2 s gap, then two more.
    fn segments() -> Vec<Segment> {
        let t0 = Time90k::from_unix_micros(1_576_886_400_000_000); // 2019-12-21T00:00:00Z
        let two = Duration90k::from_secs(2);
        let frag = |start: Time90k, offset: u64| FragmentRef {
            start,
            duration: two,
            offset,
            size: 1000,
            independent: true,
            video_len: 600,
        };
        let r1 = t0;
        let r2 = t0 + Duration90k::from_secs(8);
        vec![
            Segment { chunk_start: r1, init_id: 1, run_start: r1, run_seq: 0, seq: 10, frag: frag(r1, 0) },
            Segment {
                chunk_start: r1,
                init_id: 1,
                run_start: r1,
                run_seq: 0,
                seq: 11,
                frag: frag(r1 + two, 1000),
            },
            Segment {
                chunk_start: r1 + two + two,
                init_id: 1,
                run_start: r1,
                run_seq: 0,
                seq: 12,
                frag: frag(r1 + two + two, 0),
            },
            Segment { chunk_start: r2, init_id: 2, run_start: r2, run_seq: 1, seq: 13, frag: frag(r2, 0) },
            Segment {
                chunk_start: r2,
                init_id: 2,
                run_start: r2,
                run_seq: 1,
                seq: 14,
                frag: frag(r2 + two, 1000),
            },
        ]
    }

    fn golden(name: &str, got: &str) {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var("UPDATE_GOLDEN").is_ok() {
            std::fs::create_dir_all(std::path::Path::new(&path).parent().unwrap()).unwrap();
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path).expect("golden file; run with UPDATE_GOLDEN=1 to create");
        assert_eq!(got, want, "{name} differs from its golden file");
    }

    #[test]
    fn hls_vod_golden() {
        let text = hls(&segments(), false);
        golden("timeline_vod.m3u8", &text);
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME").count(), 2, "one per run");
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn millis_are_rounded_like_floats() {
        for ticks in [0i64, 1, 44, 45, 89, 90, 179_999, 180_000, 180_045, 2_089, 9_000_000_000] {
            let mut o = String::new();
            push_millis(&mut o, Duration90k(ticks));
            let want = format!("{:.3}", (((ticks + 45) / 90) as f64) / 1000.0);
            assert_eq!(o, want, "{ticks} ticks");
        }
    }

    #[test]
    fn hls_live_has_no_end() {
        let text = hls(&segments(), true);
        assert!(!text.contains("ENDLIST") && !text.contains("PLAYLIST-TYPE"));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"));
    }

    #[test]
    fn dash_golden() {
        let now = Time90k::from_unix_micros(1_576_886_460_000_000);
        let text = dash(&segments(), false, now, |id| {
            if id == 1 { "avc1.64001f,mp4a.40.2".into() } else { "avc1.640028".into() }
        });
        golden("timeline_vod.mpd", &text);
        assert_eq!(text.matches("<Period").count(), 2, "one Period per run");
        assert_eq!(text.matches("<AdaptationSet").count(), 3, "one per track: the second init has no audio");
        assert!(text.contains(r#"d="180000" r="2"/>"#), "contiguous equal fragments collapse");
        assert!(text.contains(r#"mediaRange="0-599""#) && text.contains(r#"mediaRange="600-999""#));
    }
}
