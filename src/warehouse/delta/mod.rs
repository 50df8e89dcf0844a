//! Every warehouse table is a Delta Lake table: `<table>/_delta_log/` says which Parquet
//! files make up the table at each version. stickerlake writes the Parquet files itself
//! (see [`super::encode_row_groups`]) and decides *what* to commit; `deltalake-core` decides
//! *how* (atomic commits by conditional PUT, log checkpoints, snapshots).
//!
//! Guarantees:
//! - a commit is atomic: a reader of the log sees all of its files or none;
//! - [`Change::Append`] with a transaction `(app, version)` is committed at most once: every
//!   attempt first reads the table's `txn` for `app` (as kafka-delta-ingest does), so a retry
//!   after a lost answer, or a recovery after `kill -9`, never commits a flush twice. Appends
//!   racing other writers take the next version through delta-rs's own retries, which read
//!   only the winning commits; one of them carrying our app id is a conflict, and the flush
//!   is planned again from a reloaded table (where its `txn` shows it already committed);
//! - [`Change::Rewrite`] (compaction) commits only while every file it replaces is still in
//!   the table. delta-rs does not treat two `dataChange=false` removes of one file as a
//!   conflict, so this check is ours: two compactors at once never double a row;
//! - tables are created at protocol reader 1 / writer 2 (no deletion vectors, no column
//!   mapping), so every Delta reader reads them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake_core::kernel::engine::arrow_conversion::TryFromArrow;
use deltalake_core::kernel::{Action, StructType};
use deltalake_core::logstore::{default_logstore, StorageConfig};
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::protocol::SaveMode;
use deltalake_core::{DeltaTable, DeltaTableError};
use object_store::prefix::PrefixStore;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::{Warehouse, WarehouseError};
use commit::add_action;

mod commit;
mod history;
mod log_cleanup;

pub use commit::{backoff, Change, Committed, DEFAULT_COMMIT_TIMEOUT};
pub use history::{parse_as_of, summarize_commit, AsOf, CommitSummary};

/// The log folder of every table.
use crate::contract::paths::DELTA_LOG;

/// A data file of a table's snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaFile {
    /// Relative to the warehouse: `raw_events/event_date=2026-11-23/part-….parquet`.
    pub path: String,
    pub size: u64,
    /// The value of the partition column (`2026-11-23`), if the table is partitioned.
    pub partition: Option<String>,
    pub rows: Option<u64>,
}

impl From<&DeltaFile> for super::FileInfo {
    fn from(file: &DeltaFile) -> Self {
        Self {
            path: file.path.clone(),
            size: file.size,
            etag: None,
            rows: file.rows,
        }
    }
}

/// A new data file to commit, already written.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewFile {
    /// Relative to the warehouse.
    pub path: String,
    /// Bytes written: what the `add` states as `size`.
    pub size: u64,
    /// Rows in its footer.
    pub rows: u64,
    /// `(column, value)`.
    pub partition: (String, String),
    /// The `stats` JSON ([`super::file_stats::stats_json`]).
    pub stats: Option<String>,
}

/// The smallest Parquet file: `PAR1`, a footer length, `PAR1` (and a footer).
const MIN_PARQUET_BYTES: u64 = 12;

impl NewFile {
    /// A file about to be written from `bytes` at `path` (`table/column=value/name`).
    pub fn from_bytes(path: &str, bytes: &bytes::Bytes) -> Result<Self, String> {
        let meta = super::file_stats::footer(bytes).map_err(|e| format!("{path}: {e}"))?;
        Self::written(path, bytes.len() as u64, &meta)
    }

    /// A file at `path` of `size` bytes (as counted by its writer) with `footer`.
    pub fn written(path: &str, size: u64, footer: &ParquetMetaData) -> Result<Self, String> {
        Ok(Self {
            path: path.to_owned(),
            size,
            rows: footer.file_metadata().num_rows().max(0) as u64,
            partition: partition_of(path)?,
            stats: Some(super::file_stats::stats_json(footer)),
        })
    }

    /// Why its `add` would not describe the file written, if it would not (pure): checked
    /// before every commit, so a wrong size or row count is a failed commit, not a table
    /// that outside readers cannot read.
    pub fn disagreement(&self) -> Option<String> {
        if self.size < MIN_PARQUET_BYTES {
            return Some(format!(
                "{}: size {} bytes, smaller than any Parquet file",
                self.path, self.size
            ));
        }
        let stated = self
            .stats
            .as_deref()
            .and_then(|stats| serde_json::from_str::<serde_json::Value>(stats).ok())
            .and_then(|stats| stats["numRecords"].as_u64());
        match stated {
            Some(rows) if rows != self.rows => Some(format!(
                "{}: its stats say {rows} records, its footer {}",
                self.path, self.rows
            )),
            _ => None,
        }
    }
}

