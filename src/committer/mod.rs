//! `stickerlake committer`: folds the flushes a fleet's tailers staged (`tailer --stage`)
//! into one commit per table and pass, so the log takes one commit per interval whatever
//! the number of hosts (as Iceberg's Kafka Connect sink does). See
//! [`crate::warehouse::staging`] for why it commits each flush exactly once.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use deltalake_core::DeltaTable;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use crate::units::parse_interval;
use crate::warehouse::delta::{table_of, Change, Committed, NewFile};
use crate::warehouse::staging::StagedFlush;
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake --warehouse s3://lake/prod committer --follow --interval 10s
  stickerlake committer            # one pass: commit what is staged now, then exit
Tailers run with `tailer --stage` write their files and a manifest of each flush under
_staging/; each pass commits every staged flush, one commit per table, with each tailer's
transaction, then deletes the manifests. Run one committer per warehouse: a second one's
commits conflict with the first's and are refused.")]
pub struct CommitterArgs {
    /// Keep running, one pass every --interval; SIGINT/SIGTERM end it after a last pass.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: time between the starts of two passes.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_interval)]
    pub interval: Duration,
    /// A commit that keeps losing races (compaction, `forget`) backs off and tries again for
    /// this long before the pass fails.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_interval)]
    pub commit_timeout: Duration,
}

pub async fn run(args: CommitterArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let warehouse = warehouse.with_commit_timeout(args.commit_timeout);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let mut tables = HashMap::new();
    loop {
        let started = Instant::now();
        let stopping = stop.load(Ordering::SeqCst);
        match fold(&warehouse, &mut tables).await {
            Ok(pass) if pass.flushes > 0 => println!("{}", pass.summary(started.elapsed())),
            Ok(_) => {}
            Err(e) if args.follow && !stopping => {
                // What was not committed stays staged: the next pass tries it again.
                eprintln!("warning: a pass failed (the next one tries again): {e:#}");
                tables.clear();
            }
            Err(e) => return Err(e),
        }
        if !args.follow || stopping {
            return Ok(());
        }
        let next = started + args.interval;
        while Instant::now() < next && !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100).min(next - Instant::now())).await;
        }
    }
}

/// A table the committer keeps open, with the transactions it knows to be in it.
struct Folding {
    delta: DeltaTable,
    /// Last flush per tailer in the table, as of `version` (-1: none).
    flushes: HashMap<String, i64>,
    /// The version this committer last committed or looked at; a table that moved past it
    /// was written by someone else, and what is known is looked up again.
    version: Option<u64>,
}

/// What one pass did.
#[derive(Debug, Default)]
struct Pass {
    flushes: usize,
    tailers: usize,
    /// Per table: rows committed and the new version.
    committed: Vec<(String, u64, u64)>,
}

impl Pass {
    fn summary(&self, took: Duration) -> String {
        let tables: Vec<String> = self
            .committed
            .iter()
            .map(|(table, rows, version)| format!("{table} +{rows} rows (v{version})"))
            .collect();
        format!(
            "committer: {} staged flush(es) of {} tailer(s) in {:.1} s: {}",
            self.flushes,
            self.tailers,
            took.as_secs_f64(),
            if tables.is_empty() {
                "all were committed already".to_owned()
            } else {
                tables.join(", ")
            }
        )
    }
}

/// One pass: every staged flush committed (once), then its manifest deleted.
async fn fold(
    warehouse: &Warehouse,
    tables: &mut HashMap<String, Folding>,
) -> anyhow::Result<Pass> {
    let staged = warehouse.staged().await?;
    let mut pass = Pass {
        flushes: staged.len(),
        ..Pass::default()
    };
    if staged.is_empty() {
        return Ok(pass);
    }
    let flushes: Vec<&StagedFlush> = staged.iter().map(|(_, flush)| flush).collect();
    pass.tailers = flushes
        .iter()
        .map(|f| &f.tailer_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    for (table, by_tailer) in by_table(&flushes) {
        let folding = open(warehouse, tables, table).await?;
        let known = known_flushes(warehouse, table, folding, by_tailer.keys()).await?;
        let (files, txns) = not_yet_in(&by_tailer, &known, table);
        if files.is_empty() {
            continue;
        }
        let rows = files.iter().map(|f| f.rows).sum();
        let info = json!({
            "writer": "committer",
            "flushes": by_tailer.values().map(Vec::len).sum::<usize>(),
            "tailers": txns.len(),
            "files": files.len(),
        });
        let change = Change::Append {
            files,
            txns: txns.clone(),
            txn_is_new: true,
        };
        let info = serde_json::Map::from_iter([("stickerlake".to_owned(), info)]);
        let outcome = warehouse
            .commit(table, &mut folding.delta, &change, info)
            .await
            .with_context(|| format!("committing staged flushes to {table}"))?;
        match outcome {
            Committed::Version(version) => {
                folding.flushes.extend(txns);
                folding.version = Some(version);
                pass.committed.push((table.to_owned(), rows, version));
            }
            // Another writer committed them meanwhile: what is known is stale.
            _ => folding.version = None,
        }
    }
    futures::stream::iter(staged.iter())
        .map(|(path, _)| async move { warehouse.delete(&warehouse.path(path)).await })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .context("deleting the manifests of committed flushes (the next pass skips them)")?;
    Ok(pass)
}

/// The open table `table`, brought up to date.
async fn open<'t>(
    warehouse: &Warehouse,
    tables: &'t mut HashMap<String, Folding>,
    table: &str,
) -> anyhow::Result<&'t mut Folding> {
    if !tables.contains_key(table) {
        let Some(delta) = warehouse.open_delta(table).await? else {
            anyhow::bail!(
                "flushes are staged for {table}, which is not a Delta table in {} (the tailers \
                 create it before they stage: was it deleted?)",
                warehouse.location()
            );
        };
        let folding = Folding {
            delta,
            flushes: HashMap::new(),
            version: None,
        };
        tables.insert(table.to_owned(), folding);
    }
    let folding = tables.get_mut(table).expect("inserted above");
    folding
        .delta
        .update_state()
        .await
        .with_context(|| format!("reading {table}'s Delta log"))?;
    if folding.version != folding.delta.version() {
        folding.flushes.clear();
    }
    Ok(folding)
}

