//! Local times to UTC instants (native only: the browser never sees a time-zone database).
//!
//! Weekly windows, business hours and special occasions are expanded over a horizon into sorted
//! UTC intervals ([`Schedule`]); the bundle says until when they are valid.

use crate::interval::Schedule;
use crate::model::{SpecialOccasion, WeeklyWindow};
use crate::Millis;
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike,
};
use chrono_tz::Tz;

const DAY_MS: Millis = 86_400_000;

/// `HH:MM` (00:00–24:00) as minutes after midnight.
pub fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("\"{s}\" is not a time of day (HH:MM, 00:00 to 24:00)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// An RFC 3339 instant as milliseconds since the epoch.
pub fn parse_instant(s: &str) -> Result<Millis, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!("\"{s}\" is not an RFC 3339 date-time ({e}), e.g. 2026-06-01T00:00:00+01:00")
        })
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("\"{s}\" is not a date (YYYY-MM-DD)"))
}

/// An IANA time-zone name.
pub fn parse_timezone(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>()
        .map_err(|_| format!("\"{s}\" is not an IANA time zone name, e.g. Europe/London"))
}

/// Milliseconds as RFC 3339 (UTC), for messages and API answers.
pub fn format_instant(t: Millis) -> String {
    match chrono::Utc.timestamp_millis_opt(t) {
        LocalResult::Single(d) => d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        _ => t.to_string(),
    }
}

/// The UTC instant of a local date and minute of day. In a spring-forward gap the first valid
/// instant after it is taken; in a fall-back overlap, the earlier one.
fn local_to_utc(tz: Tz, date: NaiveDate, minute: u32) -> Millis {
    let naive: NaiveDateTime =
        date.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::minutes(i64::from(minute));
    let mut probe = naive;
    for _ in 0..180 {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) => return t.timestamp_millis(),
            LocalResult::Ambiguous(a, _) => return a.timestamp_millis(),
            LocalResult::None => probe += Duration::minutes(1),
        }
    }
    naive.and_utc().timestamp_millis()
}

/// One day's opening as local minutes: `[from, to)`; `to` past 1440 runs into the next day.
type DaySpan = (u32, u32);

fn spans_for(windows: &[WeeklyWindow], weekday: u32) -> Vec<DaySpan> {
    let mut spans = Vec::new();
    for w in windows {
        if !w.days.iter().any(|d| d.index() == weekday) {
            continue;
        }
        let (Ok(from), Ok(to)) = (parse_hhmm(&w.from), parse_hhmm(&w.to)) else {
            continue;
        };
        // A `to` at or before `from` runs past midnight.
        let to = if to <= from { to + 1440 } else { to };
        spans.push((from, to));
    }
    spans
}

/// Expands weekly windows (with special occasions overriding whole local dates) into UTC
/// intervals covering `[from, until)`.
pub fn expand_weekly(
    tz: Tz,
    windows: &[WeeklyWindow],
    occasions: &[SpecialOccasion],
    from: Millis,
    until: Millis,
) -> Schedule {
    let mut intervals: Vec<[Millis; 2]> = Vec::new();
    // Start a day early so a window running past midnight into `from` is included.
    let start_date = utc_date(tz, from - DAY_MS);
    let days = ((until - from) / DAY_MS + 3).max(0);
    for offset in 0..days {
        let Some(date) = start_date.checked_add_days(chrono::Days::new(offset as u64)) else {
            break;
        };
        let spans = match occasions
            .iter()
            .find(|o| parse_date(&o.date).ok() == Some(date))
        {
            Some(o) if o.closed => Vec::new(),
            Some(o) => match (
                o.from.as_deref().map(parse_hhmm),
                o.to.as_deref().map(parse_hhmm),
            ) {
                (Some(Ok(f)), Some(Ok(t))) => vec![(f, if t <= f { t + 1440 } else { t })],
                _ => Vec::new(),
            },
            None => spans_for(windows, date.weekday().num_days_from_monday()),
        };
        for (f, t) in spans {
            let s = local_to_utc(tz, date, f);
            let e = local_to_utc(tz, date, t);
            if e > s {
                intervals.push([s, e]);
            }
        }
    }
    normalize(intervals, from, until)
}

fn utc_date(tz: Tz, t: Millis) -> NaiveDate {
    match tz.timestamp_millis_opt(t) {
        LocalResult::Single(d) | LocalResult::Ambiguous(d, _) => d.date_naive(),
        LocalResult::None => NaiveDate::default(),
    }
}

/// Sorts, merges overlapping or touching intervals, and clips to `[from, until)`.
fn normalize(mut v: Vec<[Millis; 2]>, from: Millis, until: Millis) -> Schedule {
    v.sort_unstable();
    let mut out: Vec<[Millis; 2]> = Vec::with_capacity(v.len());
    for [s, e] in v {
        let (s, e) = (s.max(from), e.min(until));
        if e <= s {
            continue;
        }
        match out.last_mut() {
            Some(last) if s <= last[1] => last[1] = last[1].max(e),
            _ => out.push([s, e]),
        }
    }
    Schedule(out)
}

