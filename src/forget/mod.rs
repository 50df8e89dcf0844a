//! `stickerlake forget`: erase users from the warehouse, keep the books, and keep them erased.
//!
//! 1. The request goes into the erasure ledger first ([`crate::erasure`]: salted hashes,
//!    never the ids), so the tailers drop the users' new events from then on.
//! 2. One Delta `DELETE` commit per table rewrites the files that hold the users' rows
//!    without them: `raw_events` and every table with a `user_id` or `anonymous_id` column
//!    (by value), `violations` (the erased events' `message_id`s), `quarantine` (lines whose
//!    text holds an id as a JSON string). The days touched become stale through the lineage,
//!    so `run --stale` recomputes their daily tables. A file replaced meanwhile (a tailer
//!    committed, a compaction ran) makes the table's deletion start again.
//! 3. The ledger records each erased row (table, source, offset) for `audit`.
//!    `check`'s kept day profiles ([`crate::quality::profile_cache`]) are deleted.
//! 4. With `--purge`: files outside the snapshots that hold the ids are deleted (replaced
//!    files, within `vacuum`'s retention too), and each table's log is cut at a fresh
//!    checkpoint (older versions, whose file statistics may name an id, are removed).
//!
//! Every step can be done again: a re-run of the same `forget` after `kill -9` completes it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

use anyhow::Context;
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use bytes::Bytes;
use chrono::Utc;
use clap::{Args, ValueEnum};
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use crate::contract::checkpoint::Checkpoint;
use crate::contract::paths::TAILER_STATE_DIR;
use crate::contract::Table;
use crate::engine::WarehouseTables;
use crate::erasure::{self, ErasedRow, Request};
use crate::warehouse::delta::{Change, Committed, NewFile};
use crate::warehouse::{encode_parquet, Warehouse};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForgetFormat {
    Table,
    Json,
}

/// Arguments of `stickerlake forget`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake forget --user u-0042 --dry-run           # what would be removed, per table and day
  stickerlake forget --user u-0042 --user a-0913
  stickerlake forget --users-file erasure-requests.txt --purge   # and no trace left at all
An id matches user_id or anonymous_id. Safe to run again (after a crash, or while tailers run).")]
pub struct ForgetArgs {
    /// A user to forget (matched against user_id and anonymous_id); repeat for more.
    #[arg(long = "user", value_name = "ID")]
    pub users: Vec<String>,
    /// More ids, one per line (blank lines and `#` comments skipped).
    #[arg(long, value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// Leave no trace: delete the replaced files now and cut every table's log at a new
    /// checkpoint (time travel to before the erasure then fails, naming it).
    #[arg(long)]
    pub purge: bool,
    /// Print what would be removed, per table and day; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = ForgetFormat::Table)]
    pub format: ForgetFormat,
}

