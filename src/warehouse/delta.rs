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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake_core::kernel::engine::arrow_conversion::TryFromArrow;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{Action, Add, StructType, Transaction};
use deltalake_core::logstore::{default_logstore, StorageConfig};
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use object_store::prefix::PrefixStore;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use serde_json::Value;

use super::{Warehouse, WarehouseError};

/// The log folder of every table.
pub const DELTA_LOG: &str = "_delta_log";

/// Attempts of one commit against writers committing at the same time.
const COMMIT_ATTEMPTS: u32 = 100;

/// delta-rs's own retries of a blind append, per attempt: each checks only the commits that
/// won, not the whole table.
const APPEND_RETRIES: usize = 50;

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

/// A new data file to commit, already written.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Relative to the warehouse.
    pub path: String,
    pub size: u64,
    /// `(column, value)`.
    pub partition: (String, String),
    /// The `stats` JSON ([`super::file_stats::stats_json`]).
    pub stats: Option<String>,
}

impl NewFile {
    /// A file about to be written from `bytes` at `path` (`table/column=value/name`).
    pub fn from_bytes(path: &str, bytes: &bytes::Bytes) -> Result<Self, String> {
        let meta = super::file_stats::footer(bytes).map_err(|e| format!("{path}: {e}"))?;
        Ok(Self {
            path: path.to_owned(),
            size: bytes.len() as u64,
            partition: partition_of(path)?,
            stats: Some(super::file_stats::stats_json(&meta)),
        })
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

/// What a commit does to a table.
#[derive(Debug, Clone)]
pub enum Change {
    /// Adds files; with `txn = (app, version)`, once for that version of that app.
    Append {
        files: Vec<NewFile>,
        txn: Option<(String, i64)>,
    },
    /// Replaces every file of one partition by `files` (a job re-run for a day).
    ReplacePartition {
        column: String,
        value: String,
        files: Vec<NewFile>,
    },
    /// Replaces `removed` (paths relative to the warehouse) by `added` without changing a
    /// row (`dataChange = false`): compaction.
    Rewrite {
        removed: Vec<String>,
        added: Vec<NewFile>,
    },
}

impl Change {
    /// The files it adds.
    fn added(&self) -> &[NewFile] {
        match self {
            Change::Append { files, .. } | Change::ReplacePartition { files, .. } => files,
            Change::Rewrite { added, .. } => added,
        }
    }
}

/// How a commit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// As this version of the table.
    Version(u64),
    /// The transaction was in the table already (an earlier attempt or run committed it).
    AlreadyCommitted,
    /// A file to replace is no longer in the table (another writer replaced it): nothing
    /// was committed.
    Superseded,
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

/// A past state of the warehouse: a version of `raw_events` (the source of truth; every
/// other table is read as of that version's commit time), or a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Version(u64),
    Time(chrono::DateTime<chrono::Utc>),
}

impl std::fmt::Display for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsOf::Version(version) => write!(f, "raw_events version {version}"),
            AsOf::Time(time) => write!(f, "{}", time.to_rfc3339()),
        }
    }
}

