//! Registering the warehouse's tables in a DataFusion session: one table per top-level
//! folder that is a Delta table (folders starting with `_` or `.` are not tables), read at
//! one snapshot: exactly the files of its log, never a folder listing. The partition
//! column is a column, so filters on it prune partitions.
//!
//! `*_date` partition columns are `Date32`; others are strings.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use arrow::datatypes::{DataType, Field, SchemaRef};
use chrono::NaiveDate;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{col, lit, DataFrame, Expr, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use deltalake_core::DeltaTable;
use futures::{StreamExt, TryStreamExt};

use super::bounded::BoundedAggregates;
use super::snapshot::{SnapshotFile, SnapshotProvider};
use super::Engine;
use crate::contract::paths::DELTA_LOG;
use crate::contract::{is_table_name, Table, EVENT_DATE};
use crate::units::parse_size;
use crate::warehouse::delta::{partition_type, AsOf, Snapshot};
use crate::warehouse::{FileInfo, Warehouse};

/// A registered table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: String,
    pub partition_column: Option<String>,
    /// The Delta version read.
    pub version: u64,
    /// The snapshot's data files by partition value (`""` when unpartitioned).
    pub partitions: BTreeMap<String, Vec<FileInfo>>,
}

/// One table's snapshot, ready to scan exactly the snapshot's files (never a folder
/// listing, so files outside the snapshot are never read).
struct SnapshotTable {
    info: TableInfo,
    file_schema: SchemaRef,
    /// For this process: the snapshot as one table.
    provider: Arc<SnapshotProvider>,
    /// For Ballista, which ships plans of plain Parquet scans: a listing table per
    /// partition over its files (by URL), the value added as a constant column.
    partitions: Vec<(String, Arc<ListingTable>)>,
    /// The loaded table, for a writer that commits to it next (a job to its own table).
    delta: DeltaTable,
}

/// The warehouse's tables, each at one snapshot, loaded once.
pub struct WarehouseTables {
    warehouse: Warehouse,
    tables: Vec<SnapshotTable>,
    engine: Engine,
    /// Shared by the sessions without a memory limit, so that the files' footers decoded
    /// by one statement (a job's day) serve the next (the other jobs reading that day).
    runtime: Arc<RuntimeEnv>,
    /// With `--as-of`: the tables that exist now but had no version yet at that moment.
    not_yet: Vec<NotYet>,
}

/// A table that exists now but had no version at the moment time travel asked for.
#[derive(Debug, Clone)]
pub struct NotYet {
    pub name: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub first_commit: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Display for NotYet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = |t: &chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        };
        write!(
            f,
            "{} has no version at or before {}; its first is {}",
            self.name,
            time(&self.at),
            time(&self.first_commit)
        )
    }
}

/// How a session of [`WarehouseTables`] is set up; the default is every table, all of it,
/// on the tables' engine, with the process's memory pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionOptions {
    /// Tables partitioned by `event_date` show only this day: this is how a daily job reads
    /// just the partitions it needs without a date in its SQL.
    pub day: Option<NaiveDate>,
    /// Statements run side by side (0 or 1: one): each plans for its share of the cores,
    /// rather than splitting its input into a partition per core and merging it back while
    /// the others hold those cores.
    pub at_once: usize,
    /// On this machine, whatever engine the tables run on: what a statement will read is
    /// planned here when it runs on Ballista (the scheduler's plan is not visible).
    pub local: bool,
    /// Statements may hold at most this many bytes (spilling past it).
    pub memory_limit: Option<u64>,
}

impl WarehouseTables {
    pub async fn load(warehouse: &Warehouse) -> anyhow::Result<Self> {
        Ok(Self::load_with(warehouse, None, false).await?.0)
    }

    /// Every table as it was at `as_of` (time travel): a version of `raw_events` pins the
    /// other tables at that version's commit time. Tables that did not exist then are left
    /// out.
    pub async fn load_as_of(warehouse: &Warehouse, as_of: Option<AsOf>) -> anyhow::Result<Self> {
        Ok(Self::load_with(warehouse, as_of, false).await?.0)
    }

    /// The tables without the files their snapshot names but storage no longer has (a
    /// damaged warehouse), and those files: for `audit`, which reports what they held.
    pub async fn load_present(warehouse: &Warehouse) -> anyhow::Result<(Self, Vec<String>)> {
        Self::load_with(warehouse, None, true).await
    }

