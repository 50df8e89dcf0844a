//! Commits: what a change adds and removes, planned against the loaded snapshot and
//! retried while other writers commit first (see the guarantees in [`super`]).

use std::collections::HashMap;
use std::time::Duration;

use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{Action, Add, LogicalFileView, Transaction};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use serde_json::Value;

use super::{delta_error, NewFile};
use crate::warehouse::{Warehouse, WarehouseError};

/// How long a commit keeps trying while other writers win the race, unless the warehouse
/// says otherwise ([`Warehouse::with_commit_timeout`]; `tailer --commit-timeout`).
pub const DEFAULT_COMMIT_TIMEOUT: Duration = Duration::from_secs(600);

/// The pause after a first lost race, at most; doubled after each one, up to
/// [`BACKOFF_CAP`].
const BACKOFF_BASE: Duration = Duration::from_millis(25);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// The pause before attempt `attempt` (1 after the first lost race): "full jitter", drawn
/// uniformly (`unit` in [0, 1)) between 0 and `base`·2^(attempt-1), capped at `cap`.
/// Writers that lost the same race then spread out instead of colliding again in step, and
/// a crowded log is given room in proportion to how crowded it is. Pure.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1 << exponent).min(cap);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// What a commit does to a table.
#[derive(Debug, Clone)]
pub enum Change {
    /// Adds files; with transactions `(app, version)`, once for those versions of those
    /// apps (a tailer's flush has one; a committer's fold of staged flushes, one per tailer).
    Append {
        files: Vec<NewFile>,
        txns: Vec<(String, i64)>,
        /// The caller knows `txns` are not in the table yet (it alone commits as those apps
        /// and has looked): the first attempt skips looking them up, a replay of the log.
        txn_is_new: bool,
    },
    /// Replaces every file of the partitions `values` by `files` (a job re-run for days).
    ReplacePartitions {
        column: String,
        values: Vec<String>,
        files: Vec<NewFile>,
    },
    /// Replaces `removed` (paths relative to the warehouse) by `added` without changing a
    /// row (`dataChange = false`): compaction.
    Rewrite {
        removed: Vec<String>,
        added: Vec<NewFile>,
    },
    /// Replaces `removed` by `added`, which hold their rows but the deleted ones
    /// (`dataChange = true`, a Delta `DELETE`): `forget`. `what` describes the deletion in
    /// the log (never the deleted values).
    Delete {
        removed: Vec<String>,
        added: Vec<NewFile>,
        what: String,
    },
}

impl Change {
    /// The files it adds.
    fn added(&self) -> &[NewFile] {
        match self {
            Change::Append { files, .. } | Change::ReplacePartitions { files, .. } => files,
            Change::Rewrite { added, .. } | Change::Delete { added, .. } => added,
        }
    }
}

/// How a commit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// As this version of the table.
    Version(u64),
    /// The transaction was in the table already (an earlier attempt or run committed it).
    AlreadyCommitted,
    /// A file to replace is no longer in the table (another writer replaced it): nothing
    /// was committed.
    Superseded,
}

/// A commit's actions, its operation, its transactions, and the rows it removes.
type Planned = (Vec<Action>, DeltaOperation, Vec<Transaction>, u64);

impl Warehouse {
    /// The version of `app`'s last committed transaction in the table.
    pub async fn transaction_version(
        &self,
        table: &str,
        delta: &DeltaTable,
        app: &str,
    ) -> Result<Option<i64>, WarehouseError> {
        let state = delta.snapshot().map_err(|e| delta_error(self, table, e))?;
        state
            .transaction_version(delta.log_store().as_ref(), app)
            .await
            .map_err(|e| delta_error(self, table, e))
    }

