//! Compactions as every reader sees them. A compaction replaces some of a partition's files
//! (its inputs) by fewer, larger ones (its outputs) and is recorded by a manifest,
//! `_compactions/<table>/<column>=<value>/<id>.<state>.json`, whose state moves
//! `pending` (outputs being written) → `committed` (outputs complete, inputs being deleted)
//! → `done` (inputs gone). A state change writes the next name, then deletes the previous one.
//!
//! [`CompactionView`] wraps the warehouse's store so every listing of a table hides what a
//! compaction in flight would otherwise show twice: the outputs of a pending one, the inputs
//! of a committed one. It lists the manifests before and after the data files and lists
//! again if they changed, so a listing matches one state of each compaction. Every reader
//! (DataFusion, status, lineage, the compactor) goes through it; plain listing readers
//! (DuckDB, Spark) do not, and may see both for the moment between commit and deletion.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use serde::{Deserialize, Serialize};

use super::{join, relative, FileInfo};
use crate::contract::is_table_name;

pub const COMPACTIONS_DIR: &str = "_compactions";

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

impl Manifest {
    /// Where this manifest lives in its current state, relative to the warehouse.
    pub fn relative_path(&self) -> String {
        manifest_path(&self.table, &self.partition, &self.id, self.state)
    }
}

pub fn manifest_path(table: &str, partition: &str, id: &str, state: State) -> String {
    format!(
        "{COMPACTIONS_DIR}/{table}/{partition}/{id}.{}.json",
        state.name()
    )
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

/// Manifest paths left behind by a state change that was interrupted between writing the
/// next state and deleting the previous one (pure).
pub fn superseded<'a>(paths: &[&'a str]) -> Vec<&'a str> {
    let latest: HashSet<&str> = latest_states(paths.iter().copied())
        .into_values()
        .map(|(_, path)| path)
        .collect();
    paths
        .iter()
        .copied()
        .filter(|path| path.ends_with(".json") && !latest.contains(path))
        .collect()
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