    async fn load_with(
        warehouse: &Warehouse,
        as_of: Option<AsOf>,
        check_files: bool,
    ) -> anyhow::Result<(Self, Vec<String>)> {
        let moment = match as_of {
            Some(AsOf::Version(version)) => {
                Some(AsOf::Time(raw_version_time(warehouse, version).await?))
            }
            other => other,
        };
        let names: Vec<String> = warehouse
            .list_folders("")
            .await?
            .into_iter()
            .filter(|name| is_table_name(name))
            .collect();
        // Each table's log is read on its own: a load is mostly waiting on storage.
        let loads = names.iter().map(|name| {
            let pinned = match as_of {
                Some(AsOf::Version(_)) if name == Table::RawEvents.name() => as_of,
                _ => moment,
            };
            load_table(warehouse, name, pinned, check_files)
        });
        let loaded: Vec<_> = futures::stream::iter(loads)
            .buffered(TABLES_AT_ONCE)
            .try_collect()
            .await?;
        let mut missing = Vec::new();
        let mut tables = Vec::new();
        let mut not_yet = Vec::new();
        for (name, loaded) in names.iter().zip(loaded) {
            match (loaded, moment) {
                (Some((table, gone)), _) => {
                    tables.push(table);
                    missing.extend(gone);
                }
                (None, Some(AsOf::Time(at))) => {
                    if let Some(first_commit) = warehouse.commit_time(name, 0).await? {
                        let name = name.clone();
                        not_yet.push(NotYet {
                            name,
                            at,
                            first_commit,
                        });
                    }
                }
                (None, _) => {}
            }
        }
        let tables = Self {
            warehouse: warehouse.clone(),
            tables,
            engine: Engine::Local,
            runtime: new_runtime(None)?,
            not_yet,
        };
        Ok((tables, missing))
    }

    /// The same tables, their statements run on `engine` (checked with [`Engine::check`]).
    pub fn on_engine(self, engine: Engine) -> Self {
        Self { engine, ..self }
    }

    pub fn infos(&self) -> Vec<TableInfo> {
        self.tables.iter().map(|t| t.info.clone()).collect()
    }

    /// Which version of each table was read: `raw_events v12, quarantine v3, …`.
    pub fn versions(&self) -> String {
        let versions: Vec<String> = self
            .tables
            .iter()
            .map(|t| format!("{} v{}", t.info.name, t.info.version))
            .collect();
        match versions.is_empty() {
            true => "no table had a version yet".to_owned(),
            false => versions.join(", "),
        }
    }

    /// With `--as-of`: the tables that exist now but had no version yet then.
    pub fn not_yet(&self) -> &[NotYet] {
        &self.not_yet
    }

    /// Table `name` as loaded, if it is one.
    pub fn info(&self, name: &str) -> Option<&TableInfo> {
        self.tables
            .iter()
            .map(|t| &t.info)
            .find(|info| info.name == name)
    }

    /// Table `name` as loaded, to commit to without loading its log again.
    pub fn delta(&self, name: &str) -> Option<DeltaTable> {
        let table = self.tables.iter().find(|t| t.info.name == name)?;
        Some(table.delta.clone())
    }

    /// The files of table `name` by partition value (none for an unknown table).
    pub fn partitions(&self, name: &str) -> BTreeMap<String, Vec<FileInfo>> {
        self.info(name)
            .map(|info| info.partitions.clone())
            .unwrap_or_default()
    }

    /// A session with every table registered by name, all of it, on the tables' engine.
    pub fn session(&self) -> anyhow::Result<SessionContext> {
        self.session_with(SessionOptions::default())
    }

    /// A session with every table registered by name, set up as `options` say.
    pub fn session_with(&self, options: SessionOptions) -> anyhow::Result<SessionContext> {
        let engine = if options.local {
            &Engine::Local
        } else {
            &self.engine
        };
        self.session_for(options.day, options.memory_limit, engine, options.at_once)
    }

