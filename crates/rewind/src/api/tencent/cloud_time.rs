//! The cloud's time formats: ISO 8601 UTC (`2018-06-29T19:00:00Z`) in most answers,
//! Beijing time (`2018-09-12 15:52:01`, UTC+8) in rule lists, Unix seconds in tasks.

use super::params::TcError;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, macros::format_description};

const BEIJING: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn show(t: OffsetDateTime, sep: char, end: &str) -> String {
    let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
    format!("{y:04}-{mo:02}-{d:02}{sep}{:02}:{:02}:{:02}{end}", t.hour(), t.minute(), t.second())
}

/// `2018-06-29T19:00:00Z`.
pub fn utc(unix: i64) -> String {
    show(at(unix), 'T', "Z")
}

/// `2018-09-12 15:52:01`, Beijing time.
pub fn beijing(unix: i64) -> String {
    show(at(unix).to_offset(BEIJING), ' ', "")
}

/// Unix seconds of an ISO 8601 time (`Z` or an offset; a time without one is Beijing
/// time, as the cloud reads it). `field` names it in the error.
pub fn parse(field: &str, s: &str) -> Result<i64, TcError> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let plain = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t_form = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(s, &plain)
        .or_else(|_| PrimitiveDateTime::parse(s, &t_form))
        .map(|t| t.assume_offset(BEIJING).unix_timestamp())
        .map_err(|_| {
            TcError::new(
                "InvalidParameterValue",
                format!("{field} must be an ISO 8601 time such as 2018-06-29T19:00:00Z, not {s:?}"),
            )
        })
}

/// One of the `/v1` API's RFC 3339 times in Beijing time, as rule lists show it (`""`
/// when absent).
pub fn beijing_of_v1(v: &serde_json::Value) -> String {
    from_v1(v).map(beijing).unwrap_or_default()
}

/// Unix seconds of one of the `/v1` API's RFC 3339 times (`None` when absent).
pub fn from_v1(v: &serde_json::Value) -> Option<i64> {
    OffsetDateTime::parse(v.as_str()?, &Rfc3339).ok().map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(utc(1_530_298_800), "2018-06-29T19:00:00Z");
        assert_eq!(beijing(1_530_298_800), "2018-06-30 03:00:00");
        assert_eq!(parse("T", "2018-06-29T19:00:00Z").unwrap(), 1_530_298_800);
        assert_eq!(parse("T", "2018-06-30T03:00:00+08:00").unwrap(), 1_530_298_800);
        assert_eq!(parse("T", "2018-06-30 03:00:00").unwrap(), 1_530_298_800);
        assert_eq!(parse("T", "yesterday").unwrap_err().code, "InvalidParameterValue");
        assert_eq!(from_v1(&serde_json::json!("2018-06-29T19:00:00.000Z")), Some(1_530_298_800));
    }
}
