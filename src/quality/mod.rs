//! Data quality, shared by `check`, `validate`, `run --require-checks`, `status`, `report` and
//! the tailer's `--plan`: the tracking plan ([`plan`]), what a day looks like ([`profile`]),
//! what normal is ([`band`]), the checks ([`evaluate`], pure) and where their results are
//! kept ([`results`]). This module reads the warehouse for them and records what they found.

pub mod band;
pub mod config;
pub mod evaluate;
pub mod plan;
pub mod profile;
pub mod profile_cache;
mod quick_schema;
mod read;
pub mod results;
mod scan;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use arrow::array::RecordBatch;
use bytes::Bytes;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::StreamExt;

use crate::contract::paths::PROFILES_DIR;
use crate::contract::Table;
use crate::engine::{int_column, query_all, string_column, WarehouseTables};
use crate::warehouse::delta::{Change, NewFile};
use crate::warehouse::{encode_parquet, partition_dir, Warehouse};
use config::CheckConfig;
use evaluate::{Inputs, KnownFailures};
use profile::{source_name, DayProfile};
use results::{CheckResult, Status, CHECK_RESULTS, CHECK_RESULTS_SCHEMA, DATE};

/// What a run of the checks needs besides the days.
pub struct CheckOptions {
    pub config: CheckConfig,
    /// `*.sql` user checks and `checks.toml` live here.
    pub checks_dir: Option<PathBuf>,
    pub max_delay: Duration,
    pub now: DateTime<Utc>,
}

/// Runs every enabled check for `days` (in order), each day against the profiles of its
/// baseline days and the failures `check_results` and the earlier days of the run hold.
pub async fn check_days(
    warehouse: &Warehouse,
    tables: &WarehouseTables,
    days: &[NaiveDate],
    options: &CheckOptions,
) -> anyhow::Result<Vec<CheckResult>> {
    let config = &options.config;
    if tables.info(Table::RawEvents.name()).is_none() {
        anyhow::bail!("the warehouse has no raw_events table yet: run `stickerlake tailer` first");
    }
    let mut needed: BTreeSet<NaiveDate> = days.iter().copied().collect();
    for day in days {
        needed.extend(evaluate::window(*day, config.baseline_weeks));
    }
    let profiles = profiles(warehouse, tables, &needed).await?;
    let baseline_days: Vec<NaiveDate> = needed
        .difference(&days.iter().copied().collect())
        .copied()
        .collect();
    let mut failures: KnownFailures = recorded(tables, &baseline_days)
        .await?
        .into_iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| (r.date, r.subject()))
        .collect();
    let user_checks = user_checks(options.checks_dir.as_deref(), config)?;
    let violations = match config.plan.enabled && tables.info(Table::Violations.name()).is_some() {
        true => Some(violation_counts(tables, days).await?),
        false => None,
    };
    let mut results = Vec::new();
    for &day in days {
        let inputs = Inputs {
            day,
            profiles: &profiles,
            failures: &failures,
            config,
        };
        let mut found = Vec::new();
        // A day not over yet is compared with whole days only once it is over.
        let over = day < options.now.date_naive();
        if config.volume.enabled && over {
            found.extend(evaluate::volume(&inputs));
        }
        if config.schema.enabled {
            found.extend(evaluate::schema(&inputs));
        }
        if config.distribution.enabled && over {
            found.extend(evaluate::distribution(&inputs));
        }
        if config.freshness.enabled && day == options.now.date_naive() {
            found.extend(freshness(warehouse, tables, day, options).await?);
        }
        if let Some(violations) = &violations {
            found.extend(plan_results(
                day,
                violations.get(&day),
                config.plan.severity,
            ));
        }
        for (name, sql) in &user_checks {
            found.push(user_check(tables, day, name, sql, config.sql.severity).await?);
        }
        failures.extend(
            found
                .iter()
                .filter(|r| r.status == Status::Fail)
                .map(|r| (r.date, r.subject())),
        );
        results.extend(found);
    }
    Ok(results)
}

/// The profile of every day of `days` that has rows: kept ones for days whose files have
/// not changed since ([`profile_cache`]), the others read from their files ([`read`]) and
/// kept for the next check.
async fn profiles(
    warehouse: &Warehouse,
    tables: &WarehouseTables,
    days: &BTreeSet<NaiveDate>,
) -> anyhow::Result<BTreeMap<NaiveDate, DayProfile>> {
    let files = tables.partitions(Table::RawEvents.name());
    let keys: BTreeMap<NaiveDate, String> = days
        .iter()
        .filter_map(|day| Some((*day, profile_cache::files_key(files.get(&day.to_string())?))))
        .collect();
    let kept = futures::stream::iter(&keys)
        .map(|(day, key)| async move { (*day, profile_cache::load(warehouse, *day, key).await) })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut profiles = BTreeMap::new();
    let mut unread = BTreeSet::new();
    for (day, profile) in kept {
        if let Some(profile) = profile {
            profiles.insert(day, profile);
        } else {
            unread.insert(day);
        }
    }
    if unread.is_empty() {
        return Ok(profiles);
    }
    let read = read::profiles(warehouse, tables, &unread).await?;
    let not_kept: Vec<_> = futures::stream::iter(&read)
        .map(|(day, profile)| profile_cache::save(warehouse, *day, &keys[day], profile))
        .buffer_unordered(16)
        .filter_map(|saved| async { saved.err() })
        .collect()
        .await;
    if let Some(e) = not_kept.first() {
        // Only a cost: the next check reads those days again.
        eprintln!(
            "check: could not keep the profiles of {} day(s) under {PROFILES_DIR}/ ({e:#}); the next check reads them again",
            not_kept.len()
        );
    }
    profiles.extend(read);
    Ok(profiles)
}

