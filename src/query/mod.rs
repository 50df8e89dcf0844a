//! `stickerlake sql`: ad-hoc, read-only SQL over every warehouse table.
//!
//! Statements that would create, change or delete data or files (DDL, DML, `COPY`, `SET`)
//! are refused before anything runs.

mod print;
mod repl;
mod tables;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use clap::Args;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};

pub use print::{write_results, Format};
pub use tables::{days_since_epoch, TableInfo, WarehouseTables};

use crate::warehouse::Warehouse;

/// Arguments of `stickerlake sql`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake sql \"SELECT term, searches FROM search_term_daily WHERE event_date = DATE '2026-11-23' ORDER BY searches DESC LIMIT 10\"
  stickerlake sql -f report.sql --format csv -o report.csv
  stickerlake sql                      # interactive prompt (\\q quits, \\d lists tables)")]
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
    let tables = WarehouseTables::load(&warehouse).await?;
    let ctx = tables.session(None)?;
    let Some(text) = text else {
        return repl::run(&ctx, &tables.infos(), args.format).await;
    };
    if args.format == Format::Parquet
        && args.output.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        bail!("--format parquet writes binary data: give -o FILE or redirect standard output");
    }
    let results = run_statements(&ctx, &text).await?;
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            print_all(&mut out, args.format, &results)
        }
        None => print_all(&mut std::io::stdout().lock(), args.format, &results),
    }
}

fn print_all(
    out: &mut impl Write,
    format: Format,
    results: &[(SchemaRef, Vec<RecordBatch>)],
) -> anyhow::Result<()> {
    for (schema, batches) in results {
        write_results(out, format, schema.clone(), batches)?;
    }
    Ok(())
}

/// Parses, checks (read-only) and runs every statement in `text`, in order.
pub async fn run_statements(
    ctx: &SessionContext,
    text: &str,
) -> anyhow::Result<Vec<(SchemaRef, Vec<RecordBatch>)>> {
    let statements =
        DFParser::parse_sql(text).map_err(|e| anyhow::anyhow!("SQL syntax error: {e}"))?;
    if statements.is_empty() {
        bail!("no SQL statement given");
    }
    let mut results = Vec::new();
    for statement in statements {
        results.push(run_statement(ctx, statement).await?);
    }
    Ok(results)
}

/// Plans one statement, refuses it unless it only reads, runs it and collects the result.
pub async fn run_statement(
    ctx: &SessionContext,
    statement: Statement,
) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let shown = statement.to_string();
    let plan = ctx
        .state()
        .statement_to_plan(statement)
        .await
        .map_err(|e| query_error(&shown, e))?;
    read_only()
        .verify_plan(&plan)
        .map_err(|e| anyhow::anyhow!("refused: stickerlake only reads, and `{}` would change data or settings ({e}); its SQL is read-only. Daily tables are the results of SQL files in sql/ run with `stickerlake run`.", abbreviate(&shown)))?;
    let frame = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| query_error(&shown, e))?;
    let schema: SchemaRef = frame.schema().inner().clone();
    let batches = frame.collect().await.map_err(|e| query_error(&shown, e))?;
    Ok((schema, batches))
}

/// A result column as strings, whatever string layout the engine chose (DataFusion reads
/// Parquet strings as `Utf8View`).
pub fn string_column(batch: &RecordBatch, index: usize) -> anyhow::Result<Vec<Option<String>>> {
    use arrow::array::{Array, AsArray};
    let column = arrow::compute::cast(batch.column(index), &arrow::datatypes::DataType::Utf8)?;
    let strings = column.as_string::<i32>();
    Ok((0..strings.len())
        .map(|i| strings.is_valid(i).then(|| strings.value(i).to_owned()))
        .collect())
}

pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

fn query_error(statement: &str, error: datafusion::error::DataFusionError) -> anyhow::Error {
    anyhow::anyhow!(
        "{} (in `{}`)",
        error.strip_backtrace(),
        abbreviate(statement)
    )
}

fn abbreviate(statement: &str) -> String {
    let one_line = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}
