//! Dates on the command line: `YYYY-MM-DD`, `today` or `yesterday` (UTC).

use chrono::{Duration, NaiveDate, Utc};

pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let today = Utc::now().date_naive();
    match text {
        "today" => Ok(today),
        "yesterday" => Ok(today - Duration::days(1)),
        _ => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| format!("{text:?} is not a date: use YYYY-MM-DD, today or yesterday")),
    }
}

/// A duration: a number and a unit, `s`, `m`, `h` or `d` (`90s`, `30m`, `1h`, `0s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let explain =
        || format!("{text:?} is not a duration: use a number and s, m, h or d (90s, 30m, 1h)");
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(explain)?;
    let (number, unit) = text.split_at(unit_at);
    let number: i64 = number.parse().map_err(|_| explain())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(explain()),
    };
    Ok(Duration::seconds(
        number.checked_mul(seconds).ok_or_else(explain)?,
    ))
}

/// When `day` ends (UTC): midnight of the next day.
pub fn end_of(day: NaiveDate) -> chrono::DateTime<Utc> {
    (day + Duration::days(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
}

/// `--date D` or `--from D --to D` as an inclusive range; `None` when neither was given.
pub fn day_range(
    date: Option<NaiveDate>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<Option<(NaiveDate, NaiveDate)>> {
    let range = match (date, from, to) {
        (Some(day), _, _) => Some((day, day)),
        (None, Some(from), Some(to)) => Some((from, to)),
        _ => None,
    };
    if let Some((from, to)) = range.filter(|(from, to)| to < from) {
        anyhow::bail!("--from {from} is after --to {to}");
    }
    Ok(range)
}

/// Every day from `from` to `to`, both included.
pub fn days(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d <= to).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_or_explain() {
        assert_eq!(parse_date("2026-02-28").unwrap().to_string(), "2026-02-28");
        assert_eq!(
            parse_date("yesterday").unwrap() + Duration::days(1),
            parse_date("today").unwrap()
        );
        assert!(parse_date("2026-02-30").unwrap_err().contains("YYYY-MM-DD"));
    }

    #[test]
    fn durations_have_units() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_duration("1h").unwrap(), Duration::hours(1));
        assert_eq!(parse_duration("0s").unwrap(), Duration::zero());
        for bad in ["", "30", "m", "1.5h", "-1h", "1w"] {
            assert!(
                parse_duration(bad).unwrap_err().contains("not a duration"),
                "{bad}"
            );
        }
    }

    #[test]
    fn day_ranges_are_inclusive() {
        let d = |s| parse_date(s).unwrap();
        assert_eq!(days(d("2026-02-27"), d("2026-03-01")).len(), 3);
        assert!(days(d("2026-03-01"), d("2026-02-27")).is_empty());
    }
}
