//! availableMedia (SPEC §8.2, R-P4/R-P5): which years, months, days or exact time ranges of a
//! stream's timeline hold media. Pure: the caller loads the runs and sends the errors as 400s.

use rewind_media::Time90k;
use rewind_media::time::{TICKS_PER_MS, TICKS_PER_SECOND};
use time::{Date, Month};

use crate::error::{Error, ErrorCode};
use crate::wire_time::rfc3339_ms;

const TICKS_PER_DAY: i64 = 86_400 * TICKS_PER_SECOND;
/// Julian day number of 1970-01-01, to turn `time::Date`s into days since the Unix epoch.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
const MAX_MONTHS: i64 = 12;
const MAX_DAYS: i64 = 31;
const MAX_FULL_HOURS: i64 = 25;

/// Unit of an availableMedia answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Calendar years, `YYYY`.
    Year,
    /// Calendar months, `YYYY-MM`.
    Month,
    /// Calendar days, `YYYY-MM-DD`.
    Day,
    /// Exact instants, `YYYY-MM-DDThh:mm:ss.sssZ`.
    Full,
}

impl Precision {
    /// The query-string spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Year => "year",
            Precision::Month => "month",
            Precision::Day => "day",
            Precision::Full => "full",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Precision::Year, Precision::Month, Precision::Day, Precision::Full]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A validated query: half-open UTC range [start, end) in Time90k, plus precision.
/// For year precision with a missing bound, the bound is None (filled from the recorded period).
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The unit of the answer.
    pub precision: Precision,
    /// First instant asked for; `None` only for year precision: the first recorded year.
    pub start: Option<Time90k>,
    /// Instant after the last one asked for; `None` only for year precision: the last recorded year.
    pub end: Option<Time90k>,
}

/// Parses and validates the query string values exactly as SPEC R-P4 says; every failure is
/// an Error with ErrorCode::InvalidParameter and a sentence naming the parameter, the expected
/// format, and for a span too long the maximum ("day precision spans at most 31 days" etc.).
pub fn parse_query(
    precision: Option<&str>,
    start_time: Option<&str>,
    end_time: Option<&str>,
) -> Result<Query, Error> {
    let precision = match present(precision) {
        None => return Err(invalid("precision is required: year, month, day or full")),
        Some(p) => Precision::parse(p).ok_or_else(|| {
            invalid(format!("precision must be year, month, day or full, not {}", shown(p)))
        })?,
    };
    let (start_s, end_s) = (present(start_time), present(end_time));
    match precision {
        Precision::Year => {
            let start = start_s.map(|s| parse_unit(Precision::Year, "startTime", s)).transpose()?;
            let end = end_s.map(|s| parse_unit(Precision::Year, "endTime", s)).transpose()?;
            if let (Some(s), Some(e)) = (start, end) {
                check_order(Precision::Year, s, e, start_s, end_s)?;
            }
            Ok(Query {
                precision,
                start: start.map(|y| days_to_time(year_first_day(y))),
                end: end.map(|y| days_to_time(year_first_day(y) + year_length(y))),
            })
        }
        Precision::Month | Precision::Day => {
            let (start_s, end_s) = required(precision, start_s, end_s)?;
            let start = parse_unit(precision, "startTime", start_s)?;
            let end = parse_unit(precision, "endTime", end_s)?;
            check_order(precision, start, end, Some(start_s), Some(end_s))?;
            let (max, what) =
                if precision == Precision::Month { (MAX_MONTHS, "months") } else { (MAX_DAYS, "days") };
            if end - start > max {
                return Err(invalid(format!(
                    "{} precision spans at most {max} {what}: endTime {end_s} is {} {what} after startTime {start_s}",
                    precision.as_str(),
                    end - start,
                )));
            }
            let (first, after) = if precision == Precision::Month {
                let (y, m) = month_of_unit(end);
                (month_first_day(start), month_first_day(end) + i64::from(m.length(y)))
            } else {
                (start, end + 1)
            };
            Ok(Query { precision, start: Some(days_to_time(first)), end: Some(days_to_time(after)) })
        }
        Precision::Full => {
            let (start_s, end_s) = required(precision, start_s, end_s)?;
            let start = parse_full("startTime", start_s)?;
            let end = parse_full("endTime", end_s)?;
            if start >= end {
                return Err(invalid(format!(
                    "startTime ({start_s}) must be before endTime ({end_s}) for full precision"
                )));
            }
            let max = MAX_FULL_HOURS * 3600 * TICKS_PER_SECOND;
            if end - start > max {
                return Err(invalid(format!(
                    "full precision spans at most {MAX_FULL_HOURS} hours: startTime {start_s} to endTime {end_s} is {:.3} hours",
                    (end - start) as f64 / (3600 * TICKS_PER_SECOND) as f64
                )));
            }
            Ok(Query { precision, start: Some(Time90k(start)), end: Some(Time90k(end)) })
        }
    }
}

