//! The `stickerlake` binary: parses the command line and dispatches to the library.

use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
#[cfg(feature = "ballista")]
use stickerlake::ballista;
use stickerlake::exit::Outcome;
use stickerlake::warehouse::Warehouse;
use stickerlake::{
    audit, check, committer, compact, dialect, forget, generate, history, jobs, migrate, query,
    replay, report, search, status, tailer, vacuum, validate,
};

#[derive(Parser)]
#[command(
    name = "stickerlake",
    version,
    about = "Sticker-search event logs into a Parquet warehouse, and questions about it"
)]
#[command(after_help = "Examples:
  stickerlake generate --out logs --events 10000
  stickerlake tailer --source 'logs/server-*.jsonl*'
  stickerlake run all --date yesterday
  stickerlake sql \"SELECT term, searches FROM search_term_daily ORDER BY searches DESC LIMIT 10\"")]
struct Cli {
    /// Warehouse: a local folder or s3://bucket/prefix (S3 settings from the AWS_* variables).
    #[arg(
        long,
        global = true,
        env = "STICKERLAKE_WAREHOUSE",
        hide_env_values = true,
        default_value = "./warehouse",
        value_name = "URL"
    )]
    warehouse: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest JSON-lines logs into raw_events and quarantine, exactly once.
    Tailer(tailer::TailerArgs),
    /// Commit the flushes a fleet's tailers staged (`tailer --stage`), one commit per interval.
    Committer(committer::CommitterArgs),
    /// Run daily SQL jobs for a day or a range of days.
    Run(jobs::RunArgs),
    /// List the daily jobs and where each one's SQL comes from.
    Jobs(jobs::JobsArgs),
    /// What each day holds, which job-days are stale (exit 3), which days are incomplete (75).
    Status(status::StatusArgs),
    /// Merge a day's small files into few large ones (rows unchanged, days stay fresh).
    Compact(compact::CompactArgs),
    /// The events of some days back as the JSON lines that were sent (or the quarantined lines).
    Replay(replay::ReplayArgs),
    /// A table's commits: version, time, operation, files and rows, writer.
    History(history::HistoryArgs),
    /// Delete files no Delta snapshot within the retention needs (default 7 days).
    Vacuum(vacuum::VacuumArgs),
    /// Convert a warehouse written before Delta tables, in place (safe to re-run).
    Migrate(migrate::MigrateArgs),
    /// Is each day what its history says? Volume, freshness, schema, terms, plan, SQL (exit 6).
    Check(check::CheckArgs),
    /// Check days of raw_events against a tracking plan (exit 6 when an event breaks it).
    Validate(validate::ValidateArgs),
    /// Erase users from every table (and with --purge from every file); they stay erased.
    Forget(forget::ForgetArgs),
    /// Reconcile the source files with raw_events and quarantine, line by line (exit 4 on faults).
    Audit(audit::AuditArgs),
    /// A self-contained HTML page of a day: searches, terms, reports, quarantine, tailers.
    Report(report::ReportArgs),
    /// Ad-hoc, read-only SQL over every warehouse table.
    Sql(query::SqlArgs),
    /// CREATE statements for Spark, Trino or Athena over the same files.
    Ddl(dialect::DdlArgs),
    /// The daily jobs as a Spark SQL script for some days.
    ExportJobs(dialect::ExportJobsArgs),
    /// Embed sticker texts into a vector file with an ONNX text encoder.
    Embed(search::EmbedArgs),
    /// Exact top-k stickers for query texts over a vector file.
    Search(search::SearchArgs),
    /// Score search results against users' selections and reports.
    Eval(search::EvalArgs),
    /// Write realistic sample logs and a sticker catalog.
    Generate(generate::GenerateArgs),
    /// Run a Ballista scheduler or executor for `--engine df://HOST:PORT`.
    #[cfg(feature = "ballista")]
    Ballista(ballista::BallistaArgs),
    /// Shell completions on standard output (`make install` installs them).
    Completions(CompletionsArgs),
    /// Man pages, one per subcommand, into a folder (`make install` installs them).
    #[command(hide = true)]
    Manpages(ManpagesArgs),
}

