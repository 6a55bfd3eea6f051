//! Which part of a timeline a manifest or a clip covers: the `startTime`/`endTime`
//! rules of SPEC R-P6.

use crate::error::{Error, ErrorCode, Result};
use crate::timeline::available::parse_full;
use rewind_media::{Duration90k, Time90k};

/// Without times, a manifest covers the latest media up to this long.
pub const LATEST_SPAN: Duration90k = Duration90k::from_secs(4 * 3600);
/// The longest manifest or clip.
pub const MAX_SPAN: Duration90k = Duration90k::from_secs(24 * 3600);

/// What a request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// No times: the latest media.
    Latest,
    /// `startTime` only: from there to the latest media.
    From(Time90k),
    /// Both: a fixed range, always VOD.
    Between(Time90k, Time90k),
}

/// The half-open range to serve, and whether it is live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// First instant wanted.
    pub from: Time90k,
    /// End (exclusive).
    pub to: Time90k,
    /// A live manifest (the stream records now and the range reaches its live edge).
    pub live: bool,
}

fn invalid(message: String) -> Error {
    Error::new(ErrorCode::InvalidParameter, message)
}

/// Validates `startTime` / `endTime` (ISO 8601, UTC when no offset is given).
pub fn parse(start: Option<&str>, end: Option<&str>) -> Result<Window> {
    let start = start.map(str::trim).filter(|s| !s.is_empty());
    let end = end.map(str::trim).filter(|s| !s.is_empty());
    match (start, end) {
        (None, None) => Ok(Window::Latest),
        (Some(s), None) => Ok(Window::From(Time90k(parse_full("startTime", s)?))),
        (None, Some(_)) => Err(invalid(
            "endTime needs a startTime: give both, startTime alone, or neither (the latest media)".into(),
        )),
        (Some(s), Some(e)) => {
            let (s, e) = (Time90k(parse_full("startTime", s)?), Time90k(parse_full("endTime", e)?));
            if e <= s {
                return Err(invalid("startTime must be before endTime".into()));
            }
            if e - s > MAX_SPAN {
                return Err(invalid(format!(
                    "startTime to endTime spans {:.1} hours; the most is 24 hours",
                    (e - s).as_secs_f64() / 3600.0
                )));
            }
            Ok(Window::Between(s, e))
        }
    }
}

/// Resolves a window against the stream's latest media end and whether it records now.
pub fn bounds(w: Window, latest_end: Time90k, recording: bool) -> Result<Bounds> {
    match w {
        Window::Latest => Ok(Bounds { from: latest_end - LATEST_SPAN, to: latest_end, live: recording }),
        Window::From(s) => {
            if latest_end - s > MAX_SPAN {
                return Err(invalid(format!(
                    "from startTime to the latest media is {:.1} hours; the most is 24 hours (add an endTime)",
                    (latest_end - s).as_secs_f64() / 3600.0
                )));
            }
            Ok(Bounds { from: s, to: latest_end.max(s), live: recording })
        }
        Window::Between(s, e) => {
            if e - s > MAX_SPAN {
                return Err(invalid(format!(
                    "the range spans {:.1} hours; the most is 24 hours",
                    (e - s).as_secs_f64() / 3600.0
                )));
            }
            Ok(Bounds { from: s, to: e, live: false })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Time90k {
        Time90k(parse_full("t", s).unwrap())
    }

    #[test]
    fn the_four_cases() {
        let latest = t("2019-12-21T18:00:00Z");
        assert_eq!(parse(None, None).unwrap(), Window::Latest);
        let b = bounds(Window::Latest, latest, true).unwrap();
        assert_eq!((b.from, b.to, b.live), (t("2019-12-21T14:00:00Z"), latest, true));
        let w = parse(Some("2019-12-21T08:00:00Z"), None).unwrap();
        assert_eq!(
            bounds(w, latest, false).unwrap(),
            Bounds { from: t("2019-12-21T08:00:00Z"), to: latest, live: false }
        );
        let too_old = parse(Some("2019-12-20T17:59:59Z"), None).unwrap();
        let e = bounds(too_old, latest, true).unwrap_err();
        assert!(e.message.contains("24 hours"), "{}", e.message);
        assert_eq!(parse(None, Some("2019-12-21T08:00:00Z")).unwrap_err().code, ErrorCode::InvalidParameter);
        let w = parse(Some("2019-12-21T08:00:00Z"), Some("2019-12-21T10:00:00.000Z")).unwrap();
        assert!(!bounds(w, latest, true).unwrap().live, "both times: always VOD");
    }

    #[test]
    fn both_times_are_checked() {
        assert!(parse(Some("2019-12-21T10:00:00Z"), Some("2019-12-21T10:00:00Z")).is_err());
        assert!(parse(Some("2019-12-21T10:00:00Z"), Some("2019-12-21T09:00:00Z")).is_err());
        assert!(parse(Some("2019-12-21T00:00:00Z"), Some("2019-12-22T00:00:00Z")).is_ok(), "24 h exactly");
        let e = parse(Some("2019-12-21T00:00:00Z"), Some("2019-12-22T00:00:00.001Z")).unwrap_err();
        assert!(e.message.contains("24 hours"));
        assert!(parse(Some("yesterday"), None).unwrap_err().message.contains("startTime"));
    }
}
