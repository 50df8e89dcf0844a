//! Where a tailer's checkpoint lives: in the warehouse under `_state/tailer/` (the default,
//! so a new warehouse starts from the beginning of the logs), or in a local `--state-dir`.
//!
//! Two tailers with the same id must not interleave flushes. On local disk an OS file lock
//! (released by the kernel even after `kill -9`) enforces that; on S3 every checkpoint write
//! is conditional on the version this tailer last read or wrote (`If-Match`), so a second
//! tailer with the same id fails instead of overwriting. Hosts with different ids never
//! share a checkpoint or a file name.

use std::fs::{File, TryLockError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use object_store::{PutMode, UpdateVersion};

use crate::contract::checkpoint::Checkpoint;
use crate::contract::paths::TAILER_STATE_DIR;
use crate::warehouse::{retry_window, Location, Warehouse};

pub struct StateStore {
    store: Warehouse,
    relative: String,
    id: String,
    _lock: Option<File>,
    /// The checkpoint's version as last read or written (S3 only), `None` if there is none.
    version: Option<UpdateVersion>,
}

impl StateStore {
    /// Opens (and, on local disk, locks) the checkpoint of tailer `id`.
    pub fn open(warehouse: &Warehouse, state_dir: Option<&str>, id: &str) -> anyhow::Result<Self> {
        let (store, relative) = match state_dir {
            Some(dir) => (Warehouse::open(dir)?, format!("tailer-{id}.json")),
            None => (warehouse.clone(), format!("{TAILER_STATE_DIR}/{id}.json")),
        };
        let lock = match store.location() {
            Location::Local(dir) => Some(lock(&dir.join(format!("{relative}.lock")), id)?),
            Location::S3 { .. } => None,
        };
        Ok(Self {
            store,
            relative,
            id: id.to_owned(),
            _lock: lock,
            version: None,
        })
    }

    pub fn describe(&self) -> String {
        format!("{}/{}", self.store.location(), self.relative)
    }

    pub async fn load(&mut self) -> anyhow::Result<Checkpoint> {
        let path = self.store.path(&self.relative);
        match self.store.get_versioned(&path).await? {
            None => Ok(Checkpoint::new(&self.id)),
            Some((bytes, version)) => {
                self.version = Some(version);
                Checkpoint::from_json(&bytes).map_err(|reason| {
                    anyhow::anyhow!(
                        "checkpoint {}: {reason}; move it aside to re-ingest from the start",
                        self.describe()
                    )
                })
            }
        }
    }

    pub async fn save(&mut self, checkpoint: &Checkpoint) -> anyhow::Result<()> {
        let path = self.store.path(&self.relative);
        let json = Bytes::from(checkpoint.to_json());
        if self.store.location().is_local() {
            // Serialized by the file lock; local disk has no conditional update.
            return self
                .store
                .put(&path, json)
                .await
                .context("saving the tailer checkpoint");
        }
        // object_store does not retry a conditional PUT that timed out (it cannot tell its own
        // landed write from a conflict); this can, by comparing content, so it retries here.
        let deadline = Instant::now() + retry_window();
        let mut pause = Duration::from_millis(100);
        loop {
            let mode = match &self.version {
                Some(version) => PutMode::Update(version.clone()),
                None => PutMode::Create,
            };
            let error = match self.store.put_if(&path, json.clone(), mode).await {
                Ok(version) => {
                    self.version = Some(version);
                    return Ok(());
                }
                Err(
                    e @ (object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. }),
                ) => e,
                Err(e) if Instant::now() < deadline => {
                    super::say::warn(format!("retrying the checkpoint write: {e}"));
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                    continue;
                }
                Err(e) => {
                    return Err(self.store.write_error(&path, e))
                        .context("saving the tailer checkpoint")
                }
            };
            // A write of ours that landed although its answer was lost looks like a conflict.
            if let Some((current, version)) = self.store.get_versioned(&path).await? {
                if current == json {
                    self.version = Some(version);
                    return Ok(());
                }
            }
            return Err(error).with_context(|| {
                format!(
                    "checkpoint {} was changed by someone else: is another tailer with id {:?} \
                     running against this warehouse? Give each host its own --tailer-id",
                    self.describe(),
                    self.id
                )
            });
        }
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
