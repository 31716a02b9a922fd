//! Time helpers: the clock in seconds, dates in UTC. A leaf: it uses no other module of the
//! crate, so the lock, drift and the CLI share it without depending on one another.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Now as RFC 3339 in UTC, to the second (`2026-11-24T04:05:06Z`).
pub fn rfc3339_now() -> String {
    rfc3339(now_unix())
}

/// `secs` since the epoch as RFC 3339 in UTC, to the second.
pub fn rfc3339(secs: u64) -> String {
    let date = date_of_day(i64::try_from(secs / 86_400).unwrap_or(0));
    let t = secs % 86_400;
    format!("{date}T{:02}:{:02}:{:02}Z", t / 3600, t % 3600 / 60, t % 60)
}

/// The seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ` (what [`rfc3339`] writes).
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let days = u64::try_from(day_number(date)?).ok()?;
    let mut parts = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() || h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// `YYYY-MM-DD` as (year, month, day), when it is a real date.
pub fn parse_date(text: &str) -> Option<(i32, u32, u32)> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month: u32 = text[5..7].parse().ok()?;
    let day: u32 = text[8..10].parse().ok()?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&day).then_some((year, month, day))
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today_utc() -> String {
    let secs = now_unix();
    date_of_day(i64::try_from(secs / 86_400).unwrap_or(0))
}

/// The day number since 1970-01-01 of `YYYY-MM-DD` (the inverse of [`date_of_day`]).
pub fn day_number(text: &str) -> Option<i64> {
    let (year, month, day) = parse_date(text)?;
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The civil date of a day number since 1970-01-01 (Howard Hinnant's algorithm).
pub fn date_of_day(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("2026-12-07T01:02:03Z"), Some(1_796_605_323));
        assert_eq!(rfc3339(1_796_605_323), "2026-12-07T01:02:03Z");
        assert_eq!(parse_rfc3339("2026-12-07T24:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-12-07"), None);
    }

    #[test]
    fn day_numbers_and_dates_are_inverse() {
        for day in [-1, 0, 59, 365, 10_957, 20_000, 20_793, 100_000] {
            assert_eq!(day_number(&date_of_day(day)), Some(day), "day {day}");
        }
        assert_eq!(day_number("2026-12-06"), Some(20_793));
        assert_eq!(day_number("2026-02-30"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(date_of_day(0), "1970-01-01");
        assert_eq!(date_of_day(20_781), "2026-11-24");
        assert_eq!(date_of_day(11_016), "2000-02-29");
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("2025-02-29"), None);
        assert_eq!(parse_date("2025-13-01"), None);
        assert_eq!(parse_date("25-01-01"), None);
        assert_eq!(today_utc().len(), 10);
        let now = rfc3339_now();
        assert_eq!(
            (now.len(), &now[10..11], &now[19..]),
            (20, "T", "Z"),
            "{now}"
        );
        assert!(parse_date(&now[..10]).is_some(), "{now}");
    }
}