    fn session_for(
        &self,
        day: Option<NaiveDate>,
        memory_limit: Option<u64>,
        engine: &Engine,
        at_once: usize,
    ) -> anyhow::Result<SessionContext> {
        // Attached before the tables are registered: Ballista's session starts a new catalog.
        let runtime = match memory_limit {
            None => self.runtime.clone(),
            limit => new_runtime(limit)?,
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let partitions = (cores / at_once.max(1)).max(1);
        let ctx = new_context(&self.warehouse, runtime, memory_limit, partitions)?;
        let ctx = engine.attach(ctx)?;
        if matches!(engine, Engine::Ballista { .. }) {
            // These move expressions (JSON functions) below the union of a table's
            // partitions, and the plan they leave does not survive the trip to the
            // scheduler; the scheduler optimizes what it receives anyway.
            ctx.remove_optimizer_rule("extract_leaf_expressions");
            ctx.remove_optimizer_rule("push_down_leaf_projections");
        }
        for table in &self.tables {
            let only = match (day, table.info.partition_column.as_deref()) {
                (Some(day), Some(EVENT_DATE)) => Some(day),
                _ => None,
            };
            let name = table.info.name.as_str();
            match (engine, only) {
                (Engine::Local, None) => {
                    ctx.register_table(name, table.provider.clone())?;
                }
                (Engine::Local, Some(day)) => {
                    let one_day = ctx
                        .read_table(table.provider.clone())?
                        .filter(col(EVENT_DATE).eq(date_literal(day)))?;
                    ctx.register_table(name, one_day.into_view())?;
                }
                (Engine::Ballista { .. }, only) => {
                    let only = only.map(|d| d.format("%Y-%m-%d").to_string());
                    let frame = table.frame(&ctx, only.as_deref())?;
                    ctx.register_table(name, frame.into_view())?;
                }
            }
        }
        Ok(ctx)
    }
}

impl SnapshotTable {
    /// The table (or only partition `only`) as one frame: each partition's files with the
    /// partition value as a constant column, after the file columns (as Hive tables show it).
    fn frame(&self, ctx: &SessionContext, only: Option<&str>) -> anyhow::Result<DataFrame> {
        let column = self.info.partition_column.as_deref();
        let mut frames = Vec::new();
        for (value, listing) in &self.partitions {
            if only.is_some_and(|only| only != value) {
                continue;
            }
            let frame = ctx.read_table(listing.clone())?;
            frames.push(match column {
                Some(column) => {
                    let mut columns: Vec<Expr> = self
                        .file_schema
                        .fields()
                        .iter()
                        .map(|f| col(f.name()))
                        .collect();
                    columns.push(partition_value(column, value)?.alias(column));
                    frame.select(columns)?
                }
                None => frame,
            });
        }
        let mut frames = frames.into_iter();
        match frames.next() {
            Some(first) => Ok(frames.try_fold(first, |all, next| all.union(next))?),
            None => self.empty(ctx),
        }
    }