/// The last flush of each of `tailers` in the table: known, or looked up (a replay of the
/// log each, so only after the table moved without this committer).
async fn known_flushes<'a>(
    warehouse: &Warehouse,
    table: &str,
    folding: &mut Folding,
    tailers: impl Iterator<Item = &'a &'a str>,
) -> anyhow::Result<HashMap<String, i64>> {
    let missing: Vec<&str> = tailers
        .copied()
        .filter(|id| !folding.flushes.contains_key(*id))
        .collect();
    let delta = &folding.delta;
    let found: Vec<(String, i64)> = futures::stream::iter(missing)
        .map(|id| async move {
            let version = warehouse.transaction_version(table, delta, id).await?;
            anyhow::Ok((id.to_owned(), version.unwrap_or(-1)))
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    folding.flushes.extend(found);
    folding.version = folding.delta.version();
    Ok(folding.flushes.clone())
}

/// Staged flushes per table, per tailer, in flush order (pure).
fn by_table<'a>(
    flushes: &[&'a StagedFlush],
) -> BTreeMap<&'a str, BTreeMap<&'a str, Vec<&'a StagedFlush>>> {
    let mut tables: BTreeMap<&str, BTreeMap<&str, Vec<&StagedFlush>>> = BTreeMap::new();
    for flush in flushes {
        let mut seen = std::collections::BTreeSet::new();
        for file in &flush.files {
            let table = table_of(&file.path);
            if seen.insert(table) {
                let tailers = tables.entry(table).or_default();
                tailers.entry(&flush.tailer_id).or_default().push(flush);
            }
        }
    }
    for tailers in tables.values_mut() {
        for flushes in tailers.values_mut() {
            flushes.sort_by_key(|f| f.flush);
        }
    }
    tables
}

/// The files of `table` from flushes the table does not hold yet, and each tailer's
/// transaction (its last such flush); `known` has each tailer's last flush in the table
/// (pure).
fn not_yet_in(
    by_tailer: &BTreeMap<&str, Vec<&StagedFlush>>,
    known: &HashMap<String, i64>,
    table: &str,
) -> (Vec<NewFile>, Vec<(String, i64)>) {
    let mut files = Vec::new();
    let mut txns = Vec::new();
    for (&tailer, flushes) in by_tailer {
        let last = known.get(tailer).copied().unwrap_or(-1);
        let new: Vec<&&StagedFlush> = flushes.iter().filter(|f| f.flush as i64 > last).collect();
        let Some(newest) = new.last() else { continue };
        txns.push((tailer.to_owned(), newest.flush as i64));
        for flush in new {
            let mine = flush.files.iter().filter(|f| table_of(&f.path) == table);
            files.extend(mine.cloned());
        }
    }
    (files, txns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, rows: u64) -> NewFile {
        NewFile {
            path: path.into(),
            size: 100,
            rows,
            partition: ("event_date".into(), "2026-12-07".into()),
            stats: None,
        }
    }

    fn flush(tailer: &str, seq: u64, paths: &[&str]) -> StagedFlush {
        StagedFlush {
            tailer_id: tailer.into(),
            flush: seq,
            files: paths.iter().map(|p| file(p, 10)).collect(),
        }
    }

    #[test]
    fn a_fold_takes_each_tailers_flushes_the_table_lacks_with_its_last_as_transaction() {
        let staged = [
            flush("b", 3, &["raw_events/d/b3.parquet"]),
            flush(
                "a",
                2,
                &["raw_events/d/a2.parquet", "quarantine/d/a2.parquet"],
            ),
            flush("a", 1, &["raw_events/d/a1.parquet"]),
            flush("b", 4, &["quarantine/d/b4.parquet"]),
        ];
        let refs: Vec<&StagedFlush> = staged.iter().collect();
        let tables = by_table(&refs);
        assert_eq!(
            tables.keys().copied().collect::<Vec<_>>(),
            ["quarantine", "raw_events"]
        );
        let raw = &tables["raw_events"];
        assert_eq!(raw["a"].iter().map(|f| f.flush).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(raw["b"].iter().map(|f| f.flush).collect::<Vec<_>>(), [3]);

        // Tailer a's flush 1 is in raw_events already (a pass killed before its deletes).
        let known = HashMap::from([("a".to_owned(), 1)]);
        let (files, txns) = not_yet_in(raw, &known, "raw_events");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["raw_events/d/a2.parquet", "raw_events/d/b3.parquet"]
        );
        assert_eq!(txns, [("a".to_owned(), 2), ("b".to_owned(), 3)]);

        // Only the table's own files, with the transaction of its own last flush.
        let (files, txns) = not_yet_in(&tables["quarantine"], &HashMap::new(), "quarantine");
        assert_eq!(files.len(), 2);
        assert_eq!(txns, [("a".to_owned(), 2), ("b".to_owned(), 4)]);

        // Everything held already: nothing to commit.
        let known = HashMap::from([("a".to_owned(), 2), ("b".to_owned(), 9)]);
        assert_eq!(not_yet_in(raw, &known, "raw_events"), (vec![], vec![]));
    }
}
