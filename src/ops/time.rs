//! UTC timestamps for the state files and the call log (pure): RFC 3339 text and
//! `--since` arguments. Everything is UTC, so files and tests do not depend on the time zone.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `2026-11-30T12:03:04Z` for seconds since the epoch.
pub fn rfc3339(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parse `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS][Z]` or the same with a blank instead of `T`,
/// all UTC, into seconds since the epoch.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches('Z');
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = 0;
    if let Some(time) = time {
        let parts: Vec<&str> = time.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        let mut limits = [24, 60, 61].iter();
        for p in &parts {
            let v: i64 = p.parse().ok()?;
            if !(0..*limits.next()?).contains(&v) {
                return None;
            }
            secs = secs * 60 + v;
        }
        if parts.len() == 2 {
            secs *= 60;
        }
    }
    Some(days_from_civil(y, m, d) * 86_400 + secs)
}

/// A `--since` argument relative to `now`: an absolute time ([`parse_datetime`]), `@SECONDS`,
/// or an age such as `90s`, `30m`, `2h`, `7d` (that long before `now`).
pub fn parse_since(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    if let Some(n) = text.strip_prefix('@') {
        return n.parse().ok();
    }
    let unit = match text.chars().last()? {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        _ => None,
    };
    if let Some(unit) = unit {
        if let Ok(n) = text[..text.len() - 1].parse::<i64>() {
            return now.checked_sub(n.checked_mul(unit)?);
        }
    }
    parse_datetime(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_130_184), "2026-12-01T13:03:04Z");
        assert_eq!(parse_datetime("2026-12-01T13:03:04Z"), Some(1_796_130_184));
        assert_eq!(parse_datetime("2026-12-01 13:03"), Some(1_796_130_180));
        assert_eq!(parse_datetime("2026-12-01"), Some(1_796_083_200));
        for bad in [
            "",
            "2026-13-01",
            "2026-12",
            "2026-12-01T25:00",
            "x",
            "2026-12-01T1",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn since() {
        assert_eq!(parse_since("2h", 10_000), Some(2_800));
        assert_eq!(parse_since("30m", 10_000), Some(8_200));
        assert_eq!(parse_since("1d", 100_000), Some(13_600));
        assert_eq!(parse_since("@42", 0), Some(42));
        assert_eq!(parse_since("1970-01-02", 0), Some(86_400));
        assert_eq!(parse_since("soon", 0), None);
    }

    proptest! {
        #[test]
        fn round_trip(t in -10_000_000_000i64..100_000_000_000) {
            prop_assert_eq!(parse_datetime(&rfc3339(t)), Some(t));
        }
    }
}
