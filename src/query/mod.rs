//! `stickerlake sql`: ad-hoc, read-only SQL over every warehouse table.
//!
//! Statements run one after the other and each result is printed as it streams: a large
//! `SELECT` holds one batch at a time, and when statement 3 fails, the output of 1 and 2 is
//! already written.

mod repl;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use datafusion::prelude::SessionContext;

use crate::engine::{parse_statements, Query, WarehouseTables};
use crate::output::{write_stream, Format};
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
    /// The `table` format shows at most this many rows of a result and says how many more
    /// there were (0: no limit). Other formats write every row.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_rows: usize,
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
    let tables = WarehouseTables::load(&warehouse).await?;
    let ctx = tables.session(None)?;
    let Some(text) = text else {
        return repl::run(&ctx, &tables.infos(), args.format, max_rows).await;
    };
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
            run_statements(&ctx, &text, &mut out, args.format, max_rows).await
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout());
            run_statements(&ctx, &text, &mut out, args.format, max_rows).await
        }
    }
}

/// Parses every statement of `text`, then runs and prints them in order.
pub async fn run_statements(
    ctx: &SessionContext,
    text: &str,
    out: &mut impl Write,
    format: Format,
    max_rows: Option<usize>,
) -> anyhow::Result<()> {
    for statement in parse_statements(text)? {
        let query = Query::plan(ctx, statement).await?;
        let schema = query.schema();
        write_stream(out, format, schema, query.stream().await?, max_rows).await?;
    }
    Ok(())
}