/// `--as-of`: a number (a version of `raw_events`) or an RFC 3339 timestamp.
pub fn parse_as_of(text: &str) -> Result<AsOf, String> {
    if let Ok(version) = text.parse::<u64>() {
        return Ok(AsOf::Version(version));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| AsOf::Time(t.with_timezone(&chrono::Utc)))
        .map_err(|_| {
            format!("{text:?} is neither a version of raw_events (a number) nor an RFC 3339 timestamp (2026-11-23T10:00:00Z)")
        })
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
        Ok(NewFile {
            path: path.to_owned(),
            size,
            partition: partition_of(path).map_err(|e| delta_error(self, table_of(path), e))?,
            stats: Some(super::file_stats::stats_json(&footer)),
        })
    }

    /// The size and footer of a Parquet file in the store.
    async fn read_footer(&self, path: &str) -> Result<(u64, ParquetMetaData), WarehouseError> {
        use object_store::ObjectStoreExt;
        let location = self.path(path);
        let store = self.raw_store();
        let size = store
            .head(&location)
            .await
            .map_err(|e| self.read_error(&location, e))?
            .size;
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
                Ok(()) => return Ok((size, reader.finish().map_err(|e| footer_error(&e))?)),
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
    /// `dry_run`, deletes nothing.
    pub async fn vacuum(
        &self,
        table: &str,
        retain: chrono::Duration,
        dry_run: bool,
    ) -> Result<Vec<String>, WarehouseError> {
        let Some(delta) = self.open_delta(table).await? else {
            return Ok(Vec::new());
        };
        let (_, metrics) = delta
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
        Ok(files)
    }

    /// The last `limit` commits of `table`, newest first (those whose entries the log still
    /// keeps: old ones go with log cleanup, after a checkpoint covers them).
    pub async fn history(
        &self,
        table: &str,
        limit: usize,
    ) -> Result<Option<Vec<CommitSummary>>, WarehouseError> {
        let Some(delta) = self.open_delta(table).await? else {
            return Ok(None);
        };
        let latest = delta.version().unwrap_or(0);
        let log_store = delta.log_store();
        let mut commits = Vec::new();
        for version in (0..=latest).rev().take(limit) {
            let entry = log_store
                .read_commit_entry(version)
                .await
                .map_err(|e| delta_error(self, table, e))?;
            match entry {
                Some(entry) => commits.push(summarize_commit(version, &entry)),
                None => break,
            }
        }
        Ok(Some(commits))
    }

    /// Table `table` as of `as_of` (`None`: latest). `None` when it is not a Delta table or
    /// did not exist yet then. A version is a version of this table; resolve other tables'
    /// moments with [`Self::commit_time`] first.
    pub async fn open_delta_as_of(
        &self,
        table: &str,
        as_of: Option<AsOf>,
    ) -> Result<Option<DeltaTable>, WarehouseError> {
        let Some(as_of) = as_of else {
            return self.open_delta(table).await;
        };
        if !self.is_delta_table(table).await? {
            return Ok(None);
        }
        let version = match as_of {
            AsOf::Version(version) => version,
            AsOf::Time(time) => match self.version_at(table, time).await? {
                Some(version) => version,
                None => return Ok(None),
            },
        };
        let mut delta = self.delta_table(table)?;
        let loaded = delta.load_version(version).await;
        loaded.map_err(|e| {
            delta_error(
                self,
                table,
                format!("cannot read it as of {as_of:?}: {e} (the log keeps 30 days of commits, `vacuum` removes files older than its retention)"),
            )
        })?;
        Ok(Some(delta))
    }

    /// The last version of `table` committed at or before `time`, by the commits' own
    /// timestamps (what `history` shows; a commit file's modification time comes a little
    /// later). `None` when the table did not exist yet.
    async fn version_at(
        &self,
        table: &str,
        time: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<u64>, WarehouseError> {
        let latest = self
            .delta_table(table)?
            .get_latest_version()
            .await
            .map_err(|e| delta_error(self, table, e))?;
        let too_old = || {
            let reason =
                format!("its log no longer has the commits of {time} (the log keeps 30 days)");
            delta_error(self, table, reason)
        };
        if self.commit_time(table, 0).await?.ok_or_else(too_old)? > time {
            return Ok(None);
        }
        // Versions committed at or before `time` come first: find the last of them.
        let (mut low, mut high) = (0, latest);
        while low < high {
            let middle = low + (high - low).div_ceil(2);
            let at = self.commit_time(table, middle).await?.ok_or_else(too_old)?;
            match at <= time {
                true => low = middle,
                false => high = middle - 1,
            }
        }
        Ok(Some(low))
    }

    /// When `version` of `table` was committed; `None` when the log no longer has it.
    pub async fn commit_time(
        &self,
        table: &str,
        version: u64,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, WarehouseError> {
        let entry = self
            .delta_table(table)?
            .log_store()
            .read_commit_entry(version)
            .await
            .map_err(|e| delta_error(self, table, e))?;
        Ok(entry.and_then(|entry| {
            let time = summarize_commit(version, &entry).time?;
            chrono::DateTime::parse_from_rfc3339(&time)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc))
        }))
    }

    /// The latest snapshot of `table`; `None` when it is not a Delta table.
    pub async fn latest_snapshot(&self, table: &str) -> Result<Option<Snapshot>, WarehouseError> {
        match self.open_delta(table).await? {
            Some(delta) => Ok(Some(self.snapshot(table, &delta)?)),
            None => Ok(None),
        }
    }

    /// The version of `app`'s last committed transaction in the table.
    pub async fn transaction_version(
        &self,
        table: &str,
        delta: &DeltaTable,
        app: &str,
    ) -> Result<Option<i64>, WarehouseError> {
        let state = delta.snapshot().map_err(|e| delta_error(self, table, e))?;
        state
            .transaction_version(delta.log_store().as_ref(), app)
            .await
            .map_err(|e| delta_error(self, table, e))
    }

    /// Commits `change` to `delta` (reloading it and trying again while other writers
    /// commit first), with `info` in the commit's `commitInfo`.
    pub async fn commit(
        &self,
        table: &str,
        delta: &mut DeltaTable,
        change: &Change,
        info: serde_json::Map<String, Value>,
    ) -> Result<Committed, WarehouseError> {
        for attempt in 0..COMMIT_ATTEMPTS {
            if attempt > 0 {
                let jitter = rand::random::<u64>() % (10 * u64::from(attempt.min(20)) + 1);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                delta
                    .update_state()
                    .await
                    .map_err(|e| delta_error(self, table, e))?;
            }
            let Some((actions, operation, txn, removed_rows)) =
                self.plan(table, delta, change).await?
            else {
                return Ok(match change {
                    Change::Append { .. } => Committed::AlreadyCommitted,
                    _ => Committed::Superseded,
                });
            };
            let mut info = info.clone();
            // As Delta writers fill it; delta-rs adds `num_retries` (races lost) to it.
            let removed_files = actions
                .iter()
                .filter(|a| matches!(a, Action::Remove(_)))
                .count();
            let metrics = operation_metrics(change.added(), removed_files, removed_rows);
            info.insert("operationMetrics".into(), metrics);
            if let Some(Value::Object(ours)) = info.get_mut("stickerlake") {
                ours.insert("rowsRemoved".into(), removed_rows.into());
                // Attempts above 1 lost the race to another writer: the log's contention.
                ours.insert("attempt".into(), (attempt + 1).into());
            }
            // A replacement or a rewrite checks its files against a reloaded table instead.
            let retries = match change {
                Change::Append { .. } => APPEND_RETRIES,
                _ => 0,
            };
            let mut properties = CommitProperties::default()
                .with_max_retries(retries)
                .with_metadata(info);
            if let Some(txn) = txn {
                properties = properties.with_application_transaction(txn);
            }
            let state = delta.snapshot().map_err(|e| delta_error(self, table, e))?;
            let result = CommitBuilder::from(properties)
                .with_actions(actions)
                .build(Some(state), delta.log_store(), operation)
                .await;
            match result {
                Ok(done) => {
                    let version = done.version();
                    delta
                        .update_state()
                        .await
                        .map_err(|e| delta_error(self, table, e))?;
                    return Ok(Committed::Version(version));
                }
                Err(DeltaTableError::Transaction {
                    source:
                        TransactionError::MaxCommitAttempts(_)
                        | TransactionError::VersionAlreadyExists(_)
                        | TransactionError::CommitConflict(_),
                }) => continue,
                Err(e) => return Err(delta_error(self, table, e)),
            }
        }
        Err(delta_error(
            self,
            table,
            format!("{COMMIT_ATTEMPTS} attempts to commit lost to other writers; run again"),
        ))
    }

    /// The actions of `change` against the loaded snapshot; `None` when there is nothing to
    /// commit (the transaction is in already, or a file to replace is gone).
    async fn plan(
        &self,
        table: &str,
        delta: &DeltaTable,
        change: &Change,
    ) -> Result<Option<Planned>, WarehouseError> {
        let state = delta.snapshot().map_err(|e| delta_error(self, table, e))?;
        let partition_by = Some(state.metadata().partition_columns().to_vec());
        let adds = |files: &[NewFile], data_change: bool| -> Vec<Action> {
            files
                .iter()
                .map(|f| Action::Add(add_action(table, f, data_change)))
                .collect()
        };
        Ok(Some(match change {
            Change::Append { files, txn } => {
                let txn = match txn {
                    Some((app, version)) => {
                        let committed = self.transaction_version(table, delta, app).await?;
                        if committed.is_some_and(|v| v >= *version) {
                            return Ok(None);
                        }
                        Some(Transaction::new_with_last_update(
                            app,
                            *version,
                            Some(chrono::Utc::now().timestamp_millis()),
                        ))
                    }
                    None => None,
                };
                let operation = DeltaOperation::Write {
                    mode: SaveMode::Append,
                    partition_by,
                    predicate: None,
                };
                (adds(files, true), operation, txn, 0)
            }
            Change::ReplacePartition {
                column,
                value,
                files,
            } => {
                let replaced: Vec<_> = state
                    .log_data()
                    .iter()
                    .filter(|view| {
                        view.partition_values_map().get(column).cloned().flatten()
                            == Some(value.clone())
                    })
                    .collect();
                let rows = replaced
                    .iter()
                    .filter_map(|v| v.num_records())
                    .sum::<usize>();
                let mut actions: Vec<Action> = replaced
                    .iter()
                    .map(|view| Action::Remove(view.remove_action(true)))
                    .collect();
                actions.extend(adds(files, true));
                let operation = DeltaOperation::Write {
                    mode: SaveMode::Overwrite,
                    partition_by,
                    predicate: Some(format!("{column} = '{value}'")),
                };
                (actions, operation, None, rows as u64)
            }
            Change::Rewrite { removed, added } => {
                let prefix = format!("{table}/");
                let wanted: std::collections::HashSet<&str> = removed
                    .iter()
                    .map(|p| p.strip_prefix(&prefix).unwrap_or(p))
                    .collect();
                let replaced: Vec<_> = state
                    .log_data()
                    .iter()
                    .filter(|view| wanted.contains(view.path().as_ref()))
                    .collect();
                let rows = replaced
                    .iter()
                    .filter_map(|v| v.num_records())
                    .sum::<usize>();
                let mut actions: Vec<Action> = replaced
                    .iter()
                    .map(|view| Action::Remove(view.remove_action(false)))
                    .collect();
                if actions.len() != wanted.len() {
                    return Ok(None);
                }
                actions.extend(adds(added, false));
                let size = added.iter().map(|f| f.size).max().unwrap_or(0);
                let operation = DeltaOperation::Optimize {
                    predicate: None,
                    target_size: size as i64,
                };
                (actions, operation, None, rows as u64)
            }
        }))
    }
}

