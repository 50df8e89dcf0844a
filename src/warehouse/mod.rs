//! The warehouse: one `Arc<dyn ObjectStore>` and a root prefix, built once from a URL
//! (`s3://bucket/prefix` or a local path), used for every read and write.
//!
//! Guarantee: every object is written with a single `put` (or a completed multipart upload),
//! which is atomic on S3 and on local disk (object_store writes a staging file and renames
//! it), so a reader sees a whole file or none.

mod catalog_cache;
pub mod delta;
pub mod file_stats;
mod layout;
pub mod legacy;
mod local_store;
mod location;
mod parquet;
mod row_groups;
pub mod staging;

use std::sync::Arc;

use futures::TryStreamExt;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use url::Url;

use catalog_cache::CatalogCache;
pub use layout::{data_file_name, partition_dir, PARTITION_DATE_FORMAT};
pub use location::{retry_window, Location};
pub use parquet::{encode_parquet, encode_row_groups, writer_properties};
pub use row_groups::{row_groups_by_kind, HeldByKind};

/// Objects larger than this go up as multipart uploads (in parts of this size).
const MULTIPART_PART_BYTES: usize = 16 << 20;

/// A data file as listed: its path relative to the warehouse, size and entity tag (a
/// rewrite of the same path changes the tag).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Its rows, when the Delta log states them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// `relative` (slash-separated) under `root`.
fn join(root: &Path, relative: &str) -> Path {
    relative
        .split('/')
        .filter(|part| !part.is_empty())
        .fold(root.clone(), |path, part| path.join(part))
}

/// The inverse of [`join`]: `path` relative to `root` (whole when outside it).
fn relative(root: &Path, path: &Path) -> String {
    match path.prefix_match(root) {
        Some(parts) => parts
            .map(|p| p.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join("/"),
        None => path.to_string(),
    }
}

/// An opened warehouse.
#[derive(Clone)]
pub struct Warehouse {
    store: Arc<dyn ObjectStore>,
    /// The same store without views or caches: Delta logs are read and committed through it.
    raw: Arc<dyn ObjectStore>,
    root: Path,
    location: Location,
    /// Set when reads go through a [`CatalogCache`].
    catalog: Option<CatalogCache>,
    /// How long a commit keeps trying while other writers win the race.
    commit_timeout: std::time::Duration,
    /// Races lost by this process's commits (shared by clones): a tailer's metrics.
    lost_races: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("cannot open warehouse {location}: {reason}")]
    Open { location: String, reason: String },
    #[error("cannot write {path} in warehouse {location}: {source}")]
    Write {
        location: String,
        path: String,
        source: object_store::Error,
    },
    #[error("cannot read {path} in warehouse {location}: {source}")]
    Read {
        location: String,
        path: String,
        source: object_store::Error,
    },
    #[error("table {table} in warehouse {location}: {reason}")]
    Table {
        location: String,
        table: String,
        reason: String,
    },
}

/// Writes a local file whole or not at all: a reader of `path` never sees half of it (a
/// temporary name beside it, then a rename).
pub fn replace_local_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let partial = path.with_file_name(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })
}

/// `$STICKERLAKE_CACHE_DIR`, else `$XDG_CACHE_HOME/stickerlake`, else `~/.cache/stickerlake`.
fn cache_home() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("STICKERLAKE_CACHE_DIR") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("stickerlake")
}

/// Only the location: a store's own `Debug` may show credentials.
impl std::fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Warehouse({})", self.location)
    }
}

impl Warehouse {
    /// Opens the warehouse at `location` (nothing is read or written yet).
    pub fn open(location: &str) -> Result<Self, WarehouseError> {
        let location = Location::parse(location)?;
        let (store, root) = location.build_store()?;
        Ok(Self {
            store: store.clone(),
            raw: store,
            root,
            location,
            catalog: None,
            commit_timeout: delta::DEFAULT_COMMIT_TIMEOUT,
            lost_races: Arc::default(),
        })
    }

    /// The same warehouse, its commits trying for `timeout` against other writers.
    pub fn with_commit_timeout(self, timeout: std::time::Duration) -> Self {
        Self {
            commit_timeout: timeout,
            ..self
        }
    }

