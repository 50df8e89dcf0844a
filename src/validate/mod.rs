//! `stickerlake validate`: the tracking plan's checks over days already in `raw_events` —
//! the same checks `tailer --plan` runs on ingest. Writes nothing unless `--record`, which
//! replaces those days' rows of `violations`. Exit status 6 when any event breaks the plan.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use rayon::prelude::*;
use serde::Serialize;

use crate::contract::{Table, VIOLATIONS_SCHEMA};
use crate::dates::{days, DayRangeArgs};
use crate::engine::{parse_statements, Query, WarehouseTables};
use crate::exit::Outcome;
use crate::quality::plan::{violations_batch, Checks, Plan, ViolationRow};
use crate::warehouse::delta::{Change, NewFile};
use crate::warehouse::{encode_parquet, partition_dir, Warehouse};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    Table,
    Json,
}

/// Arguments of `stickerlake validate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake validate --plan tracking-plan.json --date yesterday
  stickerlake validate --plan tracking-plan.json --from 2026-11-01 --to 2026-11-30 --format json
  stickerlake validate --plan tracking-plan.json --date 2026-11-23 --record   # replace that day's violations
The plan's format is in docs/contract.md (\"Tracking plan\").
Exit status: 0 every event follows the plan; 6 some event breaks it; 1 error.")]
#[command(group(clap::ArgGroup::new("days_needed").args(["date", "from"]).required(true)))]
pub struct ValidateArgs {
    /// The tracking plan (JSON).
    #[arg(long, value_name = "FILE")]
    pub plan: PathBuf,
    #[command(flatten)]
    pub days: DayRangeArgs,
    #[arg(long, value_enum, default_value_t = ValidateFormat::Table)]
    pub format: ValidateFormat,
    /// Replace these days' rows of the `violations` table by what this plan finds.
    #[arg(long)]
    pub record: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    from: NaiveDate,
    to: NaiveDate,
    plan_version: &'a str,
    events_checked: u64,
    violations: Vec<Found<'a>>,
}

#[derive(Serialize)]
struct Found<'a> {
    message_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    event_date: NaiveDate,
    rule: &'a str,
    path: &'a str,
    detail: &'a str,
    source: Option<&'a str>,
    source_offset: Option<i64>,
}

pub async fn run(args: ValidateArgs, warehouse: Warehouse) -> anyhow::Result<Outcome> {
    let plan = Plan::load(&args.plan)?;
    let (from, to) = args.days.range()?.expect("clap requires a day");
    let tables = WarehouseTables::load(&warehouse).await?;
    if tables.info(Table::RawEvents.name()).is_none() {
        anyhow::bail!("the warehouse has no raw_events table yet: run `stickerlake tailer` first");
    }
    let (events_checked, rows) = check(&tables, &plan, from, to).await?;
    if args.record {
        record(&warehouse, &days(from, to), &rows, &plan.version).await?;
    }
    let date = |r: &ViolationRow| {
        DateTime::<Utc>::from_timestamp_micros(r.event_time_us)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    };
    let report = Report {
        from,
        to,
        plan_version: &plan.version,
        events_checked,
        violations: rows
            .iter()
            .map(|r| Found {
                message_id: &r.message_id,
                kind: &r.kind,
                event_date: date(r),
                rule: &r.violation.rule,
                path: &r.violation.path,
                detail: &r.violation.detail,
                source: r.source.as_deref(),
                source_offset: r.source_offset,
            })
            .collect(),
    };
    match args.format {
        ValidateFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ValidateFormat::Table => print_table(&report, args.record),
    }
    Ok(match report.violations.is_empty() {
        true => Outcome::Done,
        false => Outcome::ChecksFailed,
    })
}

/// Checks every event of the days; returns how many there were and what broke the plan,
/// in (date, source, offset) order.
async fn check(
    tables: &WarehouseTables,
    plan: &Plan,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<(u64, Vec<ViolationRow>)> {
    let sql = format!(
        "SELECT message_id, type, CAST(event_time AS BIGINT), properties, context, source, source_offset FROM raw_events WHERE event_date BETWEEN DATE '{from}' AND DATE '{to}'"
    );
    let ctx = tables.session()?;
    let mut checked = 0;
    let mut rows = Vec::new();
    for statement in parse_statements(&sql)? {
        let mut stream = Query::plan(&ctx, statement).await?.stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            checked += batch.num_rows() as u64;
            rows.extend(check_batch(plan, &batch)?);
        }
    }
    rows.sort_by(|a, b| {
        (a.event_time_us / 86_400_000_000, &a.source, a.source_offset).cmp(&(
            b.event_time_us / 86_400_000_000,
            &b.source,
            b.source_offset,
        ))
    });
    Ok((checked, rows))
}

