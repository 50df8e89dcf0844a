//! `stickerlake status`: per day, what the warehouse holds (raw files, bytes, rows,
//! quarantined lines) and whether it is complete; per job and day, the last successful run
//! and whether it is **stale** (its input changed since, see [`crate::lineage`]); per
//! tailer, its watermark, lag and last flush (see [`crate::completeness`]). Exit status 3
//! when a job-day in the range is stale, else 75 when a day that ended more than `--grace`
//! ago is not complete, so a monitor can alert on either; 0 otherwise.
//!
//! The JSON (`--format json`) is stable: `{"from", "to", "days": [{"date", "complete",
//! "raw_files", "raw_bytes", "raw_rows", "quarantined", "checks"}], "jobs": [{"job", "date", "stale",
//! "input_files", "last_run": null | {"started_at", "rows_written", "files_read"}}],
//! "tailers": [{"tailer_id", "retired_at", "watermark", "lag_seconds", "held_by",
//! "last_flush", "allowed_lateness_secs", "idle_timeout_secs", "staged_flushes"}], "stale": N, "incomplete": N}`.

use anyhow::bail;
use chrono::{NaiveDate, Utc};
use clap::{Args, ValueEnum};

use crate::dates::parse_date;
use crate::engine::job_catalog::JobFolderArgs;
use crate::engine::WarehouseTables;
use crate::exit::Outcome;
use crate::output::SmallTable;
use crate::overview::{self, Report};
use crate::units::{human_seconds, parse_duration, utc_seconds};
use crate::warehouse::Warehouse;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

/// Arguments of `stickerlake status`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake status                            # the last 30 days
  stickerlake status --from 2026-11-01 --to 2026-11-23 --format json
Exit status: 0 all fresh and complete; 3 some job-day is stale (run `stickerlake run all --stale`);
75 a day that ended more than --grace ago is not complete (a tailer is behind); 1 error.")]
pub struct StatusArgs {
    /// First day (default: 30 days ago).
    #[arg(long, value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Last day, included (default: today).
    #[arg(long, value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
    /// How long after a day's end it may stay incomplete before the exit status says so.
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = parse_duration)]
    pub grace: chrono::Duration,
    #[command(flatten)]
    pub jobs: JobFolderArgs,
}

pub async fn run(args: StatusArgs, warehouse: Warehouse) -> anyhow::Result<Outcome> {
    let now = Utc::now();
    let to = args.to.unwrap_or(now.date_naive());
    let from = args.from.unwrap_or(to - chrono::Duration::days(29));
    if to < from {
        bail!("--from {from} is after --to {to}");
    }
    let tables = WarehouseTables::load(&warehouse).await?;
    let report =
        overview::collect(&warehouse, &tables, from, to, args.grace, &args.jobs, now).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        StatusFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            println!();
        }
        StatusFormat::Table => print_tables(&mut out, &report)?,
    }
    Ok(if report.stale > 0 {
        Outcome::Stale
    } else if report.incomplete > 0 {
        Outcome::Incomplete
    } else {
        Outcome::Done
    })
}

fn print_tables(out: &mut impl std::io::Write, report: &Report) -> anyhow::Result<()> {
    let days = &report.days;
    SmallTable::new()
        .text("date", days.iter().map(|d| d.date.to_string()))
        .flag("complete", days.iter().map(|d| d.complete))
        .int("raw_files", days.iter().map(|d| d.raw_files as i64))
        .int("raw_bytes", days.iter().map(|d| d.raw_bytes as i64))
        .int("raw_rows", days.iter().map(|d| d.raw_rows))
        .int("quarantined", days.iter().map(|d| d.quarantined))
        .text(
            "checks",
            days.iter().map(|d| d.checks.map(|s| s.name().to_owned())),
        )
        .print(out)?;
    let jobs = &report.jobs;
    SmallTable::new()
        .text("job", jobs.iter().map(|j| j.job.clone()))
        .text("date", jobs.iter().map(|j| j.date.to_string()))
        .flag("stale", jobs.iter().map(|j| j.stale))
        .int("input_files", jobs.iter().map(|j| j.input_files as i64))
        .text(
            "last_run",
            jobs.iter().map(|j| {
                j.last_run
                    .as_ref()
                    .map(|r| r.started_at.format("%Y-%m-%d %H:%M:%S").to_string())
            }),
        )
        .int(
            "rows_written",
            jobs.iter()
                .map(|j| j.last_run.as_ref().map(|r| r.rows_written as i64)),
        )
        .print(out)?;
    let tailers = &report.tailers;
    SmallTable::new()
        .text("tailer", tailers.iter().map(|t| t.tailer_id.clone()))
        .text(
            "watermark",
            tailers.iter().map(|t| t.watermark.map(utc_seconds)),
        )
        .text(
            "lag",
            tailers.iter().map(|t| t.lag_seconds.map(human_seconds)),
        )
        .text("held_by", tailers.iter().map(|t| t.held_by.clone()))
        .text(
            "last_flush",
            tailers.iter().map(|t| t.last_flush.map(utc_seconds)),
        )
        .text(
            "retired_at",
            tailers.iter().map(|t| t.retired_at.map(utc_seconds)),
        )
        .int(
            "staged",
            tailers.iter().map(|t| Some(t.staged_flushes as i64)),
        )
        .print(out)?;
    writeln!(
        out,
        "{} day(s) ended more than the grace ago and not complete",
        report.incomplete
    )?;
    writeln!(
        out,
        "{} stale job-day(s) from {} to {}{}",
        report.stale,
        report.from,
        report.to,
        if report.stale > 0 {
            ": run `stickerlake run all --stale`"
        } else {
            ""
        }
    )?;
    Ok(())
}
