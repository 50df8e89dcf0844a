//! Staged flushes, for fleets: a tailer run with `--stage` writes a flush's data files as
//! usual, then, instead of committing them, a manifest of them under
//! `_staging/<tailer id>/<flush number>.json`; `stickerlake committer` folds every staged
//! flush into one commit per table and interval, whatever the number of tailers.
//!
//! Exactly once rests on the tables' transactions, as for a tailer's own commits: a fold
//! commits, per table, the transaction `(tailer id, its last flush folded)`, and a manifest
//! whose flush a table already holds is skipped. A manifest is deleted only once every
//! table holds it, so a committer killed anywhere finishes on its next pass. A tailer stages
//! its flushes one at a time, in order, so a listing that shows flush n shows every staged
//! flush before it.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::delta::NewFile;
use super::{Warehouse, WarehouseError};
use crate::contract::paths::STAGING_DIR;

/// One staged flush: what a tailer's commit would have added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedFlush {
    pub tailer_id: String,
    pub flush: u64,
    pub files: Vec<NewFile>,
}

/// Manifests read at once.
const PARALLEL_READS: usize = 16;

impl StagedFlush {
    /// Where its manifest lives (flush numbers padded, so a listing is in flush order).
    pub fn manifest_path(&self) -> String {
        format!("{STAGING_DIR}/{}/{:020}.json", self.tailer_id, self.flush)
    }
}

/// Tailer id of a manifest path `_staging/<id>/<flush>.json` (pure).
pub fn tailer_of(manifest: &str) -> Option<&str> {
    let rest = manifest.strip_prefix(STAGING_DIR)?.strip_prefix('/')?;
    let (id, name) = rest.split_once('/')?;
    name.ends_with(".json").then_some(id)
}

impl Warehouse {
    /// Writes the manifest of `flush` (again, identically, when a write is retried).
    pub async fn stage(&self, flush: &StagedFlush) -> Result<(), WarehouseError> {
        let json = serde_json::to_vec(flush).expect("a manifest serializes");
        self.put(&self.path(&flush.manifest_path()), Bytes::from(json))
            .await
    }

    /// How many staged flushes each tailer has waiting (one listing).
    pub async fn staged_counts(&self) -> Result<BTreeMap<String, usize>, WarehouseError> {
        let mut counts = BTreeMap::new();
        for path in self.list_objects_under(STAGING_DIR).await? {
            if let Some(id) = tailer_of(&path) {
                *counts.entry(id.to_owned()).or_default() += 1;
            }
        }
        Ok(counts)
    }

    /// How many flushes tailer `id` has staged and not yet folded (one listing).
    pub async fn staged_of(&self, id: &str) -> Result<usize, WarehouseError> {
        let folder = format!("{STAGING_DIR}/{id}");
        let paths = self.list_objects_under(&folder).await?;
        Ok(paths.iter().filter(|p| tailer_of(p) == Some(id)).count())
    }

    /// When the oldest staged flush was staged, if any is.
    pub async fn oldest_staged(&self) -> Result<Option<DateTime<Utc>>, WarehouseError> {
        let prefix = self.path(STAGING_DIR);
        let metas: Vec<object_store::ObjectMeta> = self
            .store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| self.read_error(&prefix, source))?;
        Ok(metas.iter().map(|meta| meta.last_modified).min())
    }

    /// Every staged flush with its manifest's path, in (tailer, flush) order.
    pub async fn staged(&self) -> anyhow::Result<Vec<(String, StagedFlush)>> {
        let paths: Vec<String> = self
            .list_objects_under(STAGING_DIR)
            .await?
            .into_iter()
            .filter(|path| tailer_of(path).is_some())
            .collect();
        let mut read: Vec<(String, StagedFlush)> = futures::stream::iter(paths)
            .map(|path| async move {
                let at = self.path(&path);
                let Some((bytes, _)) = self.get_versioned(&at).await? else {
                    // Folded and deleted by a committer since the listing.
                    return Ok(None);
                };
                let flush = serde_json::from_slice(&bytes).map_err(|e| {
                    anyhow::anyhow!(
                        "staged flush {path} in {}: {e}; move it aside to go on (its files \
                         stay uncommitted)",
                        self.location()
                    )
                })?;
                anyhow::Ok(Some((path, flush)))
            })
            .buffered(PARALLEL_READS)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        read.sort_by(|a, b| (&a.1.tailer_id, a.1.flush).cmp(&(&b.1.tailer_id, b.1.flush)));
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_named_by_tailer_and_padded_flush() {
        let flush = StagedFlush {
            tailer_id: "web-1".into(),
            flush: 42,
            files: Vec::new(),
        };
        let path = flush.manifest_path();
        assert_eq!(path, "_staging/web-1/00000000000000000042.json");
        assert_eq!(tailer_of(&path), Some("web-1"));
        assert_eq!(tailer_of("_staging/web-1/x.tmp"), None);
        assert_eq!(tailer_of("_state/tailer/web-1.json"), None);
    }
}
