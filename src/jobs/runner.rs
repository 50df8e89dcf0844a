//! Running one job for some days.
//!
//! Contract: a day's output is one Parquet file, `<job>/<column>=<day>/part-….parquet`,
//! committed to the job's Delta table as a replacement of that day's partition (the old
//! file is removed in the same commit). Every reader sees the old day or the new day, never
//! a mix; two runs of the same job and day at once each commit a complete day and the last
//! one stays. The days of a range are queried two at a time and committed together, up to
//! [`DAYS_PER_COMMIT`] in one commit, so a range costs one table load and a commit per
//! month, not per day. The inputs' versions go in the commit's `commitInfo`; a run record
//! per day (what was read, file by file, and written, and how long it took) goes to
//! `<job>/_runs/`, which readers skip; see [`crate::lineage`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::prelude::SessionContext;
use deltalake_core::DeltaTable;
use futures::StreamExt;
use tokio::sync::OnceCell;

use crate::engine::job_catalog::{parse_job, Job};
use crate::engine::{Query, SessionOptions, WarehouseTables};
use crate::lineage::{day_inputs, record_run, InputRecord, RunRecord};
use crate::warehouse::delta::{Change, NewFile};
use crate::warehouse::{encode_parquet, partition_dir, FileInfo, Warehouse};

/// The most days one commit replaces: a long backfill commits as it goes, so a failure
/// late in it keeps the months before.
pub const DAYS_PER_COMMIT: usize = 31;

/// How a run goes through a job's days.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Days queried at once.
    pub days_at_once: usize,
    /// No day is started after one fails (on a cluster, which would hold them queued).
    pub stop_at_failure: bool,
    /// A day with no answer within this is abandoned and started again, at most
    /// [`DAY_ATTEMPTS`] times in all, then fails.
    pub day_timeout: Option<std::time::Duration>,
    /// With `day_timeout`, a day the cluster failed while it ran is started again too (asked
    /// for with an explicit `--day-timeout`, which also bounds an attempt that would wait for
    /// executors when none is left).
    pub restart_failed: bool,
    /// A day the cluster failed, or did not answer on any attempt, is computed on the local
    /// engine instead (with a warning).
    pub fallback_local: bool,
}

/// A day's output, written to storage and waiting for its commit.
struct DayOutput {
    day: NaiveDate,
    started_at: DateTime<Utc>,
    clock: Instant,
    output: String,
    file: NewFile,
    rows_written: usize,
    inputs: Vec<InputRecord>,
}

/// Runs `job` for `days` (at most [`DAYS_PER_COMMIT`]) at `pace`, then commits every day
/// that succeeded in one commit and records their runs. Returns each started day's
/// outcome, in order; `on_day` is called as each day's query ends. `delta` is the job's
/// table as last committed to (`None`: not loaded, or no table yet), kept up to date.
pub async fn run_job_for_days(
    warehouse: &Warehouse,
    tables: &Arc<WarehouseTables>,
    (job, days): (&Job, &[NaiveDate]),
    delta: &mut Option<DeltaTable>,
    pace: Pace,
    on_day: &dyn Fn(NaiveDate),
) -> Vec<(NaiveDate, anyhow::Result<RunRecord>)> {
    // The first day to end opens the table (or creates it) before it writes its file.
    let table = Arc::new(OnceCell::new_with(delta.clone()));
    // Days run side by side share the cores.
    let at_once = pace.days_at_once.max(1).min(days.len());
    let queries = days.iter().map(|&day| {
        // A task each, so that days side by side run on different threads.
        let (warehouse, tables, job) = (warehouse.clone(), tables.clone(), job.clone());
        let table = table.clone();
        async move {
            let task = tokio::spawn(async move {
                let query =
                    |local| query_day(&warehouse, &tables, &job, &table, day, at_once, local);
                within(pace, query, &format!("{} {day}", job.name)).await
            });
            let result = task.await.unwrap_or_else(|e| Err(anyhow::anyhow!("{e}")));
            on_day(day);
            (day, result)
        }
    });
    let mut queries = futures::stream::iter(queries).buffered(at_once);
    let mut written = Vec::new();
    let mut outcomes = Vec::new();
    while let Some((day, result)) = queries.next().await {
        match result {
            Ok(output) => written.push(output),
            Err(e) => {
                outcomes.push((day, Err(e)));
                if pace.stop_at_failure {
                    break;
                }
            }
        }
    }
    drop(queries);
    if let Some(opened) = table.get() {
        *delta = Some(opened.clone());
    }
    if let (Some(delta), false) = (delta.as_mut(), written.is_empty()) {
        match commit_days(warehouse, job, delta, &written).await {
            Ok(()) => {
                for output in written {
                    let day = output.day;
                    outcomes.push((day, record(warehouse, job, output).await));
                }
            }
            Err(e) => {
                let e = format!("{e:#}");
                outcomes.extend(written.iter().map(|o| (o.day, Err(anyhow::anyhow!("{e}")))));
            }
        }
    }
    outcomes.sort_by_key(|(day, _)| *day);
    outcomes
}

