//! `file_name` patterns of templates: `{StreamID}_{StartYear}-{StartMonth}…`.
//!
//! Patterns are checked when a template is saved; rendering can then not fail. The
//! rendered name never contains a path separator, so it cannot escape its folder.

use rewind_media::Time90k;
use time::OffsetDateTime;

/// The cloud service's default pattern.
pub const DEFAULT_PATTERN: &str = "{StreamID}_{StartYear}-{StartMonth}-{StartDay}-{StartHour}-{StartMinute}-{StartSecond}_{EndYear}-{EndMonth}-{EndDay}-{EndHour}-{EndMinute}-{EndSecond}";

/// Longest pattern accepted.
pub const MAX_PATTERN_LEN: usize = 256;

/// Longest rendered name: file systems take 255 bytes per name, and a rendered name
/// may get `_9999` (never overwrite) and `.m3u8` after it.
pub const MAX_RENDERED_LEN: usize = 245;

/// Longest value of a placeholder (names at their validated maximum).
fn max_len(name: &str) -> usize {
    match name {
        "StreamID" | "App" => crate::stream_id::MAX_NAME_LEN,
        "Domain" => 253,
        "Format" => 3,
        "RecordId" => 21,
        n if n.ends_with("Year") => 4,
        n if n.ends_with("Millisecond") => 3,
        _ => 2,
    }
}

const TIME_PARTS: [&str; 7] = ["Year", "Month", "Day", "Hour", "Minute", "Second", "Millisecond"];

fn known(name: &str) -> bool {
    matches!(name, "StreamID" | "Domain" | "App" | "Format" | "RecordId")
        || ["Start", "End"]
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(|rest| TIME_PARTS.contains(&rest)))
}

/// Checks a pattern; the error says what is wrong.
pub fn validate(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("file_name must be 1 to {MAX_PATTERN_LEN} characters"));
    }
    let mut rest = pattern;
    while let Some(open) = rest.find(['{', '}']) {
        check_literal(&rest[..open])?;
        if rest.as_bytes()[open] == b'}' {
            return Err("file_name has a '}' without '{'".into());
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("file_name has a '{' without '}'")?;
        let name = &after[..close];
        if !known(name) {
            return Err(format!(
                "file_name placeholder {{{name}}} is unknown; use {{StreamID}}, {{Domain}}, {{App}}, {{Format}}, {{RecordId}}, {{StartYear}}…{{StartMillisecond}}, {{EndYear}}…{{EndMillisecond}}"
            ));
        }
        rest = &after[close + 1..];
    }
    check_literal(rest)?;
    let longest = max_rendered_len(pattern);
    if longest > MAX_RENDERED_LEN {
        return Err(format!(
            "file_name can render names of up to {longest} bytes (app and stream names take up to {}, domains 253); at most {MAX_RENDERED_LEN} fit a file name",
            crate::stream_id::MAX_NAME_LEN
        ));
    }
    Ok(())
}

/// The longest name a valid pattern can render.
fn max_rendered_len(pattern: &str) -> usize {
    let mut len = 0;
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        len += open;
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        len += max_len(&after[..close]);
        rest = &after[close + 1..];
    }
    len + rest.len()
}

fn check_literal(s: &str) -> Result<(), String> {
    match s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        Some(c) => {
            Err(format!("file_name may hold letters, digits, '_', '-', '.' and placeholders, not {c:?}"))
        }
        None => Ok(()),
    }
}

/// What a pattern is rendered from.
pub struct NameParts<'a> {
    /// Stream name.
    pub stream: &'a str,
    /// Domain.
    pub domain: &'a str,
    /// App.
    pub app: &'a str,
    /// `flv`, `hls`, `mp4` or `aac`.
    pub format: &'a str,
    /// The recording's id.
    pub record_id: &'a str,
    /// First frame's UTC time.
    pub start: Time90k,
    /// Last frame's end, UTC.
    pub end: Time90k,
}

fn time_part(t: Time90k, part: &str) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(t.as_ms() as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    match part {
        "Year" => format!("{:04}", dt.year()),
        "Month" => format!("{:02}", dt.month() as u8),
        "Day" => format!("{:02}", dt.day()),
        "Hour" => format!("{:02}", dt.hour()),
        "Minute" => format!("{:02}", dt.minute()),
        "Second" => format!("{:02}", dt.second()),
        _ => format!("{:03}", dt.millisecond()),
    }
}

