//! `stickerlake compact`: merges a day's small files of a tailer table into few large ones,
//! streaming (a few row groups in memory at a time), without changing a row. Rows stay in
//! row groups by event type, as the tailer writes them ([`crate::warehouse::HeldByKind`]).
//!
//! Protocol, per day (see [`crate::warehouse::compactions`] for how readers see it):
//! 1. list the day's visible files; skip those of a tailer's pending flush (its recovery
//!    may still delete them), read after the listing so none is missed;
//! 2. write the `pending` manifest, then the outputs (`part-compact-<id>-NNNN.parquet`);
//! 3. write the `committed` manifest (outputs with sizes and tags): readers now read the
//!    outputs and not the inputs;
//! 4. after `--delete-after` (queries that listed before the commit finish reading), delete
//!    the inputs and write the `done` manifest, which stays as the record.
//!
//! A run first finishes what a killed one left: a pending compaction is rolled back (its
//! outputs deleted), a committed one completed. One compactor per table at a time.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{bail, Context};
use arrow::datatypes::SchemaRef;
use chrono::{NaiveDate, Utc};
use clap::Args;
use object_store::buffered::BufWriter;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::AsyncArrowWriter;

use crate::completeness::tailers;
use crate::contract::Table;
use crate::dates::{days, parse_date, parse_duration};
use crate::progress::{self, parse_size};
use crate::warehouse::compactions::{
    manifest_names, manifest_path, read_manifests, superseded, Manifest, State, COMPACTIONS_DIR,
};
use crate::warehouse::{partition_dir, writer_properties, FileInfo, HeldByKind, Warehouse};

/// Rows per row group of a compacted file, at most; memory holds about four row groups.
const ROW_GROUP_ROWS: usize = 128 * 1024;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake compact                          # the 7 days before today, raw_events
  stickerlake compact --date 2026-11-23 --target-size 128MiB
  stickerlake compact --from 2026-11-01 --to 2026-11-23 --table quarantine
Compaction does not change rows: `run` and `sql` see every row once throughout, and a
compacted day does not become stale. Run one compactor per table at a time.")]
pub struct CompactArgs {
    /// One day.
    #[arg(long, value_parser = parse_date, conflicts_with_all = ["from", "to"])]
    pub date: Option<NaiveDate>,
    /// First day (default: 7 days ago).
    #[arg(long, value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Last day (default: yesterday).
    #[arg(long, value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    /// The tailer table to compact (its partition column is the day).
    #[arg(long, default_value = "raw_events", value_parser = ["raw_events", "quarantine"])]
    pub table: String,
    /// Files at least this large are left alone; outputs are cut at about this size.
    #[arg(long, value_name = "BYTES", default_value = "256MiB", value_parser = parse_size)]
    pub target_size: u64,
    /// How long the inputs stay after the commit, for queries that listed them before.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub delete_after: chrono::Duration,
}

