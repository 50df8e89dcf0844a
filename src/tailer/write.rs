//! Writing a flush: the checkpoint with a `pending` record, the data files, the Delta
//! commits, then the checkpoint that covers them (see [`crate::contract::checkpoint`]).
//!
//! The driver runs one write at a time, in flush order, on a task of its own, so the next
//! batch is read and encoded while a flush's files upload and commit: the [`Writer`] owns
//! what a write changes (the saved checkpoint, the open tables) and goes back to the driver
//! when the write ends.

use std::collections::BTreeMap;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};

use super::batch::Output;
use super::commit::{commit_flush, TailerTables};
use super::state::StateStore;
use crate::contract::checkpoint::{Checkpoint, FileCheckpoint, Progress, Recovery};
use crate::warehouse::delta::NewFile;
use crate::warehouse::Warehouse;

/// Uploads in flight at once during a flush.
const PARALLEL_UPLOADS: usize = 4;

/// One flush to write: its batch being encoded, the offsets it covers, the watermark.
pub struct Flush {
    pub outputs: futures::channel::oneshot::Receiver<parquet::errors::Result<Vec<Output>>>,
    pub files: BTreeMap<String, FileCheckpoint>,
    pub progress: Progress,
}

pub struct Writer {
    pub warehouse: Warehouse,
    pub state: StateStore,
    pub tables: TailerTables,
    pub id: String,
    /// As last saved.
    pub checkpoint: Checkpoint,
    pub files_written: u64,
    pub bytes_written: u64,
}

impl Writer {
    /// Writes `flush`, then the checkpoint that covers it (with no data, the checkpoint
    /// still refreshes the watermark).
    pub async fn write(&mut self, flush: Flush) -> anyhow::Result<()> {
        // Nothing is written before the tables are known to be Delta tables.
        self.tables.wait_open().await?;
        let outputs = flush
            .outputs
            .await
            .context("the Parquet encoder stopped")?
            .context("encoding Parquet")?;
        let paths = outputs.iter().map(|o| o.path.clone()).collect();
        let mut next = self.checkpoint.begin(paths, flush.files);
        next.progress = Some(flush.progress);
        next.retired_at = None;
        if !outputs.is_empty() {
            let files = outputs
                .iter()
                .map(|o| NewFile::from_bytes(&o.path, &o.bytes))
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)
                .context("reading back an encoded file")?;
            self.state.save(&next).await?;
            self.upload(outputs).await?;
            let seq = next.pending.as_ref().map_or(next.seq, |p| p.seq);
            commit_flush(&self.warehouse, &mut self.tables, &self.id, seq, files).await?;
        }
        next.recover(&Recovery::RollForward);
        self.state.save(&next).await?;
        self.checkpoint = next;
        Ok(())
    }

    async fn upload(&mut self, outputs: Vec<Output>) -> anyhow::Result<()> {
        for output in &outputs {
            self.files_written += 1;
            self.bytes_written += output.bytes.len() as u64;
        }
        let warehouse = &self.warehouse;
        futures::stream::iter(outputs)
            .map(|output| async move {
                warehouse
                    .put(&warehouse.path(&output.path), output.bytes)
                    .await
            })
            .buffer_unordered(PARALLEL_UPLOADS)
            .try_collect::<Vec<()>>()
            .await
            .context("writing the batch (it will be retried on the next run)")?;
        Ok(())
    }
}
