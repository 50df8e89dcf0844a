//! `stickerlake status`: per day, what the warehouse holds (raw files, bytes, rows,
//! quarantined lines) and whether it is complete; per job and day, the last successful run
//! and whether it is **stale** (its input changed since, see [`crate::lineage`]); per
//! tailer, its watermark, lag and last flush (see [`crate::completeness`]). Exit status 3
//! when a job-day in the range is stale, else 75 when a day that ended more than `--grace`
//! ago is not complete, so a monitor can alert on either; 0 otherwise.
//!
//! The JSON (`--format json`) is stable: `{"from", "to", "days": [{"date", "complete",
//! "raw_files", "raw_bytes", "raw_rows", "quarantined"}], "jobs": [{"job", "date", "stale",
//! "input_files", "last_run": null | {"started_at", "rows_written", "files_read"}}],
//! "tailers": [{"tailer_id", "retired_at", "watermark", "lag_seconds", "held_by",
//! "last_flush", "allowed_lateness_secs", "idle_timeout_secs"}], "stale": N, "incomplete": N}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::prelude::{col, lit};
use serde::Serialize;

use crate::completeness::{holding_back, stamp, tailers};
use crate::contract::checkpoint::Checkpoint;
use crate::contract::Table;
use crate::dates::{days, end_of, parse_date, parse_duration};
use crate::engine::{date_between, string_column, WarehouseTables};
use crate::exit::Outcome;
use crate::jobs::{discover, input_tables};
use crate::lineage::{job_days, JobDay};
use crate::output::{write_results, Format};
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
    /// A folder of more job files, as for `run`.
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<std::path::PathBuf>,
}

/// Everything `status` knows about a range of days (also drawn by `report`).
#[derive(Debug, Serialize)]
pub struct Report {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<DayReport>,
    pub jobs: Vec<JobDayReport>,
    pub tailers: Vec<TailerReport>,
    pub stale: usize,
    pub incomplete: usize,
}

#[derive(Debug, Serialize)]
pub struct DayReport {
    pub date: NaiveDate,
    pub complete: bool,
    pub raw_files: usize,
    pub raw_bytes: u64,
    pub raw_rows: i64,
    pub quarantined: i64,
}

#[derive(Debug, Serialize)]
pub struct JobDayReport {
    pub job: String,
    pub date: NaiveDate,
    pub stale: bool,
    pub input_files: usize,
    pub last_run: Option<LastRun>,
}

#[derive(Debug, Serialize)]
pub struct LastRun {
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub rows_written: usize,
    pub files_read: usize,
}

#[derive(Debug, Serialize)]
pub struct TailerReport {
    pub tailer_id: String,
    pub retired_at: Option<DateTime<Utc>>,
    pub watermark: Option<DateTime<Utc>>,
    /// Now minus the watermark.
    pub lag_seconds: Option<i64>,
    pub held_by: Option<String>,
    pub last_flush: Option<DateTime<Utc>>,
    pub allowed_lateness_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
}

impl TailerReport {
    fn new(tailer: &Checkpoint, now: DateTime<Utc>) -> Self {
        let progress = tailer.progress.as_ref();
        Self {
            tailer_id: tailer.tailer_id.clone(),
            retired_at: tailer.retired_at,
            watermark: progress.map(|p| p.watermark),
            lag_seconds: progress.map(|p| (now - p.watermark).num_seconds()),
            held_by: progress.and_then(|p| p.held_by.clone()),
            last_flush: progress.map(|p| p.flushed_at),
            allowed_lateness_secs: progress.map(|p| p.allowed_lateness_secs),
            idle_timeout_secs: progress.map(|p| p.idle_timeout_secs),
        }
    }
}

impl From<JobDay> for JobDayReport {
    fn from(state: JobDay) -> Self {
        Self {
            job: state.job,
            date: state.day,
            stale: state.stale,
            input_files: state.input_files,
            last_run: state.last_run.map(|run| LastRun {
                started_at: run.started_at,
                rows_written: run.rows_written,
                files_read: run.inputs.iter().map(|i| i.files).sum(),
            }),
        }
    }
}

