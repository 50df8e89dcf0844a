//! `stickerlake audit`: reconciles the source files the tailers have read with the
//! warehouse. Every line up to where a tailer's checkpoint says it read must be exactly one
//! row of `raw_events` or `quarantine` (blank lines are skipped), found by its `source` and
//! `source_offset` and checked by content (the event's `messageId`, or the quarantined
//! bytes), so a rewritten file shows up. Lists each gap, each double, each row that does not
//! match its source and each row whose source is gone; exit 4 on any.
//!
//! Memory is bounded, whatever the rows and files: the rows come sorted by offset
//! (DataFusion's sort, spilling to the temporary folder past [`SORT_MEMORY`]), every source
//! file is read in step with them, and the report is folded window by window of offsets
//! ([`reconcile::Reconciler`]), so one window's rows ([`WINDOW_ROWS`]) and the lines they
//! are found in are held at once. Not by source: a row names the path its line was read
//! under, and after rename rotation that line is in another file.

mod reconcile;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::cast as cast_expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{col, lit, DataFrame, SessionContext};
use futures::StreamExt;
use serde::Deserialize;

use crate::completeness::tailers;
use crate::contract::checkpoint::{Checkpoint, DEFAULT_IDLE_TIMEOUT_SECS};
use crate::contract::source::{parse_glob, scan, SourceError, SourceFile};
use crate::contract::{Table, EVENT_DATE};
use crate::dates::parse_date;
use crate::engine::{date_between, SessionOptions, WarehouseTables};
use crate::erasure::Ledger;
use crate::exit::Outcome;
use crate::warehouse::Warehouse;
use reconcile::{push_line, AuditReport, FileEnd, Line, Reconciler, Row, Stretch};
use xxhash_rust::xxh3::xxh3_64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake audit                                   # every file the tailers' checkpoints name
  stickerlake audit --source '/var/log/app/*.jsonl*' --from 2026-11-01 --to 2026-11-23
  stickerlake audit --format json
Exit status: 0 clean; 4 gaps, doubles, mismatched rows or gone sources were found; 1 error.