/// The answer: `runs` are the continuous media runs of the stream, half-open [start,end) UTC,
/// sorted by start, non-overlapping (they may touch). Returns (start, end) strings formatted per
/// precision: year "YYYY", month "YYYY-MM", day "YYYY-MM-DD" (inclusive unit values: a run
/// touching a unit at all counts that unit; consecutive units merge), full
/// "YYYY-MM-DDThh:mm:ss.sssZ" (runs clipped to the query; runs that touch (end == next start)
/// merge; each gap > 0 splits).
pub fn answer(q: &Query, runs: &[(Time90k, Time90k)]) -> Vec<(String, String)> {
    // An open year bound means "the first / last recorded year": not clipping at all is the same.
    let lo = q.start.map_or(i64::MIN, |t| t.0);
    let hi = q.end.map_or(i64::MAX, |t| t.0);
    let clipped = full_ranges(runs, lo, hi);
    match q.precision {
        // Starts round down and ends round up to the millisecond, so a range given back
        // as a query covers all of the media and a gap given back holds none.
        Precision::Full => clipped
            .into_iter()
            .map(|(s, e)| (rfc3339_ms(Time90k(s)), rfc3339_ms(Time90k(e + TICKS_PER_MS - 1))))
            .collect(),
        p => unit_ranges(p, &clipped)
            .into_iter()
            .map(|(first, last)| (format_unit(p, first), format_unit(p, last)))
            .collect(),
    }
}