/// Attempts of a job-day on a cluster, with `--day-timeout`: Ballista 55 can leave a job
/// waiting forever after an executor is lost, or fail it, and the same job submitted again
/// runs on the executors left.
pub const DAY_ATTEMPTS: u32 = 3;

/// The pause before attempt `attempt + 1` of a day whose attempt timed out after `limit`
/// or failed (pure): a quarter of the limit, doubling, at most 30 s, so that the scheduler
/// has noticed a lost executor before the day is submitted again.
fn resubmit_pause(limit: std::time::Duration, attempt: u32) -> std::time::Duration {
    let pause = (limit / 4).saturating_mul(1 << (attempt - 1).min(16));
    pause.min(std::time::Duration::from_secs(30))
}

/// `attempt(false)` (on the run's engine); with `fallback_local`, a day the cluster failed
/// or never answered is `attempt(true)`, on the local engine.
async fn within<F, T>(pace: Pace, attempt: impl Fn(bool) -> F, what: &str) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    match on_cluster(pace, &attempt, what).await {
        Err(e) if pace.fallback_local => {
            eprintln!("run: {what}: {e:#}; computing it on the local engine (--fallback-local)");
            attempt(true).await
        }
        result => result,
    }
}

/// `attempt(false)`; with a day timeout, [`DAY_ATTEMPTS`] times at most: started again
/// when it has not ended within the timeout or (`restart_failed`) when the cluster failed
/// it while it ran. (The
/// abandoned attempt's Ballista job is not cancelled: Ballista 55's client gives out a job's
/// id only once it has ended.)
async fn on_cluster<F, T>(pace: Pace, attempt: &impl Fn(bool) -> F, what: &str) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let Some(limit) = pace.day_timeout else {
        return attempt(false).await;
    };
    let shown = crate::units::human_seconds(limit.as_secs() as i64);
    let mut tries = 1;
    loop {
        let why = match tokio::time::timeout(limit, attempt(false)).await {
            Ok(Err(e)) if pace.restart_failed && e.is::<WhileRunning>() => {
                format!("failed on the cluster ({e:#})")
            }
            Ok(result) => return result,
            Err(_) => format!("no answer within {shown} (--day-timeout)"),
        };
        if tries == DAY_ATTEMPTS {
            anyhow::bail!("{why}, {DAY_ATTEMPTS} times; nothing of it was committed");
        }
        let pause = resubmit_pause(limit, tries);
        eprintln!(
            "run: {what}: {why}; starting it once more in {}",
            crate::units::human_seconds(pause.as_secs() as i64)
        );
        tokio::time::sleep(pause).await;
        tries += 1;
    }
}

/// Marks a day's query that failed while it ran (not while it was planned or written): on
/// a cluster, what a lost executor does, worth another attempt. Shows as the job's origin.
#[derive(Debug)]
struct WhileRunning(String);

