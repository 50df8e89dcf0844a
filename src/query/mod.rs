//! `stickerlake sql`: ad-hoc, read-only SQL over every warehouse table.
//!
//! Statements run one after the other and each result is printed as it streams: a large
//! `SELECT` holds one batch at a time, and when statement 3 fails, the output of 1 and 2 is
//! already written. Before a statement runs, its physical plan says which files it will read
//! ([`crate::engine::scan`]): that is the scan preview (`--explain-scan`), the
//! `--max-scan-bytes` refusal and the warning when no partition is pruned. On S3 the
//! warehouse is read through the cached catalog (`warehouse::catalog_cache`).

mod complete;
mod describe;
mod interrupt;
mod pager;
mod repl;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use datafusion::sql::resolve::resolve_table_references;

use crate::engine::scan::{by_table, scanned_files, TableScan};
use crate::engine::{
    parse_statements, Engine, EngineArg, NotYet, Query, SessionOptions, TableInfo, WarehouseTables,
};
use crate::output::{write_stream, Format, SmallTable};
use crate::units::{human_bytes, parse_size};
use crate::warehouse::delta::{parse_as_of, AsOf};
use crate::warehouse::{FileInfo, Warehouse};

/// Arguments of `stickerlake sql`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake sql \"SELECT term, searches FROM search_term_daily WHERE event_date = DATE '2026-11-23' ORDER BY searches DESC LIMIT 10\"
  stickerlake sql -f report.sql --format csv -o report.csv
  stickerlake sql --explain-scan \"SELECT count(*) FROM raw_events WHERE event_date >= DATE '2026-11-01'\"
  stickerlake sql --max-scan-bytes 2GiB --memory-limit 4GiB -f heavy.sql
  stickerlake sql --engine df://scheduler:50050 -f heavy.sql   # on a Ballista cluster
  stickerlake sql                      # interactive prompt (\\q quits, \\d lists tables, \\scan QUERY)")]
pub struct SqlArgs {
    /// The query (several may be separated by `;`). Without QUERY or -f: an interactive prompt.
    #[arg(value_name = "QUERY", conflicts_with = "file")]
    pub query: Option<String>,
    /// Read the query from a file.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the results to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The `table` format shows at most this many rows of a result and says how many more
    /// there were (0: no limit). Other formats write every row.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_rows: usize,
    /// Print what each statement would read (per table: partitions, files, bytes, rows from
    /// the Parquet footers) and run nothing.
    #[arg(long)]
    pub explain_scan: bool,
    /// Memory a statement may use (`512MiB`, `2GiB`): past it, sorts and aggregations spill
    /// to disk where they can, and the statement fails with a clear error where they cannot.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub memory_limit: Option<u64>,
    /// Read an S3 warehouse without the cached catalog (listings, Parquet footers).
    #[arg(long)]
    pub no_cache: bool,
    /// Refuse a statement that would read more than this many bytes (`500MiB`, `2GiB`).
    #[arg(long, value_name = "BYTES", env = "STICKERLAKE_MAX_SCAN_BYTES", value_parser = parse_size)]
    pub max_scan_bytes: Option<u64>,
    /// Read every table as it was then: a version of raw_events (`stickerlake history
    /// raw_events`; the other tables as of its commit time) or an RFC 3339 timestamp.
    #[arg(long, value_name = "VERSION|TIMESTAMP", value_parser = parse_as_of)]
    pub as_of: Option<AsOf>,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// A prompt's or a command's state: the tables, and the limits every statement is held to.
pub struct Session {
    /// Where statements run.
    ctx: SessionContext,
    /// When they run on Ballista: the same tables here, to plan what a statement will read.
    local: Option<SessionContext>,
    warehouse: Warehouse,
    tables: Vec<TableInfo>,
    max_scan_bytes: Option<u64>,
    /// With `--as-of`: tables that had no version yet then (a statement naming one is refused).
    not_yet: Vec<NotYet>,
}

pub async fn run(args: SqlArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let text = match (&args.query, &args.file) {
        (Some(query), _) => Some(query.clone()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        ),
        (None, None) => None,
    };
    let max_rows = (args.max_rows > 0).then_some(args.max_rows);
    let warehouse = if args.no_cache {
        warehouse
    } else {
        warehouse.with_catalog_cache()
    };
    let engine = args.engine.engine;
    engine.check().await?;
    let tables = WarehouseTables::load_as_of(&warehouse, args.as_of)
        .await?
        .on_engine(engine.clone());
    if let Some(as_of) = args.as_of {
        eprintln!("sql: as of {as_of}: {}", tables.versions());
    }
    let session = Session {
        ctx: tables.session_with(SessionOptions {
            memory_limit: args.memory_limit,
            ..Default::default()
        })?,
        local: match engine {
            Engine::Local => None,
            Engine::Ballista { .. } => Some(tables.session_with(SessionOptions {
                local: true,
                ..Default::default()
            })?),
        },
        warehouse,
        tables: tables.infos(),
        max_scan_bytes: args.max_scan_bytes,
        not_yet: tables.not_yet().to_vec(),
    };
    let Some(text) = text else {
        return repl::run(&session, args.format, max_rows).await;
    };
    if args.explain_scan {
        let mut out = std::io::stdout().lock();
        return session.explain_scan(&text, &mut out).await;
    }
    if args.format == Format::Parquet
        && args.output.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        bail!("--format parquet writes binary data: give -o FILE or redirect standard output");
    }
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            session.run(&text, &mut out, args.format, max_rows).await
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout());
            session.run(&text, &mut out, args.format, max_rows).await
        }
    }
}