#[derive(Args)]
#[command(after_help = "Examples:
  stickerlake completions bash > ~/.local/share/bash-completion/completions/stickerlake
  stickerlake completions zsh > ~/.local/share/zsh/site-functions/_stickerlake
  stickerlake completions fish > ~/.config/fish/completions/stickerlake.fish")]
struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Args)]
struct ManpagesArgs {
    /// The folder to write `stickerlake.1` and `stickerlake-SUBCOMMAND.1` into.
    #[arg(value_name = "DIR")]
    out: std::path::PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("stickerlake: error: {}", render(&error));
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    let done = |result: anyhow::Result<()>| result.map(|()| Outcome::Done);
    match cli.command {
        Command::Generate(args) => return done(generate::run(args)),
        Command::Embed(args) => return done(search::run_embed(args)),
        Command::Jobs(args) => return done(jobs::list(args)),
        Command::Completions(args) => {
            // Generated whole first: clap_complete panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "stickerlake", &mut script);
            std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
            return Ok(Outcome::Done);
        }
        Command::Manpages(args) => return done(write_manpages(&args.out)),
        _ => {}
    }
    if matches!(cli.command, Command::Tailer(_) | Command::Run(_)) {
        stickerlake::allocator::tune_for_streaming();
    }
    let warehouse = Warehouse::open(&cli.warehouse)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Status(args) => status::run(args, warehouse).await,
            Command::Audit(args) => audit::run(args, warehouse).await,
            Command::Check(args) => check::run(args, warehouse).await,
            Command::Forget(args) => done(forget::run(args, warehouse).await),
            Command::Validate(args) => validate::run(args, warehouse).await,
            Command::Compact(args) => done(compact::run(args, warehouse).await),
            Command::Committer(args) => done(committer::run(args, warehouse).await),
            Command::Migrate(args) => done(migrate::run(args, warehouse).await),
            Command::Vacuum(args) => done(vacuum::run(args, warehouse).await),
            Command::History(args) => done(history::run(args, warehouse).await),
            Command::Replay(args) => done(replay::run(args, warehouse).await),
            Command::Tailer(args) => done(tailer::run(args, warehouse).await),
            Command::Run(args) => jobs::run(args, warehouse).await,
            Command::Sql(args) => done(query::run(args, warehouse).await),
            Command::Report(args) => done(report::run(args, warehouse).await),
            Command::Ddl(args) => done(dialect::run_ddl(args, warehouse).await),
            Command::ExportJobs(args) => done(dialect::run_export_jobs(args, warehouse).await),
            Command::Search(args) => done(search::run_search(args, warehouse).await),
            Command::Eval(args) => search::run_eval(args, warehouse).await,
            #[cfg(feature = "ballista")]
            Command::Ballista(args) => done(ballista::run(args, warehouse).await),
            Command::Generate(_)
            | Command::Embed(_)
            | Command::Jobs(_)
            | Command::Completions(_)
            | Command::Manpages(_) => {
                unreachable!("handled above")
            }
        }
    });
    // A query cancelled with Ctrl-C may still be inside an operator that does not yield;
    // leaving must not wait for it.
    runtime.shutdown_background();
    outcome
}

/// `stickerlake.1`, and `stickerlake-NAME.1` for every visible subcommand, into `dir`.
fn write_manpages(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let top = Cli::command().name("stickerlake");
    let pages = std::iter::once(("stickerlake".to_owned(), top.clone())).chain(
        top.get_subcommands().filter(|c| !c.is_hide_set()).map(|c| {
            (
                format!("stickerlake-{}", c.get_name()),
                c.clone().name(format!("stickerlake-{}", c.get_name())),
            )
        }),
    );
    for (name, command) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The cause chain on one line. Storage and HTTP errors repeat their causes in their own
/// text, so a cause already said is not said again.
fn render(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
