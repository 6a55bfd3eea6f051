//! Every object key rewind stores, named here and nowhere else. A key is also the
//! file's path under the local root, so the local folder, the spool and the bucket
//! share one layout: `media/{domain}/{app}/{stream}/{file}` (an HLS recording's
//! segments in the folder named as its playlist without `.m3u8`) and
//! `timeline/{domain}/{app}/{stream}/{start_90k}.m4s`.

use rewind_media::Time90k;

/// Folder of recording files.
pub const MEDIA: &str = "media";
/// Folder of timeline chunks.
pub const TIMELINE: &str = "timeline";

/// One object's key (or a folder's, for prefixes): `/`-separated, relative, never
/// starting with `/` nor holding `..` (every part comes from a checked stream id or a
/// name rewind made).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this key is a timeline chunk (those may be dropped from a full spool).
    pub fn is_chunk(&self) -> bool {
        self.0.starts_with(TIMELINE) && self.0.ends_with(".m4s")
    }

    /// A key from its text, when it is one rewind could have made (a spool file found
    /// at start-up, an object listed in the bucket).
    pub fn parse(s: &str) -> Option<Key> {
        let ok = (s.starts_with("media/") || s.starts_with("timeline/"))
            && s.split('/').all(|p| !p.is_empty() && p != "." && p != "..");
        ok.then(|| Key(s.to_string()))
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A library file by its record's `rel_path` (HLS: the playlist).
pub fn media(rel_path: &str) -> Key {
    Key(format!("{MEDIA}/{rel_path}"))
}

/// The folder of one stream's recording files.
pub fn media_stream(domain: &str, app: &str, stream: &str) -> Key {
    Key(format!("{MEDIA}/{domain}/{app}/{stream}"))
}

/// The recording whose working folder holds `key` (`media/d/a/s/.{file_id}.{ext}.part/…`),
/// by file id.
pub fn work_file_id(key: &Key) -> Option<&str> {
    let mut parts = key.0.strip_prefix(MEDIA)?.split('/').skip(4);
    let (folder, _inside) = (parts.next()?, parts.next()?);
    folder.strip_prefix('.')?.strip_suffix(".part")?.split('.').next()
}

/// The segment folder of an HLS recording whose playlist is at `rel_path`.
pub fn hls_folder(rel_path: &str) -> Key {
    Key(format!("{MEDIA}/{}", rel_path.strip_suffix(".m3u8").unwrap_or(rel_path)))
}

/// A segment of an HLS recording whose playlist is at `rel_path`.
pub fn hls_segment(rel_path: &str, segment: &str) -> Key {
    Key(format!("{}/{segment}", hls_folder(rel_path).0))
}

/// A segment of an HLS recording still being written, in its working folder
/// `rel_dir` (relative to the media root, as its `recording_file` row says): shipped to
/// the bucket as it closes when the recording may be continued by another node, and
/// copied to its published key (`hls_segment`) when the recording is finished.
pub fn hls_work_segment(rel_dir: &str, segment: &str) -> Key {
    Key(format!("{MEDIA}/{rel_dir}/{segment}"))
}

/// The folder of a stream's timeline chunks (`stream_id` = `domain/app/stream`).
pub fn timeline_stream(stream_id: &str) -> Key {
    Key(format!("{TIMELINE}/{stream_id}"))
}

/// A timeline chunk: its name is its start, so names sort by time and never clash.
pub fn chunk(stream_id: &str, start: Time90k) -> Key {
    Key(format!("{TIMELINE}/{stream_id}/{}", chunk_file_name(start)))
}

/// The stream id and start a chunk key names.
pub fn parse_chunk(key: &Key) -> Option<(String, Time90k)> {
    let rest = key.0.strip_prefix(TIMELINE)?.strip_prefix('/')?;
    let (stream_id, file) = rest.rsplit_once('/')?;
    (stream_id.split('/').count() == 3).then_some(())?;
    Some((stream_id.to_string(), chunk_start(file)?))
}

/// The library `rel_path` whose bytes a media key holds: the file itself, or the
/// playlist of the HLS recording a segment belongs to.
pub fn media_rel_path(key: &Key) -> Option<String> {
    let rest = key.0.strip_prefix(MEDIA)?.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.len() {
        4 => Some(rest.to_string()),
        5 => Some(format!("{}/{}/{}/{}.m3u8", parts[0], parts[1], parts[2], parts[3])),
        _ => None,
    }
}

/// A chunk's file name within its stream's folder.
pub fn chunk_file_name(start: Time90k) -> String {
    format!("{}.m4s", start.0)
}

/// The start a chunk file name stands for.
pub fn chunk_start(file_name: &str) -> Option<Time90k> {
    file_name.strip_suffix(".m4s")?.parse().ok().map(Time90k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_local_layout() {
        assert_eq!(media("d/a/s/x.flv").as_str(), "media/d/a/s/x.flv");
        assert_eq!(hls_folder("d/a/s/x.m3u8").as_str(), "media/d/a/s/x");
        assert_eq!(hls_segment("d/a/s/x.m3u8", "000001.ts").as_str(), "media/d/a/s/x/000001.ts");
        assert_eq!(chunk("d/a/s", Time90k(90_000)).as_str(), "timeline/d/a/s/90000.m4s");
        assert!(chunk("d/a/s", Time90k(1)).is_chunk());
        assert!(!media("d/a/s/x.flv").is_chunk());
        assert_eq!(chunk_start("90000.m4s"), Some(Time90k(90_000)));
        assert_eq!(chunk_start("x.m4s"), None);
        assert_eq!(parse_chunk(&chunk("d/a/s", Time90k(7))), Some(("d/a/s".into(), Time90k(7))));
        assert_eq!(media_rel_path(&media("d/a/s/x.flv")).as_deref(), Some("d/a/s/x.flv"));
        assert_eq!(media_rel_path(&hls_segment("d/a/s/x.m3u8", "1.ts")).as_deref(), Some("d/a/s/x.m3u8"));
    }

    #[test]
    fn working_folders_name_their_recording() {
        let k = |s: &str| Key::parse(s).unwrap();
        assert_eq!(work_file_id(&k("media/d/a/s/.1a2b.m3u8.part/000001.ts")), Some("1a2b"));
        assert_eq!(work_file_id(&k("media/d/a/s/cam_1/000001.ts")), None, "a published folder");
        assert_eq!(work_file_id(&k("media/d/a/s/.1a2b.flv.part")), None, "a file, not a folder's");
        assert_eq!(work_file_id(&k("timeline/d/a/s/.x.part/1.m4s")), None);
    }

    #[test]
    fn parse_refuses_what_rewind_never_names() {
        assert!(Key::parse("media/d/a/s/x.flv").is_some());
        assert!(Key::parse("timeline/d/a/s/1.m4s").is_some());
        for bad in ["", "/media/x", "media//x", "media/../x", "other/x", "media/./x"] {
            assert!(Key::parse(bad).is_none(), "{bad}");
        }
    }
}
