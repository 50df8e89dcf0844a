//! Pictures: `stickerlake report` writes a self-contained HTML page of one day and the days
//! before it ([`daily`]); `eval --html` writes the evaluation page (`search::eval_page`). Both are
//! drawn by [`crate::output::html`] (inline SVG, no script), so they open offline from a mail or a share.

pub mod daily;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::Args;

use crate::dates::parse_date;
use crate::engine::job_catalog::JobFolderArgs;
use crate::output::html::write_page;
use crate::warehouse::Warehouse;

/// Arguments of `stickerlake report`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake report -o report.html                       # yesterday and the 13 days before
  stickerlake report --date 2026-11-23 --days 30 -o november.html
  stickerlake report -o - | mail -a 'Content-Type: text/html' -s 'stickers' team@example.com
The page is one file with no external request (charts are inline SVG); each chart has its
numbers in a table under it.")]
pub struct ReportArgs {
    /// The day the page is about (default: yesterday, UTC).
    #[arg(long, value_parser = parse_date)]
    pub date: Option<NaiveDate>,
    /// Days in the window, ending with --date.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// The HTML file to write (`-` for standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub output: PathBuf,
    #[command(flatten)]
    pub jobs: JobFolderArgs,
}

pub async fn run(args: ReportArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let day = args
        .date
        .unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Duration::days(1));
    let daily = daily::Daily::load(&warehouse, day, args.days, &args.jobs).await?;
    let page = daily.render();
    write_page(&args.output, &page)?;
    if args.output != Path::new("-") {
        eprintln!(
            "wrote {} ({} KiB): {} to {}",
            args.output.display(),
            page.len().div_ceil(1024),
            daily.window[0],
            day
        );
    }
    Ok(())
}
