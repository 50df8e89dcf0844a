//! `stickerlake vacuum`: deletes the data files no Delta snapshot within the retention
//! needs. `compact` and `run` never delete (readers of an older snapshot may still be reading
//! the files they replace, and `sql --as-of` reads them); this is the one command that does.

use anyhow::bail;
use clap::Args;

use crate::contract::is_table_name;
use crate::units::parse_duration;
use crate::warehouse::Warehouse;

/// Delta's own default (`delta.deletedFileRetentionDuration`): readers and time travel of
/// the last week keep working.
const DEFAULT_RETENTION_DAYS: i64 = 7;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake vacuum --dry-run                 # what would be deleted, every table
  stickerlake vacuum --table raw_events
  stickerlake vacuum --retain 1d --force       # under 7 days: older snapshots become unreadable
Deletes files removed by commits older than the retention, and files no commit ever added
(a killed flush's or compaction's) written before it. Time travel (`sql --as-of`) reaches back
only as far as the retention.")]
pub struct VacuumArgs {
    /// Only this table (default: every table).
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Keep every file a snapshot of this long ago still needs (e.g. 7d, 36h).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub retain: chrono::Duration,
    /// Say what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Allow a retention under 7 days: queries and writers that started before it may fail.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(args: VacuumArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    if args.retain < chrono::Duration::days(DEFAULT_RETENTION_DAYS) && !args.force {
        bail!(
            "--retain {}h is under {DEFAULT_RETENTION_DAYS} days: a query or writer still reading an older snapshot (or a tailer whose flush is not committed yet) could lose its files; add --force if none can be",
            args.retain.num_hours()
        );
    }
    // Staged files are in no log until the committer folds them: they must outlive a vacuum.
    if let Some(oldest) = warehouse.oldest_staged().await? {
        if oldest < chrono::Utc::now() - args.retain {
            bail!(
                "flushes staged since {} are not committed yet, and their files would look unused: \
                 run `stickerlake committer` first",
                crate::units::utc_seconds(oldest)
            );
        }
    }
    let tables = match &args.table {
        Some(table) => vec![table.clone()],
        None => warehouse
            .list_folders("")
            .await?
            .into_iter()
            .filter(|name| is_table_name(name))
            .collect(),
    };
    for table in tables {
        if !warehouse.is_delta_table(&table).await? {
            if args.table.is_some() {
                bail!(
                    "{table} in warehouse {} is not a Delta table: nothing to vacuum (a warehouse from before Delta tables needs `stickerlake migrate`)",
                    warehouse.location()
                );
            }
            continue;
        }
        let files = warehouse.vacuum(&table, args.retain, args.dry_run).await?;
        let verb = if args.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        println!("vacuum: {table}: {verb} {} file(s)", files.len());
        if args.dry_run {
            for file in &files {
                println!("  {file}");
            }
        }
    }
    Ok(())
}