fn date_list(days: &BTreeSet<NaiveDate>) -> String {
    days.iter()
        .map(|d| format!("DATE '{d}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `check_results` holds for `days` (nothing when it does not exist yet).
pub async fn recorded(
    tables: &WarehouseTables,
    days: &[NaiveDate],
) -> anyhow::Result<Vec<CheckResult>> {
    if tables.info(CHECK_RESULTS).is_none() || days.is_empty() {
        return Ok(Vec::new());
    }
    let ctx = tables.session()?;
    let days: BTreeSet<NaiveDate> = days.iter().copied().collect();
    let sql = format!(
        "SELECT CAST({DATE} AS VARCHAR) AS {DATE}, \"check\", type, source, key, value, expected_low, expected_high, status, message FROM {CHECK_RESULTS} WHERE {DATE} IN ({})",
        date_list(&days)
    );
    let mut results = Vec::new();
    for batch in query_all(&ctx, &sql).await? {
        results.extend(results::from_batch(&batch)?);
    }
    Ok(results)
}

/// The worst status of each day's last check, for `status` and the report.
pub async fn day_statuses(
    tables: &WarehouseTables,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<BTreeMap<NaiveDate, Status>> {
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    let mut worst: BTreeMap<NaiveDate, Status> = BTreeMap::new();
    for result in recorded(tables, &days).await? {
        let status = worst.entry(result.date).or_insert(result.status);
        *status = (*status).max(result.status);
    }
    Ok(worst)
}

/// Replaces the `check_results` partitions of `days` by `results` (a day without results is
/// emptied), in one commit.
pub async fn record(
    warehouse: &Warehouse,
    days: &[NaiveDate],
    results: &[CheckResult],
    run_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut delta = warehouse
        .open_or_create_delta(CHECK_RESULTS, &CHECK_RESULTS_SCHEMA, DATE)
        .await?;
    let mut files = Vec::new();
    for day in days {
        let of_day: Vec<&CheckResult> = results.iter().filter(|r| r.date == *day).collect();
        if of_day.is_empty() {
            continue;
        }
        let batch = results::to_batch(&of_day, run_at)?;
        let bytes = Bytes::from(encode_parquet(CHECK_RESULTS_SCHEMA.clone(), &[batch])?);
        let path = format!(
            "{}/part-{}-{:016x}.parquet",
            partition_dir(CHECK_RESULTS, DATE, *day),
            run_at.format("%Y%m%dT%H%M%S"),
            rand::random::<u64>()
        );
        let file = NewFile::from_bytes(&path, &bytes).map_err(anyhow::Error::msg)?;
        warehouse.put(&warehouse.path(&path), bytes).await?;
        files.push(file);
    }
    let change = Change::ReplacePartitions {
        column: DATE.to_owned(),
        values: days.iter().map(NaiveDate::to_string).collect(),
        files,
    };
    let info = serde_json::json!({"writer": "check", "days": days.len(), "results": results.len()});
    warehouse
        .commit(
            CHECK_RESULTS,
            &mut delta,
            &change,
            serde_json::Map::from_iter([("stickerlake".to_owned(), info)]),
        )
        .await
        .context("recording the check results")?;
    Ok(())
}

/// Each source's newest event, and each tailer's last flush, against `max_delay`.
async fn freshness(
    warehouse: &Warehouse,
    tables: &WarehouseTables,
    day: NaiveDate,
    options: &CheckOptions,
) -> anyhow::Result<Vec<CheckResult>> {
    let since = day - Duration::days(i64::from(options.config.freshness.active_days));
    let sql = format!(
        "SELECT source, max(event_time) FROM raw_events WHERE event_date >= DATE '{since}' GROUP BY source"
    );
    let ctx = tables.session()?;
    let mut newest: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    for batch in query_all(&ctx, &sql).await? {
        let sources = string_column(&batch, 0)?;
        let times = int_column(&batch, 1)?;
        for (source, micros) in sources.into_iter().zip(times) {
            let (Some(source), Some(at)) =
                (source, micros.and_then(DateTime::from_timestamp_micros))
            else {
                continue;
            };
            let entry = newest.entry(source_name(&source).to_owned()).or_insert(at);
            *entry = (*entry).max(at);
        }
    }
    let tailers: BTreeMap<String, Option<DateTime<Utc>>> = crate::completeness::tailers(warehouse)
        .await?
        .into_iter()
        .filter(|t| t.retired_at.is_none())
        .map(|t| (t.tailer_id, t.progress.map(|p| p.flushed_at)))
        .collect();
    Ok(evaluate::freshness(
        day,
        options.now,
        &newest,
        &tailers,
        options.max_delay,
    ))
}

/// A day's violations of one (type, rule, source), with one path that broke.
#[derive(Debug, Default)]
struct PlanBreaks {
    path: String,
    events: u64,
}

/// (type, rule, source) → what broke, per day.
type ViolationCounts = BTreeMap<NaiveDate, BTreeMap<(String, String, String), PlanBreaks>>;

async fn violation_counts(
    tables: &WarehouseTables,
    days: &[NaiveDate],
) -> anyhow::Result<ViolationCounts> {
    let days: BTreeSet<NaiveDate> = days.iter().copied().collect();
    let sql = format!(
        "SELECT CAST(event_date AS VARCHAR), type, rule, source, min(path), count(*) FROM violations WHERE event_date IN ({}) GROUP BY event_date, type, rule, source",
        date_list(&days)
    );
    let ctx = tables.session()?;
    let mut counts = ViolationCounts::new();
    for batch in query_all(&ctx, &sql).await? {
        let text: Vec<Vec<Option<String>>> = (0..5)
            .map(|i| string_column(&batch, i))
            .collect::<Result<_, _>>()?;
        let n = int_column(&batch, 5)?;
        for row in 0..batch.num_rows() {
            let get = |c: usize| text[c][row].clone().unwrap_or_default();
            let day: NaiveDate = get(0).parse()?;
            let key = (get(1), get(2), source_name(&get(3)).to_owned());
            let breaks = counts.entry(day).or_default().entry(key).or_default();
            if breaks.path.is_empty() {
                breaks.path = get(4);
            }
            breaks.events += n[row].unwrap_or(0) as u64;
        }
    }
    Ok(counts)
}

fn plan_results(
    day: NaiveDate,
    found: Option<&BTreeMap<(String, String, String), PlanBreaks>>,
    severity: Status,
) -> Vec<CheckResult> {
    let result = |about: Option<(&str, &str, &str)>, status, value: u64, message| CheckResult {
        date: day,
        check: "plan".into(),
        kind: about.map(|a| a.0.to_owned()),
        key: about.map(|a| a.1.to_owned()),
        source: about.map(|a| a.2.to_owned()),
        status,
        value: Some(value as f64),
        expected_low: Some(0.0),
        expected_high: Some(0.0),
        message,
    };
    let Some(found) = found.filter(|f| !f.is_empty()) else {
        let message = "no event broke the tracking plan".to_owned();
        return vec![result(None, Status::Pass, 0, message)];
    };
    found
        .iter()
        .map(|((kind, rule, source), breaks)| {
            let message = format!(
                "{} {kind} event(s) from {source} broke the tracking plan's `{rule}` (e.g. at {}): see them with `stickerlake sql \"SELECT * FROM violations WHERE event_date = DATE '{day}' AND type = '{}' AND rule = '{rule}' LIMIT 20\"`",
                breaks.events,
                breaks.path,
                kind.replace('\'', "''")
            );
            let about = Some((kind.as_str(), rule.as_str(), source.as_str()));
            result(about, severity, breaks.events, message)
        })
        .collect()
}

/// Every `DIR/*.sql`, by file stem, in name order.
fn user_checks(dir: Option<&Path>, config: &CheckConfig) -> anyhow::Result<Vec<(String, String)>> {
    let Some(dir) = dir.filter(|_| config.sql.enabled) else {
        return Ok(Vec::new());
    };
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read --checks {}", dir.display()))?;
    let mut checks = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "sql") {
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let sql = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            checks.push((name, sql));
        }
    }
    checks.sort();
    Ok(checks)
}

/// A user check: its query returns the rows that fail (dbt's test semantics), `{date}`
/// filled in with the day.
async fn user_check(
    tables: &WarehouseTables,
    day: NaiveDate,
    name: &str,
    sql: &str,
    severity: Status,
) -> anyhow::Result<CheckResult> {
    let ctx = tables.session()?;
    let batches = query_all(&ctx, &sql.replace("{date}", &day.to_string()))
        .await
        .with_context(|| format!("check sql:{name} for {day}"))?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let message = match batches.iter().find(|b| b.num_rows() > 0) {
        None => format!("sql:{name} found no failing row"),
        Some(batch) => format!(
            "sql:{name} found {rows} failing row(s), the first: {}",
            first_row_json(batch)?
        ),
    };
    Ok(CheckResult {
        date: day,
        check: format!("sql:{name}"),
        kind: None,
        source: None,
        key: None,
        status: if rows == 0 { Status::Pass } else { severity },
        value: Some(rows as f64),
        expected_low: Some(0.0),
        expected_high: Some(0.0),
        message,
    })
}

fn first_row_json(batch: &RecordBatch) -> anyhow::Result<String> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    writer.write(&batch.slice(0, 1))?;
    writer.finish()?;
    let text = String::from_utf8(writer.into_inner())?;
    Ok(text
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned())
}