JSON: {\"files\": [{\"path\", \"bytes\", \"lines\", \"read_to\", \"rows\", \"note\"}],
\"gaps\": [{\"source\", \"from_offset\", \"to_offset\", \"lines\"}], \"doubles\": [{\"source\",
\"offset\", \"rows\"}], \"mismatched\": [{\"table\", \"source\", \"offset\"}], \"gone\":
[{\"source\", \"rows\"}], \"faults\": N}")]
pub struct AuditArgs {
    /// Source files to reconcile (globs; default: every file the tailers' checkpoints and the
    /// warehouse's rows name).
    #[arg(long = "source", value_name = "GLOB", value_parser = parse_glob)]
    pub sources: Vec<String>,
    /// Only events from this day on (quarantined lines are always checked).
    #[arg(long, value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Only events up to this day.
    #[arg(long, value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,
}

/// What a row's line must hold, kept as a hash (16 bytes a row, not the id or the line).
enum Content {
    /// The hash of the event's `messageId`.
    MessageId(u64),
    /// The hash of the quarantined bytes: the whole line, or the start of an over-long one,
    /// of this many bytes.
    Bytes(u64, usize),
}

/// The event range: `None` for everything.
type Range = Option<(NaiveDate, NaiveDate)>;

/// Rows a window holds before it closes (at the next offset): with its lines, what the
/// audit holds at once, ~25 MiB.
const WINDOW_ROWS: usize = 256 * 1024;

/// What the sort of the rows by offset may hold in memory before it spills to disk.
const SORT_MEMORY: u64 = 256 << 20;

pub async fn run(args: AuditArgs, warehouse: Warehouse) -> anyhow::Result<Outcome> {
    let range = match (args.from, args.to) {
        (None, None) => None,
        (from, to) => Some((from.unwrap_or(NaiveDate::MIN), to.unwrap_or(NaiveDate::MAX))),
    };
    if let Some((from, to)) = range.filter(|(from, to)| from > to) {
        bail!("--from {from} is after --to {to}");
    }
    let (tables, missing) = WarehouseTables::load_present(&warehouse).await?;
    for path in &missing {
        eprintln!(
            "audit: {path} is in its table's snapshot but missing from storage: its lines show as gaps (restore it from a backup, or re-ingest them)"
        );
    }
    let ctx = sort_session(&tables).await?;
    let checkpoints = tailers(&warehouse).await?;
    for tailer in checkpoints.iter().filter(|t| t.staged > 0) {
        eprintln!(
            "audit: tailer {} has {} flush(es) staged and not committed: their lines show as gaps until `stickerlake committer` commits them",
            tailer.tailer_id, tailer.staged
        );
    }
    let named = row_sources(&ctx, range).await?;
    let files = source_files(&args.sources, &checkpoints, &named)?;
    let read_to: HashMap<&str, u64> = checkpoints.iter().flat_map(|c| c.files.iter()).fold(
        HashMap::new(),
        |mut read, (fingerprint, file)| {
            let offset = read.entry(fingerprint.as_str()).or_default();
            *offset = (*offset).max(file.offset);
            read
        },
    );
    let settled = settled_files(&checkpoints);
    let mut readers = files
        .iter()
        .map(|file| FileLines::open(file, read_to.get(file.fingerprint.as_str()).copied()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut reconciler = Reconciler::new(readers.iter().map(|r| (r.path.clone(), r.read_to)));
    // The rows in offset order, a window at a time: each file is read up to the window's
    // end, and the rows are found in the lines at their offsets.
    let mut rows = rows_by_offset(&ctx, range).await?;
    let mut window = Window {
        ledger: Ledger::load(&warehouse).await?,
        ..Window::default()
    };
    while let Some(batch) = rows.next().await {
        let batch = batch.context("reading the rows of raw_events and quarantine")?;
        window.add(&batch, |window, offset| {
            if window.rows.len() >= WINDOW_ROWS && window.last_offset() < Some(offset) {
                window.close(offset, &mut readers, &mut reconciler, range)?;
            }
            Ok(())
        })?;
    }
    let end = window.last_offset().map_or(0, |last| last + 1);
    window.close(end, &mut readers, &mut reconciler, range)?;
    // The rest of every file, where no row is.
    window.close(u64::MAX, &mut readers, &mut reconciler, range)?;
    let ends: Vec<FileEnd> = readers
        .iter()
        .zip(&files)
        .map(|(reader, file)| FileEnd {
            size: reader.offset,
            unterminated: reader.unterminated,
            settled: settled(file),
        })
        .collect();
    let mut report = reconciler.finish(&ends);
    report.erased = readers.iter().map(|r| r.erased).sum();
    print(&report, args.format)?;
    Ok(match report.faults + missing.len() {
        0 => Outcome::Done,
        _ => Outcome::Faults,
    })
}

/// A session whose sort of the rows spills to disk past [`SORT_MEMORY`], as one sorter:
/// sorted per partition or per table, the sorters shared the pool, and the merge of one
/// could not grow while another held it (`Resources exhausted` in 2 runs of 12 at 10M
/// rows). Room is set aside for the merge of wide rows (a source path each).
async fn sort_session(tables: &WarehouseTables) -> anyhow::Result<SessionContext> {
    let ctx = tables.session_with(SessionOptions {
        memory_limit: Some(SORT_MEMORY),
        ..Default::default()
    })?;
    for setting in [
        "SET datafusion.execution.target_partitions = 1",
        "SET datafusion.optimizer.repartition_sorts = false",
        "SET datafusion.execution.sort_spill_reservation_bytes = 67108864",
    ] {
        ctx.sql(setting).await?.collect().await?;
    }
    Ok(ctx)
}

/// Every source path the rows of `raw_events` (in range) and `quarantine` name.
async fn row_sources(ctx: &SessionContext, range: Range) -> anyhow::Result<BTreeSet<String>> {
    let mut sources = BTreeSet::new();
    for frame in row_frames(ctx, range).await? {
        let batches = frame
            .select(vec![col("source")])?
            .distinct()?
            .collect()
            .await
            .context("listing the sources the rows name")?;
        for batch in batches {
            let column = batch.column(0).as_string::<i32>();
            sources.extend(column.iter().flatten().map(str::to_owned));
        }
    }
    Ok(sources)
}

/// The rows of each table that name a source line, as `(source, source_offset, id, line)`
/// (Utf8, Int64, Utf8, Binary): `raw_events`' in range with their message id,
/// `quarantine`'s with their bytes.
async fn row_frames(ctx: &SessionContext, range: Range) -> anyhow::Result<Vec<DataFrame>> {
    let mut frames = Vec::new();
    for table in [Table::RawEvents, Table::Quarantine] {
        if !ctx.table_exist(table.name())? {
            continue;
        }
        let mut frame = ctx.table(table.name()).await?;
        if let (Table::RawEvents, Some((from, to))) = (table, range) {
            frame = frame.filter(date_between(EVENT_DATE, from, to))?;
        }
        let (id, line) = match table {
            Table::RawEvents => (
                cast_expr(col("message_id"), DataType::Utf8),
                lit(ScalarValue::Binary(None)),
            ),
            _ => (
                lit(ScalarValue::Utf8(None)),
                cast_expr(col("line"), DataType::Binary),
            ),
        };
        frames.push(
            frame
                .filter(
                    col("source")
                        .is_not_null()
                        .and(col("source_offset").is_not_null()),
                )?
                .select(vec![
                    cast_expr(col("source"), DataType::Utf8).alias("source"),
                    col("source_offset"),
                    id.alias("id"),
                    line.alias("line"),
                ])?,
        );
    }
    Ok(frames)
}

/// The rows of both tables sorted by offset (spilling to disk past [`SORT_MEMORY`]).
async fn rows_by_offset(
    ctx: &SessionContext,
    range: Range,
) -> anyhow::Result<SendableRecordBatchStream> {
    let mut frames = row_frames(ctx, range).await?.into_iter();
    let Some(first) = frames.next() else {
        return Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::new(arrow::datatypes::Schema::empty()),
            futures::stream::empty(),
        )));
    };
    let all = frames.try_fold(first, |all, frame| all.union(frame))?;
    Ok(all
        .sort(vec![col("source_offset").sort(true, false)])?
        .execute_stream()
        .await?)
}