/// Rows removed from one table, by day (partition value).
#[derive(Debug, Default, Serialize)]
struct Removed {
    table: String,
    rows: u64,
    by_day: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
struct Summary {
    request_id: String,
    users: usize,
    dry_run: bool,
    purged: bool,
    tables: Vec<Removed>,
    files_deleted: usize,
}

pub async fn run(args: ForgetArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let ids = ids(&args)?;
    let salt = match args.dry_run {
        true => erasure::Ledger::load(&warehouse).await?.salt,
        false => erasure::salt(&warehouse).await?,
    };
    let mut hashes: Vec<String> = ids.iter().map(|id| erasure::hash(&salt, id)).collect();
    hashes.sort();
    // The same ids make the same request: a re-run completes it instead of adding another.
    let request_id = erasure::hash(&salt, &hashes.join(","))[..16].to_owned();
    let ledger = erasure::Ledger::load(&warehouse).await?;
    let mut request = ledger
        .requests
        .iter()
        .find(|r| r.request_id == request_id)
        .cloned()
        .unwrap_or_else(|| Request {
            request_id: request_id.clone(),
            requested_at: Utc::now(),
            id_hashes: hashes.clone(),
            ..Request::default()
        });
    request.done = false;
    if !args.dry_run {
        // First: from now on the tailers drop these users' events.
        erasure::record(&warehouse, &request).await?;
    }
    let tables = WarehouseTables::load(&warehouse).await?;
    let mut names: Vec<String> = tables.infos().into_iter().map(|i| i.name).collect();
    // raw_events first: its erased events name the violations to remove.
    names.sort_by_key(|n| (n != Table::RawEvents.name(), n.clone()));
    let mut matcher = Matcher {
        ids: ids.iter().cloned().collect(),
        quoted: ids
            .iter()
            .map(|id| serde_json::to_string(id).expect("a string"))
            .collect(),
        message_ids: HashSet::new(),
        positions: HashSet::new(),
        salt: salt.clone(),
    };
    let mut removed = Vec::new();
    let mut files_deleted = 0;
    for name in &names {
        let Some(table) = Forgettable::of(name, &warehouse).await? else {
            continue;
        };
        matcher.positions = request
            .erased
            .iter()
            .filter(|r| r.table == Table::RawEvents.name())
            .filter_map(|r| Some((r.source.clone()?, r.source_offset?)))
            .collect();
        let outcome =
            forget_in(&warehouse, &table, &mut matcher, &request_id, args.dry_run).await?;
        for row in &outcome.erased {
            if !request.erased.contains(row) {
                request.erased.push(row.clone());
            }
        }
        if !args.dry_run && !outcome.erased.is_empty() {
            // The books as they stand: a run killed after this commit keeps them.
            erasure::record(&warehouse, &request).await?;
        }
        if args.purge && !args.dry_run {
            files_deleted += delete_stray_files(&warehouse, &table, &matcher).await?;
            if let Some(delta) = warehouse.open_delta(name).await? {
                let version = warehouse.purge_log_before_now(name, &delta).await?;
                request.purged_before.insert(name.clone(), version);
            }
        }
        removed.push(outcome.removed);
    }
    if !args.dry_run && !request.erased.is_empty() {
        // `check`'s kept profiles count the erased users' search terms: read again next time.
        crate::quality::profile_cache::forget_all(&warehouse).await?;
    }
    if !args.dry_run {
        request.done = true;
        erasure::record(&warehouse, &request).await?;
    }
    let summary = Summary {
        request_id,
        users: ids.len(),
        dry_run: args.dry_run,
        purged: args.purge && !args.dry_run,
        tables: removed,
        files_deleted,
    };
    match args.format {
        ForgetFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        ForgetFormat::Table => print_summary(&summary, &warehouse),
    }
    Ok(())
}

fn ids(args: &ForgetArgs) -> anyhow::Result<BTreeSet<String>> {
    let mut ids: BTreeSet<String> = args.users.iter().map(|u| u.trim().to_owned()).collect();
    if let Some(path) = &args.users_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --users-file {}", path.display()))?;
        ids.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    ids.remove("");
    anyhow::ensure!(
        !ids.is_empty(),
        "no user to forget: give --user ID (repeatable) or --users-file FILE"
    );
    Ok(ids)
}

/// How a table's rows of the users are found.
enum Rows {
    /// By value in these columns.
    Ids(Vec<String>),
    /// Lines (the `line` column) holding an id as a JSON string.
    LineText,
    /// By the erased events' `message_id`s.
    MessageIds,
}

struct Forgettable {
    name: String,
    rows: Rows,
}

impl Forgettable {
    /// How `name`'s rows of a user are found; `None` for a table that holds no user.
    async fn of(name: &str, warehouse: &Warehouse) -> anyhow::Result<Option<Self>> {
        let rows = match Table::from_name(name) {
            Some(Table::Quarantine) => Rows::LineText,
            Some(Table::Violations) => Rows::MessageIds,
            _ => {
                let Some(delta) = warehouse.open_delta(name).await? else {
                    return Ok(None);
                };
                let schema = warehouse.snapshot(name, &delta)?.file_schema;
                let columns: Vec<String> = ["user_id", "anonymous_id"]
                    .into_iter()
                    .filter(|c| schema.field_with_name(c).is_ok())
                    .map(str::to_owned)
                    .collect();
                if columns.is_empty() {
                    return Ok(None);
                }
                Rows::Ids(columns)
            }
        };
        Ok(Some(Self {
            name: name.to_owned(),
            rows,
        }))
    }
}

/// What marks a row as a forgotten user's.
struct Matcher {
    ids: HashSet<String>,
    /// Each id as a JSON string (`"u-1"`), as it appears in a line's text.
    quoted: Vec<String>,
    /// `message_id`s of the events erased so far, and the source positions of every row
    /// the request erased (an earlier run's too): a violation of either goes.
    message_ids: HashSet<String>,
    positions: HashSet<(String, i64)>,
    salt: String,
}

impl Matcher {
    /// Which rows of `batch` go, for `table`.
    fn doomed(&self, table: &Forgettable, batch: &RecordBatch) -> anyhow::Result<Vec<bool>> {
        let text = |name: &str| -> anyhow::Result<Option<arrow::array::StringArray>> {
            let Some(column) = batch.column_by_name(name) else {
                return Ok(None);
            };
            let cast = arrow::compute::cast(column, &DataType::Utf8)?;
            Ok(Some(cast.as_string::<i32>().clone()))
        };
        let mut doomed = vec![false; batch.num_rows()];
        match &table.rows {
            Rows::Ids(columns) => {
                for column in columns {
                    let Some(values) = text(column)? else {
                        continue;
                    };
                    for (i, value) in values.iter().enumerate() {
                        doomed[i] |= value.is_some_and(|v| self.ids.contains(v));
                    }
                }
            }
            Rows::MessageIds => {
                if let Some(values) = text("message_id")? {
                    for (i, value) in values.iter().enumerate() {
                        doomed[i] = value.is_some_and(|v| self.message_ids.contains(v));
                    }
                }
                let offsets = batch
                    .column_by_name("source_offset")
                    .map(|c| arrow::compute::cast(c, &DataType::Int64))
                    .transpose()?;
                if let (Some(sources), Some(offsets)) = (text("source")?, offsets) {
                    let offsets = offsets.as_primitive::<Int64Type>();
                    for (i, source) in sources.iter().enumerate() {
                        let at = source.map(|s| (s.to_owned(), offsets.value(i)));
                        doomed[i] |= at.is_some_and(|at| self.positions.contains(&at));
                    }
                }
            }
            Rows::LineText => {
                if let Some(lines) = batch.column_by_name("line") {
                    let lines = lines.as_binary::<i32>();
                    for (i, line) in lines.iter().enumerate() {
                        doomed[i] = line.is_some_and(|l| {
                            self.quoted
                                .iter()
                                .any(|q| memchr::memmem::find(l, q.as_bytes()).is_some())
                        });
                    }
                }
            }
        }
        Ok(doomed)
    }

