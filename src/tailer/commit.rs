//! A flush's Delta commits: one per table it wrote (`raw_events`, `quarantine`), each with
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
use crate::warehouse::Warehouse;

/// The tables a tailer commits to, opened (or created) once, before anything is written:
/// a table folder holding data but no log is a warehouse to migrate, not a new table.
pub struct TailerTables {
    open: BTreeMap<&'static str, DeltaTable>,
}

impl TailerTables {
    pub async fn open(warehouse: &Warehouse) -> anyhow::Result<Self> {
        let mut open = BTreeMap::new();
        for table in Table::ALL {
            let delta = warehouse
                .open_or_create_delta(table.name(), table.schema(), table.partition_column())
                .await?;
            let delta = warehouse
                .add_missing_columns(table.name(), delta, table.schema())
                .await?;
            open.insert(table.name(), delta);
        }
        Ok(Self { open })
    }
}

/// Commits flush `seq` of tailer `id` (its `files`, all written) to every table they belong
/// to. Returns whether anything new was committed.
pub async fn commit_flush(
    warehouse: &Warehouse,
    tables: &mut TailerTables,
    id: &str,
    seq: u64,
    files: Vec<NewFile>,
) -> anyhow::Result<bool> {
    let mut by_table: BTreeMap<&str, Vec<NewFile>> = BTreeMap::new();
    for file in &files {
        by_table
            .entry(table_of(&file.path))
            .or_default()
            .push(file.clone());
    }
    let mut committed_any = false;
    for (name, files) in by_table {
        let table = Table::from_name(name)
            .with_context(|| format!("a tailer wrote {}: not a tailer table", files[0].path))?;
        let delta = tables
            .open
            .get_mut(table.name())
            .expect("every tailer table is open");
        let info = json!({
            "writer": "tailer",
            "tailerId": id,
            "flush": seq,
            "files": files.len(),
        });
        let change = Change::Append {
            files,
            txn: Some((id.to_owned(), seq as i64)),
        };
        let info = serde_json::Map::from_iter([("stickerlake".to_owned(), info)]);
        let outcome = warehouse
            .commit(table.name(), delta, &change, info)
            .await
            .with_context(|| {
                format!("committing flush {seq} (it will be retried on the next run)")
            })?;
        committed_any |= matches!(outcome, Committed::Version(_));
    }
    Ok(committed_any)
}
