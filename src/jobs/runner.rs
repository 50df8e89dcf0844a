//! Running one job for one day.
//!
//! Contract: a day's output is one Parquet file, `<job>/<column>=<day>/part-….parquet`,
//! committed to the job's Delta table as a replacement of that day's partition (the old
//! file is removed in the same commit). Every reader sees the old day or the new day, never
//! a mix; two runs of the same job and day at once each commit a complete day and the last
//! one stays. The inputs' versions go in the commit's `commitInfo`; a run record (what was
//! read, file by file, and written, and how long it took) goes to `<job>/_runs/`, which
//! readers skip; see [`crate::lineage`].

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use datafusion::prelude::SessionContext;

use crate::engine::job_catalog::{parse_job, Job};
use crate::engine::{Query, WarehouseTables};
use crate::lineage::{day_inputs, record_run, InputRecord, RunRecord};
use crate::warehouse::delta::{Change, NewFile};
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
    let (statement, input_tables) = parse_job(&ctx, job)?;
    // Listed before the query runs: a file landing meanwhile makes the day stale, never
    // counts as read.
    let listings = day_inputs(tables, &input_tables, day);
    // The same read-only execution path as `stickerlake sql`.
    let (schema, batches) = Query::plan(&ctx, statement)
        .await
        .with_context(|| job.origin.to_string())?
        .collect()
        .await
        .with_context(|| job.origin.to_string())?;
    let (schema, batches) = without_column(schema, batches, &job.partition_column)?;

    let dir = partition_dir(&job.name, &job.partition_column, day);
    let output = format!(
        "{dir}/part-{}-{:016x}.parquet",
        started_at.format("%Y%m%dT%H%M%S"),
        rand::random::<u64>()
    );
    let bytes =
        Bytes::from(encode_parquet(schema.clone(), &batches).context("encoding the job's output")?);
    let bytes_written = bytes.len();
    let file = NewFile::from_bytes(&output, &bytes).map_err(anyhow::Error::msg)?;
    let mut delta = warehouse
        .open_or_create_delta(&job.name, &schema, &job.partition_column)
        .await?;
    check_columns(warehouse, job, &delta, &schema)?;
    warehouse.put(&warehouse.path(&output), bytes).await?;
    let inputs = inputs(&ctx, tables, listings).await?;
    let versions: serde_json::Map<String, serde_json::Value> = inputs
        .iter()
        .map(|i| (i.table.clone(), serde_json::json!(i.version)))
        .collect();
    let info = serde_json::json!({"writer": "job", "job": job.name, "day": day, "inputVersions": versions});
    let change = Change::ReplacePartition {
        column: job.partition_column.clone(),
        value: day.to_string(),
        files: vec![file],
    };
    warehouse
        .commit(
            &job.name,
            &mut delta,
            &change,
            serde_json::Map::from_iter([("stickerlake".to_owned(), info)]),
        )
        .await?;

    let record = RunRecord {
        job: job.name.clone(),
        day,
        started_at,
        seconds: clock.elapsed().as_secs_f64(),
        inputs,
        output,
        rows_written: batches.iter().map(RecordBatch::num_rows).sum(),
        bytes_written,
        stickerlake_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    record_run(warehouse, &record).await?;
    Ok(record)
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

/// A job's output columns are its table's: a job whose SQL now returns other columns
/// would make a table no reader can read whole.
fn check_columns(
    warehouse: &Warehouse,
    job: &Job,
    delta: &deltalake_core::DeltaTable,
    schema: &Schema,
) -> anyhow::Result<()> {
    let table = warehouse.snapshot(&job.name, delta)?;
    let columns = |s: &Schema| -> Vec<(String, arrow::datatypes::DataType)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    let (had, has) = (columns(&table.file_schema), columns(schema));
    if had != has {
        anyhow::bail!(
            "{}: the query returns the columns {has:?}, but table {} has {had:?}; keep the columns, or give the job a new name (or remove the table's folder to start it over)",
            job.origin,
            job.name
        );
    }
    Ok(())
}

/// For each table the query names: its version and the day's files in the snapshot it
/// read, and its rows.
async fn inputs(
    ctx: &SessionContext,
    tables: &WarehouseTables,
    listings: BTreeMap<String, Vec<FileInfo>>,
) -> anyhow::Result<Vec<InputRecord>> {
    let mut records = Vec::new();
    for (table, listing) in listings {
        let rows = ctx.table(table.as_str()).await?.count().await?;
        records.push(InputRecord {
            version: tables.info(&table).map(|t| t.version),
            table,
            files: listing.len(),
            rows: rows as i64,
            listing: Some(listing),
        });
    }
    Ok(records)
}