impl Session {
    /// Parses every statement of `text`, then runs and prints them in order.
    pub async fn run(
        &self,
        text: &str,
        out: &mut impl Write,
        format: Format,
        max_rows: Option<usize>,
    ) -> anyhow::Result<()> {
        for statement in parse_statements(text)? {
            let (query, plan, scans) = self.plan(statement).await?;
            self.warn_unpruned(&scans).await?;
            self.check_scan_bytes(&scans)?;
            let schema = query.schema();
            let stream = match plan {
                Some(plan) => query.execute(plan)?,
                None => query.stream().await?,
            };
            write_stream(out, format, schema, stream, max_rows).await?;
        }
        Ok(())
    }

    /// `statement` planned, with what it will read. Locally the physical plan that says so
    /// is the one that runs (returned); on Ballista the scheduler makes its own, so the scans
    /// come from the same statement planned here.
    async fn plan(
        &self,
        statement: Statement,
    ) -> anyhow::Result<(Query, Option<Arc<dyn ExecutionPlan>>, Vec<TableScan>)> {
        self.refuse_not_yet(&statement)?;
        let scans_of =
            |plan: &Arc<dyn ExecutionPlan>| by_table(&scanned_files(plan, &self.warehouse));
        match &self.local {
            None => {
                let query = Query::plan(&self.ctx, statement).await?;
                let plan = query.physical_plan().await?;
                let scans = scans_of(&plan);
                Ok((query, Some(plan), scans))
            }
            Some(local) => {
                let here = Query::plan(local, statement.clone()).await?;
                let scans = scans_of(&here.physical_plan().await?);
                Ok((Query::plan(&self.ctx, statement).await?, None, scans))
            }
        }
    }

    /// A statement over a table that had no version yet at `--as-of`: the sentence that
    /// says so, instead of the planner's "table not found".
    fn refuse_not_yet(&self, statement: &Statement) -> anyhow::Result<()> {
        if self.not_yet.is_empty() {
            return Ok(());
        }
        let (references, _) = resolve_table_references(statement, true)?;
        for reference in references {
            if let Some(absent) = self.not_yet.iter().find(|t| t.name == reference.table()) {
                bail!(
                    "{absent}: read a later moment (`stickerlake history {}` lists its commits)",
                    absent.name
                );
            }
        }
        Ok(())
    }