pub async fn run(args: StatusArgs, warehouse: Warehouse) -> anyhow::Result<Outcome> {
    let now = Utc::now();
    let to = args.to.unwrap_or(now.date_naive());
    let from = args.from.unwrap_or(to - chrono::Duration::days(29));
    if to < from {
        bail!("--from {from} is after --to {to}");
    }
    let tables = WarehouseTables::load(&warehouse).await?;
    let report = collect(
        &warehouse,
        &tables,
        from,
        to,
        args.grace,
        args.sql_dir.as_deref(),
        now,
    )
    .await?;
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

/// The status of the days `from..=to` as of `now`.
pub async fn collect(
    warehouse: &Warehouse,
    tables: &WarehouseTables,
    from: NaiveDate,
    to: NaiveDate,
    grace: chrono::Duration,
    sql_dir: Option<&std::path::Path>,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let range = days(from, to);
    let mut jobs = Vec::new();
    for job in discover(sql_dir)? {
        let inputs = input_tables(tables, &job)?;
        let states = job_days(warehouse, tables, &job.name, &inputs, &range).await?;
        jobs.extend(states.into_iter().map(JobDayReport::from));
    }
    let tailers = tailers(warehouse).await?;
    let mut days = day_reports(tables, from, to).await?;
    for day in &mut days {
        day.complete = holding_back(&tailers, day.date).is_empty();
    }
    let overdue = |day: &&DayReport| !day.complete && end_of(day.date) + grace <= now;
    Ok(Report {
        from,
        to,
        incomplete: days.iter().filter(overdue).count(),
        days,
        stale: jobs.iter().filter(|j| j.stale).count(),
        jobs,
        tailers: tailers.iter().map(|t| TailerReport::new(t, now)).collect(),
    })
}

async fn day_reports(
    tables: &WarehouseTables,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<Vec<DayReport>> {
    let raw = tables.partitions(Table::RawEvents.name());
    let rows = rows_per_day(tables, Table::RawEvents, from, to).await?;
    let quarantined = rows_per_day(tables, Table::Quarantine, from, to).await?;
    Ok(days(from, to)
        .into_iter()
        .map(|date| {
            let files = raw.get(&date.to_string());
            DayReport {
                date,
                complete: false,
                raw_files: files.map_or(0, Vec::len),
                raw_bytes: files.map_or(0, |f| f.iter().map(|f| f.size).sum()),
                raw_rows: rows.get(&date).copied().unwrap_or(0),
                quarantined: quarantined.get(&date).copied().unwrap_or(0),
            }
        })
        .collect())
}

/// Rows per partition day of a tailer table (counts come from Parquet footers).
async fn rows_per_day(
    tables: &WarehouseTables,
    table: Table,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<BTreeMap<NaiveDate, i64>> {
    let ctx = tables.session(None)?;
    if !ctx.table_exist(table.name())? {
        return Ok(BTreeMap::new());
    }
    let column = table.partition_column();
    let counts = ctx
        .table(table.name())
        .await?
        .filter(date_between(column, from, to))?
        .aggregate(vec![col(column)], vec![count(lit(1)).alias("n")])?
        .collect()
        .await?;
    let mut rows = BTreeMap::new();
    for batch in counts {
        let n = arrow::compute::cast(batch.column(1), &DataType::Int64)?;
        let n = n.as_any().downcast_ref::<Int64Array>().expect("Int64");
        for (i, day) in string_column(&batch, 0)?.into_iter().enumerate() {
            if let Some(day) = day.and_then(|d| d.parse::<NaiveDate>().ok()) {
                rows.insert(day, n.value(i));
            }
        }
    }
    Ok(rows)
}

fn print_tables(out: &mut impl std::io::Write, report: &Report) -> anyhow::Result<()> {
    let strings = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    let ints = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let field = |name: &str, kind: DataType| Field::new(name, kind, true);
    let days = &report.days;
    let schema = Arc::new(Schema::new(vec![
        field("date", DataType::Utf8),
        field("complete", DataType::Boolean),
        field("raw_files", DataType::Int64),
        field("raw_bytes", DataType::Int64),
        field("raw_rows", DataType::Int64),
        field("quarantined", DataType::Int64),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            strings(days.iter().map(|d| d.date.to_string()).collect()),
            Arc::new(BooleanArray::from(
                days.iter().map(|d| d.complete).collect::<Vec<_>>(),
            )),
            ints(days.iter().map(|d| d.raw_files as i64).collect()),
            ints(days.iter().map(|d| d.raw_bytes as i64).collect()),
            ints(days.iter().map(|d| d.raw_rows).collect()),
            ints(days.iter().map(|d| d.quarantined).collect()),
        ],
    )?;
    write_results(out, Format::Table, schema, &[batch])?;
    let jobs = &report.jobs;
    let schema = Arc::new(Schema::new(vec![
        field("job", DataType::Utf8),
        field("date", DataType::Utf8),
        field("stale", DataType::Boolean),
        field("input_files", DataType::Int64),
        field("last_run", DataType::Utf8),
        field("rows_written", DataType::Int64),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            strings(jobs.iter().map(|j| j.job.clone()).collect()),
            strings(jobs.iter().map(|j| j.date.to_string()).collect()),
            Arc::new(BooleanArray::from(
                jobs.iter().map(|j| j.stale).collect::<Vec<_>>(),
            )),
            ints(jobs.iter().map(|j| j.input_files as i64).collect()),
            Arc::new(StringArray::from(
                jobs.iter()
                    .map(|j| {
                        j.last_run
                            .as_ref()
                            .map(|r| r.started_at.format("%Y-%m-%d %H:%M:%S").to_string())
                    })
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                jobs.iter()
                    .map(|j| j.last_run.as_ref().map(|r| r.rows_written as i64))
                    .collect::<Vec<_>>(),
            )),
        ],
    )?;
    write_results(out, Format::Table, schema, &[batch])?;
    let optional = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as ArrayRef;
    let tailers = &report.tailers;
    let schema = Arc::new(Schema::new(vec![
        field("tailer", DataType::Utf8),
        field("watermark", DataType::Utf8),
        field("lag", DataType::Utf8),
        field("held_by", DataType::Utf8),
        field("last_flush", DataType::Utf8),
        field("retired_at", DataType::Utf8),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            strings(tailers.iter().map(|t| t.tailer_id.clone()).collect()),
            optional(tailers.iter().map(|t| t.watermark.map(stamp)).collect()),
            optional(
                tailers
                    .iter()
                    .map(|t| t.lag_seconds.map(human_seconds))
                    .collect(),
            ),
            optional(tailers.iter().map(|t| t.held_by.clone()).collect()),
            optional(tailers.iter().map(|t| t.last_flush.map(stamp)).collect()),
            optional(tailers.iter().map(|t| t.retired_at.map(stamp)).collect()),
        ],
    )?;
    write_results(out, Format::Table, schema, &[batch])?;
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