/// The rows of one window, in offset order, with what each one's line holds.
#[derive(Default)]
struct Window {
    rows: Vec<Row>,
    contents: Vec<Content>,
    /// Each source path once, however many rows name it.
    sources: HashMap<String, Arc<str>>,
    /// Who was forgotten: their lines have no row by design.
    ledger: Ledger,
}

impl Window {
    fn last_offset(&self) -> Option<u64> {
        self.rows.last().map(|row| row.offset)
    }

    /// Reads every file up to `end`, finds this window's rows in the lines, folds the
    /// window into `reconciler`, and empties it.
    fn close(
        &mut self,
        end: u64,
        readers: &mut [FileLines],
        reconciler: &mut Reconciler,
        range: Range,
    ) -> anyhow::Result<()> {
        let stretches = self.read_lines(readers, end, range)?;
        reconciler.window(&stretches, &self.rows, |path| Path::new(path).exists());
        self.rows.clear();
        self.contents.clear();
        Ok(())
    }

    /// Adds a batch's rows, calling `before(self, offset)` ahead of each one (to close the
    /// window).
    fn add(
        &mut self,
        batch: &RecordBatch,
        mut before: impl FnMut(&mut Self, u64) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let sources = batch.column(0).as_string::<i32>();
        let offsets = batch.column(1).as_primitive::<Int64Type>();
        let ids = batch.column(2).as_string::<i32>();
        let lines = batch.column(3).as_binary::<i32>();
        for i in 0..batch.num_rows() {
            let offset = offsets.value(i).max(0) as u64;
            before(self, offset)?;
            let (table, content) = match ids.is_valid(i) {
                true => (
                    Table::RawEvents,
                    Content::MessageId(xxh3_64(ids.value(i).as_bytes())),
                ),
                false => {
                    let start = lines.value(i);
                    (
                        Table::Quarantine,
                        Content::Bytes(xxh3_64(start), start.len()),
                    )
                }
            };
            let source = intern(&mut self.sources, sources.value(i));
            self.rows.push(Row {
                table: table.name(),
                source,
                offset,
                home: None,
            });
            self.contents.push(content);
        }
        Ok(())
    }