    /// The id that marked row `i` (for the ledger's hash), best effort.
    fn id_of(&self, batch: &RecordBatch, i: usize) -> String {
        for column in ["user_id", "anonymous_id"] {
            if let Some(values) = batch.column_by_name(column) {
                if let Ok(cast) = arrow::compute::cast(values, &DataType::Utf8) {
                    let values = cast.as_string::<i32>();
                    if values.is_valid(i) && self.ids.contains(values.value(i)) {
                        return erasure::hash(&self.salt, values.value(i));
                    }
                }
            }
        }
        String::new()
    }
}

struct Outcome {
    removed: Removed,
    erased: Vec<ErasedRow>,
}

/// Deletes the users' rows from one table in one `DELETE` commit (planned again if a file
/// it rewrites is replaced meanwhile).
async fn forget_in(
    warehouse: &Warehouse,
    table: &Forgettable,
    matcher: &mut Matcher,
    request_id: &str,
    dry_run: bool,
) -> anyhow::Result<Outcome> {
    for _attempt in 0..10 {
        let Some(mut delta) = warehouse.open_delta(&table.name).await? else {
            break;
        };
        let snapshot = warehouse.snapshot(&table.name, &delta)?;
        let mut removed = Removed {
            table: table.name.clone(),
            ..Removed::default()
        };
        let (mut gone, mut added, mut erased) = (Vec::new(), Vec::new(), Vec::new());
        for file in &snapshot.files {
            let bytes = warehouse
                .store()
                .get(&warehouse.path(&file.path))
                .await
                .map_err(|e| warehouse.read_error(&warehouse.path(&file.path), e))?
                .bytes()
                .await
                .map_err(|e| warehouse.read_error(&warehouse.path(&file.path), e))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())?;
            let schema = reader.schema().clone();
            let mut kept = Vec::new();
            let mut count = 0;
            for batch in reader.build()? {
                let batch = batch?;
                let doomed = matcher.doomed(table, &batch)?;
                for (i, _) in doomed.iter().enumerate().filter(|(_, d)| **d) {
                    count += 1;
                    erased.push(erased_row(&table.name, &batch, i, matcher));
                    if let Some(ids) = batch.column_by_name("message_id") {
                        let ids = arrow::compute::cast(ids, &DataType::Utf8)?;
                        matcher
                            .message_ids
                            .insert(ids.as_string::<i32>().value(i).to_owned());
                    }
                }
                let keep = BooleanArray::from(doomed.iter().map(|d| !d).collect::<Vec<_>>());
                kept.push(arrow::compute::filter_record_batch(&batch, &keep)?);
            }
            if count == 0 {
                continue;
            }
            removed.rows += count;
            *removed
                .by_day
                .entry(file.partition.clone().unwrap_or_default())
                .or_default() += count;
            gone.push(file.path.clone());
            if dry_run {
                continue;
            }
            if kept.iter().any(|b| b.num_rows() > 0) {
                let dir = file.path.rsplit_once('/').map_or("", |(d, _)| d);
                let path = format!(
                    "{dir}/part-forget-{}-{:016x}.parquet",
                    Utc::now().format("%Y%m%dT%H%M%S"),
                    rand::random::<u64>()
                );
                let bytes = Bytes::from(encode_parquet(schema.clone(), &kept)?);
                added.push(NewFile::from_bytes(&path, &bytes).map_err(anyhow::Error::msg)?);
                warehouse.put(&warehouse.path(&path), bytes).await?;
            }
        }
        if gone.is_empty() || dry_run {
            return Ok(Outcome { removed, erased });
        }
        let change = Change::Delete {
            removed: gone,
            added,
            what: format!("forget request {request_id}"),
        };
        let info = serde_json::json!({"writer": "forget", "request": request_id});
        let committed = warehouse
            .commit(
                &table.name,
                &mut delta,
                &change,
                serde_json::Map::from_iter([("stickerlake".to_owned(), info)]),
            )
            .await?;
        if committed != Committed::Superseded {
            return Ok(Outcome { removed, erased });
        }
    }
    anyhow::bail!(
        "{}: other writers kept replacing its files; run `stickerlake forget` again",
        table.name
    )
}