    /// Commits `change` to `delta` (reloading it and trying again while other writers
    /// commit first), with `info` in the commit's `commitInfo`.
    pub async fn commit(
        &self,
        table: &str,
        delta: &mut DeltaTable,
        change: &Change,
        info: serde_json::Map<String, Value>,
    ) -> Result<Committed, WarehouseError> {
        if let Some(wrong) = change.added().iter().find_map(NewFile::disagreement) {
            let reason = format!("not committing an add that does not describe its file: {wrong}");
            return Err(delta_error(self, table, reason));
        }
        let deadline = std::time::Instant::now() + self.commit_timeout;
        // An append is planned against the log as it is now, not as this writer last left
        // it: among a fleet of tailers, others have committed since, and a commit built on
        // the old version would lose its race for certain. Reading the new commits costs one
        // listing, as a lost race does.
        if matches!(change, Change::Append { .. }) {
            delta
                .update_state()
                .await
                .map_err(|e| delta_error(self, table, e))?;
        }
        for attempt in 0u32.. {
            if attempt > 0 {
                self.lost_races
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let pause = backoff(attempt, BACKOFF_BASE, BACKOFF_CAP, rand::random::<f64>());
                if std::time::Instant::now() + pause > deadline {
                    let reason = format!(
                        "{attempt} attempts to commit lost to other writers within {}; run again (or raise --commit-timeout)",
                        crate::units::human_seconds(self.commit_timeout.as_secs() as i64)
                    );
                    return Err(delta_error(self, table, reason));
                }
                tokio::time::sleep(pause).await;
                delta
                    .update_state()
                    .await
                    .map_err(|e| delta_error(self, table, e))?;
            }
            let Some((actions, operation, txns, removed_rows)) =
                self.plan(table, delta, change, attempt == 0).await?
            else {
                return Ok(match change {
                    Change::Append { .. } => Committed::AlreadyCommitted,
                    _ if holds_all(table, delta, change.added())
                        .map_err(|e| delta_error(self, table, e))? =>
                    {
                        Committed::AlreadyCommitted
                    }
                    _ => Committed::Superseded,
                });
            };
            let mut info = info.clone();
            // As Delta writers fill it; delta-rs adds `num_retries` (races lost) to it.
            let removed_files = actions
                .iter()
                .filter(|a| matches!(a, Action::Remove(_)))
                .count();
            let metrics = operation_metrics(change.added(), removed_files, removed_rows);
            info.insert("operationMetrics".into(), metrics);
            if let Some(Value::Object(ours)) = info.get_mut("stickerlake") {
                ours.insert("rowsRemoved".into(), removed_rows.into());
                // Attempts above 1 lost the race to another writer: the log's contention.
                ours.insert("attempt".into(), (attempt + 1).into());
            }
            // A lost race comes back here, to back off: delta-rs would retry at once.
            let retries = 0;
            // Expired log entries are cleaned at checkpoints, below: delta-rs would list the
            // whole log after every commit.
            let mut properties = CommitProperties::default()
                .with_max_retries(retries)
                .with_cleanup_expired_logs(Some(false))
                .with_metadata(info);
            if !txns.is_empty() {
                properties = properties.with_application_transactions(txns);
            }
            let state = delta.snapshot().map_err(|e| delta_error(self, table, e))?;
            let result = CommitBuilder::from(properties)
                .with_actions(actions)
                .build(Some(state), delta.log_store(), operation)
                .await;
            match result {
                Ok(done) => {
                    // The state after the commit, as delta-rs brought it up to date.
                    delta.state = Some(done.snapshot());
                    let version = done.version();
                    if version % SNAPSHOT_RELOAD_EVERY == SNAPSHOT_RELOAD_EVERY - 1 {
                        if let Some(fresh) = self.open_delta(table).await? {
                            *delta = fresh;
                        }
                        // The commit stands whatever the cleanup meets; `vacuum` cleans too.
                        if let Err(e) = self.clean_expired_log(table, delta).await {
                            eprintln!("warning: expired log entries of {table} not removed: {e}");
                        }
                    }
                    return Ok(Committed::Version(version));
                }
                Err(DeltaTableError::Transaction {
                    source:
                        TransactionError::MaxCommitAttempts(_)
                        | TransactionError::VersionAlreadyExists(_)
                        | TransactionError::CommitConflict(_),
                }) => continue,
                Err(e) => return Err(delta_error(self, table, e)),
            }
        }
        unreachable!("the attempts end in a return")
    }