    /// Reads every file's lines up to `end`, finding this window's rows in them, and
    /// returns each file's stretches.
    fn read_lines(
        &mut self,
        readers: &mut [FileLines],
        end: u64,
        range: Range,
    ) -> anyhow::Result<Vec<Vec<Stretch>>> {
        let mut stretches = Vec::with_capacity(readers.len());
        for (index, reader) in readers.iter_mut().enumerate() {
            let path = reader.path.clone();
            let read_to = reader.read_to;
            let mut file = Vec::new();
            let ledger = &self.ledger;
            while let Some((line, held)) =
                reader.next_line(end, range, ledger, |offset, text, head| {
                    let first = self.rows.partition_point(|row| row.offset < offset);
                    let mut held = false;
                    for row in first..self.rows.len() {
                        if self.rows[row].offset != offset {
                            break;
                        }
                        if holds(text, head, &self.contents[row]) {
                            held = true;
                            // A row's home: the file it names, else the first one it is found
                            // in (rotated).
                            let row = &mut self.rows[row];
                            if row.home.is_none() || *row.source == *path {
                                row.home = Some(index);
                            }
                        }
                    }
                    held
                })?
            {
                push_line(&mut file, line, held, read_to);
            }
            stretches.push(file);
        }
        Ok(stretches)
    }
}
fn intern(interned: &mut HashMap<String, Arc<str>>, text: &str) -> Arc<str> {
    if let Some(shared) = interned.get(text) {
        return shared.clone();
    }
    let shared: Arc<str> = Arc::from(text);
    interned.insert(text.to_owned(), shared.clone());
    shared
}

/// The files to reconcile: the globs given, else every file the checkpoints and rows name
/// that is still on disk (copies with the same content once, as the tailer reads them).
fn source_files(
    globs: &[String],
    checkpoints: &[crate::contract::checkpoint::Checkpoint],
    named: &BTreeSet<String>,
) -> anyhow::Result<Vec<SourceFile>> {
    if !globs.is_empty() {
        let (files, errors) = scan(globs);
        if let Some(error) = errors.first() {
            bail!("{error}");
        }
        return Ok(files);
    }
    let named: BTreeSet<&str> = checkpoints
        .iter()
        .flat_map(|c| c.files.values().map(|f| f.path.as_str()))
        .chain(named.iter().map(String::as_str))
        .collect();
    let literal: Vec<String> = named.iter().map(|p| glob::Pattern::escape(p)).collect();
    let (files, errors) = scan(&literal);
    for error in errors {
        match error {
            SourceError::NoMatch(_) => {} // gone: the rows say so
            other => bail!("{other}"),
        }
    }
    Ok(files)
}

/// The first fields of an event line, for matching and dating it.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "messageId")]
    message_id: Option<String>,
    timestamp: Option<String>,
    #[serde(rename = "userId", default)]
    user_id: Option<serde_json::Value>,
    #[serde(rename = "anonymousId", default)]
    anonymous_id: Option<serde_json::Value>,
}

impl Head {
    /// Whether the line is a forgotten user's event.
    fn forgotten(&self, ledger: &Ledger) -> bool {
        let id =
            |v: &Option<serde_json::Value>| v.as_ref().and_then(|v| v.as_str().map(str::to_owned));
        let (user, anonymous) = (id(&self.user_id), id(&self.anonymous_id));
        ledger.forgets(&[user.as_deref(), anonymous.as_deref()])
    }
}

/// A source file's lines, read in order, window after window.
struct FileLines {
    path: String,
    /// How far the tailers' checkpoints say it was read.
    read_to: Option<u64>,
    reader: BufReader<std::fs::File>,
    /// Where the next line starts (at the end, the file's size).
    offset: u64,
    unterminated: bool,
    buffer: Vec<u8>,
    /// Lines without a row that the erasure ledger accounts for.
    erased: usize,
}

