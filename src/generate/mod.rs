//! `stickerlake generate`: realistic sample logs for demos, tests and benchmarks.
//!
//! Deterministic for a seed. Per server a `server-NN.jsonl` in arrival order, plus
//! `catalog.jsonl` (sticker id, caption, tags). The logs have what production logs have:
//! a skewed (Zipf) term distribution typed with case, whitespace and Unicode variants, late
//! events, duplicate deliveries of the same `messageId`, blank lines and a few bad lines of
//! each kind. Selections favour stickers whose caption matches the search term, reports
//! favour off-topic ones, so an evaluation against these logs measures something.

mod catalog;
mod events;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;

pub use catalog::{Catalog, Sticker};
pub use events::{EventGenerator, GeneratorConfig};

/// Arguments of `stickerlake generate`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  stickerlake generate --out sample_events --events 2000 --days 3 --servers 2 --seed 7")]
pub struct GenerateArgs {
    /// Folder to write server-NN.jsonl and catalog.jsonl into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of events (lines, before duplicates and bad lines are added).
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Number of days the events span.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// First day (YYYY-MM-DD, today or yesterday); default: `--days` days before today.
    #[arg(long, value_parser = crate::dates::parse_date)]
    pub start: Option<NaiveDate>,
    /// Number of app servers, one log file each.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=999))]
    pub servers: u32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Weekday seasonality: weekends busier than weekdays, as in a real app (for `check`).
    #[arg(long)]
    pub weekly: bool,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let start = args.start.unwrap_or_else(|| {
        chrono::Utc::now().date_naive() - chrono::Duration::days(i64::from(args.days))
    });
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let catalog = Catalog::new();
    write_lines(
        &args.out.join("catalog.jsonl"),
        catalog.stickers().iter().map(Sticker::to_json),
    )?;

    let config = GeneratorConfig {
        events: args.events,
        days: args.days,
        start,
        servers: args.servers,
        seed: args.seed,
        weekly: args.weekly,
    };
    let mut lines_written = 0u64;
    for (server, lines) in EventGenerator::new(&catalog, config)
        .by_server()
        .into_iter()
        .enumerate()
    {
        let path = args.out.join(format!("server-{:02}.jsonl", server + 1));
        lines_written += lines.len() as u64;
        write_lines(&path, lines.into_iter())?;
    }
    println!(
        "generate: {lines_written} lines for {} server(s) from {start} over {} day(s), {} stickers, in {}",
        args.servers,
        args.days,
        catalog.stickers().len(),
        args.out.display()
    );
    Ok(())
}

fn write_lines(path: &std::path::Path, lines: impl Iterator<Item = Vec<u8>>) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    for line in lines {
        out.write_all(&line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}
