//! Running one job for one day.
//!
//! Contract: a day's output is one Parquet object, `<job>/<column>=<day>/data.parquet`,
//! written by a single `put`. Replacing it is atomic for every reader (S3 and local disk), so
//! a reader sees the old day or the new day, never a mix; two runs of the same job and day
//! at once each write a complete file and the last one stays. A run record (what was read,
//! file by file, and written, and how long it took) goes to `<job>/_runs/`, which readers
//! skip; see [`crate::lineage`].

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;

use super::job::Job;
use crate::engine::{parse_statements, Query, WarehouseTables};
use crate::lineage::{list_inputs, record_run, InputRecord, RunRecord};
use crate::warehouse::{encode_parquet, partition_dir, FileInfo, Warehouse};

pub async fn run_job_for_day(
    warehouse: &Warehouse,
    tables: &WarehouseTables,
    job: &Job,
    day: NaiveDate,
) -> anyhow::Result<RunRecord> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let ctx = tables.session(Some(day))?;
    let (statement, input_tables) = parse(&ctx, job)?;
    // Listed before the query runs: a file landing meanwhile makes the day stale, never
    // counts as read.
    let listings = list_inputs(warehouse, &input_tables, day).await?;
    // The same read-only execution path as `stickerlake sql`.
    let (schema, batches) = Query::plan(&ctx, statement)
        .await
        .with_context(|| job.origin.to_string())?
        .collect()
        .await
        .with_context(|| job.origin.to_string())?;
    let (schema, batches) = without_column(schema, batches, &job.partition_column)?;

    let dir = partition_dir(&job.name, &job.partition_column, day);
    let output = format!("{dir}/data.parquet");
    let bytes = encode_parquet(schema, &batches).context("encoding the job's output")?;
    let bytes_written = bytes.len();
    warehouse
        .put(&warehouse.path(&output), Bytes::from(bytes))
        .await?;

    let record = RunRecord {
        job: job.name.clone(),
        day,
        started_at,
        seconds: clock.elapsed().as_secs_f64(),
        inputs: inputs(&ctx, listings).await?,
        output,
        rows_written: batches.iter().map(RecordBatch::num_rows).sum(),
        bytes_written,
        stickerlake_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    record_run(warehouse, &record).await?;
    Ok(record)
}

/// The warehouse tables `job` reads.
pub fn input_tables(tables: &WarehouseTables, job: &Job) -> anyhow::Result<Vec<String>> {
    Ok(parse(&tables.session(None)?, job)?.1)
}

/// The job's one statement, parsed once, and the warehouse tables it reads.
fn parse(ctx: &SessionContext, job: &Job) -> anyhow::Result<(Statement, Vec<String>)> {
    let mut statements = parse_statements(&job.sql).with_context(|| job.origin.to_string())?;
    if statements.len() != 1 {
        anyhow::bail!(
            "{}: a job is exactly one query, found {} statements",
            job.origin,
            statements.len()
        );
    }
    let statement = statements.pop().expect("one statement");
    let mut tables: Vec<String> = ctx
        .state()
        .resolve_table_references(&statement)?
        .iter()
        .map(|r| r.table().to_owned())
        .filter(|name| ctx.table_exist(name.as_str()).unwrap_or(false))
        .collect();
    tables.sort();
    tables.dedup();
    Ok((statement, tables))
}

/// The partition column lives in the path only: drop it from the output if the query kept it.
fn without_column(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    column: &str,
) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let Ok(index) = schema.index_of(column) else {
        return Ok((schema, batches));
    };
    let keep: Vec<usize> = (0..schema.fields().len()).filter(|&i| i != index).collect();
    let projected: SchemaRef = std::sync::Arc::new(Schema::clone(&schema).project(&keep)?);
    let batches = batches
        .iter()
        .map(|b| b.project(&keep))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((projected, batches))
}

/// For each table the query names: the files of the day it read (listed before it ran),
/// and its rows.
async fn inputs(
    ctx: &SessionContext,
    listings: BTreeMap<String, Vec<FileInfo>>,
) -> anyhow::Result<Vec<InputRecord>> {
    let mut records = Vec::new();
    for (table, listing) in listings {
        let rows = ctx.table(table.as_str()).await?.count().await?;
        records.push(InputRecord {
            table,
            files: listing.len(),
            rows: rows as i64,
            listing: Some(listing),
        });
    }
    Ok(records)
}