/// A commit's actions, its operation, its transaction, and the rows it removes.
type Planned = (Vec<Action>, DeltaOperation, Option<Transaction>, u64);

/// One commit of a table, as `stickerlake history` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitSummary {
    pub version: u64,
    /// Commit time, RFC 3339.
    pub time: Option<String>,
    pub operation: String,
    /// `tailer <id>`, `job <name>`, `compact`, or the engine of another writer.
    pub writer: String,
    pub files_added: u64,
    pub files_removed: u64,
    pub rows_added: Option<u64>,
    pub rows_removed: Option<u64>,
}

/// What one commit entry (JSON lines of actions) says (pure).
pub fn summarize_commit(version: u64, entry: &[u8]) -> CommitSummary {
    let mut summary = CommitSummary {
        version,
        time: None,
        operation: String::new(),
        writer: String::new(),
        files_added: 0,
        files_removed: 0,
        rows_added: Some(0),
        rows_removed: None,
    };
    for line in entry.split(|&b| b == b'\n') {
        let Ok(action) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if let Some(info) = action.get("commitInfo") {
            summary.time = info["timestamp"]
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            summary.operation = info["operation"].as_str().unwrap_or_default().to_owned();
            let ours = &info["stickerlake"];
            summary.writer = match ours["writer"].as_str() {
                Some("tailer") => format!("tailer {}", ours["tailerId"].as_str().unwrap_or("?")),
                Some("job") => format!("job {}", ours["job"].as_str().unwrap_or("?")),
                Some(writer) => writer.to_owned(),
                None => info["engineInfo"].as_str().unwrap_or("unknown").to_owned(),
            };
            summary.rows_removed = ours["rowsRemoved"].as_u64();
        } else if let Some(add) = action.get("add") {
            summary.files_added += 1;
            let rows = add["stats"]
                .as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|s| s["numRecords"].as_u64());
            summary.rows_added = summary.rows_added.zip(rows).map(|(a, b)| a + b);
        } else if action.get("remove").is_some() {
            summary.files_removed += 1;
        }
    }
    if summary.files_removed == 0 {
        summary.rows_removed = Some(0);
    }
    summary
}