impl std::fmt::Display for WhileRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The job's query for `day`, its result written as the day's new file (not committed
/// yet), once `table` is open.
async fn query_day(
    warehouse: &Warehouse,
    tables: &WarehouseTables,
    job: &Job,
    table: &OnceCell<DeltaTable>,
    day: NaiveDate,
    at_once: usize,
    local: bool,
) -> anyhow::Result<DayOutput> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let ctx = tables.session_with(SessionOptions {
        day: Some(day),
        at_once,
        local,
        ..Default::default()
    })?;
    let (statement, input_tables) = parse_job(&ctx, job)?;
    // Listed before the query runs: a file landing meanwhile makes the day stale, never
    // counts as read.
    let listings = day_inputs(tables, &input_tables, day);
    // The same read-only execution path as `stickerlake sql`.
    let (schema, batches) = Query::plan(&ctx, statement)
        .await
        .with_context(|| job.origin.to_string())?
        .collect()
        .await
        .context(WhileRunning(job.origin.to_string()))?;
    let (schema, batches) = without_column(schema, batches, &job.partition_column)?;

    let dir = partition_dir(&job.name, &job.partition_column, day);
    let output = format!(
        "{dir}/part-{}-{:016x}.parquet",
        started_at.format("%Y%m%dT%H%M%S"),
        rand::random::<u64>()
    );
    let bytes =
        Bytes::from(encode_parquet(schema.clone(), &batches).context("encoding the job's output")?);
    let file = NewFile::from_bytes(&output, &bytes).map_err(anyhow::Error::msg)?;
    // Opened (or created) and its columns checked before any output is in the table's
    // folder: a folder with data and no log is a table from before Delta, which is refused,
    // and output with other columns would only be left there uncommitted.
    let delta = table
        .get_or_try_init(|| {
            warehouse.open_or_create_delta(&job.name, &schema, &job.partition_column)
        })
        .await?;
    check_columns(warehouse, job, delta, &schema)?;
    warehouse.put(&warehouse.path(&output), bytes).await?;
    Ok(DayOutput {
        day,
        started_at,
        clock,
        output,
        file,
        rows_written: batches.iter().map(RecordBatch::num_rows).sum(),
        inputs: inputs(&ctx, tables, listings).await?,
    })
}

/// One commit replacing the partitions of `days` by their new files.
async fn commit_days(
    warehouse: &Warehouse,
    job: &Job,
    delta: &mut DeltaTable,
    days: &[DayOutput],
) -> anyhow::Result<()> {
    // Every input's version, as read by the first day (one snapshot serves the run).
    let versions: serde_json::Map<String, serde_json::Value> = days[0]
        .inputs
        .iter()
        .map(|i| (i.table.clone(), serde_json::json!(i.version)))
        .collect();
    let values: Vec<String> = days.iter().map(|d| d.day.to_string()).collect();
    let info = serde_json::json!({"writer": "job", "job": job.name, "days": values, "inputVersions": versions});
    let change = Change::ReplacePartitions {
        column: job.partition_column.clone(),
        values,
        files: days.iter().map(|d| d.file.clone()).collect(),
    };
    warehouse
        .commit(
            &job.name,
            delta,
            &change,
            serde_json::Map::from_iter([("stickerlake".to_owned(), info)]),
        )
        .await?;
    Ok(())
}

/// The committed day's run record, written for staleness and `status`.
async fn record(warehouse: &Warehouse, job: &Job, day: DayOutput) -> anyhow::Result<RunRecord> {
    let record = RunRecord {
        job: job.name.clone(),
        day: day.day,
        started_at: day.started_at,
        seconds: day.clock.elapsed().as_secs_f64(),
        inputs: day.inputs,
        output: day.output,
        rows_written: day.rows_written,
        bytes_written: day.file.size as usize,
        stickerlake_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    record_run(warehouse, &record).await?;
    Ok(record)
}

/// The partition column lives in the path only: drop it from the output if the query kept it.
fn without_column(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    column: &str,
) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let Ok(index) = schema.index_of(column) else {
        return Ok((schema, batches));
    };
    let keep: Vec<usize> = (0..schema.fields().len()).filter(|&i| i != index).collect();
    let projected: SchemaRef = std::sync::Arc::new(Schema::clone(&schema).project(&keep)?);
    let batches = batches
        .iter()
        .map(|b| b.project(&keep))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((projected, batches))
}

/// A job's output columns are its table's: a job whose SQL now returns other columns
/// would make a table no reader can read whole.
fn check_columns(
    warehouse: &Warehouse,
    job: &Job,
    delta: &DeltaTable,
    schema: &Schema,
) -> anyhow::Result<()> {
    let table = warehouse.snapshot(&job.name, delta)?;
    let columns = |s: &Schema| -> Vec<(String, arrow::datatypes::DataType)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    let (had, has) = (columns(&table.file_schema), columns(schema));
    if had != has {
        anyhow::bail!(
            "{}: the query returns the columns {has:?}, but table {} has {had:?}; keep the columns, or give the job a new name (or remove the table's folder to start it over)",
            job.origin,
            job.name
        );
    }
    Ok(())
}

