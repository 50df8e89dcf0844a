//! Writing a flush: the checkpoint with a `pending` record, the data files, the Delta
//! commits, then the checkpoint that covers them (see [`crate::contract::checkpoint`]).
//!
//! The driver runs one write at a time, in flush order, on a task of its own, so the next
//! batch is read and encoded while a flush's files upload and commit: the [`Writer`] owns
//! what a write changes (the saved checkpoint, the open tables) and goes back to the driver
//! when the write ends.
//!
//! Every step of a write can be done again (the same files under the same names, commits
//! with the flush's transaction), so a following tailer whose write the store refused tries
//! the whole write again after a pause, until it succeeds or the tailer is stopped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};

use super::batch::Output;
use super::commit::{land_flush, Landing, TailerTables};
use super::observe::{Observed, TableLabel};
use super::say;
use super::sizes::PARALLEL_UPLOADS;
use super::state::StateStore;
use crate::contract::checkpoint::{Checkpoint, FileCheckpoint, Progress};
use crate::warehouse::delta::{backoff, NewFile};
use crate::warehouse::Warehouse;

/// Pauses between attempts at a refused write: up to 2 s after the first, doubling, at most
/// 30 s (full jitter), so a store that comes back is written to within about 30 s.
const RETRY_BASE: Duration = Duration::from_secs(2);
const RETRY_CAP: Duration = Duration::from_secs(30);

/// One flush to write: its number, its batch being encoded, the offsets it covers, the
/// watermark.
pub struct Flush {
    pub seq: u64,
    pub outputs: futures::channel::oneshot::Receiver<parquet::errors::Result<Vec<Output>>>,
    pub files: BTreeMap<String, FileCheckpoint>,
    pub progress: Progress,
}

pub struct Writer {
    pub warehouse: Warehouse,
    pub state: StateStore,
    pub tables: TailerTables,
    pub landing: Landing,
    pub id: String,
    /// As last saved.
    pub checkpoint: Checkpoint,
    pub files_written: u64,
    pub bytes_written: u64,
    pub observed: Arc<Observed>,
    /// With `--follow`: the stop flag; a refused write is tried again until it is raised.
    pub retry_until: Option<Arc<AtomicBool>>,
}

impl Writer {
    /// Writes `flush`, then the checkpoint that covers it (with no data, the checkpoint
    /// still refreshes the watermark).
    pub async fn write(&mut self, flush: Flush) -> anyhow::Result<()> {
        let started = Instant::now();
        let outputs = flush
            .outputs
            .await
            .context("the Parquet encoder stopped")?
            .context("encoding Parquet")?;
        let paths = outputs.iter().map(|o| o.path.clone()).collect();
        let mut next = self.checkpoint.begin(flush.seq, paths, flush.files);
        next.progress = Some(flush.progress);
        next.retired_at = None;
        let files = outputs
            .iter()
            .map(|o| NewFile::from_bytes(&o.path, &o.bytes))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)
            .context("reading back an encoded file")?;
        let mut attempt = 0;
        let committed = loop {
            match self.attempt(flush.seq, &next, &outputs, &files).await {
                Ok(committed) => break committed,
                Err(e) => {
                    self.observed.write_failed(&e);
                    let Some(stop) = self.retry_until.clone() else {
                        return Err(e);
                    };
                    attempt += 1;
                    let pause = backoff(attempt, RETRY_BASE, RETRY_CAP, rand::random::<f64>())
                        .max(Duration::from_millis(200));
                    say::warn(format!(
                        "writing a flush failed (attempt {attempt}; trying again in {:.1} s): {e:#}",
                        pause.as_secs_f64()
                    ));
                    if !pause_unless_stopped(pause, &stop).await {
                        return Err(e.context("stopped while the warehouse refused writes"));
                    }
                }
            }
        };
        for output in &outputs {
            self.files_written += 1;
            self.bytes_written += output.bytes.len() as u64;
        }
        let metrics = &self.observed.metrics;
        for (table, rows) in committed {
            let label = TableLabel {
                table: table.to_owned(),
            };
            metrics.commits.get_or_create(&label).inc();
            metrics.committed_rows.get_or_create(&label).inc_by(rows);
        }
        metrics
            .flush_duration
            .0
            .observe(started.elapsed().as_secs_f64());
        self.observed.committed(&self.checkpoint);
        self.observed.write_succeeded(Utc::now());
        Ok(())
    }

    /// One attempt at the whole write; the checkpoint it saved last becomes the writer's.
    async fn attempt(
        &mut self,
        seq: u64,
        next: &Checkpoint,
        outputs: &[Output],
        files: &[NewFile],
    ) -> anyhow::Result<Vec<(&'static str, u64)>> {
        // Nothing is written before the tables are known to be Delta tables.
        self.tables.reopen_if_failed(&self.warehouse);
        self.tables.wait_open().await?;
        let mut committed = Vec::new();
        if !outputs.is_empty() {
            self.state.save(next).await?;
            self.upload(outputs.to_vec()).await?;
            committed = land_flush(
                &self.warehouse,
                &mut self.tables,
                self.landing,
                &self.id,
                seq,
                files.to_vec(),
            )
            .await?;
        }
        let done = next.committed();
        self.state.save(&done).await?;
        self.checkpoint = done;
        Ok(committed)
    }

    async fn upload(&self, outputs: Vec<Output>) -> anyhow::Result<()> {
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

/// Waits `pause`, or less if `stop` is raised; whether it was not.
async fn pause_unless_stopped(pause: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + pause;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100).min(until - Instant::now())).await;
    }
    !stop.load(Ordering::Relaxed)
}
