//! `stickerlake run`: the daily SQL jobs (built in from `sql/`, plus `--sql-dir`), one output
//! partition per day; `stickerlake jobs` lists them. A new `.sql` file is a new job; see
//! [`crate::engine::job_catalog`] for how a job is declared and [`runner`] for what a run guarantees.

mod runner;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::bail;
use chrono::NaiveDate;
use clap::Args;

use runner::{run_job_for_days, Pace, DAYS_PER_COMMIT};

use crate::completeness::{holding_back, tailers};
use crate::dates::{days, DayRangeArgs};
use crate::engine::job_catalog::{input_tables, referenced_tables, select, Job, JobFolderArgs};
use crate::engine::{Engine, EngineArg, WarehouseTables};
use crate::exit::Outcome;
use crate::lineage::{job_days, RunRecord};
use crate::output::SmallTable;
use crate::progress;
use crate::quality::config::CheckConfig;
use crate::quality::results::Status;
use crate::quality::{check_days, record, CheckOptions};
use crate::units::parse_interval;
use crate::warehouse::Warehouse;

/// Arguments of `stickerlake run`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake run all --date yesterday
  stickerlake run search_term_daily --from 2026-11-01 --to 2026-11-23
  stickerlake run all --date 2026-11-23 --sql-dir my_jobs
  stickerlake run all --stale          # what late events changed, over the last 30 days
  stickerlake run all --date yesterday --require-complete   # exit 75 until the tailers are past it
  stickerlake run all --date yesterday --engine df://scheduler:50050   # on a Ballista cluster
  stickerlake run all --from 2026-11-01 --to 2026-11-23 --engine df://scheduler:50050 --day-timeout 10m
  stickerlake run all --date yesterday --engine df://scheduler:50050 --fallback-local
  stickerlake run all --date yesterday --require-complete --require-checks   # the nightly cron
Exit status: 0 done, 1 a job failed, 6 a day failed its checks (--require-checks),
  75 a day asked for is not complete yet (--require-complete).
  stickerlake jobs                     # lists the jobs and where each comes from")]