    /// Per statement, what it would read, without running it.
    pub async fn explain_scan(&self, text: &str, out: &mut impl Write) -> anyhow::Result<()> {
        for statement in parse_statements(text)? {
            let (_, _, scans) = self.plan(statement).await?;
            self.warn_unpruned(&scans).await?;
            write_scans(out, &scans)?;
            if let Some(limit) = self.max_scan_bytes {
                let total: u64 = scans.iter().map(|s| s.bytes).sum();
                let verdict = if total > limit {
                    "would be refused"
                } else {
                    "is allowed"
                };
                writeln!(
                    out,
                    "{verdict} by --max-scan-bytes {limit} ({})",
                    human_bytes(limit)
                )?;
            }
        }
        Ok(())
    }

    fn check_scan_bytes(&self, scans: &[TableScan]) -> anyhow::Result<()> {
        let Some(limit) = self.max_scan_bytes else {
            return Ok(());
        };
        let total: u64 = scans.iter().map(|s| s.bytes).sum();
        if total <= limit {
            return Ok(());
        }
        let parts: Vec<String> = scans
            .iter()
            .map(|s| {
                format!(
                    "{} {} in {} file(s) of {} partition(s)",
                    s.table,
                    human_bytes(s.bytes),
                    s.files,
                    s.partitions.len()
                )
            })
            .collect();
        let hint = self
            .partition_columns(scans)
            .next()
            .map(|(_, column)| {
                format!(": filter on {column} (e.g. WHERE {column} = DATE '2026-11-23') to read fewer partitions")
            })
            .unwrap_or_default();
        bail!(
            "refused: the query would read {total} bytes ({}; {}), over --max-scan-bytes {limit} ({}){hint}, or raise the limit (--max-scan-bytes, $STICKERLAKE_MAX_SCAN_BYTES)",
            human_bytes(total),
            parts.join(", "),
            human_bytes(limit)
        )
    }

    /// One line on stderr per partitioned table read whole: the filter pruned nothing.
    async fn warn_unpruned(&self, scans: &[TableScan]) -> anyhow::Result<()> {
        for (scan, column) in self.partition_columns(scans) {
            if scan.partitions.len() < 2 {
                continue;
            }
            let all = self.partitions_of(&scan.table);
            if scan.partitions.len() >= all.len() {
                eprintln!(
                    "warning: the query reads all {} partitions of {} ({}): a filter on {column} reads only those it needs",
                    all.len(),
                    scan.table,
                    human_bytes(scan.bytes)
                );
            }
        }
        Ok(())
    }

    /// The files of table `name` by partition, as loaded.
    fn partitions_of(&self, name: &str) -> BTreeMap<String, Vec<FileInfo>> {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.partitions.clone())
            .unwrap_or_default()
    }

    /// The scans of partitioned tables, with their partition column.
    fn partition_columns<'a>(
        &'a self,
        scans: &'a [TableScan],
    ) -> impl Iterator<Item = (&'a TableScan, &'a str)> {
        scans.iter().filter_map(|scan| {
            let info = self.tables.iter().find(|t| t.name == scan.table)?;
            Some((scan, info.partition_column.as_deref()?))
        })
    }
}

/// The scan preview as a table, then its total.
fn write_scans(out: &mut impl Write, scans: &[TableScan]) -> anyhow::Result<()> {
    SmallTable::new()
        .text("table", scans.iter().map(|s| s.table.clone()))
        .int(
            "partitions",
            scans.iter().map(|s| s.partitions.len() as i64),
        )
        .text("first", scans.iter().map(|s| s.partitions.first().cloned()))
        .text("last", scans.iter().map(|s| s.partitions.last().cloned()))
        .int("files", scans.iter().map(|s| s.files as i64))
        .int("bytes", scans.iter().map(|s| s.bytes as i64))
        .int("rows", scans.iter().map(|s| s.rows.map(|r| r as i64)))
        .print(out)?;
    let bytes: u64 = scans.iter().map(|s| s.bytes).sum();
    let files: usize = scans.iter().map(|s| s.files).sum();
    writeln!(
        out,
        "reads {files} file(s), {bytes} bytes ({}); nothing was run",
        human_bytes(bytes)
    )?;
    Ok(())
}