/// `listing` as it is after the compactions that replaced files of it (pure): a compaction
/// whose inputs were all in it swaps them for its outputs. Lineage compares a run's
/// recorded input with today's listing through this, so compaction does not make a day stale.
pub fn replay(listing: &[FileInfo], manifests: &[Manifest]) -> Vec<FileInfo> {
    let mut files = listing.to_vec();
    let mut applied: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.state != State::Pending)
        .collect();
    applied.sort_by_key(|m| m.committed_at);
    for manifest in applied {
        if manifest.inputs.iter().all(|input| files.contains(input)) {
            files.retain(|file| !manifest.inputs.contains(file));
            files.extend(manifest.outputs.iter().cloned());
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
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

/// The warehouse's store, with listings of table data that hide compactions in flight.
#[derive(Debug)]
pub struct CompactionView {
    inner: Arc<dyn ObjectStore>,
    root: Path,
}

impl CompactionView {
    pub fn new(inner: Arc<dyn ObjectStore>, root: Path) -> Self {
        Self { inner, root }
    }

    /// The manifests folder for a listing of `prefix`, when it lists table data.
    fn manifests_for(&self, prefix: Option<&Path>) -> Option<String> {
        let relative = relative(&self.root, prefix?);
        let mut parts = relative.split('/');
        let table = parts.next()?;
        let data = is_table_name(table) && parts.all(|p| !p.starts_with(['_', '.']));
        data.then(|| format!("{COMPACTIONS_DIR}/{relative}"))
    }

    /// Runs `list` between two readings of the manifests until they agree, and drops the
    /// hidden files from what it returned.
    async fn consistent<T, F, Fut>(
        inner: Arc<dyn ObjectStore>,
        root: Path,
        manifests: String,
        list: F,
    ) -> Result<(T, Hidden)>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        loop {
            let before = manifest_names(inner.as_ref(), &root, &manifests).await?;
            let listed = list().await?;
            let after = manifest_names(inner.as_ref(), &root, &manifests).await?;
            if before != after {
                continue;
            }
            if before.is_empty() {
                return Ok((listed, Hidden::default()));
            }
            let active = read_manifests(inner.as_ref(), &root, &manifests, true).await?;
            if manifest_names(inner.as_ref(), &root, &manifests).await? != after {
                continue;
            }
            return Ok((listed, Hidden::of(&active)));
        }
    }
}

impl fmt::Display for CompactionView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompactionView({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CompactionView {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let Some(manifests) = self.manifests_for(prefix) else {
            return self.inner.list(prefix);
        };
        let (inner, root, prefix) = (self.inner.clone(), self.root.clone(), prefix.cloned());
        stream::once(async move {
            let list = || inner.list(prefix.as_ref()).try_collect::<Vec<_>>();
            let (objects, hidden) =
                Self::consistent(inner.clone(), root.clone(), manifests, list).await?;
            let visible = objects
                .into_iter()
                .filter(move |o| !hidden.hides(&relative(&root, &o.location)));
            Ok::<_, object_store::Error>(stream::iter(visible.map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let Some(manifests) = self.manifests_for(prefix) else {
            return self.inner.list_with_delimiter(prefix).await;
        };
        let inner = self.inner.clone();
        let list = || inner.list_with_delimiter(prefix);
        let (mut listed, hidden) =
            Self::consistent(self.inner.clone(), self.root.clone(), manifests, list).await?;
        listed
            .objects
            .retain(|o| !hidden.hides(&relative(&self.root, &o.location)));
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> FileInfo {
        FileInfo {
            path: path.into(),
            size: 1,
            etag: None,
        }
    }

    fn manifest(state: State, inputs: &[&str], outputs: &[&str]) -> Manifest {
        Manifest {
            id: "c1".into(),
            table: "raw_events".into(),
            partition: "event_date=2026-11-21".into(),
            state,
            started_at: Utc::now(),
            committed_at: (state != State::Pending).then(Utc::now),
            finished_at: None,
            inputs: inputs.iter().map(|p| file(p)).collect(),
            output_prefix: "d/part-compact-c1-".into(),
            outputs: outputs.iter().map(|p| file(p)).collect(),
            rows: 0,
        }
    }

    #[test]
    fn the_latest_state_of_each_compaction_wins() {
        let latest = latest_states([
            "_compactions/t/d=1/a.pending.json",
            "_compactions/t/d=1/a.committed.json",
            "_compactions/t/d=1/b.pending.json",
            "_compactions/t/d=1/not-a-manifest.txt",
        ]);
        let states: Vec<State> = latest.values().map(|(s, _)| *s).collect();
        assert_eq!(states, [State::Committed, State::Pending]);
        let left = superseded(&[
            "_compactions/t/d=1/a.committed.json",
            "_compactions/t/d=1/a.done.json",
            "_compactions/t/d=1/b.pending.json",
        ]);
        assert_eq!(left, ["_compactions/t/d=1/a.committed.json"]);
    }

    #[test]
    fn a_compaction_in_flight_hides_one_side() {
        let pending = Hidden::of(&[manifest(State::Pending, &["a", "b"], &[])]);
        assert!(pending.hides("d/part-compact-c1-0001.parquet"));
        assert!(!pending.hides("a") && !pending.hides("d/part-compact-c2-0000.parquet"));
        let committed = Hidden::of(&[manifest(State::Committed, &["a", "b"], &["x"])]);
        assert!(committed.hides("a") && committed.hides("b") && !committed.hides("x"));
        let done = Hidden::of(&[manifest(State::Done, &["a", "b"], &["x"])]);
        assert!(!done.hides("a") && !done.hides("x"));
    }

    #[test]
    fn replaying_compactions_keeps_a_run_fresh_only_when_nothing_else_changed() {
        let done = manifest(State::Done, &["a", "b"], &["x"]);
        let read = [file("a"), file("b"), file("c")];
        assert_eq!(replay(&read, &[done]), [file("c"), file("x")]);
        // A file the run never read was compacted in with them: the day changed.
        let with_new = manifest(State::Done, &["a", "b", "late"], &["x"]);
        assert_eq!(replay(&read, &[with_new]), read);
        assert_eq!(
            replay(&read, &[manifest(State::Pending, &["a"], &["y"])]),
            read
        );
    }
}
