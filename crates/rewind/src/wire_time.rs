//! Times on the wire: RFC 3339 UTC with milliseconds (`2019-12-21T04:01:08.000Z`).

use rewind_media::Time90k;
use time::OffsetDateTime;

/// Formats a wall-clock instant as `YYYY-MM-DDThh:mm:ss.sssZ`.
pub fn rfc3339_ms(t: Time90k) -> String {
    let ms = t.as_ms();
    let dt = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        dt.month() as u8,
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds() {
        let t = Time90k::from_unix_micros(1_576_900_868_123_000);
        assert_eq!(rfc3339_ms(t), "2019-12-21T04:01:08.123Z");
    }
}