impl FileLines {
    fn open(file: &SourceFile, read_to: Option<u64>) -> anyhow::Result<Self> {
        let path = file.path.display().to_string();
        let handle = std::fs::File::open(&file.path).with_context(|| format!("opening {path}"))?;
        Ok(Self {
            path,
            read_to,
            reader: BufReader::with_capacity(1 << 20, handle),
            offset: 0,
            unterminated: false,
            buffer: Vec::new(),
            erased: 0,
        })
    }

    /// The next line if it starts before `end`, with whether `held(offset, text, head)`
    /// found a row in it.
    fn next_line(
        &mut self,
        end: u64,
        range: Range,
        ledger: &Ledger,
        held: impl FnOnce(u64, &[u8], Option<&Head>) -> bool,
    ) -> anyhow::Result<Option<(Line, bool)>> {
        if self.offset >= end {
            return Ok(None);
        }
        self.buffer.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.buffer)
            .with_context(|| format!("reading {} at byte {}", self.path, self.offset))?;
        if read == 0 {
            return Ok(None);
        }
        self.unterminated = self.buffer.last() != Some(&b'\n');
        let text = trim_newline(&self.buffer);
        let blank = text.iter().all(u8::is_ascii_whitespace);
        let head = (!blank)
            .then(|| serde_json::from_slice::<Head>(text).ok())
            .flatten();
        let mut line = Line {
            offset: self.offset,
            end: self.offset + read as u64,
            expected: !blank && in_range(head.as_ref(), range),
        };
        let found = !blank && held(self.offset, text, head.as_ref());
        // A forgotten user's line has no row, by design: erased, not a gap.
        let erased = !found
            && line.expected
            && (ledger.erased_at(&self.path, self.offset)
                || head.as_ref().is_some_and(|h| h.forgotten(ledger)));
        if erased {
            line.expected = false;
            self.erased += 1;
        }
        self.offset = line.end;
        Ok(Some((line, found)))
    }
}

/// Whether no newline can come to a file any more: a checkpoint saw it moved (rotated),
/// and it has not changed for that tailer's idle timeout (the tailer then quarantines its
/// unterminated last line).
fn settled_files(checkpoints: &[Checkpoint]) -> impl Fn(&SourceFile) -> bool + '_ {
    move |file| {
        let age = file
            .modified
            .and_then(|m| std::time::SystemTime::now().duration_since(m).ok());
        checkpoints.iter().any(|checkpoint| {
            let idle_timeout = checkpoint
                .progress
                .as_ref()
                .map_or(DEFAULT_IDLE_TIMEOUT_SECS, |p| p.idle_timeout_secs);
            checkpoint
                .files
                .get(&file.fingerprint)
                .is_some_and(|f| f.moved)
                && age.is_some_and(|age| age.as_secs() >= idle_timeout)
        })
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether `line` is the line of a row with `content`.
fn holds(line: &[u8], head: Option<&Head>, content: &Content) -> bool {
    match *content {
        Content::MessageId(id) => {
            // Lines serde cannot read (e.g. a lone surrogate elsewhere) still carry the id.
            let line_id = match head.and_then(|h| h.message_id.as_deref()) {
                Some(line_id) => Some(line_id.as_bytes()),
                None => message_id_in(line),
            };
            line_id.is_some_and(|line_id| xxh3_64(line_id) == id)
        }
        Content::Bytes(start, len) => line.get(..len).is_some_and(|s| xxh3_64(s) == start),
    }
}

/// The `messageId` string of a line serde could not read, as written (no escapes in it).
fn message_id_in(line: &[u8]) -> Option<&[u8]> {
    let key = memchr::memmem::find(line, b"\"messageId\"")?;
    let rest = line[key + 11..].trim_ascii_start().strip_prefix(b":")?;
    let value = rest.trim_ascii_start().strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', value)?;
    (value[end] == b'"').then(|| &value[..end])
}

/// Whether a line's event is in the audited range; lines without a readable date are
/// quarantined, and quarantine is checked whole.
fn in_range(head: Option<&Head>, range: Range) -> bool {
    let Some((from, to)) = range else { return true };
    let date = head
        .and_then(|h| h.timestamp.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc).date_naive());
    date.is_none_or(|d| (from..=to).contains(&d))
}