    /// Races this process's commits lost to other writers so far.
    pub fn lost_races(&self) -> u64 {
        self.lost_races.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The same warehouse, its listings and Parquet footers cached (see [`CatalogCache`]) in
    /// `$STICKERLAKE_CACHE_DIR` (default `~/.cache/stickerlake`)`/catalog/`. Only for an S3
    /// warehouse: on local disk a listing or a footer costs no request.
    pub fn with_catalog_cache(self) -> Self {
        if !matches!(self.location, Location::S3 { .. }) {
            return self;
        }
        let key = xxhash_rust::xxh3::xxh3_64(self.location.to_string().as_bytes());
        let dir = cache_home().join("catalog").join(format!("{key:016x}"));
        let cache = CatalogCache::new(self.store.clone(), dir);
        Self {
            store: Arc::new(cache.clone()),
            catalog: Some(cache),
            ..self
        }
    }

    /// The data files (`(path relative to the warehouse, size)`) of a loaded snapshot: with
    /// a catalog cache, their footers may come from it.
    pub fn remember_files<'a>(&self, files: impl IntoIterator<Item = (&'a str, u64)>) {
        if let Some(catalog) = &self.catalog {
            catalog.remember(
                files
                    .into_iter()
                    .map(|(path, size)| (self.path(path), size)),
            );
        }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The store itself, for the Delta logs (no listing view, no cache in front).
    pub fn raw_store(&self) -> &Arc<dyn ObjectStore> {
        &self.raw
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The object path of `relative` (slash-separated) inside the warehouse.
    pub fn path(&self, relative: &str) -> Path {
        join(&self.root, relative)
    }

    /// `relative` for a path inside the warehouse (the inverse of [`Self::path`]).
    pub fn relative(&self, path: &Path) -> String {
        relative(&self.root, path)
    }

    /// The URL DataFusion lists a folder of the warehouse by (ends with `/`).
    pub fn folder_url(&self, relative: &str) -> Url {
        self.location.folder_url(relative)
    }

    /// Writes one object atomically: a single PUT, or for large objects a multipart upload,
    /// which becomes visible only when it completes (and is aborted if it fails).
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), WarehouseError> {
        let written = if bytes.len() > MULTIPART_PART_BYTES {
            self.put_multipart(path, bytes).await
        } else {
            self.store
                .put(path, PutPayload::from_bytes(bytes))
                .await
                .map(|_| ())
        };
        written.map_err(|source| self.write_error(path, source))
    }

    async fn put_multipart(&self, path: &Path, bytes: Bytes) -> object_store::Result<()> {
        let mut upload = self.store.put_multipart(path).await?;
        let parts: Vec<_> = (0..bytes.len())
            .step_by(MULTIPART_PART_BYTES)
            .map(|start| {
                let end = (start + MULTIPART_PART_BYTES).min(bytes.len());
                upload.put_part(PutPayload::from_bytes(bytes.slice(start..end)))
            })
            .collect();
        let uploaded = match futures::future::try_join_all(parts).await {
            Ok(_) => upload.complete().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if uploaded.is_err() {
            // Leave no half-finished upload behind (S3 bills for its parts).
            let _ = upload.abort().await;
        }
        uploaded
    }

    /// Writes one small object with a precondition (`Create`: must not exist; `Update`: must
    /// still be the version read), returning its new version.
    pub async fn put_if(
        &self,
        path: &Path,
        bytes: Bytes,
        mode: PutMode,
    ) -> Result<UpdateVersion, object_store::Error> {
        let result = self
            .store
            .put_opts(path, PutPayload::from_bytes(bytes), PutOptions::from(mode))
            .await?;
        Ok(UpdateVersion {
            e_tag: result.e_tag,
            version: result.version,
        })
    }

    /// Reads a whole object and its version; `None` when it does not exist.
    pub async fn get_versioned(
        &self,
        path: &Path,
    ) -> Result<Option<(Bytes, UpdateVersion)>, WarehouseError> {
        let read = async {
            let result = self.store.get(path).await?;
            let version = UpdateVersion {
                e_tag: result.meta.e_tag.clone(),
                version: result.meta.version.clone(),
            };
            Ok::<_, object_store::Error>((result.bytes().await?, version))
        };
        match read.await {
            Ok(found) => Ok(Some(found)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.read_error(path, source)),
        }
    }

    pub async fn exists(&self, path: &Path) -> Result<bool, WarehouseError> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(self.read_error(path, source)),
        }
    }

    /// Deletes an object; deleting one that is already gone is not an error.
    pub async fn delete(&self, path: &Path) -> Result<(), WarehouseError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(self.write_error(path, source)),
        }
    }

    /// Removes what an interrupted local `put` of `relative` left behind: object_store stages
    /// a local write as `<file>#<n>` and renames it when complete, and a killed process leaves
    /// the staging file, which object_store hides but Spark would read. (S3 uploads leave
    /// nothing visible.)
    pub fn remove_interrupted_put(&self, relative: &str) -> std::io::Result<()> {
        let Location::Local(dir) = &self.location else {
            return Ok(());
        };
        let target = dir.join(relative);
        let (Some(folder), Some(name)) = (target.parent(), target.file_name()) else {
            return Ok(());
        };
        let staging_prefix = format!("{}#", name.to_string_lossy());
        let entries = match std::fs::read_dir(folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(&staging_prefix)
            {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// Removes the staging files (`<version>.json#<n>`) that interrupted commits left in a
    /// local table's Delta log, once their version exists: the commit that staged them was
    /// killed after its version landed, or lost it to another writer.
    pub fn remove_interrupted_commits(&self, table: &str) -> std::io::Result<()> {
        let Location::Local(dir) = &self.location else {
            return Ok(());
        };
        let log = dir.join(table).join(crate::contract::paths::DELTA_LOG);
        let entries = match std::fs::read_dir(&log) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some((target, _)) = name.split_once('#') {
                if log.join(target).exists() {
                    std::fs::remove_file(log.join(&name))?;
                }
            }
        }
        Ok(())
    }

    async fn listing(&self, relative: &str) -> Result<object_store::ListResult, WarehouseError> {
        let prefix = self.path(relative);
        self.store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|source| self.read_error(&prefix, source))
    }

    /// The names of the folders directly under `relative`.
    pub async fn list_folders(&self, relative: &str) -> Result<Vec<String>, WarehouseError> {
        let mut names: Vec<String> = self
            .listing(relative)
            .await?
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every object directly under `relative` (paths relative to the warehouse), sorted.
    pub async fn list_objects(&self, relative: &str) -> Result<Vec<String>, WarehouseError> {
        let mut paths: Vec<String> = self
            .listing(relative)
            .await?
            .objects
            .iter()
            .map(|o| self.relative(&o.location))
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Every object under `relative`, at any depth (paths relative to the warehouse), sorted.
    pub async fn list_objects_under(&self, relative: &str) -> Result<Vec<String>, WarehouseError> {
        let prefix = self.path(relative);
        let mut paths: Vec<String> = self
            .store
            .list(Some(&prefix))
            .map_ok(|o| self.relative(&o.location))
            .try_collect()
            .await
            .map_err(|source| self.read_error(&prefix, source))?;
        paths.sort();
        Ok(paths)
    }

    /// The data files directly under `relative` (`*.parquet`, not hidden), sorted by path.
    pub async fn list_files(&self, relative: &str) -> Result<Vec<FileInfo>, WarehouseError> {
        let mut files: Vec<FileInfo> = self
            .listing(relative)
            .await?
            .objects
            .into_iter()
            .filter(|o| {
                o.location
                    .filename()
                    .is_some_and(|name| name.ends_with(".parquet") && !name.starts_with(['_', '.']))
            })
            .map(|o| FileInfo {
                path: self.relative(&o.location),
                size: o.size,
                etag: o.e_tag,
                rows: None,
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    pub fn write_error(&self, path: &Path, source: object_store::Error) -> WarehouseError {
        WarehouseError::Write {
            location: self.location.to_string(),
            path: self.shown(path),
            source,
        }
    }

    pub fn read_error(&self, path: &Path, source: object_store::Error) -> WarehouseError {
        WarehouseError::Read {
            location: self.location.to_string(),
            path: self.shown(path),
            source,
        }
    }

    fn shown(&self, path: &Path) -> String {
        match self.relative(path) {
            relative if relative.is_empty() => "the top folder".to_owned(),
            relative => relative,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_staging_files_of_landed_versions_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir
            .path()
            .join("raw_events")
            .join(crate::contract::paths::DELTA_LOG);
        std::fs::create_dir_all(&log).unwrap();
        for name in [
            "00000000000000000001.json",
            "00000000000000000001.json#1",
            "00000000000000000002.json#1",
        ] {
            std::fs::write(log.join(name), b"{}").unwrap();
        }
        let warehouse = Warehouse::open(&dir.path().display().to_string()).unwrap();
        warehouse.remove_interrupted_commits("raw_events").unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&log)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        // A staging file whose version has not landed may be a commit under way.
        assert_eq!(
            left,
            ["00000000000000000001.json", "00000000000000000002.json#1"]
        );
        warehouse
            .remove_interrupted_commits("no_such_table")
            .unwrap();
    }
}
