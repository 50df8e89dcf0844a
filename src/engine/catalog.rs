//! Registering the warehouse's tables in a DataFusion session: one table per top-level
//! folder (folders starting with `_` or `.` are not tables), its Hive partition column
//! (`column=value` folders) as a column, so filters on it prune partitions.
//!
//! `*_date` partition columns are `Date32`; others are strings.

use std::sync::Arc;

use anyhow::Context;
use arrow::datatypes::{DataType, SchemaRef};
use chrono::NaiveDate;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{col, lit, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;

use super::bounded::BoundedAggregates;
use super::Engine;
use crate::contract::{is_table_name, Table, EVENT_DATE};
use crate::progress::parse_size;
use crate::warehouse::Warehouse;

/// A registered table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: String,
    pub partition_column: Option<String>,
}

/// The warehouse's tables, listed once.
pub struct WarehouseTables {
    warehouse: Warehouse,
    tables: Vec<(TableInfo, Arc<ListingTable>)>,
    engine: Engine,
}

impl WarehouseTables {
    pub async fn load(warehouse: &Warehouse) -> anyhow::Result<Self> {
        let ctx = new_context(warehouse, None)?;
        let mut tables = Vec::new();
        for name in warehouse.list_folders("").await? {
            if !is_table_name(&name) {
                continue;
            }
            let partition_column = partition_column(warehouse, &name).await?;
            if let Some(table) =
                listing_table(&ctx, warehouse, &name, partition_column.as_deref()).await?
            {
                tables.push((
                    TableInfo {
                        name,
                        partition_column,
                    },
                    table,
                ));
            }
        }
        Ok(Self {
            warehouse: warehouse.clone(),
            tables,
            engine: Engine::Local,
        })
    }

    /// The same tables, their statements run on `engine` (checked with [`Engine::check`]).
    pub fn on_engine(self, engine: Engine) -> Self {
        Self { engine, ..self }
    }

    pub fn infos(&self) -> Vec<TableInfo> {
        self.tables.iter().map(|(info, _)| info.clone()).collect()
    }

    /// A session with every table registered by name.
    ///
    /// With `day`, tables partitioned by `event_date` show only that day: this is how a
    /// daily job reads just the partitions it needs without a date in its SQL.
    pub fn session(&self, day: Option<NaiveDate>) -> anyhow::Result<SessionContext> {
        self.session_for(day, None, &self.engine)
    }

    /// A session of every table whose statements may hold at most `memory_limit` bytes.
    pub fn session_with_memory_limit(
        &self,
        memory_limit: Option<u64>,
    ) -> anyhow::Result<SessionContext> {
        self.session_for(None, memory_limit, &self.engine)
    }

    /// A session of every table in this process, whatever the engine: what a statement will
    /// read is planned here when it runs on Ballista (the scheduler's plan is not visible).
    pub fn local_session(&self) -> anyhow::Result<SessionContext> {
        self.session_for(None, None, &Engine::Local)
    }

    fn session_for(
        &self,
        day: Option<NaiveDate>,
        memory_limit: Option<u64>,
        engine: &Engine,
    ) -> anyhow::Result<SessionContext> {
        // Attached before the tables are registered: Ballista's session starts a new catalog.
        let ctx = engine.attach(new_context(&self.warehouse, memory_limit)?)?;
        for (info, table) in &self.tables {
            match (day, info.partition_column.as_deref()) {
                (Some(day), Some(EVENT_DATE)) => {
                    let one_day = ctx
                        .read_table(table.clone())?
                        .filter(col(EVENT_DATE).eq(date_literal(day)))?;
                    ctx.register_table(info.name.as_str(), one_day.into_view())?;
                }
                _ => {
                    ctx.register_table(info.name.as_str(), table.clone())?;
                }
            }
        }
        Ok(ctx)
    }
}

fn new_context(warehouse: &Warehouse, memory_limit: Option<u64>) -> anyhow::Result<SessionContext> {
    // DATAFUSION_* variables (e.g. DATAFUSION_EXECUTION_BATCH_SIZE) tune the engine.
    let config = SessionConfig::from_env()
        .context("reading the DATAFUSION_* environment variables")?
        .with_information_schema(true)
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
    // Decoded Parquet footers are kept for reuse up to this much: a job reads each footer
    // up to five times (statistics, each scan, the row count), so the cache should hold a
    // day's (~63 KB per tailer file: 9.2 MiB for the 153 files of 16M events). DataFusion's
    // 50 MiB default let memory grow with the files of a longer range; 2 MiB made the 16M
    // day read every footer five times.
    let mut runtime = RuntimeEnvBuilder::new().with_metadata_cache_limit(16 << 20);
    if let Some(limit) = memory_limit {
        runtime = runtime.with_memory_limit(usize::try_from(limit).unwrap_or(usize::MAX), 1.0);
    }
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime.build_arc()?)
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

/// The column of the first `column=value` folder in the table, if any.
async fn partition_column(warehouse: &Warehouse, table: &str) -> anyhow::Result<Option<String>> {
    let folders = warehouse.list_folders(table).await?;
    Ok(folders
        .iter()
        .find_map(|f| f.split_once('=').map(|(column, _)| column.to_owned())))
}

async fn listing_table(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    name: &str,
    partition_column: Option<&str>,
) -> anyhow::Result<Option<Arc<ListingTable>>> {
    let url = ListingTableUrl::parse(warehouse.folder_url(name).as_str())?;
    let partition_cols = partition_column
        .map(|c| {
            let kind = if c.ends_with("_date") {
                DataType::Date32
            } else {
                DataType::Utf8
            };
            vec![(c.to_owned(), kind)]
        })
        .unwrap_or_default();
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_cols);
    let schema: SchemaRef = match Table::from_name(name) {
        Some(table) => table.schema().clone(),
        None => match options.infer_schema(&ctx.state(), &url).await {
            Ok(schema) if !schema.fields().is_empty() => schema,
            // A folder with no Parquet file in it (yet) is not a table.
            _ => return Ok(None),
        },
    };
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Some(Arc::new(ListingTable::try_new(config)?)))
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
