//! `stickerlake history TABLE`: a table's commits from its Delta log, newest first: version,
//! time, operation, files and rows added and removed, and the writer (tailer id, job,
//! compact, or another engine). The JSON (`--format json`) is an array of objects with
//! those fields: `version`, `time`, `operation`, `writer`, `files_added`, `files_removed`,
//! `rows_added`, `rows_removed` (rows are null where the log does not say).

use anyhow::bail;
use clap::{Args, ValueEnum};

use crate::contract::paths::DELTA_LOG;
use crate::output::SmallTable;
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
        HistoryFormat::Table => as_table(&commits).print(&mut out)?,
    }
    Ok(())
}

fn as_table(commits: &[CommitSummary]) -> SmallTable {
    SmallTable::new()
        .count("version", commits.iter().map(|c| c.version))
        .text("time", commits.iter().map(|c| c.time.clone()))
        .text("operation", commits.iter().map(|c| c.operation.clone()))
        .text("writer", commits.iter().map(|c| c.writer.clone()))
        .count("files_added", commits.iter().map(|c| c.files_added))
        .count("files_removed", commits.iter().map(|c| c.files_removed))
        .count("rows_added", commits.iter().map(|c| c.rows_added))
        .count("rows_removed", commits.iter().map(|c| c.rows_removed))
}