fn check_batch(plan: &Plan, batch: &RecordBatch) -> anyhow::Result<Vec<ViolationRow>> {
    let text: Vec<_> = [0, 1, 3, 4, 5]
        .into_iter()
        .map(|i| arrow::compute::cast(batch.column(i), &DataType::Utf8))
        .collect::<Result<_, _>>()?;
    let text: Vec<_> = text.iter().map(|c| c.as_string::<i32>()).collect();
    let ints: Vec<_> = [2, 6]
        .into_iter()
        .map(|i| arrow::compute::cast(batch.column(i), &DataType::Int64))
        .collect::<Result<_, _>>()?;
    let ints: Vec<_> = ints.iter().map(|c| c.as_primitive::<Int64Type>()).collect();
    let get = |c: usize, row: usize| (!text[c].is_null(row)).then(|| text[c].value(row));
    let (times, offsets) = (ints[0], ints[1]);
    // A `Checks` per piece: each distinct text of the piece is checked once.
    let found = (0..batch.num_rows())
        .into_par_iter()
        .fold(
            || (Checks::new(plan), Vec::new()),
            |(mut checks, mut found), row| {
                let kind = get(1, row).unwrap_or_default();
                let (properties, context) = (
                    get(2, row).map(Cow::Borrowed),
                    get(3, row).map(Cow::Borrowed),
                );
                let broken = checks.check(kind, properties.as_ref(), context.as_ref());
                found.extend(broken.into_iter().map(|violation| ViolationRow {
                    message_id: get(0, row).unwrap_or_default().to_owned(),
                    kind: kind.to_owned(),
                    event_time_us: times.value(row),
                    violation,
                    source: get(4, row).map(str::to_owned),
                    source_offset: (!offsets.is_null(row)).then(|| offsets.value(row)),
                }));
                (checks, found)
            },
        )
        .map(|(_, found)| found)
        .reduce(Vec::new, |mut found, more| {
            found.extend(more);
            found
        });
    Ok(found)
}

/// Replaces the `violations` partitions of `days` by `rows`, in one commit.
async fn record(
    warehouse: &Warehouse,
    days: &[NaiveDate],
    rows: &[ViolationRow],
    plan_version: &str,
) -> anyhow::Result<()> {
    let table = Table::Violations;
    let mut delta = warehouse
        .open_or_create_delta(table.name(), &VIOLATIONS_SCHEMA, table.partition_column())
        .await?;
    let by_day: BTreeSet<NaiveDate> = days.iter().copied().collect();
    let mut files = Vec::new();
    for day in &by_day {
        let of_day: Vec<ViolationRow> = rows
            .iter()
            .filter(|r| {
                DateTime::<Utc>::from_timestamp_micros(r.event_time_us).map(|t| t.date_naive())
                    == Some(*day)
            })
            .cloned()
            .collect();
        if of_day.is_empty() {
            continue;
        }
        let batch = violations_batch(&of_day, plan_version)?;
        let bytes = Bytes::from(encode_parquet(VIOLATIONS_SCHEMA.clone(), &[batch])?);
        let path = format!(
            "{}/part-validate-{}-{:016x}.parquet",
            partition_dir(table.name(), table.partition_column(), *day),
            Utc::now().format("%Y%m%dT%H%M%S"),
            rand::random::<u64>()
        );
        let file = NewFile::from_bytes(&path, &bytes).map_err(anyhow::Error::msg)?;
        warehouse.put(&warehouse.path(&path), bytes).await?;
        files.push(file);
    }
    let change = Change::ReplacePartitions {
        column: table.partition_column().to_owned(),
        values: by_day.iter().map(NaiveDate::to_string).collect(),
        files,
    };
    let info = serde_json::json!({"writer": "validate", "planVersion": plan_version, "days": by_day.len()});
    warehouse
        .commit(
            table.name(),
            &mut delta,
            &change,
            serde_json::Map::from_iter([("stickerlake".to_owned(), info)]),
        )
        .await
        .context("recording the violations")?;
    Ok(())
}

fn print_table(report: &Report<'_>, recorded: bool) {
    for found in &report.violations {
        println!(
            "{} {} {} {} {}: {}",
            found.event_date,
            found.source.unwrap_or("-"),
            found.source_offset.map_or("-".into(), |o| o.to_string()),
            found.kind,
            found.path,
            found.detail
        );
    }
    println!(
        "validate: {} of {} event(s) from {} to {} broke tracking plan {} ({} violation(s)){}",
        report
            .violations
            .iter()
            .map(|f| f.message_id)
            .collect::<BTreeSet<_>>()
            .len(),
        report.events_checked,
        report.from,
        report.to,
        report.plan_version,
        report.violations.len(),
        if recorded {
            "; recorded in violations"
        } else {
            ""
        }
    );
}