    /// The actions of `change` against the loaded snapshot; `None` when there is nothing to
    /// commit (the transaction is in already, or a file to replace is gone).
    async fn plan(
        &self,
        table: &str,
        delta: &DeltaTable,
        change: &Change,
        first_attempt: bool,
    ) -> Result<Option<Planned>, WarehouseError> {
        let state = delta.snapshot().map_err(|e| delta_error(self, table, e))?;
        // An attempt whose commit landed but whose answer was lost (a cut connection): the
        // table holds its new files already. (Appends find their `txn` instead.)
        let replaces = !matches!(change, Change::Append { .. });
        if replaces
            && !first_attempt
            && holds_all(table, delta, change.added()).map_err(|e| delta_error(self, table, e))?
        {
            return Ok(None);
        }
        let partition_by = Some(state.metadata().partition_columns().to_vec());
        let adds = |files: &[NewFile], data_change: bool| -> Vec<Action> {
            files
                .iter()
                .map(|f| Action::Add(add_action(table, f, data_change)))
                .collect()
        };
        // Removes `removed` and adds `added`, only while every file to remove is still in
        // the table (another writer may have replaced one).
        let replacing = |removed: &[String], added: &[NewFile], data_change: bool| {
            let prefix = format!("{table}/");
            let wanted: std::collections::HashSet<&str> = removed
                .iter()
                .map(|p| p.strip_prefix(&prefix).unwrap_or(p))
                .collect();
            let replaced: Vec<_> = state
                .log_data()
                .iter()
                .filter(|view| wanted.contains(view.path().as_ref()))
                .collect();
            let (mut actions, rows) = removals(&replaced, data_change);
            if actions.len() != wanted.len() {
                return None;
            }
            actions.extend(adds(added, data_change));
            Some((actions, rows))
        };
        Ok(Some(match change {
            Change::Append {
                files,
                txns,
                txn_is_new,
            } => {
                if !(first_attempt && *txn_is_new) {
                    let mut done = 0;
                    for (app, version) in txns {
                        let committed = self.transaction_version(table, delta, app).await?;
                        done += usize::from(committed.is_some_and(|v| v >= *version));
                    }
                    if done == txns.len() && done > 0 {
                        return Ok(None);
                    }
                    if done > 0 {
                        let reason = "another writer committed some of these flushes: \
                                      is a second committer running against this warehouse?";
                        return Err(delta_error(self, table, reason));
                    }
                }
                let now = Some(chrono::Utc::now().timestamp_millis());
                let txns = txns
                    .iter()
                    .map(|(app, version)| Transaction::new_with_last_update(app, *version, now))
                    .collect();
                let operation = DeltaOperation::Write {
                    mode: SaveMode::Append,
                    partition_by,
                    predicate: None,
                };
                (adds(files, true), operation, txns, 0)
            }
            Change::ReplacePartitions {
                column,
                values,
                files,
            } => {
                let replaced: Vec<_> = state
                    .log_data()
                    .iter()
                    .filter(|view| {
                        let value = view.partition_values_map().get(column).cloned().flatten();
                        value.is_some_and(|value| values.contains(&value))
                    })
                    .collect();
                let (mut actions, rows) = removals(&replaced, true);
                actions.extend(adds(files, true));
                let operation = DeltaOperation::Write {
                    mode: SaveMode::Overwrite,
                    partition_by,
                    predicate: Some(partitions_predicate(column, values)),
                };
                (actions, operation, Vec::new(), rows)
            }
            Change::Rewrite { removed, added } => {
                let Some((actions, rows)) = replacing(removed, added, false) else {
                    return Ok(None);
                };
                let size = added.iter().map(|f| f.size).max().unwrap_or(0);
                let operation = DeltaOperation::Optimize {
                    predicate: None,
                    target_size: size as i64,
                };
                (actions, operation, Vec::new(), rows)
            }
            Change::Delete {
                removed,
                added,
                what,
            } => {
                let Some((actions, rows)) = replacing(removed, added, true) else {
                    return Ok(None);
                };
                let operation = DeltaOperation::Delete {
                    predicate: Some(what.clone()),
                };
                (actions, operation, Vec::new(), rows)
            }
        }))
    }
}