pub async fn run(args: CompactArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let table = Table::from_name(&args.table).expect("clap allows tailer tables only");
    let today = Utc::now().date_naive();
    let (from, to) = match (args.date, args.from, args.to) {
        (Some(day), _, _) => (day, day),
        (None, from, to) => {
            let to = to.unwrap_or(today - chrono::Duration::days(1));
            (from.unwrap_or(to - chrono::Duration::days(6)), to)
        }
    };
    if to < from {
        bail!("--from {from} is after --to {to}");
    }
    let mut committed = resume(&warehouse, table).await?;
    let range = days(from, to);
    let bar = progress::count_bar(range.len() as u64, "compact");
    for day in range {
        match compact_day(&warehouse, table, day, args.target_size).await? {
            Some(manifest) => {
                bar.suspend(|| println!("compact: {}", summary(&manifest)));
                committed.push(manifest);
            }
            None => bar.suspend(|| println!("compact: {} {day}: nothing to merge", table.name())),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    for manifest in committed {
        let wait = manifest
            .committed_at
            .map(|at| at + args.delete_after - Utc::now())
            .and_then(|left| left.to_std().ok())
            .unwrap_or_default();
        tokio::time::sleep(wait).await;
        finish(&warehouse, manifest).await?;
    }
    Ok(())
}

fn summary(m: &Manifest) -> String {
    let bytes = |files: &[FileInfo]| files.iter().map(|f| f.size).sum::<u64>();
    format!(
        "{} {}: {} files ({}) -> {} ({}), {} rows, recorded as {}/{}/{}/{}",
        m.table,
        m.partition,
        m.inputs.len(),
        indicatif::HumanBytes(bytes(&m.inputs)),
        m.outputs.len(),
        indicatif::HumanBytes(bytes(&m.outputs)),
        m.rows,
        COMPACTIONS_DIR,
        m.table,
        m.partition,
        m.id
    )
}

/// Rolls back the pending compactions of `table` and returns the committed ones to finish.
async fn resume(warehouse: &Warehouse, table: Table) -> anyhow::Result<Vec<Manifest>> {
    let prefix = format!("{COMPACTIONS_DIR}/{}", table.name());
    let names = manifest_names(warehouse.store().as_ref(), &warehouse.path(""), &prefix).await?;
    for name in superseded(&names.iter().map(String::as_str).collect::<Vec<_>>()) {
        warehouse.delete(&warehouse.path(name)).await?;
    }
    let mut committed = Vec::new();
    for manifest in read_active(warehouse, &prefix).await? {
        match manifest.state {
            State::Pending => {
                eprintln!(
                    "compact: rolling back {} (interrupted before its commit)",
                    manifest.relative_path()
                );
                delete_outputs(warehouse, &manifest).await?;
                warehouse
                    .delete(&warehouse.path(&manifest.relative_path()))
                    .await?;
            }
            State::Committed => committed.push(manifest),
            State::Done => {}
        }
    }
    Ok(committed)
}

async fn read_active(warehouse: &Warehouse, prefix: &str) -> anyhow::Result<Vec<Manifest>> {
    let store = warehouse.store();
    let root = warehouse.path("");
    Ok(read_manifests(store.as_ref(), &root, prefix, true).await?)
}

/// Deletes a pending compaction's outputs, however far their writing got.
async fn delete_outputs(warehouse: &Warehouse, manifest: &Manifest) -> anyhow::Result<()> {
    for n in 0.. {
        let output = output_path(manifest, n);
        warehouse.remove_interrupted_put(&output)?;
        let path = warehouse.path(&output);
        if !warehouse.exists(&path).await? {
            return Ok(());
        }
        warehouse.delete(&path).await?;
    }
    Ok(())
}

fn output_path(manifest: &Manifest, n: usize) -> String {
    format!("{}{n:04}.parquet", manifest.output_prefix)
}

/// Compacts one day up to its commit; `None` when it has fewer than two small files.
async fn compact_day(
    warehouse: &Warehouse,
    table: Table,
    day: NaiveDate,
    target_size: u64,
) -> anyhow::Result<Option<Manifest>> {
    let column = table.partition_column();
    let dir = partition_dir(table.name(), column, day);
    let listed = warehouse.list_files(&dir).await?;
    // After the listing: a flush pending now may be rolled back by its tailer's recovery.
    let in_flight: HashSet<String> = tailers(warehouse)
        .await?
        .into_iter()
        .filter_map(|t| t.pending)
        .flat_map(|p| p.outputs)
        .collect();
    let inputs: Vec<FileInfo> = listed
        .into_iter()
        .filter(|f| f.size < target_size && !in_flight.contains(&f.path))
        .collect();
    if inputs.len() < 2 {
        return Ok(None);
    }
    let id = format!(
        "{}-{:08x}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>()
    );
    let partition = format!("{column}={day}");
    let mut manifest = Manifest {
        output_prefix: format!("{dir}/part-compact-{id}-"),
        id,
        table: table.name().to_owned(),
        partition,
        state: State::Pending,
        started_at: Utc::now(),
        committed_at: None,
        finished_at: None,
        inputs,
        outputs: Vec::new(),
        rows: 0,
    };
    save(warehouse, &manifest, None).await?;
    pause();
    let (outputs, rows) = write_outputs(warehouse, &manifest, target_size).await?;
    manifest.outputs = outputs;
    manifest.rows = rows;
    manifest.committed_at = Some(Utc::now());
    move_to(warehouse, &mut manifest, State::Committed).await?;
    Ok(Some(manifest))
}

/// Deletes a committed compaction's inputs and records it done.
async fn finish(warehouse: &Warehouse, mut manifest: Manifest) -> anyhow::Result<()> {
    for input in &manifest.inputs {
        warehouse.delete(&warehouse.path(&input.path)).await?;
        pause();
    }
    manifest.finished_at = Some(Utc::now());
    move_to(warehouse, &mut manifest, State::Done).await
}

/// Writes the manifest in its next state, then removes the previous state's name.
async fn move_to(
    warehouse: &Warehouse,
    manifest: &mut Manifest,
    state: State,
) -> anyhow::Result<()> {
    let previous = manifest.relative_path();
    manifest.state = state;
    save(warehouse, manifest, Some(&previous)).await?;
    pause();
    Ok(())
}

async fn save(
    warehouse: &Warehouse,
    manifest: &Manifest,
    previous: Option<&str>,
) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(manifest).expect("manifests serialize");
    let path = manifest_path(
        &manifest.table,
        &manifest.partition,
        &manifest.id,
        manifest.state,
    );
    warehouse.put(&warehouse.path(&path), json.into()).await?;
    if let Some(previous) = previous {
        warehouse.delete(&warehouse.path(previous)).await?;
    }
    Ok(())
}

/// Streams every input into outputs of about `target_size`; returns them (as listed) and
/// the rows written, which must be the rows read.
async fn write_outputs(
    warehouse: &Warehouse,
    manifest: &Manifest,
    target_size: u64,
) -> anyhow::Result<(Vec<FileInfo>, u64)> {
    let store = warehouse.store().clone();
    let props = writer_properties()?
        .into_builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut schema: Option<SchemaRef> = None;
    let mut writer: Option<AsyncArrowWriter<BufWriter>> = None;
    let mut held: Option<HeldByKind> = None;
    let mut written: Vec<String> = Vec::new();
    let (mut rows_read, mut rows_written) = (0u64, 0u64);
    for input in &manifest.inputs {
        // One input (smaller than the target) in memory at a time; its rows stream out.
        let bytes = store
            .get(&warehouse.path(&input.path))
            .await
            .with_context(|| format!("reading {}", input.path))?
            .bytes()
            .await?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .with_context(|| format!("reading {}", input.path))?;
        let file_schema = builder.schema().clone();
        match &schema {
            Some(first) if first.fields() != file_schema.fields() => bail!(
                "{} has another schema than {}: not compacting {} (rewrite it first)",
                input.path,
                manifest.inputs[0].path,
                manifest.partition
            ),
            Some(_) => {}
            None => schema = Some(file_schema.clone()),
        }
        let held = held.get_or_insert_with(|| HeldByKind::new(&file_schema, ROW_GROUP_ROWS));
        for batch in builder.build()? {
            let batch = batch.with_context(|| format!("reading {}", input.path))?;
            rows_read += batch.num_rows() as u64;
            let out = match &mut writer {
                Some(out) => out,
                None => {
                    let path = output_path(manifest, written.len());
                    let object = BufWriter::new(store.clone(), warehouse.path(&path));
                    written.push(path);
                    writer.insert(AsyncArrowWriter::try_new(
                        object,
                        file_schema.clone(),
                        Some(props.clone()),
                    )?)
                }
            };
            write_row_groups(out, held.push(batch)?).await?;
            if (out.bytes_written() + out.in_progress_size()) as u64 >= target_size {
                write_row_groups(out, held.drain()).await?;
                rows_written += close(writer.take()).await?;
                pause();
            }
        }
    }
    if let (Some(out), Some(held)) = (&mut writer, &mut held) {
        write_row_groups(out, held.drain()).await?;
    }
    rows_written += close(writer.take()).await?;
    if rows_written != rows_read {
        bail!("wrote {rows_written} rows of {rows_read} read: not committing");
    }
    let mut outputs = Vec::new();
    for path in written {
        let meta = store.head(&warehouse.path(&path)).await?;
        outputs.push(FileInfo {
            path,
            size: meta.size,
            etag: meta.e_tag,
        });
    }
    Ok((outputs, rows_written))
}

/// Each group of batches as a row group of its own.
async fn write_row_groups(
    out: &mut AsyncArrowWriter<BufWriter>,
    row_groups: Vec<Vec<arrow::record_batch::RecordBatch>>,
) -> anyhow::Result<()> {
    for batches in row_groups {
        for batch in &batches {
            out.write(batch).await?;
        }
        out.flush().await?;
    }
    Ok(())
}

async fn close(writer: Option<AsyncArrowWriter<BufWriter>>) -> anyhow::Result<u64> {
    match writer {
        Some(writer) => Ok(writer.close().await?.file_metadata().num_rows() as u64),
        None => Ok(0),
    }
}

/// Tests make kills land between steps: `STICKERLAKE_COMPACT_PAUSE_MS` sleeps after each.
fn pause() {
    if let Some(ms) = std::env::var("STICKERLAKE_COMPACT_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}
