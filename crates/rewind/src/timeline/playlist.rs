//! Timeline manifests: HLS (fMP4 segments as byte ranges of chunks) and DASH (CMAF,
//! `SegmentTemplate` addressed by `$Time$`, one `Period` per run). Pure: segments in,
//! text out.

use crate::timeline::chunk_table::FragmentRef;
use crate::wire_time::rfc3339_ms;
use rewind_media::time::TICKS_PER_MS;
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
    // Every fragment starts with a key frame (or is audio), except the second half of a
    // GOP too long for one fragment: only then may a player not start anywhere.
    if segments.iter().all(|s| s.frag.independent) {
        o.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    if !live {
        o.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    let mut prev: Option<&Segment> = None;
    let mut uri = String::new();
    for (i, s) in segments.iter().enumerate() {
        if !live && is_stub_tail(segments, i) {
            continue;
        }
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

/// Shorter than this, the last fragment of a run is left out of VOD HLS playlists.
const STUB_TAIL: Duration90k = Duration90k(45_000);

/// True for a run's last fragment when it is a stub (a key frame or two the push ended
/// on) after other fragments. Its video starts where the run's audio has already
/// ended, so in a player's one audio+video buffer it adds nothing: hls.js then waits
/// for it for ever and never reaches `ended`. VOD HLS playlists leave it out (at most
/// half a second of media); live ones keep it (sequence numbers must not change
/// between reloads).
fn is_stub_tail(segments: &[Segment], i: usize) -> bool {
    let s = &segments[i];
    let last_of_run = segments.get(i + 1).is_none_or(|n| n.run_seq != s.run_seq);
    let not_alone = i > 0 && segments[i - 1].run_seq == s.run_seq;
    last_of_run && not_alone && s.frag.duration < STUB_TAIL && s.frag.video_len > 0
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

/// A static presentation's end as declared: the millisecond after its last sample, never
/// before it. dash.js ends a presentation itself once the playhead passes the declared
/// end, seeking back half a second and pausing if the element has not ended yet: a
/// declared end a fraction of a millisecond short of the media stalls it there.
fn iso_duration_past(d: Duration90k) -> String {
    let ms = d.0.max(0) / TICKS_PER_MS + 1;
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
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

/// URI template of one track's segments (`v` or `a`), addressed by their decode time:
/// the server finds the fragment starting at `$Time$` and serves that track's part.
pub fn part_uri_template(track: &str) -> String {
    format!("timeline/{track}/$Time$.m4s")
}

/// A DASH MPD (DASH-IF IOP: `SegmentTemplate` with a `SegmentTimeline` addressed by
/// `$Time$`, one `AdaptationSet` per track — CMAF, one track per representation).
///
/// `static` (VOD): one `Period` per run (and per init segment within a run), laid end
/// to end — the gaps between runs are left out of the presentation, as HLS leaves them
/// out with `EXT-X-DISCONTINUITY` — so every player plays across them. Decode times are
/// wall-clock ticks, so a position maps to UTC by its Period's `presentationTimeOffset`.
///
/// `dynamic` (live): the run being recorded only, its Periods at their wall-clock
/// offsets from `availabilityStartTime` (the run's first fragment), with a `UTCTiming`
/// of the server's clock, so players find the live edge.
/// `codecs(init_id)` gives each init's RFC 6381 codecs, video first.
pub fn dash(segments: &[Segment], live: bool, now: Time90k, codecs: impl Fn(i64) -> String) -> String {
    let segments = match (live, segments.last()) {
        (true, Some(last)) => {
            let from = segments.iter().position(|s| s.run_seq == last.run_seq).unwrap_or(0);
            &segments[from..]
        }
        _ => segments,
    };
    let Some(first) = segments.first() else { return String::new() };
    let periods = periods(segments);
    let mut o = String::with_capacity(1024 + segments.len() * 40);
    o.push_str(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" minBufferTime="PT2S" "#,
    );
    let longest = segments.iter().map(|s| s.frag.duration).max().unwrap_or(Duration90k(0));
    let total = Duration90k(periods.iter().map(|p| p.duration().0).sum());
    if live {
        let span = segments.last().map_or(Duration90k(0), |l| l.frag.end() - first.frag.start);
        let _ = write!(
            o,
            r#"type="dynamic" availabilityStartTime="{}" publishTime="{}" minimumUpdatePeriod="PT1S" timeShiftBufferDepth="{}" suggestedPresentationDelay="{}" maxSegmentDuration="{}">"#,
            rfc3339_ms(first.frag.start),
            rfc3339_ms(now),
            iso_duration(span),
            iso_duration(longest + longest + Duration90k::from_secs(1)),
            iso_duration(longest)
        );
    } else {
        let _ = write!(
            o,
            r#"type="static" mediaPresentationDuration="{}" maxSegmentDuration="{}">"#,
            iso_duration_past(total),
            iso_duration(longest)
        );
    }
    o.push('\n');
    let mut at = Duration90k(0);
    for p in &periods {
        let head = &p.segments[0];
        // Live Periods sit at their wall-clock offsets; VOD ones end to end.
        let start = if live { head.frag.start - first.frag.start } else { at };
        let _ =
            write!(o, r#" <Period id="r{}i{}" start="{}""#, head.run_seq, head.init_id, iso_duration(start));
        if !live {
            let last = std::ptr::eq(p, periods.last().expect("a period"));
            let d = if last { iso_duration_past(p.duration()) } else { iso_duration(p.duration()) };
            let _ = write!(o, r#" duration="{}""#, d);
        }
        o.push_str(">\n");
        let all = codecs(head.init_id);
        for part in [Part::Video, Part::Audio] {
            let codec = all.split(',').find(|c| c.starts_with("mp4a") == (part == Part::Audio)).unwrap_or("");
            let parts: Vec<&Segment> = p.segments.iter().filter(|s| part.range(s).is_some()).collect();
            if !parts.is_empty() && !codec.is_empty() {
                adaptation_set(&mut o, part, codec, head.init_id, head.frag.start, &parts);
            }
        }
        o.push_str(" </Period>\n");
        at = at + p.duration();
    }
    if live {
        let _ = writeln!(
            o,
            r#" <UTCTiming schemeIdUri="urn:mpeg:dash:utc:direct:2014" value="{}"/>"#,
            rfc3339_ms(now)
        );
    }
    o.push_str("</MPD>\n");
    o
}

/// Segments that share a run and an init segment: one DASH Period.
struct Period<'a> {
    segments: &'a [Segment],
}

impl Period<'_> {
    /// From its first fragment's start to its last fragment's end.
    fn duration(&self) -> Duration90k {
        let (a, b) = (&self.segments[0], &self.segments[self.segments.len() - 1]);
        b.frag.end() - a.frag.start
    }
}

/// The Periods of `segments`. Stub tails stay: dash.js plays them (its buffers are per
/// track), and a live MPD that becomes static must keep what it listed, or dash.js
/// stops short of the end it already buffered.
fn periods(segments: &[Segment]) -> Vec<Period<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        let head = &segments[i];
        let n = segments[i..]
            .iter()
            .take_while(|s| s.run_seq == head.run_seq && s.init_id == head.init_id)
            .count();
        out.push(Period { segments: &segments[i..i + n] });
        i += n;
    }
    out
}

fn adaptation_set(o: &mut String, part: Part, codec: &str, init_id: i64, pto: Time90k, parts: &[&Segment]) {
    let (kind, suffix) = if part == Part::Video { ("video", "v") } else { ("audio", "a") };
    let bytes: u64 = parts.iter().filter_map(|s| part.range(s)).map(|(a, b)| b - a + 1).sum();
    let dur = parts[parts.len() - 1].frag.end() - parts[0].frag.start;
    let bandwidth = (bytes as f64 * 8.0 / secs(dur).max(0.001)) as u64;
    // Decode times are wall-clock ticks, so the offset to remove is the Period's start.
    let _ = write!(
        o,
        r#"  <AdaptationSet contentType="{kind}" mimeType="{kind}/mp4" segmentAlignment="true" startWithSAP="1">
   <Representation id="{suffix}{init_id}" codecs="{codec}" bandwidth="{bandwidth}">
    <SegmentTemplate timescale="90000" presentationTimeOffset="{}" initialization="timeline/init/{init_id}-{suffix}.mp4" media="{}">
     <SegmentTimeline>
"#,
        pto.0,
        part_uri_template(suffix)
    );
    let mut j = 0;
    while j < parts.len() {
        let s = parts[j];
        let d = s.frag.duration.0;
        let repeat = parts[j + 1..]
            .iter()
            .zip(&parts[j..])
            .take_while(|(next, cur)| next.frag.duration.0 == d && next.frag.start == cur.frag.end())
            .count();
        // `t` only where the timeline does not simply continue.
        let continues = j > 0 && parts[j - 1].frag.end() == s.frag.start;
        o.push_str("      <S ");
        if !continues {
            let _ = write!(o, r#"t="{}" "#, s.frag.start.0);
        }
        let _ = write!(o, r#"d="{d}""#);
        if repeat > 0 {
            let _ = write!(o, r#" r="{repeat}""#);
        }
        o.push_str("/>\n");
        j += repeat + 1;
    }
    o.push_str("     </SegmentTimeline>\n    </SegmentTemplate>\n   </Representation>\n  </AdaptationSet>\n");
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

    /// The rules of RFC 8216 (and Apple's HLS authoring rules for fMP4) that a media
    /// playlist of ours can break; returns what is wrong.
    fn hls_violations(text: &str) -> Vec<String> {
        let mut bad = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        if lines.first() != Some(&"#EXTM3U") {
            bad.push("does not start with #EXTM3U".into());
        }
        let target: u64 = lines
            .iter()
            .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let version: u32 = lines
            .iter()
            .find_map(|l| l.strip_prefix("#EXT-X-VERSION:"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        if version < 6 && text.contains("#EXT-X-MAP") {
            bad.push("EXT-X-MAP in a media playlist needs version 6 or more".into());
        }
        let (mut map_seen, mut pending_byterange, mut last_uri) = (false, None::<bool>, None::<&str>);
        let mut after_disc = false;
        for (i, l) in lines.iter().enumerate() {
            if let Some(d) = l.strip_prefix("#EXTINF:") {
                let secs: f64 = d.trim_end_matches(',').parse().unwrap_or(f64::NAN);
                if secs.round() as u64 > target {
                    bad.push(format!("line {i}: EXTINF {secs} rounds above the target duration {target}"));
                }
            } else if l.starts_with("#EXT-X-MAP:") {
                map_seen = true;
            } else if *l == "#EXT-X-DISCONTINUITY" {
                after_disc = true;
            } else if l.starts_with("#EXT-X-PROGRAM-DATE-TIME:") {
                after_disc = false;
            } else if let Some(r) = l.strip_prefix("#EXT-X-BYTERANGE:") {
                pending_byterange = Some(r.contains('@'));
            } else if !l.starts_with('#') && !l.is_empty() {
                if !map_seen {
                    bad.push(format!("line {i}: a segment before any EXT-X-MAP"));
                }
                if after_disc {
                    bad.push(format!("line {i}: a discontinuity without EXT-X-PROGRAM-DATE-TIME"));
                }
                // A range without an offset continues the previous segment's, of the same URI.
                if pending_byterange == Some(false) && last_uri != Some(*l) {
                    bad.push(format!("line {i}: a byte range without offset after another resource"));
                }
                pending_byterange = None;
                last_uri = Some(l);
            }
        }
        if !text.contains("#EXT-X-INDEPENDENT-SEGMENTS") {
            bad.push("no EXT-X-INDEPENDENT-SEGMENTS (every segment starts with a key frame)".into());
        }
        let vod = text.contains("#EXT-X-PLAYLIST-TYPE:VOD");
        if vod != text.ends_with("#EXT-X-ENDLIST\n") {
            bad.push("a VOD playlist ends with EXT-X-ENDLIST, a live one does not".into());
        }
        bad
    }

    #[test]
    fn hls_playlists_follow_the_rules_players_rely_on() {
        for (name, segs) in [("gap", segments()), ("stubs", segments_with_stubs())] {
            for live in [false, true] {
                let text = hls(&segs, live);
                assert_eq!(hls_violations(&text), Vec::<String>::new(), "{name} live={live}:\n{text}");
            }
        }
        // The validator catches what it checks.
        let broken = hls(&segments(), false).replace("#EXT-X-TARGETDURATION:2", "#EXT-X-TARGETDURATION:1");
        assert!(!hls_violations(&broken).is_empty());
        let mut long = segments();
        long[1].frag.duration = Duration90k(2 * 90_000 + 45_000); // 2.5 s rounds to 3
        assert_eq!(hls_violations(&hls(&long, false)), Vec::<String>::new());
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
        assert!(
            text.contains(r#"media="timeline/v/$Time$.m4s""#)
                && text.contains(r#"media="timeline/a/$Time$.m4s""#)
        );
        // The 2 s gap between the runs is left out: the second Period follows the first.
        // The first Period lasts exactly its media; the end is declared just past the last
        // sample, so dash.js never reaches it before the element ends.
        assert!(text.contains(r#"<Period id="r0i1" start="PT0.000S" duration="PT6.000S">"#), "{text}");
        assert!(text.contains(r#"<Period id="r1i2" start="PT6.000S" duration="PT4.001S">"#), "{text}");
        assert!(text.contains(r#"mediaPresentationDuration="PT10.001S""#));
    }

    /// The two runs of `segments()`, each ending on a 0.08 s stub (a key frame the push
    /// ended on).
    fn segments_with_stubs() -> Vec<Segment> {
        let mut segs = segments();
        let mut out = Vec::new();
        for (i, s) in segs.drain(..).enumerate() {
            out.push(s);
            if i == 2 || i == 4 {
                let mut stub = s;
                stub.seq += 100;
                stub.frag.start = s.frag.end();
                stub.frag.duration = Duration90k(7_200);
                stub.frag.offset += 1000;
                out.push(stub);
            }
        }
        out
    }

    #[test]
    fn vod_hls_leaves_out_the_stub_a_run_ends_on_and_live_hls_and_dash_keep_it() {
        let segs = segments_with_stubs();
        let text = hls(&segs, false);
        golden("timeline_vod_stubs.m3u8", &text);
        assert!(!text.contains("#EXTINF:0.080,"), "{text}");
        assert_eq!(text, hls(&segments(), false), "the same as without the stubs");
        assert_eq!(hls(&segs, true).matches("#EXTINF:0.080,").count(), 2, "live keeps them");
        let codecs = |_| "avc1.64001f,mp4a.40.2".to_string();
        let now = segs[6].frag.end();
        // DASH keeps them: per-track buffers play them, and a live MPD turning static
        // must not lose what it listed.
        let mpd = dash(&segs, false, now, codecs);
        assert_eq!(mpd.matches(r#"<S d="7200"/>"#).count(), 4, "{mpd}");
        let live = dash(&segs, true, now, codecs);
        golden("timeline_live.mpd", &live);
        assert!(live.contains(r#"d="7200""#), "{live}");
        golden("timeline_live.m3u8", &hls(&segs, true));
    }

    #[test]
    fn dash_live_is_the_run_being_recorded_at_its_wall_clock() {
        let segs = segments();
        let now = segs[4].frag.end() + Duration90k::from_secs(1);
        let text = dash(&segs, true, now, |_| "avc1.64001f,mp4a.40.2".into());
        assert!(text.contains(r#"type="dynamic""#));
        assert!(text.contains(&format!(r#"availabilityStartTime="{}""#, rfc3339_ms(segs[3].frag.start))));
        assert_eq!(text.matches("<Period").count(), 1, "only the live run: {text}");
        assert!(text.contains(r#"<Period id="r1i2" start="PT0.000S">"#), "{text}");
        assert!(text.contains("urn:mpeg:dash:utc:direct:2014"));
    }

    /// What a DASH manifest says, read back: Periods (start, duration) in seconds and, per
    /// AdaptationSet, its presentationTimeOffset and (t, d) of every segment.
    #[allow(clippy::type_complexity)]
    fn read_mpd(text: &str) -> (f64, Vec<(f64, f64, Vec<(i64, Vec<(i64, i64)>)>)>) {
        let attr = |s: &str, name: &str| -> Option<String> {
            let k = format!(" {name}=\"");
            let i = s.find(&k)? + k.len();
            Some(s[i..i + s[i..].find('"')?].to_string())
        };
        let secs = |v: String| v.trim_start_matches("PT").trim_end_matches('S').parse::<f64>().unwrap();
        let total = secs(attr(text, "mediaPresentationDuration").unwrap());
        let mut periods = Vec::new();
        for p in text.split("<Period").skip(1) {
            let head = &p[..p.find('>').unwrap()];
            let mut sets = Vec::new();
            for a in p.split("<SegmentTemplate").skip(1) {
                let pto: i64 = attr(a, "presentationTimeOffset").unwrap().parse().unwrap();
                let mut t = pto;
                let mut segs = Vec::new();
                for sx in a.split("<S ").skip(1) {
                    let sx = &sx[..sx.find("/>").unwrap()];
                    let sx = format!(" {sx}");
                    if let Some(v) = attr(&sx, "t") {
                        t = v.parse().unwrap();
                    }
                    let d: i64 = attr(&sx, "d").unwrap().parse().unwrap();
                    let r: i64 = attr(&sx, "r").map_or(0, |v| v.parse().unwrap());
                    for _ in 0..=r {
                        segs.push((t, d));
                        t += d;
                    }
                }
                sets.push((pto, segs));
            }
            periods.push((secs(attr(head, "start").unwrap()), secs(attr(head, "duration").unwrap()), sets));
        }
        (total, periods)
    }

    proptest::proptest! {
        /// Whatever the runs (gaps, codec changes, fragment lengths), a VOD manifest's
        /// Periods follow each other without gap or overlap, their lengths add up to the
        /// presentation's, and within each the segments tile the Period from its offset.
        #[test]
        fn dash_periods_and_segments_are_contiguous(
            runs in proptest::collection::vec(
                (proptest::collection::vec(5i64..300, 1..12), 0i64..100_000, proptest::bool::ANY),
                1..6,
            ),
        ) {
            let mut segs = Vec::new();
            let mut t = Time90k::from_unix_micros(1_576_886_400_000_000);
            let (mut seq, mut init) = (0i64, 1i64);
            for (run_seq, (frags, gap_ms, new_init)) in runs.iter().enumerate() {
                t += Duration90k(gap_ms * 90);
                if *new_init { init += 1; }
                let run_start = t;
                for tenth in frags {
                    let d = Duration90k(tenth * 9_000);
                    segs.push(Segment {
                        chunk_start: run_start, init_id: init, run_start, run_seq: run_seq as i64, seq,
                        frag: FragmentRef { start: t, duration: d, offset: 0, size: 1000, independent: true, video_len: 600 },
                    });
                    seq += 1;
                    t += d;
                }
            }
            let text = dash(&segs, false, t, |_| "avc1.64001f,mp4a.40.2".into());
            let (total, periods) = read_mpd(&text);
            let mut at = 0.0;
            for (start, duration, sets) in &periods {
                proptest::prop_assert!((start - at).abs() < 0.0015, "period starts at {start}, previous ends at {at}");
                proptest::prop_assert_eq!(sets.len(), 2);
                for (pto, s) in sets {
                    proptest::prop_assert_eq!(s[0].0, *pto);
                    for w in s.windows(2) {
                        proptest::prop_assert_eq!(w[0].0 + w[0].1, w[1].0, "segments tile the period");
                    }
                    let covered = (s.last().unwrap().0 + s.last().unwrap().1 - pto) as f64 / 90_000.0;
                    proptest::prop_assert!((covered - duration).abs() < 0.0015);
                }
                at = start + duration;
            }
            proptest::prop_assert!((total - at).abs() < 0.0015 * periods.len() as f64);
            proptest::prop_assert_eq!(periods.iter().map(|p| p.2[0].1.len()).sum::<usize>(), segs.len());
        }
    }
}