fn erased_row(table: &str, batch: &RecordBatch, i: usize, matcher: &Matcher) -> ErasedRow {
    let source = batch
        .column_by_name("source")
        .and_then(|c| arrow::compute::cast(c, &DataType::Utf8).ok())
        .and_then(|c| {
            let c = c.as_string::<i32>();
            c.is_valid(i).then(|| c.value(i).to_owned())
        });
    let source_offset = batch
        .column_by_name("source_offset")
        .and_then(|c| arrow::compute::cast(c, &DataType::Int64).ok())
        .and_then(|c| {
            let c = c.as_primitive::<Int64Type>();
            c.is_valid(i).then(|| c.value(i))
        });
    ErasedRow {
        table: table.to_owned(),
        source,
        source_offset,
        id_hash: matcher.id_of(batch, i),
    }
}

/// Deletes the Parquet files of `table`'s folder that no snapshot holds and that hold a
/// forgotten user's row: files replaced by this erasure, by compaction or by a job, kept
/// for time travel until `vacuum`. A tailer's flush in flight (named by its checkpoint's
/// pending record) or staged for the committer is left alone. Returns how many were deleted.
async fn delete_stray_files(
    warehouse: &Warehouse,
    table: &Forgettable,
    matcher: &Matcher,
) -> anyhow::Result<usize> {
    let Some(delta) = warehouse.open_delta(&table.name).await? else {
        return Ok(0);
    };
    let live: HashSet<String> = warehouse
        .snapshot(&table.name, &delta)?
        .files
        .into_iter()
        .map(|f| f.path)
        .collect();
    let mut in_flight = HashSet::new();
    for path in warehouse.list_objects(TAILER_STATE_DIR).await? {
        if let Some((bytes, _)) = warehouse.get_versioned(&warehouse.path(&path)).await? {
            if let Ok(checkpoint) = Checkpoint::from_json(&bytes) {
                in_flight.extend(checkpoint.pending.into_iter().flat_map(|p| p.outputs));
            }
        }
    }
    // Staged for the committer: in no log yet, and to be committed.
    for (_, flush) in warehouse.staged().await? {
        in_flight.extend(flush.files.into_iter().map(|f| f.path));
    }
    let mut deleted = 0;
    for path in warehouse.list_objects_under(&table.name).await? {
        let stray = path.ends_with(".parquet")
            && !path.contains("/_delta_log/")
            && !live.contains(&path)
            && !in_flight.contains(&path);
        if !stray {
            continue;
        }
        let object = warehouse.path(&path);
        let Ok(got) = warehouse.store().get(&object).await else {
            continue;
        };
        let bytes = got
            .bytes()
            .await
            .map_err(|e| warehouse.read_error(&object, e))?;
        let Ok(reader) = ParquetRecordBatchReaderBuilder::try_new(bytes) else {
            continue;
        };
        let mut holds = false;
        for batch in reader.build()? {
            holds |= matcher.doomed(table, &batch?)?.contains(&true);
        }
        if holds {
            warehouse.delete(&object).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

fn print_summary(summary: &Summary, warehouse: &Warehouse) {
    let verb = if summary.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for table in &summary.tables {
        let days: Vec<String> = table
            .by_day
            .iter()
            .map(|(day, n)| format!("{day}: {n}"))
            .collect();
        println!(
            "forget: {} {verb} {} row(s) ({})",
            table.table,
            table.rows,
            days.join(", ")
        );
    }
    match (summary.dry_run, summary.purged) {
        (true, _) => println!(
            "forget: dry run of request {} for {} user(s): nothing changed",
            summary.request_id, summary.users
        ),
        (false, true) => println!(
            "forget: request {} for {} user(s) done and purged: {} replaced file(s) deleted, every table's log cut at a new checkpoint; no file under {} holds their ids",
            summary.request_id, summary.users, summary.files_deleted, warehouse.location()
        ),
        (false, false) => {
            let vacuumed = Utc::now() + chrono::Duration::days(7);
            println!(
                "forget: request {} for {} user(s) done: their rows are out of every table's current version, and new events of theirs are dropped at ingest.\n\
                 The replaced files and the log's older versions still hold them until `vacuum` removes them (after {}, with the default 7-day retention).\n\
                 To finish now: `stickerlake forget --purge` with the same users (or `stickerlake vacuum --retain 0s --force`, then the same forget --purge for the logs); then `stickerlake run all --stale` recomputes the days touched.",
                summary.request_id,
                summary.users,
                vacuumed.format("%Y-%m-%d")
            );
        }
    }
}
