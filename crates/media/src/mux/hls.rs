//! HLS media playlists (RFC 8216) for recordings: `EVENT` while recording, `VOD` with
//! `EXT-X-ENDLIST` once finished.

use std::fmt::Write;

/// One segment line.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// URI relative to the playlist.
    pub uri: String,
    /// Duration in seconds.
    pub duration_secs: f64,
    /// A discontinuity (new push, codec change) before this segment.
    pub discontinuity: bool,
    /// `EXT-X-PROGRAM-DATE-TIME` value (RFC 3339), when known.
    pub program_date_time: Option<String>,
}

/// A media playlist.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaPlaylist {
    /// Segments in order.
    pub segments: Vec<Segment>,
    /// True: `VOD` + `EXT-X-ENDLIST`; false: `EVENT` (still growing).
    pub finished: bool,
}

impl Segment {
    /// Its duration as `EXT-X-TARGETDURATION` counts it: rounded to whole seconds.
    pub fn target_secs(&self) -> u64 {
        self.duration_secs.round() as u64
    }

    /// Appends its lines: discontinuity, date, `EXTINF` and URI.
    pub fn render_to(&self, o: &mut String) {
        if self.discontinuity {
            o.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if let Some(t) = &self.program_date_time {
            let _ = writeln!(o, "#EXT-X-PROGRAM-DATE-TIME:{t}");
        }
        let _ = writeln!(o, "#EXTINF:{:.3},\n{}", self.duration_secs, self.uri);
    }
}

impl MediaPlaylist {
    /// `EXT-X-TARGETDURATION`: the longest segment, rounded (at least 1).
    pub fn target_duration(&self) -> u64 {
        self.segments.iter().map(Segment::target_secs).max().unwrap_or(1).max(1)
    }

    /// The playlist text.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(64 + self.segments.len() * 48);
        o.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
        let _ = writeln!(o, "#EXT-X-PLAYLIST-TYPE:{}", if self.finished { "VOD" } else { "EVENT" });
        let _ = writeln!(o, "#EXT-X-TARGETDURATION:{}", self.target_duration());
        o.push_str("#EXT-X-MEDIA-SEQUENCE:0\n");
        for s in &self.segments {
            s.render_to(&mut o);
        }
        if self.finished {
            o.push_str("#EXT-X-ENDLIST\n");
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_vod_playlist() {
        let p = MediaPlaylist {
            segments: vec![
                Segment {
                    uri: "cam/000001.ts".into(),
                    duration_secs: 2.0,
                    discontinuity: false,
                    program_date_time: Some("2019-12-21T04:01:08.000Z".into()),
                },
                Segment {
                    uri: "cam/000002.ts".into(),
                    duration_secs: 2.56,
                    discontinuity: false,
                    program_date_time: None,
                },
                Segment {
                    uri: "cam/000003.ts".into(),
                    duration_secs: 1.2,
                    discontinuity: true,
                    program_date_time: Some("2019-12-21T04:01:20.000Z".into()),
                },
            ],
            finished: true,
        };
        assert_eq!(
            p.render(),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PROGRAM-DATE-TIME:2019-12-21T04:01:08.000Z\n#EXTINF:2.000,\ncam/000001.ts\n\
             #EXTINF:2.560,\ncam/000002.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2019-12-21T04:01:20.000Z\n\
             #EXTINF:1.200,\ncam/000003.ts\n#EXT-X-ENDLIST\n"
        );
    }
}
