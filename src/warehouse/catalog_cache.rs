//! A cached catalog for reading a remote warehouse: `sql` on S3 pays for requests, and a
//! query reads every file's Parquet footer.
//!
//! **Footers**: the tail of each data file of a loaded Delta snapshot (where its footer is,
//! up to 1 MiB; small files whole) is kept on local disk, keyed by the warehouse URL, the
//! file's path and size. A Delta table's data files are never rewritten in place (every
//! file has a name of its own), so a tail stays right for as long as the file exists; only
//! files the snapshot names ([`CatalogCache::remember`]) are served from the cache.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, Result,
};
use serde::{Deserialize, Serialize};

/// How far from a file's end a read counts as a footer read.
const TAIL_REGION: u64 = 1 << 20;
/// The tail fetched for a file's first footer read (DataFusion's own footer hint).
const DEFAULT_TAIL: u64 = 512 << 10;

#[derive(Clone)]
pub struct CatalogCache(Arc<Shared>);

struct Shared {
    inner: Arc<dyn ObjectStore>,
    /// `…/catalog/<hash of the warehouse URL>/`.
    dir: PathBuf,
    /// The data files of the loaded snapshots, by path.
    known: Mutex<HashMap<Path, ObjectMeta>>,
}

/// The header of a cached tail; the bytes follow it after a newline.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct TailHeader {
    path: String,
    size: u64,
    e_tag: Option<String>,
    last_modified: String,
    start: u64,
}

impl TailHeader {
    fn of(meta: &ObjectMeta, start: u64) -> Self {
        Self {
            path: meta.location.to_string(),
            size: meta.size,
            e_tag: meta.e_tag.clone(),
            last_modified: meta.last_modified.to_rfc3339(),
            start,
        }
    }

    /// Whether the tail was cut from the file `meta` describes now.
    fn matches(&self, meta: &ObjectMeta) -> bool {
        let now = Self::of(meta, self.start);
        (&self.path, self.size, &self.e_tag, &self.last_modified)
            == (&now.path, now.size, &now.e_tag, &now.last_modified)
    }
}

impl CatalogCache {
    pub fn new(inner: Arc<dyn ObjectStore>, dir: PathBuf) -> Self {
        Self(Arc::new(Shared {
            inner,
            dir,
            known: Mutex::default(),
        }))
    }

    /// The data files of a loaded snapshot: `(path, size)`.
    pub fn remember(&self, files: impl IntoIterator<Item = (Path, u64)>) {
        let mut known = self.0.known.lock().expect("not poisoned");
        for (location, size) in files {
            let meta = ObjectMeta {
                location: location.clone(),
                last_modified: chrono::DateTime::UNIX_EPOCH,
                size,
                e_tag: None,
                version: None,
            };
            known.insert(location, meta);
        }
    }
}

impl Shared {
    /// A file of a loaded snapshot, as the log describes it.
    fn listed(&self, location: &Path) -> Option<ObjectMeta> {
        self.known
            .lock()
            .expect("not poisoned")
            .get(location)
            .cloned()
    }

    fn tail_file(&self, location: &Path) -> PathBuf {
        let key = xxhash_rust::xxh3::xxh3_64(location.as_ref().as_bytes());
        self.dir.join(format!("{key:016x}.tail"))
    }

    /// The cached tail of `meta`'s file starting at or before `from`, fetched if missing.
    async fn tail(&self, meta: &ObjectMeta, from: u64) -> Result<(u64, Bytes)> {
        let file = self.tail_file(&meta.location);
        if let Some((header, bytes)) = read_tail(&file) {
            if header.matches(meta) && header.start <= from {
                return Ok((header.start, bytes));
            }
        }
        let start = from.min(meta.size.saturating_sub(DEFAULT_TAIL));
        let bytes = self
            .inner
            .get_range(&meta.location, start..meta.size)
            .await?;
        // A cache that cannot be written is only a slower read.
        let _ = write_tail(&file, &TailHeader::of(meta, start), &bytes);
        Ok((start, bytes))
    }
}

fn read_tail(file: &std::path::Path) -> Option<(TailHeader, Bytes)> {
    let bytes = Bytes::from(std::fs::read(file).ok()?);
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    let header: TailHeader = serde_json::from_slice(&bytes[..newline]).ok()?;
    let body = bytes.slice(newline + 1..);
    (body.len() as u64 == header.size - header.start).then_some((header, body))
}

