//! Where a tailer's checkpoint lives: in the warehouse under `_state/tailer/` (the default,
//! so a new warehouse starts from the beginning of the logs), or in a local `--state-dir`.
//!
//! Two tailers with the same id must not interleave flushes; when the checkpoint is on local
//! disk an OS file lock (released by the kernel even after `kill -9`) enforces that.

use std::fs::{File, TryLockError};

use anyhow::{bail, Context};
use bytes::Bytes;

use super::checkpoint::Checkpoint;
use crate::warehouse::{Location, Warehouse};

pub struct StateStore {
    store: Warehouse,
    relative: String,
    _lock: Option<File>,
}

impl StateStore {
    /// Opens (and, on local disk, locks) the checkpoint of tailer `id`.
    pub fn open(warehouse: &Warehouse, state_dir: Option<&str>, id: &str) -> anyhow::Result<Self> {
        let (store, relative) = match state_dir {
            Some(dir) => (Warehouse::open(dir)?, format!("tailer-{id}.json")),
            None => (warehouse.clone(), format!("_state/tailer/{id}.json")),
        };
        let lock = match store.location() {
            Location::Local(dir) => Some(lock(&dir.join(format!("{relative}.lock")), id)?),
            Location::S3 { .. } => None,
        };
        Ok(Self {
            store,
            relative,
            _lock: lock,
        })
    }

    pub fn describe(&self) -> String {
        format!("{}/{}", self.store.location(), self.relative)
    }

    pub async fn load(&self, id: &str) -> anyhow::Result<Checkpoint> {
        let path = self.store.path(&self.relative);
        match self.store.get_if_exists(&path).await? {
            None => Ok(Checkpoint::new(id)),
            Some(bytes) => Checkpoint::from_json(&bytes).map_err(|reason| {
                anyhow::anyhow!(
                    "checkpoint {}: {reason}; move it aside to re-ingest from the start",
                    self.describe()
                )
            }),
        }
    }

    pub async fn save(&self, checkpoint: &Checkpoint) -> anyhow::Result<()> {
        let path = self.store.path(&self.relative);
        self.store
            .put(&path, Bytes::from(checkpoint.to_json()))
            .await
            .context("saving the tailer checkpoint")
    }
}

fn lock(path: &std::path::Path, id: &str) -> anyhow::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the state folder {}", dir.display()))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => bail!(
            "another tailer with id {id:?} is running (it holds {}); wait for it, or give each \
             concurrent tailer its own --tailer-id",
            path.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}