/// Renders a validated pattern. A name that would still be too long (a template saved
/// before lengths were checked) is cut and made unique again with the record id.
pub fn render(pattern: &str, p: &NameParts) -> String {
    let mut name = render_whole(pattern, p);
    if name.len() > MAX_RENDERED_LEN {
        let keep = MAX_RENDERED_LEN - 1 - p.record_id.len().min(MAX_RENDERED_LEN / 2);
        let mut cut = keep.min(name.len());
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        name.push('_');
        name.push_str(&p.record_id[..p.record_id.len().min(MAX_RENDERED_LEN / 2)]);
    }
    name
}

fn render_whole(pattern: &str, p: &NameParts) -> String {
    let mut out = String::with_capacity(pattern.len() + 32);
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        match name {
            "StreamID" => out.push_str(p.stream),
            "Domain" => out.push_str(p.domain),
            "App" => out.push_str(p.app),
            "Format" => out.push_str(p.format),
            "RecordId" => out.push_str(p.record_id),
            n => {
                if let Some(part) = n.strip_prefix("Start") {
                    out.push_str(&time_part(p.start, part));
                } else if let Some(part) = n.strip_prefix("End") {
                    out.push_str(&time_part(p.end, part));
                }
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn validation() {
        assert!(validate(DEFAULT_PATTERN).is_ok());
        assert!(validate("{StreamID}_{StartMillisecond}.x").is_ok());
        assert!(validate("{Nope}").is_err());
        assert!(validate("a/b").is_err());
        assert!(validate("{StreamID").is_err());
        assert!(validate("x}").is_err());
        assert!(validate("").is_err());
        assert!(validate("..").is_ok(), "rendered names get an extension, so '..' alone never stands");
        // 2 × 128 bytes of stream name alone overflow a file name.
        let e = validate("{StreamID}{StreamID}").unwrap_err();
        assert!(e.contains("up to 256 bytes"), "{e}");
        assert!(validate(&format!("{}{{StreamID}}", "x".repeat(117))).is_ok());
        assert!(validate(&format!("{}{{StreamID}}", "x".repeat(118))).is_err());
        assert!(validate("{Domain}").unwrap_err().contains("253"));
    }

    #[test]
    fn an_over_long_rendering_is_cut_and_kept_unique() {
        let start = Time90k::from_unix_micros(1_576_900_868_123_000);
        let long = "s".repeat(128);
        let p = NameParts {
            stream: &long,
            domain: "d",
            app: "live",
            format: "flv",
            record_id: "0190a1b2c3d4e5f6a7b8c",
            start,
            end: start,
        };
        // Not valid today, but a template saved before the check may hold it.
        let name = render("{StreamID}{StreamID}", &p);
        assert_eq!(name.len(), MAX_RENDERED_LEN);
        assert!(name.ends_with("_0190a1b2c3d4e5f6a7b8c"), "{name}");
        assert_eq!(render("{StreamID}", &p), long);
    }

    proptest! {
        #[test]
        fn every_valid_pattern_renders_a_name_that_fits(
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::string::string_regex("[a-z0-9_.-]{0,40}").unwrap(),
                    proptest::sample::select(vec![
                        "{StreamID}", "{App}", "{Domain}", "{Format}", "{RecordId}",
                        "{StartYear}", "{EndMillisecond}", "{StartSecond}",
                    ]).prop_map(str::to_string),
                ],
                1..8,
            ),
            stream_len in 1usize..=128,
        ) {
            let pattern: String = parts.concat();
            let stream = "s".repeat(stream_len);
            let domain = format!("{}.example", "d".repeat(60));
            let start = Time90k::from_unix_micros(1_576_900_868_123_000);
            let p = NameParts {
                stream: &stream, domain: &domain, app: &stream, format: "hls",
                record_id: "0190a1b2c3d4e5f6a7b8c", start, end: start,
            };
            let name = render(&pattern, &p);
            prop_assert!(name.len() <= MAX_RENDERED_LEN);
            if validate(&pattern).is_ok() {
                prop_assert_eq!(name, render_whole(&pattern, &p), "a valid pattern is never cut");
            }
        }
    }

    #[test]
    fn renders_utc_parts() {
        let start = Time90k::from_unix_micros(1_576_900_868_123_000); // 2019-12-21T04:01:08.123Z
        let p = NameParts {
            stream: "cam1",
            domain: "d",
            app: "live",
            format: "flv",
            record_id: "r1",
            start,
            end: start + rewind_media::Duration90k::from_secs(3600),
        };
        assert_eq!(render(DEFAULT_PATTERN, &p), "cam1_2019-12-21-04-01-08_2019-12-21-05-01-08");
        assert_eq!(render("{App}-{Format}-{StartMillisecond}", &p), "live-flv-123");
    }
}
