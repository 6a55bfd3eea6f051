//! An HLS recording's state: its folder of MPEG-TS segments, what each holds, and the
//! playlists made from them. Pure bookkeeping; the recorder does the I/O (and
//! `publish` the final move). A spliced recording (auto-splice) is several pushes in
//! one playlist, each starting with a discontinuity.

use crate::recording::sink::SideWrite;
use crate::wire_time::rfc3339_ms;
use rewind_media::mux::hls::{MediaPlaylist, Segment};
use rewind_media::mux::ts::TsMuxer;
use rewind_media::{Duration90k, Time90k};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One segment file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HlsSegment {
    /// File name in the recording's folder.
    pub file: String,
    /// Decode time of its first frame (its push's clock).
    pub dts_90k: i64,
    /// UTC of its first frame.
    pub utc_90k: i64,
    /// Bytes (known once closed).
    pub bytes: u64,
    /// Media duration (known once closed).
    pub duration_90k: Option<i64>,
    /// First segment of a later push: the playlist says `#EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
}

/// An HLS recording being written.
pub struct HlsState {
    /// The muxer of the current push.
    pub ts: TsMuxer,
    /// The recording's folder (a temporary name until published).
    pub dir: PathBuf,
    /// Every segment; the last is open while recording.
    pub segments: Vec<HlsSegment>,
    /// Publish sessions the recording spans, in order.
    pub session_ids: Vec<String>,
    /// `EXT-X-TARGETDURATION` in the working playlist's header (0: not written by this
    /// recorder yet — the next update writes it whole).
    playlist_target: u64,
}

/// `000001.ts`, …
pub fn segment_name(n: usize) -> String {
    format!("{n:06}.ts")
}

impl HlsState {
    /// The folder's segments so far (none open).
    pub fn new(ts: TsMuxer, dir: PathBuf, segments: Vec<HlsSegment>, session_ids: Vec<String>) -> Self {
        HlsState { ts, dir, segments, session_ids, playlist_target: 0 }
    }

    /// Starts the next segment with a frame at (`dts`, `utc`); returns its file name.
    pub fn open_segment(&mut self, dts: Time90k, utc: Time90k, discontinuity: bool) -> String {
        let file = segment_name(self.segments.len() + 1);
        self.segments.push(HlsSegment {
            file: file.clone(),
            dts_90k: dts.0,
            utc_90k: utc.0,
            bytes: 0,
            duration_90k: None,
            discontinuity,
        });
        file
    }

    /// Decode time of the open segment's first frame.
    pub fn open_start_dts(&self) -> Time90k {
        self.segments.last().map_or(Time90k(0), |s| Time90k(s.dts_90k))
    }

    /// Closes the open segment: its media ends at `end_dts`, it holds `bytes`.
    pub fn close_segment(&mut self, end_dts: Time90k, bytes: u64) {
        if let Some(s) = self.segments.last_mut() {
            s.duration_90k = Some((end_dts.0 - s.dts_90k).max(0));
            s.bytes = bytes;
        }
    }

    /// Decode time where the last closed segment ends.
    pub fn end_dts(&self) -> Time90k {
        self.segments.last().map_or(Time90k(0), |s| Time90k(s.dts_90k + s.duration_90k.unwrap_or(0)))
    }

    /// Media time of the closed segments (gaps between pushes not counted).
    pub fn media_duration(&self) -> Duration90k {
        Duration90k(self.segments.iter().filter_map(|s| s.duration_90k).sum())
    }

    /// UTC of the first frame.
    pub fn start_utc(&self) -> Time90k {
        self.segments.first().map_or(Time90k(0), |s| Time90k(s.utc_90k))
    }

    /// UTC where the last closed segment ends.
    pub fn end_utc(&self) -> Time90k {
        self.segments.last().map_or(Time90k(0), |s| Time90k(s.utc_90k + s.duration_90k.unwrap_or(0)))
    }