// Some days are needed: --date, --from/--to, or --stale (which has a default range).
#[command(group(clap::ArgGroup::new("days_needed").args(["date", "from", "stale"]).required(true).multiple(true)))]
pub struct RunArgs {
    /// A job's name (the stem of its .sql file), or `all`.
    #[arg(value_name = "JOB|all")]
    pub job: String,
    #[command(flatten)]
    pub days: DayRangeArgs,
    #[command(flatten)]
    pub jobs: JobFolderArgs,
    /// Run only the job-days whose input files changed since their last successful run (or
    /// that have input and never ran); default range: the last 30 days.
    #[arg(long)]
    pub stale: bool,
    /// Run a day only once every tailer's watermark has passed its end. A day asked for
    /// (--date, --from/--to) that is not complete yet: exit 75, naming what holds it back.
    /// With --stale and no range, incomplete days are left for a later run.
    #[arg(long)]
    pub require_complete: bool,
    /// A job-day with no answer within DURATION (`90s`, `30m`) is abandoned and started
    /// again (3 attempts in all, with pauses between), then fails; given on a cluster, so is
    /// a job-day the cluster failed while it ran. For clusters: Ballista can leave a job
    /// waiting forever, or fail it, after an executor is lost. Default: 10m on a cluster,
    /// no limit locally.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub day_timeout: Option<std::time::Duration>,
    /// On a cluster: a job-day the cluster failed, or did not answer on any attempt, is
    /// computed on this machine instead, with a warning.
    #[arg(long)]
    pub fallback_local: bool,
    /// Run `stickerlake check` for each day first (its results are recorded): a day with a
    /// failing check is not computed; the run names the check and exits 6.
    #[arg(long)]
    pub require_checks: bool,
    /// With --require-checks: the checks' folder (`*.sql`, `checks.toml`).
    #[arg(long, value_name = "DIR", requires = "require_checks")]
    pub checks: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// Days of one job queried at once on this machine: a small day's query leaves a core idle
/// while it plans, lists and writes.
const DAYS_AT_ONCE: usize = 2;

/// Checks the days of `todo` (recording the results) and drops the days with a failing
/// check, naming each failure. Returns whether any day was dropped.
async fn keep_checked_days(
    warehouse: &Warehouse,
    todo: &mut Vec<(NaiveDate, &Job)>,
    args: &RunArgs,
) -> anyhow::Result<bool> {
    let mut config = CheckConfig::load(args.checks.as_deref())?;
    config.freshness.enabled = false;
    let options = CheckOptions {
        config,
        checks_dir: args.checks.clone(),
        max_delay: chrono::Duration::hours(1),
        now: chrono::Utc::now(),
    };
    let days: Vec<NaiveDate> = todo
        .iter()
        .map(|(day, _)| *day)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if days.is_empty() {
        return Ok(false);
    }
    // On this machine, whatever engine the jobs run on: a check reads little.
    let local = WarehouseTables::load(warehouse).await?;
    let results = check_days(warehouse, &local, &days, &options).await?;
    record(warehouse, &days, &results, options.now).await?;
    let failed: std::collections::BTreeSet<NaiveDate> = results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .inspect(|r| {
            let about: Vec<&str> = [&r.kind, &r.source, &r.key]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            eprintln!(
                "run: {} not computed: check {} failed ({}): {}",
                r.date,
                r.check,
                about.join(" "),
                r.message
            );
        })
        .map(|r| r.date)
        .collect();
    todo.retain(|(day, _)| !failed.contains(day));
    Ok(!failed.is_empty())
}

/// `--day-timeout` on a cluster when none is given.
const CLUSTER_DAY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// How far back `run --stale` looks by default.
const STALE_DEFAULT_DAYS: i64 = 30;

/// Arguments of `stickerlake jobs`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake jobs
  stickerlake jobs --sql-dir my_jobs")]
pub struct JobsArgs {
    #[command(flatten)]
    pub jobs: JobFolderArgs,
}

/// `stickerlake jobs`: every job with its output partitioning and where its SQL comes from.
pub fn list(args: JobsArgs) -> anyhow::Result<()> {
    let jobs = args.jobs.discover()?;
    SmallTable::new()
        .text("job", jobs.iter().map(|j| j.name.clone()))
        .text(
            "partition_by",
            jobs.iter().map(|j| j.partition_column.clone()),
        )
        .text("from", jobs.iter().map(|j| j.origin.to_string()))
        .print_to_stdout()
}

pub async fn run(args: RunArgs, warehouse: Warehouse) -> anyhow::Result<Outcome> {
    let today = chrono::Utc::now().date_naive();
    let (from, to) = match args.days.range()? {
        Some(range) => range,
        None if args.stale => (
            today - chrono::Duration::days(STALE_DEFAULT_DAYS - 1),
            today,
        ),
        None => bail!("give --date D, or --from D --to D"),
    };
    let jobs = select(args.jobs.discover()?, &args.job)?;
    args.engine.engine.check().await?;
    let tables = WarehouseTables::load(&warehouse)
        .await?
        .on_engine(args.engine.engine.clone());
    let days = days(from, to);
    let mut todo: Vec<(NaiveDate, &Job)> = Vec::new();
    for job in &jobs {
        if args.stale {
            let inputs = input_tables(&tables, job)?;
            for state in job_days(&warehouse, &tables, &job.name, &inputs, &days).await? {
                if state.stale {
                    todo.push((state.day, job));
                }
            }
        } else {
            todo.extend(days.iter().map(|day| (*day, job)));
        }
    }
    let mut outcome = Outcome::Done;
    if args.require_complete {
        let asked = args.days.given();
        let waiting = keep_complete_days(&mut todo, &tailers(&warehouse).await?, asked);
        if asked && waiting {
            outcome = Outcome::Incomplete;
        }
    }
    if args.require_checks && keep_checked_days(&warehouse, &mut todo, &args).await? {
        outcome = Outcome::ChecksFailed;
    }
    if args.stale && todo.is_empty() {
        println!("run: nothing is stale (and complete) from {from} to {to}");
        return Ok(outcome);
    }
    let bar = progress::count_bar(todo.len() as u64, "run");
    // A failure on a cluster names it: the cause may be the cluster, not the job.
    let on = match &args.engine.engine {
        Engine::Local => String::new(),
        remote => format!(" on --engine {remote}"),
    };
    // A cluster that failed one job-day (its executors lost, say) would hold the next ones
    // queued: it runs a day at a time and stops at a failure, saying what was not started.
    let local = args.engine.engine == Engine::Local;
    if local && args.fallback_local {
        bail!("--fallback-local is for a cluster (--engine df://HOST:PORT): this run is local already");
    }
    // No cron job waits forever on a cluster that lost track of a job.
    let day_timeout = match (args.day_timeout, local) {
        (None, false) => Some(CLUSTER_DAY_TIMEOUT),
        (timeout, _) => timeout,
    };
    if let (Some(limit), false) = (day_timeout, local) {
        let shown = crate::units::human_seconds(limit.as_secs() as i64);
        eprintln!(
            "run{on}: a job-day with no answer within {shown} is started again (--day-timeout)"
        );
    }
    let pace = Pace {
        days_at_once: if local { DAYS_AT_ONCE } else { 1 },
        stop_at_failure: !local,
        day_timeout,
        restart_failed: args.day_timeout.is_some() && !local,
        fallback_local: args.fallback_local,
    };
    let mut failures = Vec::new();
    let mut tables = Arc::new(tables);
    // Tables this run committed to since its snapshot was loaded.
    let mut written = std::collections::HashSet::new();
    let mut started = 0;
    'jobs: for (job, days) in by_job(&todo) {
        // A job reading another job's output reads what this run wrote.
        if referenced_tables(job)?.iter().any(|t| written.contains(t)) {
            tables = Arc::new(
                WarehouseTables::load(&warehouse)
                    .await?
                    .on_engine(args.engine.engine.clone()),
            );
            written.clear();
        }
        let mut delta = tables.delta(&job.name);
        for chunk in days.chunks(DAYS_PER_COMMIT) {
            let on_day = |day: NaiveDate| {
                bar.set_message(format!("{} {day}", job.name));
                bar.inc(1);
            };
            let outcomes =
                run_job_for_days(&warehouse, &tables, (job, chunk), &mut delta, pace, &on_day)
                    .await;
            started += outcomes.len();
            for (day, outcome) in outcomes {
                match outcome {
                    Ok(record) => {
                        written.insert(job.name.clone());
                        bar.suspend(|| println!("{}", summary(&record)));
                    }
                    Err(e) => {
                        bar.suspend(|| eprintln!("run: {} {day} failed{on}: {e:#}", job.name));
                        failures.push(format!("{} {day}", job.name));
                    }
                }
            }
            if pace.stop_at_failure && !failures.is_empty() {
                break 'jobs;
            }
        }
    }
    let not_started = todo.len() - started;
    bar.finish_and_clear();
    if !failures.is_empty() {
        let skipped = match not_started {
            0 => String::new(),
            n => format!("; {n} more not started after it"),
        };
        bail!(
            "{} of {} job run(s) failed{on} ({}){skipped}; their old outputs are unchanged",
            failures.len(),
            todo.len(),
            failures.join(", ")
        );
    }
    Ok(outcome)
}