/// For each table the query names: its version and the day's files in the snapshot it
/// read, and its rows.
async fn inputs(
    ctx: &SessionContext,
    tables: &WarehouseTables,
    listings: BTreeMap<String, Vec<FileInfo>>,
) -> anyhow::Result<Vec<InputRecord>> {
    let mut records = Vec::new();
    for (table, listing) in listings {
        // The log states each file's rows; count only when a file was committed without.
        let stated: Option<u64> = listing.iter().map(|f| f.rows).sum();
        let rows = match stated {
            Some(rows) => rows as usize,
            None => ctx.table(table.as_str()).await?.count().await?,
        };
        records.push(InputRecord {
            version: tables.info(&table).map(|t| t.version),
            table,
            files: listing.len(),
            rows: rows as i64,
            listing: Some(listing),
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Waits forever on its first `hangs` calls, then answers with the call's number.
    fn attempts(
        hangs: usize,
    ) -> (
        Arc<AtomicUsize>,
        impl Fn() -> futures::future::BoxFuture<'static, anyhow::Result<usize>>,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let attempt = move || {
            let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let answer: futures::future::BoxFuture<'static, anyhow::Result<usize>> =
                match call <= hangs {
                    true => Box::pin(futures::future::pending()),
                    false => Box::pin(async move { Ok(call) }),
                };
            answer
        };
        (calls, attempt)
    }

    fn pace(day_timeout: Option<Duration>, fallback_local: bool) -> Pace {
        Pace {
            days_at_once: 1,
            stop_at_failure: true,
            day_timeout,
            restart_failed: true,
            fallback_local,
        }
    }

    #[tokio::test]
    async fn a_day_with_no_answer_is_started_again_then_fails() {
        let limit = Some(Duration::from_millis(40));
        let (calls, attempt) = attempts(2);
        let cluster = move |local: bool| {
            assert!(!local, "no fallback asked for");
            attempt()
        };
        assert_eq!(
            within(pace(limit, false), &cluster, "job day")
                .await
                .unwrap(),
            3
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let (calls, attempt) = attempts(3);
        let error = within(pace(limit, false), |_| attempt(), "job day")
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("--day-timeout), 3 times"),
            "{error}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let (calls, attempt) = attempts(0);
        assert_eq!(
            within(pace(None, false), |_| attempt(), "job day")
                .await
                .unwrap(),
            1
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_day_the_cluster_failed_while_it_ran_is_started_again() {
        let limit = Some(Duration::from_millis(40));
        let calls = AtomicUsize::new(0);
        // Fails while running on its first call, then answers.
        let flaky = |_| {
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                match call {
                    1 => Err(anyhow::anyhow!("executor lost").context(WhileRunning("job".into()))),
                    _ => Ok(call),
                }
            }
        };
        assert_eq!(
            within(pace(limit, false), &flaky, "job day").await.unwrap(),
            2
        );
        // Not asked for, or not while running (a planning error): once.
        calls.store(0, Ordering::SeqCst);
        let not_asked = Pace {
            restart_failed: false,
            ..pace(limit, false)
        };
        assert!(within(not_asked, &flaky, "job day").await.is_err());
        let planning = |_| async { anyhow::bail!("no such column") as anyhow::Result<usize> };
        assert!(within(pace(limit, false), planning, "job day")
            .await
            .is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn with_fallback_a_day_the_cluster_never_answers_or_fails_runs_locally() {
        let limit = Some(Duration::from_millis(40));
        let on = |local: bool| -> futures::future::BoxFuture<'static, anyhow::Result<&str>> {
            match local {
                true => Box::pin(async { Ok("local") }),
                false => Box::pin(futures::future::pending()),
            }
        };
        assert_eq!(
            within(pace(limit, true), on, "job day").await.unwrap(),
            "local"
        );
        let failing = |local: bool| -> futures::future::BoxFuture<'static, anyhow::Result<&str>> {
            match local {
                true => Box::pin(async { Ok("local") }),
                false => Box::pin(async { anyhow::bail!("executor lost") }),
            }
        };
        assert_eq!(
            within(pace(None, true), failing, "job day").await.unwrap(),
            "local"
        );
        assert!(within(pace(None, false), failing, "job day").await.is_err());
    }

    #[test]
    fn resubmissions_pause_longer_each_time_up_to_30_seconds() {
        let limit = Duration::from_secs(20);
        assert_eq!(resubmit_pause(limit, 1), Duration::from_secs(5));
        assert_eq!(resubmit_pause(limit, 2), Duration::from_secs(10));
        assert_eq!(resubmit_pause(limit, 3), Duration::from_secs(20));
        assert_eq!(
            resubmit_pause(Duration::from_secs(600), 1),
            Duration::from_secs(30)
        );
        assert_eq!(
            resubmit_pause(Duration::from_millis(40), 40),
            Duration::from_secs(30)
        );
    }
}
