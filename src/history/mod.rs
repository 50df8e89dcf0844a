//! `stickerlake history TABLE`: a table's commits from its Delta log, newest first: version,
//! time, operation, files and rows added and removed, and the writer (tailer id, job,
//! compact, or another engine). The JSON (`--format json`) is an array of objects with
//! those fields: `version`, `time`, `operation`, `writer`, `files_added`, `files_removed`,
//! `rows_added`, `rows_removed` (rows are null where the log does not say).

use std::sync::Arc;

use anyhow::bail;
use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use clap::{Args, ValueEnum};

use crate::contract::paths::DELTA_LOG;
use crate::output::{write_results, Format};
use crate::warehouse::delta::CommitSummary;
use crate::warehouse::Warehouse;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake history raw_events
  stickerlake history search_term_daily --limit 5 --format json
A version is what `sql --as-of VERSION` reads (versions of raw_events).")]
pub struct HistoryArgs {
    /// The table (a warehouse folder: raw_events, quarantine, a job's output).
    pub table: String,
    /// The newest N commits.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    #[arg(long, value_enum, default_value = "table")]
    pub format: HistoryFormat,
}

pub async fn run(args: HistoryArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let Some(commits) = warehouse.history(&args.table, args.limit as usize).await? else {
        bail!(
            "{} in warehouse {} is not a Delta table (no {}/{DELTA_LOG}): check the name; a warehouse from before Delta tables needs `stickerlake migrate`",
            args.table,
            warehouse.location(),
            args.table
        );
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        HistoryFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &commits)?;
            use std::io::Write;
            writeln!(out)?;
        }
        HistoryFormat::Table => {
            let batch = as_batch(&commits)?;
            write_results(&mut out, Format::Table, batch.schema(), &[batch])?;
        }
    }
    Ok(())
}

fn as_batch(commits: &[CommitSummary]) -> anyhow::Result<RecordBatch> {
    let strings = |f: fn(&CommitSummary) -> Option<String>| {
        Arc::new(StringArray::from(commits.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let numbers = |f: fn(&CommitSummary) -> Option<u64>| {
        Arc::new(UInt64Array::from(commits.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let fields = [
        ("version", DataType::UInt64),
        ("time", DataType::Utf8),
        ("operation", DataType::Utf8),
        ("writer", DataType::Utf8),
        ("files_added", DataType::UInt64),
        ("files_removed", DataType::UInt64),
        ("rows_added", DataType::UInt64),
        ("rows_removed", DataType::UInt64),
    ];
    let schema = Schema::new(
        fields
            .iter()
            .map(|(name, kind)| Field::new(*name, kind.clone(), true))
            .collect::<Vec<_>>(),
    );
    let columns = vec![
        numbers(|c| Some(c.version)),
        strings(|c| c.time.clone()),
        strings(|c| Some(c.operation.clone())),
        strings(|c| Some(c.writer.clone())),
        numbers(|c| Some(c.files_added)),
        numbers(|c| Some(c.files_removed)),
        numbers(|c| c.rows_added),
        numbers(|c| c.rows_removed),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}
