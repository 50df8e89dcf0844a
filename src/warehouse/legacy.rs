//! What a warehouse written before Delta tables left besides its data: the compaction
//! records `_compactions/<table>/<column>=<value>/<id>.<state>.json`, whose state moved
//! `pending` (outputs being written) → `committed` (outputs complete, inputs being deleted)
//! → `done`. `stickerlake migrate` reads them to convert each table to exactly the files a
//! reader of the old warehouse saw; nothing else reads them.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, Result};
use serde::{Deserialize, Serialize};

use super::{join, relative, FileInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Committed,
    Done,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Committed => "committed",
            State::Done => "done",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [State::Pending, State::Committed, State::Done]
            .into_iter()
            .find(|state| state.name() == name)
    }
}

/// The record of one compaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub table: String,
    /// The partition folder, e.g. `event_date=2026-11-21`.
    pub partition: String,
    pub state: State,
    pub started_at: DateTime<Utc>,
    pub committed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub inputs: Vec<FileInfo>,
    /// Every output's path starts with this (`…/part-compact-<id>-`): while pending, any
    /// such file is hidden, however far the writing got.
    pub output_prefix: String,
    /// As written (sizes, tags); empty while pending.
    pub outputs: Vec<FileInfo>,
    pub rows: u64,
}

/// `(id, state)` of a manifest's file name.
fn parse_name(name: &str) -> Option<(&str, State)> {
    let (id, state) = name.strip_suffix(".json")?.rsplit_once('.')?;
    Some((id, State::from_name(state)?))
}

/// The latest state of each compaction among manifest paths (a state change leaves two
/// names for a moment: the later wins).
pub fn latest_states<'a>(
    paths: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, (State, &'a str)> {
    let mut latest: BTreeMap<String, (State, &str)> = BTreeMap::new();
    for path in paths {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        let Some((id, state)) = parse_name(name) else {
            continue;
        };
        let key = format!("{folder}/{id}");
        if latest.get(&key).is_none_or(|(seen, _)| *seen < state) {
            latest.insert(key, (state, path));
        }
    }
    latest
}

/// What listings must not show: a pending compaction's outputs, a committed one's inputs.
#[derive(Debug, Default)]
pub struct Hidden {
    files: HashSet<String>,
    prefixes: Vec<String>,
}

impl Hidden {
    pub fn of(manifests: &[Manifest]) -> Self {
        let mut hidden = Self::default();
        for manifest in manifests {
            match manifest.state {
                State::Pending => hidden.prefixes.push(manifest.output_prefix.clone()),
                State::Committed => hidden
                    .files
                    .extend(manifest.inputs.iter().map(|f| f.path.clone())),
                State::Done => {}
            }
        }
        hidden
    }

    /// Whether the file at `relative` (to the warehouse) is hidden.
    pub fn hides(&self, relative: &str) -> bool {
        self.files.contains(relative) || self.prefixes.iter().any(|p| relative.starts_with(p))
    }
}

/// Reads the manifests under `prefix` (relative paths of a store rooted at `root`), each in
/// its latest state; `only_active` skips done ones without reading them.
pub async fn read_manifests(
    store: &dyn ObjectStore,
    root: &Path,
    prefix: &str,
    only_active: bool,
) -> Result<Vec<Manifest>> {
    let names = manifest_names(store, root, prefix).await?;
    let mut manifests = Vec::new();
    for (state, path) in latest_states(names.iter().map(String::as_str)).into_values() {
        if only_active && state == State::Done {
            continue;
        }
        let location = join(root, path);
        let bytes = match store.get(&location).await {
            Ok(found) => found.bytes().await?,
            // Moved on to its next state since the listing: the caller lists again.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let manifest =
            serde_json::from_slice(&bytes).map_err(|e| object_store::Error::Generic {
                store: "stickerlake",
                source: format!("{location}: not a compaction manifest: {e}").into(),
            })?;
        manifests.push(manifest);
    }
    Ok(manifests)
}

/// The manifest paths (relative to `root`) under `prefix`, sorted.
pub async fn manifest_names(
    store: &dyn ObjectStore,
    root: &Path,
    prefix: &str,
) -> Result<Vec<String>> {
    let location = join(root, prefix);
    let mut names: Vec<String> = store
        .list(Some(&location))
        .map_ok(|meta| relative(root, &meta.location))
        .try_collect()
        .await?;
    names.sort();
    Ok(names)
}
