//! Quantities on the command line and in output, one syntax each, for every flag:
//! durations (`90s`, `30m`, `1h`, `2d`, `250ms`, `1.5h`; a bare number is seconds) and sizes
//! (`268435456`, `256MiB`, `1GiB`, `64k`; a bare number is bytes), and their human forms
//! (with times, which output shows to the second).

/// The units a duration may carry, in milliseconds (no unit: seconds).
const DURATION_UNITS: [(&str, f64); 6] = [
    ("", 1e3),
    ("ms", 1.0),
    ("s", 1e3),
    ("m", 60e3),
    ("h", 3600e3),
    ("d", 86400e3),
];

/// A duration of zero or more: `90s`, `30m`, `1h`, `2d`, `250ms`, `1.5h`, `10` (seconds).
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let explain = || {
        format!("{text:?} is not a duration: use a number and ms, s, m, h or d (90s, 30m, 1h; a bare number is seconds)")
    };
    let text = text.trim();
    let unit_at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let number: f64 = number.parse().map_err(|_| explain())?;
    let (_, millis) = DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(explain)?;
    let millis = number * millis;
    if !(millis.is_finite() && millis < i64::MAX as f64 / 1e3) {
        return Err(explain());
    }
    Ok(chrono::Duration::microseconds((millis * 1e3).round() as i64))
}

/// A duration above zero (an interval, a timeout), in the syntax of [`parse_duration`].
pub fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let duration = parse_duration(text)?;
    match duration.to_std() {
        Ok(interval) if !interval.is_zero() => Ok(interval),
        _ => Err(format!("{text:?}: the duration must be above zero")),
    }
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `268435456`, `256MiB`, `1GiB`, `500MB`, `64k` (binary multiples for k/M/G).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 268435456, 256MiB, 1GiB)"))?;
    let multiple: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} (use KiB, MiB or GiB)")),
    };
    match number.checked_mul(multiple) {
        Some(0) | None => Err(format!(
            "{text:?}: the size must be between 1 byte and 16 EiB"
        )),
        Some(bytes) => Ok(bytes),
    }
}

/// A time as people read it in output: RFC 3339, UTC, to the second
/// (`2026-12-07T10:36:51Z`).
pub fn utc_seconds(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `3 h 05 min`-style lag.
pub fn human_seconds(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.unsigned_abs();
    match s {
        0..=119 => format!("{sign}{s} s"),
        120..=7199 => format!("{sign}{} min", s / 60),
        _ => format!("{sign}{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn durations_have_one_syntax() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_duration("1h").unwrap(), Duration::hours(1));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::minutes(90));
        assert_eq!(parse_duration("2d").unwrap(), Duration::days(2));
        assert_eq!(
            parse_duration("250ms").unwrap(),
            Duration::milliseconds(250)
        );
        assert_eq!(parse_duration("10").unwrap(), Duration::seconds(10));
        assert_eq!(parse_duration("0.05").unwrap(), Duration::milliseconds(50));
        assert_eq!(parse_duration("0s").unwrap(), Duration::zero());
        for bad in [
            "",
            "m",
            "-1h",
            "1w",
            "inf",
            "NaN",
            "1.2.3s",
            "1e3s",
            "99999999999999999d",
        ] {
            assert!(
                parse_duration(bad).unwrap_err().contains("not a duration"),
                "{bad}"
            );
        }
        assert_eq!(
            parse_interval("10").unwrap(),
            std::time::Duration::from_secs(10)
        );
        assert!(parse_interval("0s").unwrap_err().contains("above zero"));
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("268435456"), Ok(256 << 20));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn quantities_read_naturally() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_seconds(59), "59 s");
        assert_eq!(human_seconds(3 * 3600 + 300), "3 h 05 min");
        assert_eq!(human_seconds(-150), "-2 min");
    }
}