    /// No rows, with the table's columns and types.
    fn empty(&self, ctx: &SessionContext) -> anyhow::Result<DataFrame> {
        let mut columns: Vec<Expr> = Vec::new();
        for field in self.file_schema.fields() {
            let null = ScalarValue::try_from(field.data_type())?;
            columns.push(lit(null).alias(field.name()));
        }
        if let Some(column) = &self.info.partition_column {
            let null = ScalarValue::try_from(&partition_type(column))?;
            columns.push(lit(null).alias(column));
        }
        Ok(ctx.read_empty()?.select(columns)?)
    }
}

/// A partition value as a literal of its column's type.
fn partition_value(column: &str, value: &str) -> anyhow::Result<Expr> {
    Ok(lit(partition_scalar(column, value)?))
}

fn partition_scalar(column: &str, value: &str) -> anyhow::Result<ScalarValue> {
    Ok(match partition_type(column) {
        DataType::Date32 => {
            let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .with_context(|| format!("partition {column}={value} is not a date"))?;
            ScalarValue::Date32(Some(days_since_epoch(day)))
        }
        _ => ScalarValue::Utf8(Some(value.to_owned())),
    })
}

/// When `version` of `raw_events` was committed, or a sentence saying why there is none.
async fn raw_version_time(
    warehouse: &Warehouse,
    version: u64,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let raw = Table::RawEvents.name();
    if let Some(time) = warehouse.commit_time(raw, version).await? {
        return Ok(time);
    }
    let listed = format!("`stickerlake history {raw}` lists them");
    match warehouse.latest_version(raw).await? {
        Some(latest) if version > latest => {
            anyhow::bail!("{raw} has no version {version}: its latest is {latest} ({listed})")
        }
        Some(_) => match crate::erasure::Ledger::load(warehouse).await?.purged(raw, version) {
            Some((request, before)) => anyhow::bail!(
                "{raw} has no version {version} any more: `forget --purge` (request {}, {}) erased users and removed every version before {before}, so nothing before the erasure can be read",
                request.request_id,
                request.requested_at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => anyhow::bail!(
                "{raw} has no version {version} in its log any more: log cleanup removed it ({listed})"
            ),
        },
        None => anyhow::bail!(
            "{raw} has no version {version}: warehouse {} has no {raw} table yet",
            warehouse.location()
        ),
    }
}

/// Tables whose logs are read at once.
const TABLES_AT_ONCE: usize = 8;

/// Table `name` at `pinned` (or its latest version), with the files its snapshot names
/// that storage no longer has when `check_files` (left out of the table). `None`: not a
/// table (yet), or not at that time.
async fn load_table(
    warehouse: &Warehouse,
    name: &str,
    pinned: Option<AsOf>,
    check_files: bool,
) -> anyhow::Result<Option<(SnapshotTable, Vec<String>)>> {
    let Some(delta) = warehouse.open_delta_as_of(name, pinned).await? else {
        if pinned.is_none() && has_data(warehouse, name).await? {
            anyhow::bail!(
                "{name} in warehouse {} is not a Delta table (it has no {DELTA_LOG}): it was written by a stickerlake before Delta tables; run `stickerlake migrate` once",
                warehouse.location()
            );
        }
        return Ok(None);
    };
    let mut snapshot = warehouse.snapshot(name, &delta)?;
    let mut gone = Vec::new();
    if check_files {
        gone = missing_files(warehouse, &snapshot).await?;
        snapshot.files.retain(|f| !gone.contains(&f.path));
    }
    warehouse.remember_files(snapshot.files.iter().map(|f| (f.path.as_str(), f.size)));
    Ok(Some((snapshot_table(warehouse, snapshot, delta)?, gone)))
}

/// The files of `snapshot` that storage does not have.
async fn missing_files(warehouse: &Warehouse, snapshot: &Snapshot) -> anyhow::Result<Vec<String>> {
    let checks = snapshot.files.iter().map(|f| async move {
        let present = warehouse.exists(&warehouse.path(&f.path)).await?;
        Ok::<_, anyhow::Error>((!present).then(|| f.path.clone()))
    });
    let found: Vec<Option<String>> = futures::stream::iter(checks)
        .buffered(16)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Whether a folder that is not a Delta table holds Parquet data (else it is just empty).
async fn has_data(warehouse: &Warehouse, name: &str) -> anyhow::Result<bool> {
    Ok(!warehouse.list_folders(name).await?.is_empty()
        || !warehouse.list_files(name).await?.is_empty())
}

fn snapshot_table(
    warehouse: &Warehouse,
    snapshot: Snapshot,
    delta: DeltaTable,
) -> anyhow::Result<SnapshotTable> {
    // The contract's tables keep the contract's schema (nullability, list item names).
    let file_schema: SchemaRef = match Table::from_name(&snapshot.table) {
        Some(table) => table.schema().clone(),
        None => snapshot.file_schema.clone(),
    };
    let mut partitions = Vec::new();
    let mut provided = Vec::new();
    let mut files_by_partition = BTreeMap::new();
    let column = snapshot.partition_column.as_deref();
    for (value, files) in snapshot.by_partition() {
        let typed = match column {
            Some(column) => Some(partition_scalar(column, &value)?),
            None => None,
        };
        let objects = files
            .iter()
            .map(|f| SnapshotFile {
                object_path: warehouse.path(&f.path).to_string(),
                size: f.size,
                rows: f.rows,
            })
            .collect();
        provided.push((typed, objects));
        let infos = files.iter().map(|f| FileInfo::from(*f)).collect();
        files_by_partition.insert(value.clone(), infos);
        let urls = files
            .iter()
            .map(|f| ListingTableUrl::parse(warehouse.location().object_url(&f.path).as_str()))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(file_schema.clone());
        partitions.push((value, Arc::new(ListingTable::try_new(config)?)));
    }
    let store_url = ObjectStoreUrl::parse(warehouse.location().store_url())?;
    let partition_field = column.map(|c| Field::new(c, partition_type(c), false));
    let provider = SnapshotProvider::new(store_url, file_schema.clone(), partition_field, provided);
    Ok(SnapshotTable {
        provider: Arc::new(provider),
        info: TableInfo {
            name: snapshot.table.clone(),
            partition_column: snapshot.partition_column.clone(),
            version: snapshot.version,
            partitions: files_by_partition,
        },
        file_schema,
        partitions,
        delta,
    })
}

/// A runtime whose statements may hold at most `memory_limit` bytes.
fn new_runtime(memory_limit: Option<u64>) -> anyhow::Result<Arc<RuntimeEnv>> {
    // Decoded Parquet footers are kept for reuse up to this much: a job reads each footer
    // up to five times (statistics, each scan, the row count), so the cache should hold a
    // day's (~63 KB per tailer file: 9.2 MiB for the 153 files of 16M events). DataFusion's
    // 50 MiB default let memory grow with the files of a longer range; 2 MiB made the 16M
    // day read every footer five times.
    let mut runtime = RuntimeEnvBuilder::new().with_metadata_cache_limit(16 << 20);
    if let Some(limit) = memory_limit {
        runtime = runtime.with_memory_limit(usize::try_from(limit).unwrap_or(usize::MAX), 1.0);
    }
    Ok(runtime.build_arc()?)
}

fn new_context(
    warehouse: &Warehouse,
    runtime: Arc<RuntimeEnv>,
    memory_limit: Option<u64>,
    partitions: usize,
) -> anyhow::Result<SessionContext> {
    // DATAFUSION_* variables (e.g. DATAFUSION_EXECUTION_BATCH_SIZE) tune the engine.
    let config = SessionConfig::from_env()
        .context("reading the DATAFUSION_* environment variables")?
        .with_information_schema(true)
        .with_target_partitions(partitions);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(BoundedAggregates::new(aggregate_budget(
            memory_limit,
        )?)))
        .build();
    let mut ctx = SessionContext::new_with_state(state);
    register_functions(&mut ctx)?;
    ctx.register_object_store(&warehouse.location().store_url(), warehouse.store().clone());
    Ok(ctx)
}

/// Bytes of input one aggregation holds before it splits it into buckets on disk
/// ([`BoundedAggregates`]): `$STICKERLAKE_AGGREGATE_MEMORY`, else a quarter of
/// `--memory-limit`, at most 48 MiB.
fn aggregate_budget(memory_limit: Option<u64>) -> anyhow::Result<usize> {
    const DEFAULT: u64 = 48 << 20;
    let budget = match std::env::var("STICKERLAKE_AGGREGATE_MEMORY") {
        Ok(text) => parse_size(&text)
            .map_err(|e| anyhow::anyhow!("STICKERLAKE_AGGREGATE_MEMORY={text:?}: {e}"))?,
        Err(_) => memory_limit.map_or(DEFAULT, |limit| (limit / 4).min(DEFAULT)),
    };
    Ok(usize::try_from(budget).unwrap_or(usize::MAX))
}

/// JSON functions and operators over the JSON text columns, for `sql` and jobs alike (and
/// in the Ballista scheduler and executors, which must know every function a plan names).
pub fn register_functions(ctx: &mut SessionContext) -> anyhow::Result<()> {
    datafusion_functions_json::register_all(ctx).context("registering the JSON functions")
}

/// A `DATE` literal, for filters on `*_date` partition columns.
pub fn date_literal(day: NaiveDate) -> datafusion::prelude::Expr {
    lit(ScalarValue::Date32(Some(days_since_epoch(day))))
}

/// `column BETWEEN from AND to` on a `*_date` partition column (pushed down to pruning).
pub fn date_between(column: &str, from: NaiveDate, to: NaiveDate) -> datafusion::prelude::Expr {
    col(column)
        .gt_eq(date_literal(from))
        .and(col(column).lt_eq(date_literal(to)))
}

pub fn days_since_epoch(day: NaiveDate) -> i32 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")).num_days() as i32
}
