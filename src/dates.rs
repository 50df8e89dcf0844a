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
    fn day_ranges_are_inclusive() {
        let d = |s| parse_date(s).unwrap();
        assert_eq!(days(d("2026-02-27"), d("2026-03-01")).len(), 3);
        assert!(days(d("2026-03-01"), d("2026-02-27")).is_empty());
    }
}
