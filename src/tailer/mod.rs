//! `stickerlake tailer`: JSON-lines logs into date-partitioned Parquet, exactly once.
//!
//! Guarantees (see `docs/contract.md`):
//! - every complete line of a matched file ends up exactly once in `raw_events` (valid) or
//!   `quarantine` (anything else), whatever kills the process: data files are written before
//!   the checkpoint that covers them, and an interrupted flush is finished or undone on the
//!   next start ([`checkpoint`]);
//! - a partial last line waits for its newline; files are known by content ([`source`]), so
//!   rotation by rename or by copy-then-truncate loses nothing as long as the globs match the
//!   rotated names;
//! - memory is bounded by `--max-rows`/`--max-bytes`, not by the size of the logs.

mod batch;
mod commit;
mod encode;
mod event;
mod fast_parse;
mod lines;
mod observe;
pub mod parse;
mod reading;
mod run;
mod say;
mod serve;
mod sizes;
mod state;
mod write;

pub use run::run;

use std::time::Duration;

use clap::Args;

use crate::units::{parse_duration, parse_interval, parse_size};
use say::LogFormat;

/// Arguments of `stickerlake tailer`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake tailer --source '/var/log/app/*.jsonl*'
  stickerlake --warehouse s3://lake/prod tailer --source '/var/log/app/*.jsonl*' --follow
  stickerlake tailer --source '/var/log/app/*.jsonl*' --follow --metrics-addr 127.0.0.1:9464 --log-format json
  stickerlake --warehouse s3://lake/prod tailer --source '/var/log/app/*.jsonl*' --follow --stage   # with `stickerlake committer --follow`
  stickerlake tailer --tailer-id old-host-7 --retire    # a decommissioned host stops holding days back
With --follow, a write the warehouse refuses is tried again (backing off, up to 30 s apart)
until it succeeds or the tailer is stopped; /health says 503 meanwhile.")]
pub struct TailerArgs {
    /// Log files to read (a glob; repeat for more). Match rotated names too (`app.jsonl*`) so
    /// the end of a rotated file is still read.
    #[arg(long = "source", value_name = "GLOB", required_unless_present = "retire", value_parser = crate::contract::source::parse_glob)]
    pub sources: Vec<String>,
    /// Ingest what is there now and exit (the default; for cron).
    #[arg(long, conflicts_with = "follow")]
    pub once: bool,
    /// Keep running, flushing at least every --flush-interval; SIGINT/SIGTERM flush,
    /// checkpoint and exit.
    #[arg(long)]
    pub follow: bool,
    /// Keep checkpoints in this local folder instead of the warehouse's `_state/`.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// Name of this tailer's checkpoint and prefix of its file names; one per host (default:
    /// the host name).
    #[arg(long, value_name = "NAME", value_parser = parse_tailer_id)]
    pub tailer_id: Option<String>,
    /// Flush after this many rows.
    #[arg(long, value_name = "N", default_value_t = 250_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rows: u64,
    /// Flush after this many bytes of log lines. Memory is bounded by about three times this:
    /// a full batch is encoded, and the one before written, while the next one is read.
    #[arg(long, value_name = "N", default_value_t = 32 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_bytes: u64,
    /// With --follow: the longest a read line waits before it is written.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_interval)]
    pub flush_interval: Duration,
    /// Longer lines are quarantined (their first N bytes kept).
    #[arg(long, value_name = "N", default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(16..=(1 << 30)))]
    pub max_line_bytes: u64,
    /// How late an event may arrive and still count for its day's completeness: the
    /// watermark is the oldest active source's latest event time minus this (e.g. 90s, 30m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub allowed_lateness: chrono::Duration,
    /// A source read to its end that has not grown for this long stops holding the
    /// watermark back.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: chrono::Duration,
    /// Serve `/metrics` (Prometheus text format) and `/health` (200, or 503 with the reason)
    /// on HOST:PORT, e.g. 127.0.0.1:9464 (port 0: any free one, printed at start).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// `/health` turns 503 when data has waited this long without a commit.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_interval)]
    pub stall_after: Duration,
    /// `/health` turns 503 when the source files hold more bytes than this not committed yet
    /// (e.g. 512MiB; off by default).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_lag: Option<u64>,
    /// A commit that keeps losing races to other tailers backs off (exponentially, with
    /// jitter) and tries again for this long before the flush fails.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_interval)]
    pub commit_timeout: Duration,
    /// Log lines on stderr: text for people, or one JSON object per line (journald, collectors).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Check every valid event against this tracking plan (JSON, see docs/contract.md);
    /// what breaks it becomes rows of `violations` (the event is kept all the same).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<std::path::PathBuf>,
    /// Stage each flush for `stickerlake committer` instead of committing it: its files are
    /// written, then a manifest of them under `_staging/`; the committer folds every staged
    /// flush of the fleet into one commit per interval (for fleets of hosts on one table).
    #[arg(long)]
    pub stage: bool,
    /// Mark this tailer id retired (a decommissioned host) and exit: it no longer holds back
    /// `run --require-complete`. Running the tailer again un-retires it.
    #[arg(long, requires = "tailer_id", conflicts_with_all = ["follow", "once"])]
    pub retire: bool,
}

fn parse_tailer_id(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !text.starts_with(['.', '_']);
    if valid {
        Ok(text.to_owned())
    } else {
        Err("use 1-64 letters, digits, '-', '_' or '.', not starting with '.' or '_'".into())
    }
}

/// This host's name, made safe for a file name.
fn default_tailer_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    let id: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    parse_tailer_id(&id).unwrap_or_else(|_| "tailer".to_owned())
}