/// `(column, value)` of a data file's path `table/column=value/name`.
pub fn partition_of(path: &str) -> Result<(String, String), String> {
    let mut parts = path.split('/');
    let folder = parts.nth(1).unwrap_or_default();
    folder
        .split_once('=')
        .map(|(c, v)| (c.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{path}: not in a `column=value` partition folder"))
}

/// The table (first folder) of a path relative to the warehouse.
pub fn table_of(path: &str) -> &str {
    path.split('/').next().unwrap_or_default()
}

/// The version and files of a table's snapshot.
pub struct Snapshot {
    pub table: String,
    pub version: u64,
    pub partition_column: Option<String>,
    /// The data files' schema (without the partition column).
    pub file_schema: SchemaRef,
    pub files: Vec<DeltaFile>,
}

impl Snapshot {
    /// The files by partition value (`""` for an unpartitioned table), each list sorted.
    pub fn by_partition(&self) -> BTreeMap<String, Vec<&DeltaFile>> {
        let mut partitions: BTreeMap<String, Vec<&DeltaFile>> = BTreeMap::new();
        for file in &self.files {
            let key = file.partition.clone().unwrap_or_default();
            partitions.entry(key).or_default().push(file);
        }
        for files in partitions.values_mut() {
            files.sort_by(|a, b| a.path.cmp(&b.path));
        }
        partitions
    }
}

/// The Arrow type of a partition column: `*_date` columns are dates, others strings.
pub fn partition_type(column: &str) -> DataType {
    if column.ends_with("_date") {
        DataType::Date32
    } else {
        DataType::Utf8
    }
}

fn delta_error(
    warehouse: &Warehouse,
    table: &str,
    error: impl std::fmt::Display,
) -> WarehouseError {
    WarehouseError::Table {
        location: warehouse.location().to_string(),
        table: table.to_owned(),
        reason: error.to_string(),
    }
}

impl Warehouse {
    /// The Delta table in folder `table` (not loaded yet).
    fn delta_table(&self, table: &str) -> Result<DeltaTable, WarehouseError> {
        let url = self.location().folder_url(table);
        let prefixed = Arc::new(PrefixStore::new(self.raw_store().clone(), self.path(table)));
        let log_store = default_logstore(
            prefixed,
            self.raw_store().clone(),
            &url,
            &StorageConfig::default(),
        );
        Ok(DeltaTable::new(log_store))
    }

    /// Whether folder `table` has a Delta log.
    pub async fn is_delta_table(&self, table: &str) -> Result<bool, WarehouseError> {
        let log = self.path(&format!("{table}/{DELTA_LOG}"));
        let mut listing = self.raw_store().list(Some(&log));
        use futures::StreamExt;
        match listing.next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(source)) => Err(self.read_error(&log, source)),
        }
    }

    /// The latest version of table `table`; `None` when the folder has no Delta log.
    pub async fn open_delta(&self, table: &str) -> Result<Option<DeltaTable>, WarehouseError> {
        if !self.is_delta_table(table).await? {
            return Ok(None);
        }
        let mut delta = self.delta_table(table)?;
        delta
            .load()
            .await
            .map_err(|e| delta_error(self, table, load_problem(e)))?;
        Ok(Some(delta))
    }

    /// Table `table`, created (empty, with `file_schema` plus `partition_column`) when it
    /// does not exist yet. Two writers creating it at once both end up with the one table.
    pub async fn open_or_create_delta(
        &self,
        table: &str,
        file_schema: &Schema,
        partition_column: &str,
    ) -> Result<DeltaTable, WarehouseError> {
        if let Some(delta) = self.open_delta(table).await? {
            return Ok(delta);
        }
        let partitions = self.list_folders(table).await?;
        let files = self.list_files(table).await?;
        if partitions.iter().any(|f| f.contains('=')) || !files.is_empty() {
            return Err(delta_error(
                self,
                table,
                "the folder holds data but no Delta log: it was written by a stickerlake \
                 before Delta tables; run `stickerlake migrate` once, then run this again",
            ));
        }
        self.create_delta(table, file_schema, partition_column, Vec::new())
            .await
    }

    /// Creates table `table` holding `files` (already written), in one commit: version 0.
    /// When another writer created it first, opens that one (and `files` are not added).
    pub async fn create_delta(
        &self,
        table: &str,
        file_schema: &Schema,
        partition_column: &str,
        files: Vec<NewFile>,
    ) -> Result<DeltaTable, WarehouseError> {
        let mut fields: Vec<Field> = file_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(
            partition_column,
            partition_type(partition_column),
            true,
        ));
        let schema = StructType::try_from_arrow(&Schema::new(fields))
            .map_err(|e| delta_error(self, table, e))?;
        let created = CreateBuilder::new()
            .with_log_store(self.delta_table(table)?.log_store())
            .with_table_name(table)
            .with_columns(schema.fields().cloned())
            .with_partition_columns([partition_column])
            .with_actions(
                files
                    .iter()
                    .map(|f| Action::Add(add_action(table, f, true))),
            )
            .with_save_mode(SaveMode::Ignore)
            .await;
        match created {
            Ok(delta) => Ok(delta),
            // Another writer created it first.
            Err(_) if self.is_delta_table(table).await? => {
                Ok(self.open_delta(table).await?.expect("the log exists"))
            }
            Err(e) => Err(delta_error(self, table, e)),
        }
    }

    /// Adds to `delta` the columns of `file_schema` it lacks (nullable: older rows read as
    /// null), in one metadata commit that rewrites no data. A table created by an older
    /// stickerlake gains the newer columns this way on its first write.
    pub async fn add_missing_columns(
        &self,
        table: &str,
        delta: DeltaTable,
        file_schema: &Schema,
    ) -> Result<DeltaTable, WarehouseError> {
        let has = self.snapshot(table, &delta)?.file_schema;
        let missing: Vec<Field> = file_schema
            .fields()
            .iter()
            .filter(|f| has.field_with_name(f.name()).is_err())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        if missing.is_empty() {
            return Ok(delta);
        }
        let names: Vec<String> = missing.iter().map(|f| f.name().clone()).collect();
        let fields = StructType::try_from_arrow(&Schema::new(missing))
            .map_err(|e| delta_error(self, table, e))?;
        let evolved = delta
            .add_columns()
            .with_fields(fields.fields().cloned().collect::<Vec<_>>())
            .await;
        match evolved {
            Ok(delta) => {
                eprintln!(
                    "{table}: added the columns {} (older rows read as null)",
                    names.join(", ")
                );
                Ok(delta)
            }
            // Another writer added them first.
            Err(_) => {
                let delta = self.open_delta(table).await?.expect("the table exists");
                let has = self.snapshot(table, &delta)?.file_schema;
                match names.iter().all(|n| has.field_with_name(n).is_ok()) {
                    true => Ok(delta),
                    false => Err(delta_error(
                        self,
                        table,
                        format!("cannot add the columns {}", names.join(", ")),
                    )),
                }
            }
        }
    }

    /// The version, schema and files of a loaded table.
    pub fn snapshot(&self, table: &str, delta: &DeltaTable) -> Result<Snapshot, WarehouseError> {
        let state = delta.snapshot().map_err(|e| delta_error(self, table, e))?;
        let partition_column = state.metadata().partition_columns().first().cloned();
        let full = state.snapshot().arrow_schema();
        let file_schema = Arc::new(Schema::new(
            full.fields()
                .iter()
                .filter(|f| Some(f.name()) != partition_column.as_ref())
                .cloned()
                .collect::<Vec<_>>(),
        ));
        let files = state
            .log_data()
            .iter()
            .map(|view| DeltaFile {
                path: format!("{table}/{}", view.path()),
                size: view.size().max(0) as u64,
                partition: partition_column
                    .as_ref()
                    .and_then(|c| view.partition_values_map().get(c).cloned().flatten()),
                rows: view.num_records().map(|n| n as u64),
            })
            .collect();
        Ok(Snapshot {
            table: table.to_owned(),
            version: state.version(),
            partition_column,
            file_schema,
            files,
        })
    }

    /// A data file already in the store, described from its footer for an `add` action.
    pub async fn describe_file(&self, path: &str) -> Result<NewFile, WarehouseError> {
        let (size, footer) = self.read_footer(path).await?;
        NewFile::written(path, size, &footer).map_err(|e| delta_error(self, table_of(path), e))
    }

    /// Checks that the store holds `file` as its writer counted it: a Parquet footer that
    /// ends at `file.size` and states `file.rows` rows. (An upload retried or resumed by the
    /// store's client is checked here, not trusted.)
    pub async fn check_stored(&self, file: &NewFile) -> Result<(), WarehouseError> {
        let footer = self.read_footer_sized(&file.path, file.size).await;
        let stored = footer.map_err(|e| {
            let reason = format!(
                "{} does not hold the {} bytes written ({e}): not committing it; run again",
                file.path, file.size
            );
            delta_error(self, table_of(&file.path), reason)
        })?;
        let rows = stored.file_metadata().num_rows();
        if rows.max(0) as u64 != file.rows {
            let reason = format!(
                "{} holds {rows} rows, {} were written: not committing it; run again",
                file.path, file.rows
            );
            return Err(delta_error(self, table_of(&file.path), reason));
        }
        Ok(())
    }

    /// The size and footer of a Parquet file in the store.
    async fn read_footer(&self, path: &str) -> Result<(u64, ParquetMetaData), WarehouseError> {
        use object_store::ObjectStoreExt;
        let location = self.path(path);
        let size = self
            .raw_store()
            .head(&location)
            .await
            .map_err(|e| self.read_error(&location, e))?
            .size;
        Ok((size, self.read_footer_sized(path, size).await?))
    }

    /// The footer of a Parquet file in the store that is `size` bytes long.
    async fn read_footer_sized(
        &self,
        path: &str,
        size: u64,
    ) -> Result<ParquetMetaData, WarehouseError> {
        use object_store::ObjectStoreExt;
        let location = self.path(path);
        let store = self.raw_store();
        let footer_error =
            |e: &dyn std::fmt::Display| delta_error(self, table_of(path), format!("{path}: {e}"));
        // The footer is at the end: read a suffix, larger if the footer says it is.
        let mut suffix = 64 << 10;
        loop {
            let start = size.saturating_sub(suffix);
            let bytes = store
                .get_range(&location, start..size)
                .await
                .map_err(|e| self.read_error(&location, e))?;
            let mut reader = ParquetMetaDataReader::new();
            match reader.try_parse_sized(&bytes, size) {
                Ok(()) => return reader.finish().map_err(|e| footer_error(&e)),
                Err(ParquetError::NeedMoreData(needed)) if start > 0 => suffix = needed as u64,
                Err(e) => return Err(footer_error(&e)),
            }
        }
    }

    /// The Arrow schema of a data file already in the store.
    pub async fn file_schema(&self, path: &str) -> Result<SchemaRef, WarehouseError> {
        let footer = self.read_footer(path).await?.1;
        let meta = footer.file_metadata();
        parquet::arrow::parquet_to_arrow_schema(meta.schema_descr(), meta.key_value_metadata())
            .map(Arc::new)
            .map_err(|e| delta_error(self, table_of(path), format!("{path}: {e}")))
    }

    /// Deletes the files of `table` that no snapshot of the last `retain` needs: files
    /// removed by commits older than that, and files no commit ever added (a killed flush's
    /// or compaction's) written before that. Returns them (relative to the warehouse); with
    /// `dry_run`, deletes nothing. Then the log entries past its log retention go too.
    pub async fn vacuum(
        &self,
        table: &str,
        retain: chrono::Duration,
        dry_run: bool,
    ) -> Result<Vec<String>, WarehouseError> {
        let Some(delta) = self.open_delta(table).await? else {
            return Ok(Vec::new());
        };
        let (delta, metrics) = delta
            .vacuum()
            .with_retention_period(retain)
            .with_enforce_retention_duration(false)
            .with_mode(deltalake_core::operations::vacuum::VacuumMode::Full)
            .with_dry_run(dry_run)
            .await
            .map_err(|e| delta_error(self, table, e))?;
        let mut files: Vec<String> = metrics
            .files_deleted
            .iter()
            .map(|f| format!("{table}/{}", f.trim_start_matches('/')))
            .collect();
        files.sort();
        if !dry_run {
            self.clean_expired_log(table, &delta).await?;
        }
        Ok(files)
    }
}