/// The intersection of two schedules.
pub fn intersect(a: &Schedule, b: &Schedule) -> Schedule {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.0.len() && j < b.0.len() {
        let s = a.0[i][0].max(b.0[j][0]);
        let e = a.0[i][1].min(b.0[j][1]);
        if s < e {
            out.push([s, e]);
        }
        if a.0[i][1] < b.0[j][1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    Schedule(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Day;

    fn t(s: &str) -> Millis {
        parse_instant(s).unwrap()
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_hhmm("09:30"), Ok(570));
        assert_eq!(parse_hhmm("24:00"), Ok(1440));
        assert!(parse_hhmm("24:01").is_err());
        assert!(parse_hhmm("9:30").is_err());
        assert!(parse_hhmm("09:60").is_err());
        assert!(parse_timezone("Europe/London").is_ok());
        assert!(parse_timezone("Europe/Lundon")
            .unwrap_err()
            .contains("IANA"));
        assert!(parse_instant("2026-06-01").is_err());
        assert_eq!(
            format_instant(t("2026-06-01T00:00:00+01:00")),
            "2026-05-31T23:00:00Z"
        );
    }

    #[test]
    fn weekly_windows_follow_dst() {
        let tz = parse_timezone("Europe/London").unwrap();
        let w = vec![WeeklyWindow {
            days: vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
            from: "09:00".into(),
            to: "17:30".into(),
        }];
        // Week of 2026-03-23 (GMT) and of 2026-03-30 (BST from 29 March).
        let s = expand_weekly(
            tz,
            &w,
            &[],
            t("2026-03-23T00:00:00Z"),
            t("2026-04-04T00:00:00Z"),
        );
        assert!(s.contains(t("2026-03-23T09:00:00Z")));
        assert!(!s.contains(t("2026-03-23T17:30:00Z")));
        assert!(s.contains(t("2026-03-30T08:00:00Z"))); // 09:00 BST
        assert!(!s.contains(t("2026-03-30T16:30:00Z"))); // 17:30 BST
        assert!(!s.contains(t("2026-03-28T12:00:00Z"))); // Saturday
        assert_eq!(s.0.len(), 10);
    }

    #[test]
    fn overnight_windows_and_occasions() {
        let tz = parse_timezone("UTC").unwrap();
        let w = vec![WeeklyWindow {
            days: vec![Day::Fri],
            from: "22:00".into(),
            to: "02:00".into(),
        }];
        let occasions = vec![SpecialOccasion {
            date: "2026-12-25".into(),
            closed: true,
            from: None,
            to: None,
            name: None,
        }];
        let s = expand_weekly(
            tz,
            &w,
            &occasions,
            t("2026-12-01T00:00:00Z"),
            t("2027-01-01T00:00:00Z"),
        );
        assert!(s.contains(t("2026-12-05T01:00:00Z"))); // Friday 4th 22:00 → Saturday 02:00
        assert!(!s.contains(t("2026-12-25T23:00:00Z"))); // Christmas Friday closed
        let occasions = vec![SpecialOccasion {
            date: "2026-12-24".into(),
            closed: false,
            from: Some("09:00".into()),
            to: Some("13:00".into()),
            name: None,
        }];
        let s = expand_weekly(
            tz,
            &[],
            &occasions,
            t("2026-12-01T00:00:00Z"),
            t("2027-01-01T00:00:00Z"),
        );
        assert_eq!(
            s.0,
            vec![[t("2026-12-24T09:00:00Z"), t("2026-12-24T13:00:00Z")]]
        );
    }

    #[test]
    fn intersects() {
        let a = Schedule(vec![[0, 10], [20, 30]]);
        let b = Schedule(vec![[5, 25]]);
        assert_eq!(intersect(&a, &b).0, vec![[5, 10], [20, 25]]);
        assert_eq!(intersect(&a, &Schedule::always()), a);
    }
}

/// When `at` falls inside daily quiet hours `[from, to)` (local minutes of `tz`; `to` at or before
/// `from` runs past midnight), the instant they end; `None` outside them (or when `from == to`).
pub fn quiet_hours_end(at: Millis, tz: Tz, from: u32, to: u32) -> Option<Millis> {
    if from == to {
        return None;
    }
    let local = match tz.timestamp_millis_opt(at) {
        LocalResult::Single(t) => t.naive_local(),
        _ => return None,
    };
    let minute = local.time().hour() * 60 + local.time().minute();
    let date = local.date();
    let end_date = if from < to {
        if !(from..to).contains(&minute) {
            return None;
        }
        date
    } else if minute >= from {
        date.succ_opt()?
    } else if minute < to {
        date
    } else {
        return None;
    };
    Some(local_to_utc(tz, end_date, to).max(at))
}

#[cfg(test)]
mod quiet_tests {
    use super::*;

    fn at(s: &str) -> Millis {
        parse_instant(s).unwrap_or_default()
    }

    #[test]
    fn overnight_quiet_hours_in_local_time() {
        let london: Tz = parse_timezone("Europe/London").unwrap_or(Tz::UTC);
        let (from, to) = (21 * 60, 8 * 60);
        // 22:30 BST → 08:00 BST next day.
        assert_eq!(
            quiet_hours_end(at("2026-06-01T21:30:00Z"), london, from, to),
            Some(at("2026-06-02T07:00:00Z"))
        );
        // 06:00 GMT in winter → 08:00 GMT the same day.
        assert_eq!(
            quiet_hours_end(at("2026-12-05T06:00:00Z"), london, from, to),
            Some(at("2026-12-05T08:00:00Z"))
        );
        assert_eq!(
            quiet_hours_end(at("2026-12-05T10:00:00Z"), london, from, to),
            None
        );
        // Same-day window.
        assert_eq!(
            quiet_hours_end(at("2026-12-05T12:30:00Z"), Tz::UTC, 12 * 60, 14 * 60),
            Some(at("2026-12-05T14:00:00Z"))
        );
        assert_eq!(
            quiet_hours_end(at("2026-12-05T14:00:00Z"), Tz::UTC, 12 * 60, 14 * 60),
            None
        );
        assert_eq!(
            quiet_hours_end(at("2026-12-05T14:00:00Z"), Tz::UTC, 600, 600),
            None
        );
    }
}