fn write_tail(file: &std::path::Path, header: &TailHeader, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().expect("in the cache folder");
    std::fs::create_dir_all(dir)?;
    let mut content = serde_json::to_vec(header).map_err(std::io::Error::other)?;
    content.push(b'\n');
    content.extend_from_slice(bytes);
    super::replace_local_file(file, &content)
}

/// The bytes `range` asks for in a file of `size` bytes.
fn resolve(range: Option<&GetRange>, size: u64) -> Option<Range<u64>> {
    let wanted = match range {
        None => 0..size,
        Some(GetRange::Bounded(r)) => r.start..r.end.min(size),
        Some(GetRange::Offset(start)) => *start..size,
        Some(GetRange::Suffix(n)) => size.saturating_sub(*n)..size,
    };
    (wanted.start <= wanted.end && wanted.end <= size).then_some(wanted)
}

/// Whether a read asks only for bytes (no conditions or versions the cache cannot answer).
fn plain(options: &GetOptions) -> bool {
    !options.head
        && options.if_match.is_none()
        && options.if_none_match.is_none()
        && options.if_modified_since.is_none()
        && options.if_unmodified_since.is_none()
        && options.version.is_none()
}

impl fmt::Display for CatalogCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CatalogCache({})", self.0.inner)
    }
}

impl fmt::Debug for CatalogCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CatalogCache({})", self.0.dir.display())
    }
}

#[async_trait]
impl ObjectStore for CatalogCache {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.0.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.0.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let Some(meta) = self.0.listed(location).filter(|_| plain(&options)) else {
            return self.0.inner.get_opts(location, options).await;
        };
        let Some(wanted) = resolve(options.range.as_ref(), meta.size)
            .filter(|w| meta.size - w.start <= TAIL_REGION)
        else {
            return self.0.inner.get_opts(location, options).await;
        };
        let (start, tail) = self.0.tail(&meta, wanted.start).await?;
        let bytes = tail.slice((wanted.start - start) as usize..(wanted.end - start) as usize);
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(bytes) }).boxed()),
            meta,
            range: wanted,
            attributes: Default::default(),
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let from = ranges.iter().map(|r| r.start).min();
        match (self.0.listed(location), from) {
            (Some(meta), Some(from))
                if meta.size - from.min(meta.size) <= TAIL_REGION
                    && ranges.iter().all(|r| r.end <= meta.size) =>
            {
                let (start, tail) = self.0.tail(&meta, from).await?;
                Ok(ranges
                    .iter()
                    .map(|r| tail.slice((r.start - start) as usize..(r.end - start) as usize))
                    .collect())
            }
            _ => self.0.inner.get_ranges(location, ranges).await,
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.0.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.0.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.0.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.0.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(path: &str) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(path),
            last_modified: chrono::DateTime::UNIX_EPOCH,
            size: 10,
            e_tag: Some("e1".into()),
            version: None,
        }
    }

    #[test]
    fn a_tail_serves_only_the_file_it_was_cut_from() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.tail");
        let original = meta("w/t/a.parquet");
        write_tail(&file, &TailHeader::of(&original, 4), b"456789").unwrap();
        let (header, bytes) = read_tail(&file).unwrap();
        assert!(header.matches(&original));
        assert_eq!(&bytes[..], b"456789");
        let rewritten = ObjectMeta {
            e_tag: Some("e2".into()),
            ..original.clone()
        };
        assert!(!header.matches(&rewritten));
        let grown = ObjectMeta {
            size: 11,
            ..original
        };
        assert!(!header.matches(&grown));
    }

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(resolve(Some(&GetRange::Suffix(4)), 10), Some(6..10));
        assert_eq!(resolve(Some(&GetRange::Suffix(40)), 10), Some(0..10));
        assert_eq!(resolve(Some(&GetRange::Offset(3)), 10), Some(3..10));
        assert_eq!(resolve(Some(&GetRange::Bounded(2..5)), 10), Some(2..5));
        assert_eq!(resolve(None, 10), Some(0..10));
        assert_eq!(resolve(Some(&GetRange::Offset(11)), 10), None);
    }
}
