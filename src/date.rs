//! UTC timestamps as RFC 3339 text, `YYYY-MM-DDTHH:MM:SSZ`, for the token store, its
//! listing and the log. Pure, and strict on input: exactly that shape, a real date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The moment `secs` after the epoch.
pub fn system_time(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = fields(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// `YYYY-MM-DD HH:MM`, for names people read.
pub fn format_minute(secs: u64) -> String {
    let (y, m, d, hh, mm, _) = fields(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
}

/// How far `secs` is from `now`, in its largest unit, for a table that must stay
/// narrow: `now`, `in 45s`, `12m ago`, `in 5h` (hours up to two days), `3d ago`
/// (days up to 999), `in 2y` (years of 365 days). At most 8 characters up to 100
/// years.
pub fn relative(secs: u64, now: u64) -> String {
    let (span, future) = match secs.checked_sub(now) {
        Some(ahead) => (ahead, true),
        None => (now - secs, false),
    };
    let amount = match span {
        0 => return "now".to_owned(),
        1..60 => format!("{span}s"),
        60..3600 => format!("{}m", span / 60),
        3600..172_800 => format!("{}h", span / 3600),
        _ if span / 86_400 < 1000 => format!("{}d", span / 86_400),
        _ => format!("{}y", span / (365 * 86_400)),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, for the log.
pub fn format_millis(secs: u64, millis: u32) -> String {
    let (y, m, d, hh, mm, ss) = fields(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
}

/// Year, month, day, hour, minute, second of `secs` after the epoch.
fn fields(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Reads what [`format`] writes, from 1970 to 9999.
pub fn parse(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = &b[range];
        digits.iter().all(u8::is_ascii_digit).then(|| {
            digits
                .iter()
                .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if y < 1970
        || !(1..=12).contains(&m)
        || d < 1
        || d > days_in_month(y, m)
        || hh > 23
        || mm > 59
        || ss > 59
    {
        return None;
    }
    let days = days_from_civil(y as i64, m as u32, d as u32);
    Some(days as u64 * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01 (H. Hinnant).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration as `--expires` takes it: a whole number followed by `s`, `m`, `h`, `d`
/// or `w`; `never` is `None`.
pub fn parse_duration(text: &str) -> Result<Option<u64>, String> {
    if text == "never" {
        return Ok(None);
    }
    let unit = match text.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        Some('w') => 7 * 86_400,
        _ => 0,
    };
    // The last character is ASCII when `unit` is set, so this is a boundary.
    let digits = if unit > 0 {
        &text[..text.len() - 1]
    } else {
        ""
    };
    let n: Option<u64> = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten();
    match n.and_then(|n| n.checked_mul(unit)) {
        Some(secs) if secs > 0 && secs <= 100 * 365 * 86_400 => Ok(Some(secs)),
        _ => Err(format!(
            "{text:?} is not a duration: a whole number with s, m, h, d or w (such as 90d or 12h, at most 100 years), or never"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for secs in [
            0,
            951_782_400,
            1_795_391_999,
            4_102_444_800,
            253_402_300_799,
        ] {
            assert_eq!(parse(&format(secs)), Some(secs), "{}", format(secs));
        }
        assert_eq!(format(1_795_391_999), "2026-11-22T23:59:59Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_minute(1_795_391_999), "2026-11-22 23:59");
    }

    #[test]
    fn relative_times() {
        let now = 1_795_391_999;
        for (at, want) in [
            (now, "now"),
            (now + 45, "in 45s"),
            (now - 59, "59s ago"),
            (now - 60, "1m ago"),
            (now + 3599, "in 59m"),
            (now + 3600, "in 1h"),
            (now - 47 * 3600, "47h ago"),
            (now + 2 * 86_400, "in 2d"),
            (now + 90 * 86_400, "in 90d"),
            (now - 999 * 86_400, "999d ago"),
            (now + 1000 * 86_400, "in 2y"),
            (now + 100 * 365 * 86_400, "in 100y"),
            (0, "56y ago"),
        ] {
            assert_eq!(relative(at, now), want, "{at}");
        }
        assert_eq!(relative(u64::MAX, 0).len(), "in 584942417355y".len());
    }

    #[test]
    fn strict_input() {
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T23:59:59",
            "2026-11-22 23:59:59Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T23:60:00Z",
            "2026-11-22T23:59:60Z",
            "+026-11-22T23:59:59Z",
            "2026-11-22T23:59:59.0Z",
            "２026-11-22T23:59:59Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("2000-02-29T00:00:00Z"), Some(951_782_400));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Ok(Some(90 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Some(12 * 3600)));
        assert_eq!(parse_duration("30m"), Ok(Some(1800)));
        assert_eq!(parse_duration("5s"), Ok(Some(5)));
        assert_eq!(parse_duration("2w"), Ok(Some(14 * 86_400)));
        assert_eq!(parse_duration("never"), Ok(None));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "1.5h",
            "10",
            "10y",
            "1 d",
            "99999999999999999999d",
            "36501d",
            "1é",
            "é",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