/// The job-days grouped by job, in the jobs' order of name, each job's days in order.
fn by_job<'a>(todo: &[(NaiveDate, &'a Job)]) -> Vec<(&'a Job, Vec<NaiveDate>)> {
    let mut jobs: BTreeMap<&str, (&Job, Vec<NaiveDate>)> = BTreeMap::new();
    for (day, job) in todo {
        jobs.entry(job.name.as_str())
            .or_insert((job, Vec::new()))
            .1
            .push(*day);
    }
    jobs.into_values()
        .map(|(job, mut days)| {
            days.sort();
            (job, days)
        })
        .collect()
}

/// Drops the job-days whose day is not complete, saying why once per day (on stderr when
/// the day was asked for, else on stdout: it will simply run later). Returns whether any was.
fn keep_complete_days(
    todo: &mut Vec<(NaiveDate, &Job)>,
    tailers: &[crate::contract::checkpoint::Checkpoint],
    asked: bool,
) -> bool {
    let mut waiting = BTreeMap::new();
    todo.retain(|(day, _)| {
        let why = waiting
            .entry(*day)
            .or_insert_with(|| holding_back(tailers, *day));
        why.is_empty()
    });
    waiting.retain(|_, why| !why.is_empty());
    for (day, why) in &waiting {
        for reason in why {
            match asked {
                true => eprintln!("run: {day} is not complete yet, not run (exit 75): {reason}"),
                false => println!("run: {day} is not complete yet, left for a later run: {reason}"),
            }
        }
    }
    !waiting.is_empty()
}

fn summary(record: &RunRecord) -> String {
    let read: Vec<String> = record
        .inputs
        .iter()
        .map(|i| format!("{} rows in {} file(s) of {}", i.rows, i.files, i.table))
        .collect();
    format!(
        "run: {} {}: read {}; wrote {} rows to {} in {:.2} s",
        record.job,
        record.day,
        if read.is_empty() {
            "nothing".to_owned()
        } else {
            read.join(", ")
        },
        record.rows_written,
        record.output,
        record.seconds
    )
}
