//! `stickerlake compact`: merges a day's small files of a tailer table into few large ones,
//! streaming (a few row groups in memory at a time), without changing a row. Rows stay in
//! row groups by event type, as the tailer writes them ([`crate::warehouse::HeldByKind`]).
//!
//! Protocol, per day:
//! 1. take the day's files from the table's latest Delta snapshot (files of a flush that
//!    has not committed are not in it, so they are never merged);
//! 2. write the outputs (`part-compact-<id>-NNNN.parquet`), invisible to every reader;
//! 3. commit one Delta `OPTIMIZE`: the inputs removed, the outputs added, `dataChange =
//!    false`, only while every input is still in the table. A compactor that lost the race
//!    to another one deletes its outputs and commits nothing: rows are never doubled.
//!
//! Nothing is deleted from the table's folder: the inputs stay for readers of older
//! snapshots until `stickerlake vacuum` removes them. A compactor killed before its commit
//! leaves outputs that no snapshot names; `vacuum` removes those too.

use std::time::Duration;

use anyhow::{bail, Context};
use arrow::datatypes::SchemaRef;
use chrono::{NaiveDate, Utc};
use clap::Args;
use object_store::buffered::BufWriter;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::AsyncArrowWriter;
use parquet::file::metadata::ParquetMetaData;
use serde_json::json;

use crate::contract::Table;
use crate::dates::{days, parse_date};
use crate::progress;
use crate::units::{parse_duration, parse_size};
use crate::warehouse::delta::{Change, Committed, NewFile};
use crate::warehouse::{partition_dir, writer_properties, FileInfo, HeldByKind, Warehouse};

/// Rows per row group of a compacted file, at most; memory holds about four row groups.
const ROW_GROUP_ROWS: usize = 128 * 1024;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake compact                          # the 7 days before today, raw_events
  stickerlake compact --date 2026-11-23 --target-size 128MiB
  stickerlake compact --from 2026-11-01 --to 2026-11-23 --table quarantine
Compaction does not change rows: every Delta reader sees every row once throughout, and a
compacted day does not become stale. Compactors may overlap: one wins, the others commit
nothing. Old files stay for readers of older snapshots until `stickerlake vacuum`.")]
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
    /// Accepted for old crontabs: `stickerlake vacuum` now removes replaced files.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, hide = true)]
    pub delete_after: Option<chrono::Duration>,
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
    if args.delete_after.is_some() {
        eprintln!(
            "compact: --delete-after is no longer needed: compaction deletes nothing, `stickerlake vacuum` removes replaced files once no snapshot within the retention needs them"
        );
    }
    let range = days(from, to);
    let bar = progress::count_bar(range.len() as u64, "compact");
    for day in range {
        let done = compact_day(&warehouse, table, day, args.target_size).await?;
        bar.suspend(|| println!("compact: {} {day}: {done}", table.name()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Compacts one day; says what it did.
async fn compact_day(
    warehouse: &Warehouse,
    table: Table,
    day: NaiveDate,
    target_size: u64,
) -> anyhow::Result<String> {
    let Some(mut delta) = warehouse.open_delta(table.name()).await? else {
        return Ok("no table yet".to_owned());
    };
    let snapshot = warehouse.snapshot(table.name(), &delta)?;
    let inputs: Vec<FileInfo> = snapshot
        .files
        .iter()
        .filter(|f| {
            f.partition.as_deref() == Some(day.to_string().as_str()) && f.size < target_size
        })
        .map(FileInfo::from)
        .collect();
    if inputs.len() < 2 {
        return Ok("nothing to merge".to_owned());
    }
    let id = format!(
        "{}-{:08x}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>()
    );
    let prefix = format!(
        "{}/part-compact-{id}-",
        partition_dir(table.name(), table.partition_column(), day)
    );
    pause();
    let (outputs, rows) = write_outputs(warehouse, &inputs, &prefix, target_size).await?;
    pause();
    let change = Change::Rewrite {
        removed: inputs.iter().map(|f| f.path.clone()).collect(),
        added: outputs.clone(),
    };
    let info = json!({"writer": "compact", "id": id, "rows": rows});
    let info = serde_json::Map::from_iter([("stickerlake".to_owned(), info)]);
    let bytes = |sizes: &mut dyn Iterator<Item = u64>| indicatif::HumanBytes(sizes.sum());
    match warehouse
        .commit(table.name(), &mut delta, &change, info)
        .await?
    {
        Committed::Version(version) => Ok(format!(
            "{} files ({}) -> {} ({}), {rows} rows, committed as version {version}",
            inputs.len(),
            bytes(&mut inputs.iter().map(|f| f.size)),
            outputs.len(),
            bytes(&mut outputs.iter().map(|f| f.size))
        )),
        Committed::AlreadyCommitted => Ok(format!(
            "{} files -> {}, {rows} rows, committed (the store's answer was lost; the table holds the outputs)",
            inputs.len(),
            outputs.len(),
        )),
        Committed::Superseded => {
            for output in &outputs {
                warehouse.delete(&warehouse.path(&output.path)).await?;
            }
            Ok("another writer compacted these files first: nothing committed".to_owned())
        }
    }
}

/// Streams every input into outputs of about `target_size`; returns them, described for
/// their commit from the footers the writer returned, and the rows written, which must be
/// the rows read.
async fn write_outputs(
    warehouse: &Warehouse,
    inputs: &[FileInfo],
    prefix: &str,
    target_size: u64,
) -> anyhow::Result<(Vec<NewFile>, u64)> {
    let store = warehouse.store().clone();
    let props = writer_properties()?
        .into_builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut schema: Option<SchemaRef> = None;
    let mut writer: Option<AsyncArrowWriter<BufWriter>> = None;
    let mut held: Option<HeldByKind> = None;
    let mut written: Vec<String> = Vec::new();
    let mut footers: Vec<(u64, ParquetMetaData)> = Vec::new();
    let (mut rows_read, mut rows_written) = (0u64, 0u64);
    for input in inputs {
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
                "{} has another schema than {}: not compacting its day (rewrite it first)",
                input.path,
                inputs[0].path,
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
                    let path = format!("{prefix}{:04}.parquet", written.len());
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
                rows_written += close(writer.take(), &mut footers).await?;
                pause();
            }
        }
    }
    if let (Some(out), Some(held)) = (&mut writer, &mut held) {
        write_row_groups(out, held.drain()).await?;
    }
    rows_written += close(writer.take(), &mut footers).await?;
    if rows_written != rows_read {
        bail!("wrote {rows_written} rows of {rows_read} read: not committing");
    }
    let mut outputs = Vec::new();
    for (path, (size, footer)) in written.iter().zip(&footers) {
        let output = NewFile::written(path, *size, footer).map_err(anyhow::Error::msg)?;
        warehouse.check_stored(&output).await?;
        outputs.push(output);
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

/// Closes the output being written, keeping its size (the bytes the writer wrote, not what
/// the store reports) and footer; returns its rows.
async fn close(
    writer: Option<AsyncArrowWriter<BufWriter>>,
    footers: &mut Vec<(u64, ParquetMetaData)>,
) -> anyhow::Result<u64> {
    let Some(mut writer) = writer else {
        return Ok(0);
    };
    let footer = writer.finish().await?;
    let rows = footer.file_metadata().num_rows() as u64;
    footers.push((writer.bytes_written() as u64, footer));
    Ok(rows)
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
