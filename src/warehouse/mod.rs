//! The warehouse: one `Arc<dyn ObjectStore>` and a root prefix, built once from a URL
//! (`s3://bucket/prefix` or a local path), used for every read and write.
//!
//! Guarantee: every object is written with a single `put` (or a completed multipart upload),
//! which is atomic on S3 and on local disk (object_store writes a staging file and renames
//! it), so a reader sees a whole file or none.

mod layout;
mod location;
mod parquet;

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

pub use layout::{data_file_name, partition_dir, Table, PARTITION_DATE_FORMAT};
pub use location::Location;
pub use parquet::encode_parquet;

/// An opened warehouse.
#[derive(Clone, Debug)]
pub struct Warehouse {
    store: Arc<dyn ObjectStore>,
    root: Path,
    location: Location,
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
}

impl Warehouse {
    /// Opens the warehouse at `location` (nothing is read or written yet).
    pub fn open(location: &str) -> Result<Self, WarehouseError> {
        let location = Location::parse(location)?;
        let (store, root) = location.build_store()?;
        Ok(Self {
            store,
            root,
            location,
        })
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The object path of `relative` (slash-separated) inside the warehouse.
    pub fn path(&self, relative: &str) -> Path {
        relative
            .split('/')
            .filter(|part| !part.is_empty())
            .fold(self.root.clone(), |path, part| path.join(part))
    }

    /// `relative` for a path inside the warehouse (the inverse of [`Self::path`]).
    pub fn relative<'a>(&self, path: &'a Path) -> String {
        match path.prefix_match(&self.root) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_owned())
                .collect::<Vec<_>>()
                .join("/"),
            None => path.to_string(),
        }
    }

    /// The URL DataFusion lists a folder of the warehouse by (ends with `/`).
    pub fn folder_url(&self, relative: &str) -> Url {
        self.location.folder_url(relative)
    }

    /// Writes one object atomically.
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), WarehouseError> {
        self.store
            .put(path, PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|source| self.write_error(path, source))
    }

    /// Reads a whole object; `None` when it does not exist.
    pub async fn get_if_exists(&self, path: &Path) -> Result<Option<Bytes>, WarehouseError> {
        let read = async { self.store.get(path).await?.bytes().await };
        match read.await {
            Ok(bytes) => Ok(Some(bytes)),
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

    /// The names of the folders directly under `relative`.
    pub async fn list_folders(&self, relative: &str) -> Result<Vec<String>, WarehouseError> {
        let prefix = self.path(relative);
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|source| self.read_error(&prefix, source))?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The number of objects directly under `relative`.
    pub async fn list_files(&self, relative: &str) -> Result<usize, WarehouseError> {
        let prefix = self.path(relative);
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|source| self.read_error(&prefix, source))?;
        Ok(listing.objects.len())
    }

    pub fn write_error(&self, path: &Path, source: object_store::Error) -> WarehouseError {
        WarehouseError::Write {
            location: self.location.to_string(),
            path: self.relative(path),
            source,
        }
    }

    pub fn read_error(&self, path: &Path, source: object_store::Error) -> WarehouseError {
        WarehouseError::Read {
            location: self.location.to_string(),
            path: self.relative(path),
            source,
        }
    }
}
