//! What the warehouse holds, day by day, as of now: per day its raw files, bytes, rows and
//! quarantined lines and whether it is complete; per job and day whether it is stale (see
//! [`crate::lineage`]); per tailer its watermark and lag (see [`crate::completeness`]).
//! `status` prints it and `report` draws it.

use std::collections::BTreeMap;

use arrow::array::Int64Array;
use arrow::datatypes::DataType;
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::prelude::{col, lit};
use serde::Serialize;

use crate::completeness::{holding_back, tailers};
use crate::contract::checkpoint::Checkpoint;
use crate::contract::Table;
use crate::dates::{days, end_of};
use crate::engine::job_catalog::{input_tables, JobFolderArgs};
use crate::engine::{date_between, string_column, WarehouseTables};
use crate::lineage::{job_days, JobDay};
use crate::quality::day_statuses;
use crate::quality::results::Status;
use crate::warehouse::Warehouse;

/// Everything known about a range of days: what `status` prints and `report` draws.
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
    /// The worst result of the day's last `check` (`pass`, `warn`, `fail`); null if never checked.
    pub checks: Option<Status>,
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
    /// Flushes staged for the committer and not committed yet (`tailer --stage`).
    pub staged_flushes: usize,
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
            staged_flushes: tailer.staged,
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

/// The status of the days `from..=to` as of `now`.
pub async fn collect(
    warehouse: &Warehouse,
    tables: &WarehouseTables,
    from: NaiveDate,
    to: NaiveDate,
    grace: chrono::Duration,
    job_folder: &JobFolderArgs,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let range = days(from, to);
    let mut jobs = Vec::new();
    for job in job_folder.discover()? {
        let inputs = input_tables(tables, &job)?;
        let states = job_days(warehouse, tables, &job.name, &inputs, &range).await?;
        jobs.extend(states.into_iter().map(JobDayReport::from));
    }
    let tailers = tailers(warehouse).await?;
    let mut days = day_reports(tables, from, to).await?;
    let checked = day_statuses(tables, from, to).await?;
    for day in &mut days {
        day.complete = holding_back(&tailers, day.date).is_empty();
        day.checks = checked.get(&day.date).copied();
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
                checks: None,
            }
        })
        .collect())
}

/// Rows per partition day of a tailer table: the Delta log's `numRecords` of each file,
/// else (a file committed without them) counted by a query.
async fn rows_per_day(
    tables: &WarehouseTables,
    table: Table,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<BTreeMap<NaiveDate, i64>> {
    let mut rows = BTreeMap::new();
    for (day, files) in tables.partitions(table.name()) {
        let Some(day) = day
            .parse::<NaiveDate>()
            .ok()
            .filter(|d| (from..=to).contains(d))
        else {
            continue;
        };
        match files.iter().map(|f| f.rows).sum::<Option<u64>>() {
            Some(n) => rows.insert(day, n as i64),
            None => return counted_rows_per_day(tables, table, from, to).await,
        };
    }
    Ok(rows)
}

/// Rows per partition day of a tailer table, counted by a query.
async fn counted_rows_per_day(
    tables: &WarehouseTables,
    table: Table,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<BTreeMap<NaiveDate, i64>> {
    let ctx = tables.session()?;
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
