//! Stream ids (`domain/app/stream`) and their validation. Names reach file paths
//! later, so only letters, digits, `_`, `-` and `.` are allowed, never `.`/`..` alone.

use crate::error::{Error, ErrorCode};
use std::fmt;

/// Longest app or stream name.
pub const MAX_NAME_LEN: usize = 128;

/// A stream's three-part name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    /// The push host (or the configured default domain).
    pub domain: String,
    /// The RTMP application.
    pub app: String,
    /// The stream name.
    pub stream: String,
}

/// Why a name is not allowed, as a sentence.
pub fn check_name(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(format!("{what} is longer than {MAX_NAME_LEN} characters"));
    }
    if s == "." || s == ".." {
        return Err(format!("{what} may not be '.' or '..'"));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(format!("{what} {s:?} has {c:?}; use letters, digits, '_', '-' and '.'"));
    }
    Ok(())
}

/// Checks a domain (a DNS host name: labels of letters, digits, `-`, `_`, ≤ 253 chars).
pub fn check_domain(s: &str) -> Result<(), Error> {
    let bad = |m: String| Error::new(ErrorCode::DomainFormatError, m);
    if s.is_empty() || s.len() > 253 {
        return Err(bad(format!("domain {s:?} must be 1 to 253 characters")));
    }
    for label in s.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad(format!("domain {s:?} has an empty or over-long label")));
        }
        if !label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
            return Err(bad(format!(
                "domain {s:?} may hold only lower-case letters, digits, '-', '_' and '.'"
            )));
        }
    }
    Ok(())
}

impl StreamId {
    /// A validated stream id.
    pub fn new(domain: &str, app: &str, stream: &str) -> Result<Self, Error> {
        check_domain(domain)?;
        for (what, v) in [("app", app), ("stream", stream)] {
            check_name(what, v).map_err(|m| Error::new(ErrorCode::StreamFormatError, m))?;
        }
        Ok(StreamId { domain: domain.into(), app: app.into(), stream: stream.into() })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.domain, self.app, self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(StreamId::new("default", "live", "cam-1.a_b").is_ok());
        assert!(StreamId::new("default", "live", "..").is_err());
        assert!(StreamId::new("default", "li/ve", "x").is_err());
        assert!(StreamId::new("Bad.Domain", "live", "x").is_err());
        assert!(StreamId::new("a..b", "live", "x").is_err());
        assert_eq!(StreamId::new("d.example", "a", "s").unwrap().to_string(), "d.example/a/s");
    }
}