/// Whether the loaded table holds every one of `files` (paths relative to the warehouse;
/// never true of none). Their names are new to each writer, so only its own commit adds them.
fn holds_all(table: &str, delta: &DeltaTable, files: &[NewFile]) -> Result<bool, DeltaTableError> {
    if files.is_empty() {
        return Ok(false);
    }
    let prefix = format!("{table}/");
    let wanted: std::collections::HashSet<&str> = files
        .iter()
        .map(|f| f.path.strip_prefix(&prefix).unwrap_or(&f.path))
        .collect();
    let state = delta.snapshot()?;
    let held = state
        .log_data()
        .iter()
        .filter(|view| wanted.contains(view.path().as_ref()))
        .count();
    Ok(held == wanted.len())
}

/// A table a writer keeps open is loaded afresh at every version ending in 99, the ones
/// with a log checkpoint: delta-rs brings a snapshot up to date by adding each commit to
/// what it holds and going over all of it again, so a long-lived writer (a following
/// tailer: 8,640 commits a day at 10 s) would get slower and bigger with every commit
/// (200,000 lines in flushes of 500: 52 ms a flush over 400 commits, 25 ms over 100).
/// From the checkpoint, a load is the size of the table, not of its history.
const SNAPSHOT_RELOAD_EVERY: u64 = 100;

/// The SQL predicate of an overwrite of partitions `values`, as Spark writes it:
/// `event_date = '2026-11-23'`, or `event_date IN ('2026-11-22', '2026-11-23')`.
fn partitions_predicate(column: &str, values: &[String]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect();
    match quoted.as_slice() {
        [one] => format!("{column} = {one}"),
        _ => format!("{column} IN ({})", quoted.join(", ")),
    }
}

/// The `remove` actions of `files`, and the rows they held.
fn removals(files: &[LogicalFileView], data_change: bool) -> (Vec<Action>, u64) {
    let rows = files.iter().filter_map(|f| f.num_records()).sum::<usize>();
    let actions = files
        .iter()
        .map(|f| Action::Remove(f.remove_action(data_change)))
        .collect();
    (actions, rows as u64)
}

/// `operationMetrics` of a commit, in Delta's names (values as strings, as Spark writes them).
fn operation_metrics(added: &[NewFile], removed_files: usize, removed_rows: u64) -> Value {
    let rows: u64 = added
        .iter()
        .filter_map(|f| f.stats.as_deref())
        .filter_map(|s| serde_json::from_str::<Value>(s).ok()?["numRecords"].as_u64())
        .sum();
    let mut metrics = serde_json::json!({
        "numFiles": added.len().to_string(),
        "numOutputRows": rows.to_string(),
        "numOutputBytes": added.iter().map(|f| f.size).sum::<u64>().to_string(),
    });
    if removed_files != 0 {
        metrics["numRemovedFiles"] = removed_files.to_string().into();
        metrics["numRemovedRows"] = removed_rows.to_string().into();
    }
    metrics
}

/// The `add` action of a file written under `table/`.
pub(super) fn add_action(table: &str, file: &NewFile, data_change: bool) -> Add {
    let prefix = format!("{table}/");
    Add {
        path: file
            .path
            .strip_prefix(&prefix)
            .unwrap_or(&file.path)
            .to_owned(),
        partition_values: HashMap::from([(
            file.partition.0.clone(),
            Some(file.partition.1.clone()),
        )]),
        size: file.size as i64,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change,
        stats: file.stats.clone(),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_full_jitter() {
        let (base, cap) = (Duration::from_millis(25), Duration::from_secs(5));
        assert_eq!(backoff(1, base, cap, 0.5), Duration::from_micros(12_500));
        assert_eq!(backoff(3, base, cap, 0.5), Duration::from_millis(50));
        assert_eq!(backoff(20, base, cap, 0.5), Duration::from_millis(2500));
        assert_eq!(backoff(u32::MAX, base, cap, 1.0), cap);
        assert_eq!(backoff(4, base, cap, 0.0), Duration::ZERO);
        // Drawn uniformly below the ceiling: the mean of many draws is half of it.
        let draws = (0..1000).map(|i| backoff(5, base, cap, i as f64 / 1000.0));
        let mean = draws.sum::<Duration>() / 1000;
        assert!((mean.as_millis() as i64 - 200).abs() <= 1, "{mean:?}");
    }
}
