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

/// When `day` ends (UTC): midnight of the next day.
pub fn end_of(day: NaiveDate) -> chrono::DateTime<Utc> {
    (day + Duration::days(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
}

/// The day-range flags of `run`, `export-jobs` and `replay`: `--date D`, or `--from D --to D`.
/// A command that needs one of them says so with a required `ArgGroup` over `date` and `from`.
#[derive(Debug, Clone, clap::Args)]
pub struct DayRangeArgs {
    /// One day (YYYY-MM-DD, today or yesterday; UTC).
    #[arg(long, value_parser = parse_date, conflicts_with_all = ["from", "to"])]
    pub date: Option<NaiveDate>,
    /// First day of a range (with --to).
    #[arg(long, value_parser = parse_date, requires = "to")]
    pub from: Option<NaiveDate>,
    /// Last day of the range, included (with --from).
    #[arg(long, value_parser = parse_date, requires = "from")]
    pub to: Option<NaiveDate>,
}

impl DayRangeArgs {
    /// The inclusive range asked for; `None` when no flag was given.
    pub fn range(&self) -> anyhow::Result<Option<(NaiveDate, NaiveDate)>> {
        let range = match (self.date, self.from, self.to) {
            (Some(day), _, _) => Some((day, day)),
            (None, Some(from), Some(to)) => Some((from, to)),
            _ => None,
        };
        if let Some((from, to)) = range.filter(|(from, to)| to < from) {
            anyhow::bail!("--from {from} is after --to {to}");
        }
        Ok(range)
    }

    pub fn given(&self) -> bool {
        self.date.is_some() || self.from.is_some()
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