    /// Bytes of all segments.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// The playlist of the closed segments: `EVENT` while recording, `VOD` when
    /// `finished`. Each push starts with a date, after a discontinuity.
    pub fn playlist(&self, uri_prefix: &str, finished: bool) -> MediaPlaylist {
        let segments = (0..self.segments.len()).filter_map(|i| self.entry(i, uri_prefix)).collect();
        MediaPlaylist { segments, finished }
    }

    /// The playlist entry of segment `i`, once it is closed.
    fn entry(&self, i: usize, uri_prefix: &str) -> Option<Segment> {
        let s = &self.segments[i];
        Some(Segment {
            uri: format!("{uri_prefix}{}", s.file),
            duration_secs: Duration90k(s.duration_90k?).as_secs_f64(),
            discontinuity: s.discontinuity,
            program_date_time: (i == 0 || s.discontinuity).then(|| rfc3339_ms(Time90k(s.utc_90k))),
        })
    }

    /// How the working `EVENT` playlist (`index.m3u8`) takes the segment just closed:
    /// its lines are appended — one small write, no new file, however long the
    /// recording — while it fits the target duration in the header; a longer one (or
    /// the first) rewrites the playlist whole, atomically.
    pub fn playlist_update(&mut self) -> SideWrite {
        let path = self.dir.join("index.m3u8");
        let closed = self.segments.iter().rposition(|s| s.duration_90k.is_some());
        match closed.and_then(|i| self.entry(i, "")) {
            Some(seg) if self.playlist_target > 0 && seg.target_secs() <= self.playlist_target => {
                let mut text = String::with_capacity(96);
                seg.render_to(&mut text);
                SideWrite::Append(path, text.into_bytes())
            }
            _ => {
                let p = self.playlist("", false);
                self.playlist_target = p.target_duration();
                SideWrite::Replace(path, p.render().into_bytes())
            }
        }
    }
}

/// A file in a published HLS folder naming the recording (its file id) until the
/// library has it: recovery finds a folder published before a crash by it.
pub const PUBLISHED_MARKER: &str = ".rewind-file-id";

