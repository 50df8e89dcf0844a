//! `stickerlake check`: is each day what its history says it should be? Runs the checks of
//! [`crate::quality`] (volume, freshness, schema, distribution, the tracking plan's
//! violations, and the user's `*.sql` checks) for a day or a range, records every result in
//! `check_results` (a day checked again is replaced), prints failures first, and hands the
//! JSON to `--notify` and `--webhook`. Exit status 6 when any result is `fail`.

mod send;

use std::path::PathBuf;

use chrono::{NaiveDate, Utc};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::dates::{days, DayRangeArgs};
use crate::engine::WarehouseTables;
use crate::exit::Outcome;
use crate::quality::config::CheckConfig;
use crate::quality::results::{CheckResult, Status};
use crate::quality::{check_days, record, CheckOptions};
use crate::units::parse_duration;
use crate::warehouse::Warehouse;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
}

/// Arguments of `stickerlake check`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake check                               # yesterday, and today's freshness
  stickerlake check --date 2026-11-23 --format json
  stickerlake check --from 2026-11-01 --to 2026-11-30 --checks checks/
  stickerlake check --date yesterday --notify 'mail -s \"stickerlake checks\" data@example.com'
  stickerlake check --date yesterday --webhook https://hooks.example.com/T000/B000
Each DIR/*.sql is a query returning the rows that fail, with {date} filled in; DIR/checks.toml
overrides the defaults (docs/design.md, \"Checks: what normal is\").
Exit status: 0 nothing failed (warnings allowed); 6 some check failed; 1 error.")]
pub struct CheckArgs {
    #[command(flatten)]
    pub days: DayRangeArgs,
    /// User checks (`*.sql`) and settings (`checks.toml`).
    #[arg(long, value_name = "DIR")]
    pub checks: Option<PathBuf>,
    /// Weeks of history a day is compared with (default 4, or checks.toml's).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=52))]
    pub baseline_weeks: Option<u32>,
    /// Today's freshness: a source's newest event, or a tailer's last commit, older than this fails.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub max_delay: chrono::Duration,
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
    /// Pipe the results' JSON into this shell command (`sh -c`), every run.
    #[arg(long, value_name = "COMMAND")]
    pub notify: Option<String>,
    /// POST the results' JSON to this URL, every run (10 s timeout, 3 attempts).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<url::Url>,
}

/// `check --format json`, and what `--notify` and `--webhook` receive.
#[derive(Debug, Serialize)]
pub struct CheckReport<'a> {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub failed: usize,
    pub warned: usize,
    pub results: Vec<&'a CheckResult>,
}

pub async fn run(args: CheckArgs, warehouse: Warehouse) -> anyhow::Result<Outcome> {
    let now = Utc::now();
    let today = now.date_naive();
    let (from, to) = args
        .days
        .range()?
        .unwrap_or((today - chrono::Duration::days(1), today));
    let mut config = CheckConfig::load(args.checks.as_deref())?;
    if let Some(weeks) = args.baseline_weeks {
        config.baseline_weeks = weeks;
    }
    let options = CheckOptions {
        config,
        checks_dir: args.checks.clone(),
        max_delay: args.max_delay,
        now,
    };
    let checked = days(from, to);
    let tables = WarehouseTables::load(&warehouse).await?;
    let results = check_days(&warehouse, &tables, &checked, &options).await?;
    record(&warehouse, &checked, &results, now).await?;

    let report = report(from, to, &results);
    let json = serde_json::to_string_pretty(&report)?;
    match args.format {
        CheckFormat::Json => println!("{json}"),
        CheckFormat::Table => print_table(&report),
    }
    if let Some(command) = &args.notify {
        send::notify(command, &json)?;
    }
    if let Some(url) = &args.webhook {
        send::webhook(url, &json).await?;
    }
    Ok(match report.failed {
        0 => Outcome::Done,
        _ => Outcome::ChecksFailed,
    })
}

/// The results, failures first, then warnings, then passes, each by date.
pub fn report(from: NaiveDate, to: NaiveDate, results: &[CheckResult]) -> CheckReport<'_> {
    let mut ordered: Vec<&CheckResult> = results.iter().collect();
    ordered.sort_by(|a, b| b.status.cmp(&a.status).then(a.date.cmp(&b.date)));
    let count = |status| results.iter().filter(|r| r.status == status).count();
    CheckReport {
        from,
        to,
        failed: count(Status::Fail),
        warned: count(Status::Warn),
        results: ordered,
    }
}

fn print_table(report: &CheckReport<'_>) {
    for result in report.results.iter().filter(|r| r.status != Status::Pass) {
        let about: Vec<&str> = [&result.kind, &result.source, &result.key]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        println!(
            "{:<4} {} {:<12} {}",
            result.status.name().to_uppercase(),
            result.date,
            result.check,
            about.join("  ")
        );
        println!("     {}", result.message);
    }
    let passed = report.results.len() - report.failed - report.warned;
    println!(
        "{} failed, {} warned, {passed} passed from {} to {}{}",
        report.failed,
        report.warned,
        report.from,
        report.to,
        if report.failed > 0 {
            " (recorded in check_results; re-check a day once it is fixed)"
        } else {
            ""
        }
    );
}