/// `operationMetrics` of a commit, in Delta's names (values as strings, as Spark writes them).
fn operation_metrics(added: &[NewFile], removed_files: usize, removed_rows: u64) -> Value {
    let rows: u64 = added
        .iter()
        .filter_map(|f| f.stats.as_deref())
        .filter_map(|s| serde_json::from_str::<Value>(s).ok()?["numRecords"].as_u64())
        .sum();
    let mut metrics = serde_json::json!({
        "numFiles": added.len().to_string(),
        "numOutputRows": rows.to_string(),
        "numOutputBytes": added.iter().map(|f| f.size).sum::<u64>().to_string(),
    });
    if removed_files != 0 {
        metrics["numRemovedFiles"] = removed_files.to_string().into();
        metrics["numRemovedRows"] = removed_rows.to_string().into();
    }
    metrics
}

/// The `add` action of a file written under `table/`.
fn add_action(table: &str, file: &NewFile, data_change: bool) -> Add {
    let prefix = format!("{table}/");
    Add {
        path: file
            .path
            .strip_prefix(&prefix)
            .unwrap_or(&file.path)
            .to_owned(),
        partition_values: HashMap::from([(
            file.partition.0.clone(),
            Some(file.partition.1.clone()),
        )]),
        size: file.size as i64,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change,
        stats: file.stats.clone(),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
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