/// Moves a finished HLS recording's folder to `name/` (never over an existing one) and
/// writes its `VOD` playlist `name.m3u8` beside it. Every segment must be closed.
/// Returns the folder's name and the playlist's size.
/// Names in `taken` (the library's playlists) are skipped too. The playlist is synced
/// to disk if `sync`.
pub async fn publish(
    h: &HlsState,
    name: String,
    file_id: &str,
    taken: std::collections::HashSet<String>,
    sync: bool,
) -> std::io::Result<(String, u64)> {
    let dir = h.dir.clone();
    let parent = dir.parent().ok_or_else(|| std::io::Error::other("no folder"))?.to_path_buf();
    let hls = HlsState::new(TsMuxer::new(None, false), dir.clone(), h.segments.clone(), Vec::new());
    let file_id = file_id.to_string();
    tokio::task::spawn_blocking(move || {
        std::fs::write(dir.join(PUBLISHED_MARKER), &file_id)?;
        for i in 0..10_000 {
            let candidate = if i == 0 { name.clone() } else { format!("{name}_{i}") };
            let playlist = format!("{candidate}.m3u8");
            if taken.contains(&playlist) || parent.join(&playlist).exists() {
                continue;
            }
            // Reserve the folder name; renaming onto our own empty folder then replaces it.
            match std::fs::create_dir(parent.join(&candidate)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
            let _ = std::fs::remove_file(dir.join("index.m3u8"));
            std::fs::rename(&dir, parent.join(&candidate))?;
            let size = write_vod_playlist(&hls, &parent, &candidate, sync)?;
            return Ok((candidate, size));
        }
        Err(std::io::Error::other("no free file name"))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Writes `folder.m3u8`, the `VOD` playlist of the published `parent/folder/` (kept
/// when it is already there, whole), synced with its folder if `sync`; returns its size.
/// Blocking.
pub fn write_vod_playlist(h: &HlsState, parent: &Path, folder: &str, sync: bool) -> std::io::Result<u64> {
    let text = h.playlist(&format!("{folder}/"), true).render();
    let path = parent.join(format!("{folder}.m3u8"));
    let mut f = match std::fs::File::options().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // A crash may have torn it: only a whole one is kept.
            if std::fs::read(&path).is_ok_and(|b| b == text.as_bytes()) {
                return Ok(text.len() as u64);
            }
            std::fs::remove_file(&path)?;
            std::fs::File::options().write(true).create_new(true).open(&path)?
        }
        Err(e) => return Err(e),
    };
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    if sync {
        f.sync_all()?;
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(text.len() as u64)
}

/// The folder beside `tmp_dir` that a crash left published but not in the library:
/// the one whose marker names `file_id`. Blocking.
pub fn published_folder(tmp_dir: &Path, file_id: &str) -> Option<String> {
    let parent = tmp_dir.parent()?;
    std::fs::read_dir(parent).ok()?.flatten().find_map(|e| {
        let marker = std::fs::read_to_string(e.path().join(PUBLISHED_MARKER)).ok()?;
        (marker == file_id).then(|| e.file_name().to_string_lossy().into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_playlist_is_appended_to_until_a_segment_outgrows_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let mut h =
            HlsState::new(TsMuxer::new(None, false), dir.path().into(), Vec::new(), vec!["s1".into()]);
        let t0 = Time90k::from_ms(1_700_000_000_000);
        let mut file = Vec::new();
        // Applies an update the way the write thread does, and checks the file then
        // reads exactly like the playlist rendered whole.
        let mut apply = |u: SideWrite, h: &HlsState| {
            match u {
                SideWrite::Replace(p, b) => {
                    assert_eq!(p, dir.path().join("index.m3u8"));
                    file = b;
                }
                SideWrite::Append(_, b) => file.extend_from_slice(&b),
            }
            assert_eq!(String::from_utf8(file.clone()).unwrap(), h.playlist("", false).render());
        };
        let mut at = 0;
        let mut kinds = Vec::new();
        for secs in [6, 6, 5, 7, 6] {
            h.open_segment(Time90k(at * 90_000), t0 + Duration90k::from_secs(at), false);
            at += secs;
            h.close_segment(Time90k(at * 90_000), 100);
            let u = h.playlist_update();
            kinds.push(matches!(u, SideWrite::Append(..)));
            apply(u, &h);
        }
        // First: whole; 6 and 5 s fit the header's 6; 7 s rewrites it; then 6 fits 7.
        assert_eq!(kinds, [false, true, true, false, true]);
    }

    #[test]
    fn a_spliced_playlist_marks_each_push_and_counts_only_media_time() {
        let mut h =
            HlsState::new(TsMuxer::new(None, false), PathBuf::from("x"), Vec::new(), vec!["s1".into()]);
        let t0 = Time90k::from_ms(1_700_000_000_000);
        h.open_segment(Time90k(0), t0, false);
        h.close_segment(Time90k(6 * 90_000), 100);
        h.open_segment(Time90k(6 * 90_000), t0 + Duration90k::from_secs(6), false);
        h.close_segment(Time90k(8 * 90_000), 50);
        // The second push starts 10 s later at its own clock's zero.
        h.open_segment(Time90k(0), t0 + Duration90k::from_secs(18), true);
        h.close_segment(Time90k(4 * 90_000), 70);
        assert_eq!(h.media_duration(), Duration90k::from_secs(12));
        assert_eq!(h.end_utc(), t0 + Duration90k::from_secs(22));
        assert_eq!(h.bytes(), 220);
        let text = h.playlist("r/", true).render();
        let want = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:6\n\
            #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n#EXTINF:6.000,\nr/000001.ts\n\
            #EXTINF:2.000,\nr/000002.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:38.000Z\n\
            #EXTINF:4.000,\nr/000003.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(text, want);
        // While recording, the open segment is not listed.
        h.open_segment(Time90k(4 * 90_000), t0 + Duration90k::from_secs(22), false);
        assert_eq!(h.playlist("", false).segments.len(), 3);
    }
}