/// A load error in words a user can act on.
fn load_problem(error: DeltaTableError) -> String {
    let text = error.to_string();
    if text.contains("contiguous") {
        // The kernel names the commit files around the gap in its debug text.
        let names: Vec<&str> = text
            .split("filename: \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        let around = match (names.first(), names.last()) {
            (Some(a), Some(b)) => format!(" between {DELTA_LOG}/{a} and {DELTA_LOG}/{b}"),
            _ => String::new(),
        };
        return format!(
            "its log is missing a commit{around}: no version after the gap can be read; restore the missing commit file from a backup"
        );
    }
    if text.contains("nsupported") {
        format!("{text}: the table was written with a newer Delta protocol than this stickerlake reads; upgrade stickerlake")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::record_batch::RecordBatch;

    fn new_file() -> NewFile {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        let bytes = bytes::Bytes::from(crate::warehouse::encode_parquet(schema, &[batch]).unwrap());
        NewFile::from_bytes("t/day=2026-11-23/part-1.parquet", &bytes).unwrap()
    }

    #[test]
    fn an_add_that_does_not_describe_its_file_is_caught() {
        let file = new_file();
        assert_eq!((file.rows, file.disagreement()), (3, None));
        let empty = NewFile {
            size: 0,
            ..new_file()
        };
        assert!(empty.disagreement().unwrap().contains("size 0 bytes"));
        let miscounted = NewFile {
            rows: 4,
            ..new_file()
        };
        let said = miscounted.disagreement().unwrap();
        assert!(
            said.contains("3 records") && said.contains("footer 4"),
            "{said}"
        );
    }
}
