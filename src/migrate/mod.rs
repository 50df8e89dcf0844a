//! `stickerlake migrate`: converts, in place, a warehouse written before its tables were
//! Delta tables. Each table folder without a `_delta_log/` becomes a Delta table whose
//! version 0 adds exactly the files a reader of the old warehouse saw:
//! - a pending legacy compaction's outputs are left out (it never committed), a committed
//!   one's inputs too (its outputs replaced them);
//! - the files of a tailer's interrupted flush are left out: that tailer's next run
//!   commits them (once) or removes them, as its recovery decides.
//!
//! Version 0 is one atomic commit, so a `migrate` killed anywhere is simply run again:
//! converted tables are skipped. Files left out stay in the folders until `vacuum`.
//! The legacy compaction records (`_compactions/`) are deleted once every table is
//! converted: nothing reads them any more. A Delta table of an older schema gains the
//! newer columns (a metadata commit; older rows read as null).

use std::collections::HashSet;

use anyhow::{bail, Context};
use clap::Args;
use futures::{StreamExt, TryStreamExt};

use crate::completeness::tailers;
use crate::contract::paths::LEGACY_COMPACTIONS_DIR;
use crate::contract::{is_table_name, Table};
use crate::warehouse::legacy::{read_manifests, Hidden};
use crate::warehouse::Warehouse;

/// Footers read at once while describing a table's files.
const PARALLEL_READS: usize = 8;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake migrate --dry-run     # what would be converted
  stickerlake migrate
  stickerlake --warehouse s3://lake/prod migrate
Stop tailers, jobs and compactions first; run it again after any interruption.")]
pub struct MigrateArgs {
    /// Say what would be converted, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(args: MigrateArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let in_flight: HashSet<String> = tailers(&warehouse)
        .await?
        .into_iter()
        .filter_map(|t| t.pending)
        .flat_map(|p| p.outputs)
        .collect();
    let mut legacy_left = false;
    for name in warehouse.list_folders("").await? {
        if !is_table_name(&name) {
            continue;
        }
        if warehouse.is_delta_table(&name).await? {
            // A table of an older schema gains the newer columns (nothing is rewritten).
            if let (Some(table), false) = (Table::from_name(&name), args.dry_run) {
                let delta = warehouse.open_delta(&name).await?.expect("a Delta table");
                warehouse
                    .add_missing_columns(&name, delta, table.schema())
                    .await?;
            }
            println!("migrate: {name}: already a Delta table");
            continue;
        }
        let hidden = Hidden::of(
            &read_manifests(
                warehouse.raw_store().as_ref(),
                &warehouse.path(""),
                &format!("{LEGACY_COMPACTIONS_DIR}/{name}"),
                true,
            )
            .await?,
        );
        let files: Vec<String> = data_files(&warehouse, &name)
            .await?
            .into_iter()
            .filter(|path| !hidden.hides(path) && !in_flight.contains(path))
            .collect();
        let Some(column) = partition_column(&name, &files)? else {
            println!("migrate: {name}: no data files, nothing to convert");
            continue;
        };
        if args.dry_run {
            println!(
                "migrate: {name}: would convert {} file(s), partitioned by {column}",
                files.len()
            );
            legacy_left = true;
            continue;
        }
        convert(&warehouse, &name, &column, &files).await?;
    }
    if !legacy_left && !args.dry_run {
        for path in warehouse.list_objects_under(LEGACY_COMPACTIONS_DIR).await? {
            warehouse.delete(&warehouse.path(&path)).await?;
        }
    }
    Ok(())
}

/// Every `table/column=value/*.parquet` (hidden and staging files aside), sorted.
async fn data_files(warehouse: &Warehouse, table: &str) -> anyhow::Result<Vec<String>> {
    let mut files: Vec<String> = warehouse
        .list_objects_under(table)
        .await?
        .into_iter()
        .filter(|path| {
            let parts: Vec<&str> = path.split('/').collect();
            parts.len() == 3
                && parts[1].contains('=')
                && parts[2].ends_with(".parquet")
                && !parts[2].starts_with(['_', '.'])
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The one partition column of a table's files; `None` when it has no files.
fn partition_column(table: &str, files: &[String]) -> anyhow::Result<Option<String>> {
    let mut columns: Vec<&str> = files
        .iter()
        .filter_map(|f| f.split('/').nth(1)?.split_once('=').map(|(c, _)| c))
        .collect();
    columns.dedup();
    match columns.as_slice() {
        [] => Ok(None),
        [column] => Ok(Some((*column).to_owned())),
        _ => bail!("{table}: its folders are partitioned by several columns ({columns:?}); move the odd ones out first"),
    }
}

async fn convert(
    warehouse: &Warehouse,
    table: &str,
    column: &str,
    files: &[String],
) -> anyhow::Result<()> {
    let schema = match Table::from_name(table) {
        Some(known) => known.schema().clone(),
        None => warehouse.file_schema(&files[0]).await?,
    };
    let described = futures::stream::iter(files)
        .map(|path| warehouse.describe_file(path))
        .buffered(PARALLEL_READS)
        .try_collect::<Vec<_>>()
        .await
        .with_context(|| format!("reading the footers of {table}'s files"))?;
    let rows: u64 = described
        .iter()
        .filter_map(|f| f.stats.as_deref())
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(s).ok()?["numRecords"].as_u64())
        .sum();
    warehouse
        .create_delta(table, &schema, column, described)
        .await?;
    println!(
        "migrate: {table}: now a Delta table of {} file(s), {rows} rows, partitioned by {column}",
        files.len()
    );
    Ok(())
}