/// How many faults of each kind the table format lists before "and N more".
const SHOWN: usize = 20;

fn print(report: &AuditReport, format: AuditFormat) -> anyhow::Result<()> {
    if format == AuditFormat::Json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    for file in &report.files {
        let read = file.read_to.map_or("-".to_owned(), |r| r.to_string());
        let note = file
            .note
            .as_deref()
            .map_or(String::new(), |n| format!(" ({n})"));
        println!(
            "file {}: {} bytes, read to {read}, {} lines, {} rows{note}",
            file.path, file.bytes, file.lines, file.rows
        );
    }
    let more = |n: usize| {
        if n > SHOWN {
            println!("… and {} more (see --format json)", n - SHOWN);
        }
    };
    for gap in report.gaps.iter().take(SHOWN) {
        println!(
            "gap: {} bytes {}..{}: {} line(s) in neither raw_events nor quarantine",
            gap.source, gap.from_offset, gap.to_offset, gap.lines
        );
    }
    more(report.gaps.len());
    for double in report.doubles.iter().take(SHOWN) {
        println!(
            "double: {} offset {}: {} rows for one line",
            double.source, double.offset, double.rows
        );
    }
    more(report.doubles.len());
    for row in report.mismatched.iter().take(SHOWN) {
        println!(
            "mismatched: a {} row says {} offset {}, but that is not its line there (the file was rewritten?)",
            row.table, row.source, row.offset
        );
    }
    more(report.mismatched.len());
    for bytes in report.unaccounted.iter().take(SHOWN) {
        let last = match (bytes.unterminated, bytes.fault) {
            (true, true) => ", and a cut last line: the file was rotated and is idle, run the tailer to quarantine it",
            (true, false) => ", and a last line waiting for its newline",
            (false, _) => "",
        };
        println!(
            "unaccounted{}: {} bytes {}..{}: {} complete line(s) not read yet{last}",
            if bytes.fault { " (fault)" } else { "" },
            bytes.source,
            bytes.from_offset,
            bytes.to_offset,
            bytes.complete_lines
        );
    }
    more(report.unaccounted.len());
    for gone in &report.gone {
        println!(
            "gone: {} row(s) from {}, which is no longer on disk",
            gone.rows, gone.source
        );
    }
    match report.faults {
        0 if report.erased > 0 => println!(
            "audit: clean ({} files; {} line(s) of forgotten users erased, as the erasure ledger records)",
            report.files.len(),
            report.erased
        ),
        0 => println!("audit: clean ({} files)", report.files.len()),
        n => println!("audit: {n} fault(s)"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(line: &[u8]) -> Option<Head> {
        serde_json::from_slice(line).ok()
    }

    #[test]
    fn a_line_holds_its_rows_content_by_hash() {
        let line = br#"{"messageId":"m-1","type":"search","timestamp":"2026-11-23T10:00:00Z"}"#;
        let id = |id: &str| Content::MessageId(xxh3_64(id.as_bytes()));
        assert!(holds(line, head(line).as_ref(), &id("m-1")));
        assert!(!holds(line, head(line).as_ref(), &id("m-2")));
        // serde cannot read it (a lone surrogate), the id is still found as written.
        let odd = br#"{"type":"search","messageId" : "m-1","properties":{"query":"\ud800"}"#;
        assert!(head(odd).is_none());
        assert!(holds(odd, None, &id("m-1")));
        assert!(!holds(odd, None, &id("m-")));
        // A quarantined line, whole or its start.
        let bytes = |b: &[u8]| Content::Bytes(xxh3_64(b), b.len());
        assert!(holds(b"not json", None, &bytes(b"not json")));
        assert!(holds(b"not json at all", None, &bytes(b"not json")));
        assert!(!holds(b"not", None, &bytes(b"not json")));
    }
}
