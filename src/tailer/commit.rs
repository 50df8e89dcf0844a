//! A flush's Delta commits: one per table it wrote (`raw_events`, `quarantine`, and
//! `violations` with a tracking plan), each with
//! the transaction `(appId = tailer id, version = flush number)`.
//!
//! The files are written first and committed after every one of them is durable; a
//! commit whose transaction is already in the table is skipped. So a flush interrupted
//! anywhere is finished by committing again ([`commit_flush`] is idempotent), and a flush
//! whose files never all landed was committed to no table and is rolled back.

use std::collections::BTreeMap;

use anyhow::Context;
use deltalake_core::DeltaTable;
use serde_json::json;

use crate::contract::Table;
use crate::warehouse::delta::{table_of, Change, Committed, NewFile};
use crate::warehouse::staging::StagedFlush;
use crate::warehouse::Warehouse;

/// How a flush's files reach the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// Committed by the tailer itself.
    Commit,
    /// Staged for `stickerlake committer` (`tailer --stage`).
    Stage,
}

/// Lands flush `seq` of tailer `id` (its `files`, all written): commits or stages it. Returns
/// the rows of each table it committed anew (none when staged).
pub async fn land_flush(
    warehouse: &Warehouse,
    tables: &mut TailerTables,
    landing: Landing,
    id: &str,
    seq: u64,
    files: Vec<NewFile>,
) -> anyhow::Result<Vec<(&'static str, u64)>> {
    match landing {
        Landing::Commit => commit_flush(warehouse, tables, id, seq, files).await,
        Landing::Stage => {
            tables.wait_open().await?;
            let flush = StagedFlush {
                tailer_id: id.to_owned(),
                flush: seq,
                files,
            };
            warehouse.stage(&flush).await.with_context(|| {
                format!("staging flush {seq} (it will be retried on the next run)")
            })?;
            Ok(Vec::new())
        }
    }
}

/// The tables a tailer commits to, opened (or created) once, on a task of their own while
/// the first lines are read; the first write waits for them, before it writes anything (a
/// table folder holding data but no log is a warehouse to migrate, not a new table).
pub struct TailerTables {
    state: Opening,
    with_plan: bool,
}

type OpenTables = BTreeMap<&'static str, OpenTable>;

enum Opening {
    Pending(tokio::task::JoinHandle<anyhow::Result<OpenTables>>),
    Open(OpenTables),
    /// Why they could not be opened (said again to any later caller).
    Failed(String),
}

struct OpenTable {
    delta: DeltaTable,
    /// The last flush number this process found committed to the table: a later one is
    /// known to be new, as only this process commits as this tailer (it holds the lock).
    committed: Option<u64>,
}

impl TailerTables {
    /// Starts opening the tables; `violations` too with a tracking plan, or when it exists
    /// (a flush interrupted before may hold violations to commit).
    pub fn open(warehouse: Warehouse, with_plan: bool) -> Self {
        let task = tokio::spawn(async move { open_tables(&warehouse, with_plan).await });
        Self {
            state: Opening::Pending(task),
            with_plan,
        }
    }

    /// Starts opening them again if they could not be opened (the store was down): a
    /// writer that tries a flush again tries this again too.
    pub fn reopen_if_failed(&mut self, warehouse: &Warehouse) {
        if matches!(self.state, Opening::Failed(_)) {
            *self = Self::open(warehouse.clone(), self.with_plan);
        }
    }

    /// Waits until the tables are open (or could not be).
    pub async fn wait_open(&mut self) -> anyhow::Result<()> {
        self.ready().await.map(|_| ())
    }

    /// The open tables, once they are.
    async fn ready(&mut self) -> anyhow::Result<&mut OpenTables> {
        if let Opening::Pending(task) = &mut self.state {
            let opened = task.await.context("opening the tables stopped");
            self.state = match opened.and_then(|result| result) {
                Ok(open) => Opening::Open(open),
                Err(e) => Opening::Failed(format!("{e:#}")),
            };
        }
        match &mut self.state {
            Opening::Open(open) => Ok(open),
            Opening::Failed(why) => anyhow::bail!("{why}"),
            Opening::Pending(_) => unreachable!("just awaited"),
        }
    }
}

async fn open_tables(warehouse: &Warehouse, with_plan: bool) -> anyhow::Result<OpenTables> {
    let mut wanted = vec![Table::RawEvents, Table::Quarantine];
    if with_plan || warehouse.is_delta_table(Table::Violations.name()).await? {
        wanted.push(Table::Violations);
    }
    let opened = wanted.into_iter().map(|table| async move {
        let delta = warehouse
            .open_or_create_delta(table.name(), table.schema(), table.partition_column())
            .await?;
        let delta = warehouse
            .add_missing_columns(table.name(), delta, table.schema())
            .await?;
        let committed = None;
        anyhow::Ok((table.name(), OpenTable { delta, committed }))
    });
    let open = futures::future::try_join_all(opened).await?;
    Ok(open.into_iter().collect())
}

/// Commits flush `seq` of tailer `id` (its `files`, all written) to every table they belong
/// to, the tables at once. Returns the rows of each table it committed anew (none for a
/// table that held the flush already).
async fn commit_flush(
    warehouse: &Warehouse,
    tables: &mut TailerTables,
    id: &str,
    seq: u64,
    files: Vec<NewFile>,
) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let open = tables.ready().await?;
    let mut by_table: BTreeMap<&str, Vec<NewFile>> = BTreeMap::new();
    for file in files {
        let Some((&table, _)) = open.get_key_value(table_of(&file.path)) else {
            anyhow::bail!("a tailer wrote {}: not a tailer table", file.path);
        };
        by_table.entry(table).or_default().push(file);
    }
    let commits = open.iter_mut().filter_map(|(&name, table)| {
        let files = by_table.remove(name)?;
        Some(async move {
            let rows: u64 = files.iter().map(|f| f.rows).sum();
            let info = json!({
                "writer": "tailer",
                "tailerId": id,
                "flush": seq,
                "files": files.len(),
            });
            let change = Change::Append {
                files,
                txns: vec![(id.to_owned(), seq as i64)],
                txn_is_new: table.committed.is_some_and(|last| seq > last),
            };
            let info = serde_json::Map::from_iter([("stickerlake".to_owned(), info)]);
            let outcome = warehouse
                .commit(name, &mut table.delta, &change, info)
                .await
                .with_context(|| {
                    format!("committing flush {seq} (it will be retried on the next run)")
                })?;
            if table.committed.is_none() {
                // Once per process: what commits killed before it left in the log.
                warehouse
                    .remove_interrupted_commits(name)
                    .with_context(|| format!("cleaning {name}'s Delta log"))?;
            }
            table.committed = Some(seq);
            anyhow::Ok(matches!(outcome, Committed::Version(_)).then_some((name, rows)))
        })
    });
    let committed = futures::future::try_join_all(commits).await?;
    Ok(committed.into_iter().flatten().collect())
}