/// Runs clipped to [lo, hi) in ticks, with touching runs merged.
fn full_ranges(runs: &[(Time90k, Time90k)], lo: i64, hi: i64) -> Vec<(i64, i64)> {
    // Runs are sorted and disjoint, so their ends are sorted too: skip those over before `lo`.
    let first = runs.partition_point(|r| r.1.0 <= lo);
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &(s, e) in &runs[first..] {
        if s.0 >= hi {
            break;
        }
        let (s, e) = (s.0.max(lo), e.0.min(hi));
        if s >= e {
            continue;
        }
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Inclusive unit intervals touched by `ranges` (sorted, disjoint), consecutive units merged.
/// One interval per range, so a run of years costs the same as a run of seconds.
fn unit_ranges(p: Precision, ranges: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &(s, e) in ranges {
        // `e` is exclusive: a run ending exactly at midnight does not touch the next day.
        let (first, last) = (unit_of(p, s), unit_of(p, e - 1));
        match out.last_mut() {
            Some(prev) if first <= prev.1 + 1 => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

/// The unit number of an instant: the year, `year * 12 + month - 1`, or days since the epoch.
fn unit_of(p: Precision, ticks: i64) -> i64 {
    let days = ticks.div_euclid(TICKS_PER_DAY);
    match p {
        Precision::Day => days,
        Precision::Year => i64::from(date_of_days(days).year()),
        Precision::Month => {
            let d = date_of_days(days);
            i64::from(d.year()) * 12 + i64::from(u8::from(d.month())) - 1
        }
        Precision::Full => ticks,
    }
}

fn format_unit(p: Precision, unit: i64) -> String {
    match p {
        Precision::Year => format!("{unit:04}"),
        Precision::Month => {
            let (y, m) = month_of_unit(unit);
            format!("{y:04}-{:02}", u8::from(m))
        }
        Precision::Day | Precision::Full => {
            let d = date_of_days(unit);
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        }
    }
}

fn month_of_unit(unit: i64) -> (i32, Month) {
    let m = Month::try_from(unit.rem_euclid(12) as u8 + 1).unwrap_or(Month::January);
    (unit.div_euclid(12) as i32, m)
}

/// The UTC date of a day number. Days beyond `time`'s ±9999 years are clamped: no recording
/// lies there, and clamping keeps this total.
fn date_of_days(days: i64) -> Date {
    let jd = (days + UNIX_EPOCH_JULIAN_DAY)
        .clamp(i64::from(Date::MIN.to_julian_day()), i64::from(Date::MAX.to_julian_day()));
    Date::from_julian_day(jd as i32).unwrap_or(Date::MIN)
}

fn days_of_date(d: Date) -> i64 {
    i64::from(d.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY
}

fn days_to_time(days: i64) -> Time90k {
    Time90k(days * TICKS_PER_DAY)
}

fn year_first_day(year: i64) -> i64 {
    Date::from_calendar_date(year as i32, Month::January, 1).map_or(0, days_of_date)
}

fn year_length(year: i64) -> i64 {
    i64::from(time::util::days_in_year(year as i32))
}

fn month_first_day(unit: i64) -> i64 {
    let (y, m) = month_of_unit(unit);
    Date::from_calendar_date(y, m, 1).map_or(0, days_of_date)
}

/// Why a value did not parse: the wrong shape, or the right shape naming no real instant.
enum Bad {
    Format,
    Calendar,
}

/// Parses a year/month/day value into its unit number (see `unit_of`).
fn parse_unit(p: Precision, name: &str, s: &str) -> Result<i64, Error> {
    let parsed = match p {
        Precision::Year => year_value(s).map(i64::from),
        Precision::Month => month_value(s).map(|(y, m)| i64::from(y) * 12 + i64::from(u8::from(m)) - 1),
        Precision::Day => date_value(s).map(days_of_date),
        Precision::Full => Err(Bad::Format),
    };
    let (what, example) = match p {
        Precision::Year => ("a year as YYYY", "2019"),
        Precision::Month => ("a month as YYYY-MM", "2019-06"),
        _ => ("a date as YYYY-MM-DD", "2019-06-17"),
    };
    parsed.map_err(|bad| match bad {
        Bad::Format => invalid(format!(
            "{name} must be {what} (e.g. {example}) for {} precision, not {}",
            p.as_str(),
            shown(s)
        )),
        Bad::Calendar => invalid(format!("{name} {} is not a real calendar {}", shown(s), p.as_str())),
    })
}

/// Parses the ISO 8601 date-time query parameter `name` into UTC ticks; any failure is an
/// InvalidParameter error naming `name` and the expected format.
pub fn parse_full(name: &str, s: &str) -> Result<i64, Error> {
    let s = s.trim();
    datetime_value(s).map_err(|bad| match bad {
        Bad::Format => invalid(format!(
            "{name} must be an ISO 8601 date-time such as 2019-12-21T04:01:08.000Z \
             (offset Z or ±hh:mm; none means UTC), not {}",
            shown(s)
        )),
        Bad::Calendar => invalid(format!("{name} {} is not a real date and time", shown(s))),
    })
}

/// Exactly `n` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, Bad> {
    let part = b.get(at..at + n).ok_or(Bad::Format)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return Err(Bad::Format);
    }
    Ok(part.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0')))
}

fn year_value(s: &str) -> Result<i32, Bad> {
    if s.len() != 4 {
        return Err(Bad::Format);
    }
    Ok(digits(s.as_bytes(), 0, 4)? as i32)
}

fn month_value(s: &str) -> Result<(i32, Month), Bad> {
    let b = s.as_bytes();
    if b.len() != 7 || b[4] != b'-' {
        return Err(Bad::Format);
    }
    let (y, m) = (digits(b, 0, 4)?, digits(b, 5, 2)?);
    let m = Month::try_from(m as u8).map_err(|_| Bad::Calendar)?;
    Ok((y as i32, m))
}

fn date_value(s: &str) -> Result<Date, Bad> {
    let b = s.as_bytes();
    if !s.is_ascii() || b.len() != 10 || b[7] != b'-' {
        return Err(Bad::Format);
    }
    let (y, m) = month_value(&s[..7])?;
    let d = digits(b, 8, 2)?;
    Date::from_calendar_date(y, m, d as u8).map_err(|_| Bad::Calendar)
}

/// ISO 8601 extended date-time in ticks: `YYYY-MM-DDThh:mm[:ss[.f…]][Z|±hh[[:]mm]]`, no offset
/// meaning UTC. A space may stand for `+` because an unescaped `+` in a query string decodes
/// to one.
fn datetime_value(s: &str) -> Result<i64, Bad> {
    let b = s.as_bytes();
    if !s.is_ascii() || b.len() < 16 || !matches!(b[10], b'T' | b't') || b[13] != b':' {
        return Err(Bad::Format);
    }
    let date = date_value(&s[..10])?;
    let (hour, minute) = (digits(b, 11, 2)?, digits(b, 14, 2)?);
    let (mut second, mut nanos, mut i) = (0, 0i64, 16);
    if b.get(i) == Some(&b':') {
        second = digits(b, i + 1, 2)?;
        i += 3;
        if matches!(b.get(i), Some(b'.' | b',')) {
            i += 1;
            let from = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == from {
                return Err(Bad::Format);
            }
            // Digits past nanoseconds are finer than a tick; they are checked, then dropped.
            for k in 0..9 {
                let d = if from + k < i { i64::from(b[from + k] - b'0') } else { 0 };
                nanos = nanos * 10 + d;
            }
        }
    }
    let offset_secs = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&c @ (b'+' | b'-' | b' ')) => {
            let oh = digits(b, i + 1, 2)?;
            let om = match &b[i + 3..] {
                [] => 0,
                [b':', ..] if b.len() == i + 6 => digits(b, i + 4, 2)?,
                _ if b.len() == i + 5 => digits(b, i + 3, 2)?,
                _ => return Err(Bad::Format),
            };
            if oh > 23 || om > 59 {
                return Err(Bad::Calendar);
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if c == b'-' { -secs } else { secs }
        }
        _ => return Err(Bad::Format),
    };
    if hour > 23 || minute > 59 || second > 59 {
        return Err(Bad::Calendar);
    }
    let secs = days_of_date(date) * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    Ok(secs * TICKS_PER_SECOND + nanos * TICKS_PER_SECOND / 1_000_000_000)
}

fn check_order(p: Precision, start: i64, end: i64, s: Option<&str>, e: Option<&str>) -> Result<(), Error> {
    if start > end {
        return Err(invalid(format!(
            "startTime ({}) must not be after endTime ({}) for {} precision",
            s.unwrap_or_default(),
            e.unwrap_or_default(),
            p.as_str()
        )));
    }
    Ok(())
}

fn required<'a>(
    p: Precision,
    start: Option<&'a str>,
    end: Option<&'a str>,
) -> Result<(&'a str, &'a str), Error> {
    let format = match p {
        Precision::Month => "YYYY-MM",
        Precision::Day => "YYYY-MM-DD",
        _ => "an ISO 8601 date-time",
    };
    match (start, end) {
        (Some(s), Some(e)) => Ok((s, e)),
        (None, _) => Err(invalid(format!("startTime ({format}) is required for {} precision", p.as_str()))),
        (_, None) => Err(invalid(format!("endTime ({format}) is required for {} precision", p.as_str()))),
    }
}

/// A value as given, spaces trimmed; an empty value counts as absent.
fn present(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// A client value quoted for an error message, cut short so a huge value is not echoed back.
fn shown(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        format!("{:?}…", s.chars().take(MAX).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidParameter, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn t(s: &str) -> Time90k {
        Time90k(datetime_value(s).unwrap_or_else(|_| panic!("bad test time {s}")))
    }

    fn run(s: &str, e: &str) -> (Time90k, Time90k) {
        (t(s), t(e))
    }

    fn query(p: &str, s: Option<&str>, e: Option<&str>) -> Query {
        parse_query(Some(p), s, e).unwrap_or_else(|err| panic!("{p} {s:?} {e:?}: {err}"))
    }

    fn ask(p: &str, s: Option<&str>, e: Option<&str>, runs: &[(Time90k, Time90k)]) -> Vec<(String, String)> {
        answer(&query(p, s, e), runs)
    }

    fn ranges(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|&(s, e)| (s.to_owned(), e.to_owned())).collect()
    }

    const DAY_START: &str = "2019-12-21T00:00:00Z";
    const DAY_END: &str = "2019-12-22T00:00:00Z";

    #[test]
    fn example_1_no_gap_is_one_range_clipped_to_the_query() {
        let runs = [run("2019-12-20T10:00:00Z", "2019-12-23T00:00:00Z")];
        assert_eq!(
            ask("full", Some(DAY_START), Some(DAY_END), &runs),
            ranges(&[("2019-12-21T00:00:00.000Z", "2019-12-22T00:00:00.000Z")])
        );
    }

    #[test]
    fn example_2_two_second_gap_splits_the_day() {
        let runs = [
            run("2019-12-20T00:00:00Z", "2019-12-21T04:01:08Z"),
            run("2019-12-21T04:01:10Z", "2019-12-23T00:00:00Z"),
        ];
        assert_eq!(
            ask("full", Some(DAY_START), Some(DAY_END), &runs),
            ranges(&[
                ("2019-12-21T00:00:00.000Z", "2019-12-21T04:01:08.000Z"),
                ("2019-12-21T04:01:10.000Z", "2019-12-22T00:00:00.000Z"),
            ])
        );
    }

    #[test]
    fn example_3_eight_hour_outage_splits_the_day() {
        let runs = [
            run("2019-12-20T00:00:00Z", "2019-12-21T04:00:00Z"),
            run("2019-12-21T12:00:00Z", "2019-12-23T00:00:00Z"),
        ];
        assert_eq!(
            ask("full", Some(DAY_START), Some(DAY_END), &runs),
            ranges(&[
                ("2019-12-21T00:00:00.000Z", "2019-12-21T04:00:00.000Z"),
                ("2019-12-21T12:00:00.000Z", "2019-12-22T00:00:00.000Z"),
            ])
        );
    }

    #[test]
    fn example_4_summer_holidays() {
        // The seed's day answer ends on 2019-06-17 and its month answer starts again in
        // September, so recording stops during 17 June and resumes during 6 September.
        let runs = [
            run("2018-09-03T06:00:00Z", "2019-06-17T12:00:00Z"),
            run("2019-09-06T07:30:00Z", "2020-06-15T00:00:00Z"),
        ];
        assert_eq!(
            ask("month", Some("2019-01"), Some("2019-12"), &runs),
            ranges(&[("2019-01", "2019-06"), ("2019-09", "2019-12")])
        );
        assert_eq!(
            ask("day", Some("2019-06-01"), Some("2019-06-30"), &runs),
            ranges(&[("2019-06-01", "2019-06-17")])
        );
        assert_eq!(
            ask("day", Some("2019-09-01"), Some("2019-09-30"), &runs),
            ranges(&[("2019-09-06", "2019-09-30")])
        );
    }

    #[test]
    fn example_5_weekdays_only() {
        let monday_17 = Date::from_calendar_date(2020, Month::February, 17).unwrap();
        let mut runs = Vec::new();
        // From Friday 31 January to Monday 2 March, so the query has to clip at both ends.
        let mut d = Date::from_calendar_date(2020, Month::January, 31).unwrap();
        while d <= Date::from_calendar_date(2020, Month::March, 2).unwrap() {
            let weekend = matches!(d.weekday(), time::Weekday::Saturday | time::Weekday::Sunday);
            if !weekend && d != monday_17 {
                let midnight = days_of_date(d) * TICKS_PER_DAY;
                let hour = 3600 * TICKS_PER_SECOND;
                runs.push((Time90k(midnight + 8 * hour), Time90k(midnight + 18 * hour)));
            }
            d = d.next_day().unwrap();
        }
        assert_eq!(
            ask("day", Some("2020-02-01"), Some("2020-02-29"), &runs),
            ranges(&[
                ("2020-02-03", "2020-02-07"),
                ("2020-02-10", "2020-02-14"),
                ("2020-02-18", "2020-02-21"),
                ("2020-02-24", "2020-02-28"),
            ])
        );
        assert_eq!(ask("month", Some("2020-01"), Some("2020-12"), &runs), ranges(&[("2020-01", "2020-03")]));
    }

    /// Recording from 2011 to 2020 with no media at all in 2013.
    fn decade() -> Vec<(Time90k, Time90k)> {
        vec![
            run("2011-05-01T00:00:00Z", "2013-01-01T00:00:00Z"),
            run("2014-02-01T00:00:00Z", "2020-07-01T00:00:00Z"),
        ]
    }

    #[test]
    fn year_bounds_default_to_the_recorded_period() {
        let runs = decade();
        let all = ranges(&[("2011", "2012"), ("2014", "2020")]);
        assert_eq!(ask("year", None, None, &runs), all);
        assert_eq!(ask("year", Some("2011"), Some("2020"), &runs), all);
        assert_eq!(ask("year", Some("2015"), None, &runs), ranges(&[("2015", "2020")]));
        assert_eq!(ask("year", Some("2015"), Some("2020"), &runs), ranges(&[("2015", "2020")]));
        let to_2018 = ranges(&[("2011", "2012"), ("2014", "2018")]);
        assert_eq!(ask("year", None, Some("2018"), &runs), to_2018);
        assert_eq!(ask("year", Some("2011"), Some("2018"), &runs), to_2018);
        assert_eq!(ask("year", Some("2013"), Some("2013"), &runs), ranges(&[]));
        // Past the last recorded year with an open end: nothing, not an error.
        assert_eq!(ask("year", Some("2021"), None, &runs), ranges(&[]));
        assert_eq!(ask("year", None, None, &[]), ranges(&[]));
    }

    #[test]
    fn query_bounds_are_inclusive_units() {
        let q = query("year", Some("2018"), Some("2019"));
        assert_eq!((q.start, q.end), (Some(t("2018-01-01T00:00:00Z")), Some(t("2020-01-01T00:00:00Z"))));
        assert_eq!(query("year", None, None), Query { precision: Precision::Year, start: None, end: None });
        let q = query("month", Some("2019-01"), Some("2019-12"));
        assert_eq!((q.start, q.end), (Some(t("2019-01-01T00:00:00Z")), Some(t("2020-01-01T00:00:00Z"))));
        let q = query("month", Some("2020-02"), Some("2020-02"));
        assert_eq!((q.start, q.end), (Some(t("2020-02-01T00:00:00Z")), Some(t("2020-03-01T00:00:00Z"))));
        let q = query("day", Some("2019-06-01"), Some("2019-06-30"));
        assert_eq!((q.start, q.end), (Some(t("2019-06-01T00:00:00Z")), Some(t("2019-07-01T00:00:00Z"))));
        let q = query("full", Some("2019-12-21T00:00:00Z"), Some("2019-12-21T01:00:00.5Z"));
        assert_eq!(q.precision, Precision::Full);
        assert_eq!(
            (q.start, q.end),
            (Some(t("2019-12-21T00:00:00Z")), Some(Time90k::from_ms(1_576_890_000_500)))
        );
        // The widest years still have representable bounds.
        let q = query("year", Some("0000"), Some("9999"));
        assert_eq!(q.end.map(|e| e.0 - q.start.unwrap_or_default().0), Some(3_652_425 * TICKS_PER_DAY));
    }

    #[test]
    fn full_times_accept_iso_8601_variants() {
        let utc = t("2019-12-21T04:01:08Z").0;
        for s in [
            "2019-12-21T04:01:08Z",
            "2019-12-21T04:01:08.000Z",
            "2019-12-21T04:01:08.000000000000Z",
            "2019-12-21T04:01:08",
            "2019-12-21t04:01:08z",
            "2019-12-21T13:01:08+09:00",
            "2019-12-21T13:01:08+0900",
            "2019-12-21T13:01:08+09",
            "2019-12-21T13:01:08 09:00",
            "2019-12-20T23:01:08-05:00",
            "  2019-12-21T04:01:08Z ",
        ] {
            let q = parse_query(Some("full"), Some(s), Some("2019-12-21T05:00:00Z"));
            assert_eq!(q.map(|q| q.start), Ok(Some(Time90k(utc))), "{s}");
        }
        assert_eq!(t("2019-12-21T04:01Z").0, utc - 8 * TICKS_PER_SECOND);
        assert_eq!(t("2018-01-15T10:08:11.123").0 % TICKS_PER_SECOND, 123 * 90);
        assert_eq!(t("2018-01-15T10:08:11,5").0 % TICKS_PER_SECOND, TICKS_PER_SECOND / 2);
        assert_eq!(t("2018-01-15T10:08:11.1234567891Z").0 % TICKS_PER_SECOND, 11_111);
        assert_eq!(t("1969-12-31T23:59:59.999Z"), Time90k::from_ms(-1));
    }

    /// Asserts a 400 whose message contains every one of `needles`.
    fn rejects(p: Option<&str>, s: Option<&str>, e: Option<&str>, needles: &[&str]) {
        match parse_query(p, s, e) {
            Ok(q) => panic!("{p:?} {s:?} {e:?} accepted as {q:?}"),
            Err(err) => {
                assert_eq!(err.code, ErrorCode::InvalidParameter, "{err}");
                assert_eq!(err.code.http_status(), 400);
                for n in needles {
                    assert!(err.message.contains(n), "{p:?} {s:?} {e:?}: {:?} lacks {n:?}", err.message);
                }
            }
        }
    }

    #[test]
    fn precision_is_required_and_known() {
        rejects(None, Some("2019"), Some("2019"), &["precision is required", "year, month, day or full"]);
        rejects(Some(" "), None, None, &["precision is required"]);
        rejects(Some("hour"), None, None, &["year, month, day or full", "\"hour\""]);
        rejects(Some("Year"), None, None, &["year, month, day or full"]);
    }

    #[test]
    fn year_errors() {
        for bad in ["19", "20190", "2019-01", "２０１９", "-201", "abcd"] {
            rejects(Some("year"), Some(bad), None, &["startTime", "YYYY"]);
            rejects(Some("year"), None, Some(bad), &["endTime", "YYYY"]);
        }
        rejects(
            Some("year"),
            Some("2019"),
            Some("2018"),
            &["startTime (2019) must not be after endTime (2018)"],
        );
        assert!(parse_query(Some("year"), Some("2019"), Some("2019")).is_ok());
        // An empty value counts as absent, which year precision allows.
        assert!(parse_query(Some("year"), Some(""), Some(" ")).is_ok());
    }

    #[test]
    fn month_errors() {
        for bad in ["2019", "2019-1", "2019/01", "201901", "2019-01-01", "2019-0a"] {
            rejects(Some("month"), Some(bad), Some("2019-02"), &["startTime", "YYYY-MM"]);
            rejects(Some("month"), Some("2019-01"), Some(bad), &["endTime", "YYYY-MM"]);
        }
        rejects(Some("month"), Some("2019-13"), Some("2019-12"), &["startTime", "not a real calendar month"]);
        rejects(Some("month"), Some("2019-00"), Some("2019-12"), &["startTime", "not a real calendar month"]);
        rejects(Some("month"), None, Some("2019-02"), &["startTime", "required", "YYYY-MM"]);
        rejects(Some("month"), Some("2019-01"), None, &["endTime", "required", "YYYY-MM"]);
        rejects(Some("month"), Some("2019-03"), Some("2019-02"), &["must not be after"]);
        assert!(parse_query(Some("month"), Some("2019-02"), Some("2019-02")).is_ok());
        assert!(parse_query(Some("month"), Some("2018-01"), Some("2019-01")).is_ok());
        rejects(
            Some("month"),
            Some("2018-01"),
            Some("2019-02"),
            &["month precision spans at most 12 months", "13"],
        );
    }

    #[test]
    fn day_errors() {
        for bad in ["2019-06", "2019-6-01", "2019-06-1", "20190601", "2019-06-01T00:00:00Z", "2019.06.01"] {
            rejects(Some("day"), Some(bad), Some("2019-06-02"), &["startTime", "YYYY-MM-DD"]);
            rejects(Some("day"), Some("2019-06-01"), Some(bad), &["endTime", "YYYY-MM-DD"]);
        }
        rejects(
            Some("day"),
            Some("2019-02-30"),
            Some("2019-03-01"),
            &["startTime", "not a real calendar day"],
        );
        rejects(Some("day"), Some("2019-02-01"), Some("2019-02-29"), &["endTime", "not a real calendar day"]);
        assert!(parse_query(Some("day"), Some("2020-02-01"), Some("2020-02-29")).is_ok());
        rejects(Some("day"), None, Some("2019-06-02"), &["startTime", "required", "YYYY-MM-DD"]);
        rejects(Some("day"), Some("2019-06-01"), None, &["endTime", "required", "YYYY-MM-DD"]);
        rejects(Some("day"), Some("2019-06-02"), Some("2019-06-01"), &["must not be after"]);
        assert!(parse_query(Some("day"), Some("2019-06-01"), Some("2019-06-01")).is_ok());
        assert!(parse_query(Some("day"), Some("2019-06-01"), Some("2019-07-02")).is_ok());
        rejects(
            Some("day"),
            Some("2019-06-01"),
            Some("2019-07-03"),
            &["day precision spans at most 31 days", "32"],
        );
    }

    #[test]
    fn full_errors() {
        let ok = "2019-12-21T00:00:00Z";
        for bad in [
            "2019-12-21",
            "2019-12-21 04:00:00Z",
            "2019-12-21T4:00:00Z",
            "2019-12-21T04Z",
            "2019-12-21T04:00:00.Z",
            "2019-12-21T04:00:00Zjunk",
            "2019-12-21T04:00:00+9",
            "2019-12-21T04:00:00+09:0",
            "2019-12-21T04:00:00+09:000",
            "2019-01-015T12:00:01.123", // the seed's own typo
            "20191221T040000Z",
            "1576900868",
            "2019-12-21T04:00:00Ž",
        ] {
            rejects(Some("full"), Some(bad), Some("2019-12-21T12:00:00Z"), &["startTime", "ISO 8601"]);
            rejects(Some("full"), Some(ok), Some(bad), &["endTime", "ISO 8601"]);
        }
        for bad in
            ["2019-12-21T24:00:00Z", "2019-12-21T04:60:00Z", "2019-12-21T04:00:60Z", "2019-02-29T04:00:00Z"]
        {
            rejects(Some("full"), Some(bad), Some("2019-12-21T12:00:00Z"), &["startTime", "not a real"]);
        }
        rejects(Some("full"), None, Some(ok), &["startTime", "required", "ISO 8601"]);
        rejects(Some("full"), Some(ok), None, &["endTime", "required"]);
        rejects(Some("full"), Some(ok), Some(ok), &["must be before endTime"]);
        rejects(Some("full"), Some("2019-12-21T01:00:00Z"), Some(ok), &["must be before endTime"]);
        // Same instant spelled in two offsets is still equal.
        rejects(Some("full"), Some(ok), Some("2019-12-21T09:00:00+09:00"), &["must be before"]);
        assert!(parse_query(Some("full"), Some(ok), Some("2019-12-22T01:00:00Z")).is_ok());
        rejects(
            Some("full"),
            Some(ok),
            Some("2019-12-22T01:00:00.001Z"),
            &["full precision spans at most 25 hours", "25.000 hours"],
        );
    }

    #[test]
    fn long_values_are_cut_short_in_messages() {
        let long = "9".repeat(10_000);
        let err = parse_query(Some("year"), Some(&long), None).unwrap_err();
        assert!(err.message.len() < 200, "{}", err.message);
    }

    #[test]
    fn no_media_is_an_empty_list() {
        for (p, s, e) in [
            ("year", Some("2019"), Some("2019")),
            ("month", Some("2019-01"), Some("2019-12")),
            ("day", Some("2019-06-01"), Some("2019-06-30")),
            ("full", Some(DAY_START), Some(DAY_END)),
        ] {
            assert_eq!(ask(p, s, e, &[]), ranges(&[]), "{p}");
            // Queries wholly before, after and inside a gap of the recording.
            let runs = [
                run("2010-01-01T00:00:00Z", "2010-02-01T00:00:00Z"),
                run("2030-01-01T00:00:00Z", "2030-02-01T00:00:00Z"),
            ];
            assert_eq!(ask(p, s, e, &runs), ranges(&[]), "{p}");
            assert_eq!(ask(p, s, e, &runs[..1]), ranges(&[]), "{p}");
            assert_eq!(ask(p, s, e, &runs[1..]), ranges(&[]), "{p}");
        }
    }

    #[test]
    fn query_reaching_outside_the_recording_is_clipped_not_an_error() {
        let runs = [run("2019-12-21T17:00:00Z", "2019-12-21T19:30:00.250Z")];
        assert_eq!(
            ask("full", Some("2019-12-21T10:00:00Z"), Some("2019-12-22T10:00:00Z"), &runs),
            ranges(&[("2019-12-21T17:00:00.000Z", "2019-12-21T19:30:00.250Z")])
        );
        assert_eq!(ask("year", Some("2000"), Some("2100"), &runs), ranges(&[("2019", "2019")]));
    }

    #[test]
    fn full_touching_runs_merge_and_any_gap_splits() {
        let runs = [
            run("2019-12-21T01:00:00Z", "2019-12-21T02:00:00Z"),
            run("2019-12-21T02:00:00Z", "2019-12-21T03:00:00Z"),
            (Time90k(t("2019-12-21T03:00:00Z").0 + 1), t("2019-12-21T04:00:00Z")),
        ];
        assert_eq!(
            ask("full", Some(DAY_START), Some(DAY_END), &runs),
            ranges(&[
                ("2019-12-21T01:00:00.000Z", "2019-12-21T03:00:00.000Z"),
                ("2019-12-21T03:00:00.000Z", "2019-12-21T04:00:00.000Z"),
            ])
        );
    }

    #[test]
    fn unit_edges_are_exclusive_ends_and_inclusive_starts() {
        // Ends at midnight: the 22nd has no media. Starts a millisecond before midnight: the
        // 23rd has media.
        let runs = [
            run("2019-12-21T10:00:00Z", "2019-12-22T00:00:00Z"),
            run("2019-12-23T23:59:59.999Z", "2019-12-24T00:00:00Z"),
        ];
        assert_eq!(
            ask("day", Some("2019-12-01"), Some("2019-12-31"), &runs),
            ranges(&[("2019-12-21", "2019-12-21"), ("2019-12-23", "2019-12-23")])
        );
        // Consecutive days merge across months and years even with gaps inside the days.
        let runs = [
            run("2019-12-31T22:00:00Z", "2019-12-31T23:00:00Z"),
            run("2020-01-01T01:00:00Z", "2020-01-01T02:00:00Z"),
        ];
        assert_eq!(
            ask("day", Some("2019-12-15"), Some("2020-01-15"), &runs),
            ranges(&[("2019-12-31", "2020-01-01")])
        );
        assert_eq!(ask("month", Some("2019-06"), Some("2020-06"), &runs), ranges(&[("2019-12", "2020-01")]));
        assert_eq!(ask("year", None, None, &runs), ranges(&[("2019", "2020")]));
        // Before the epoch, days still floor.
        let runs = [run("1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z")];
        assert_eq!(
            ask("day", Some("1969-12-01"), Some("1969-12-31"), &runs),
            ranges(&[("1969-12-31", "1969-12-31")])
        );
    }

    #[test]
    fn one_run_of_centuries_is_one_range() {
        let runs = [(Time90k(i64::MIN / 2), Time90k(i64::MAX / 2))];
        assert_eq!(ask("year", Some("0000"), Some("9999"), &runs), ranges(&[("0000", "9999")]));
        assert_eq!(
            ask("day", Some("2019-06-01"), Some("2019-06-30"), &runs),
            ranges(&[("2019-06-01", "2019-06-30")])
        );
        // Open year bounds over runs beyond the calendar stay total.
        assert_eq!(answer(&query("year", None, None), &runs).len(), 1);
    }

    /// Sorted disjoint runs from (gap, length) pairs in ticks, starting in 2019.
    fn build_runs(parts: &[(i64, i64)]) -> Vec<(Time90k, Time90k)> {
        let mut at = t("2019-01-01T00:00:00Z").0;
        parts
            .iter()
            .map(|&(gap, len)| {
                let s = at + gap;
                at = s + len;
                (Time90k(s), Time90k(at))
            })
            .collect()
    }

    fn gap() -> impl Strategy<Value = i64> {
        prop_oneof![Just(0i64), 1..90i64, 1..3 * TICKS_PER_DAY, 1..60 * TICKS_PER_DAY]
    }

    fn length() -> impl Strategy<Value = i64> {
        prop_oneof![1..90i64, 1..TICKS_PER_DAY, 1..40 * TICKS_PER_DAY]
    }

    proptest! {
        #[test]
        fn full_ranges_cover_exactly_the_overlap(
            parts in prop::collection::vec((gap(), length()), 0..40),
            from in -TICKS_PER_DAY..400 * TICKS_PER_DAY,
            span in 1..=MAX_FULL_HOURS * 3600 * TICKS_PER_SECOND,
        ) {
            let runs = build_runs(&parts);
            let lo = t("2019-01-01T00:00:00Z").0 + from;
            let hi = lo + span;
            let got = full_ranges(&runs, lo, hi);
            let overlap: i64 = runs.iter().map(|r| (r.1 .0.min(hi) - r.0 .0.max(lo)).max(0)).sum();
            prop_assert_eq!(got.iter().map(|r| r.1 - r.0).sum::<i64>(), overlap);
            for r in &got {
                prop_assert!(lo <= r.0 && r.0 < r.1 && r.1 <= hi, "{:?} outside [{}, {})", r, lo, hi);
            }
            for w in got.windows(2) {
                prop_assert!(w[0].1 < w[1].0, "not sorted with gaps: {:?}", w);
            }
            // The public answer is the same ranges, formatted: starts rounded down, ends up.
            let q = Query { precision: Precision::Full, start: Some(Time90k(lo)), end: Some(Time90k(hi)) };
            let formatted: Vec<_> = got
                .iter()
                .map(|r| (rfc3339_ms(Time90k(r.0)), rfc3339_ms(Time90k(r.1 + TICKS_PER_MS - 1))))
                .collect();
            prop_assert_eq!(answer(&q, &runs), formatted);
        }

        #[test]
        fn unit_ranges_match_every_touched_unit(
            parts in prop::collection::vec((gap(), length()), 0..20),
            precision in prop_oneof![Just(Precision::Year), Just(Precision::Month), Just(Precision::Day)],
        ) {
            let runs = build_runs(&parts);
            let ranges = full_ranges(&runs, i64::MIN, i64::MAX);
            // Slow oracle: walk every day of every run.
            let mut touched = BTreeSet::new();
            for &(s, e) in &ranges {
                let mut day = s.div_euclid(TICKS_PER_DAY);
                while day * TICKS_PER_DAY < e {
                    touched.insert(unit_of(precision, day * TICKS_PER_DAY));
                    day += 1;
                }
            }
            let mut expected: Vec<(i64, i64)> = Vec::new();
            for u in touched {
                match expected.last_mut() {
                    Some(last) if last.1 + 1 == u => last.1 = u,
                    _ => expected.push((u, u)),
                }
            }
            prop_assert_eq!(unit_ranges(precision, &ranges), expected);
        }

        #[test]
        fn formatted_units_parse_back(day in -719_528i64..2_932_896) {
            for p in [Precision::Year, Precision::Month, Precision::Day] {
                let unit = unit_of(p, day * TICKS_PER_DAY);
                let text = format_unit(p, unit);
                prop_assert_eq!(parse_unit(p, "startTime", &text).ok(), Some(unit), "{}", text);
            }
        }
    }
}
