//! `stickerlake audit`: reconciles the source files the tailers have read with the
//! warehouse. Every line up to where a tailer's checkpoint says it read must be exactly one
//! row of `raw_events` or `quarantine` (blank lines are skipped), found by its `source` and
//! `source_offset` and checked by content (the event's `messageId`, or the quarantined
//! bytes), so a rewritten file shows up. Lists each gap, each double, each row that does not
//! match its source and each row whose source is gone; exit 4 on any.
//!
//! Memory: per row of the range, its source (shared), offset, table, the file that holds
//! it and a hash of its content, plus a sorted (offset, row) pair; per source line, its
//! offsets. About 160 bytes a row at 10M rows (1.6 GB): linear in the rows, not bounded
//! (see docs/performance.md for what bounding it takes). The files are streamed.

mod reconcile;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Deserialize;

use crate::completeness::tailers;
use crate::contract::checkpoint::{Checkpoint, DEFAULT_IDLE_TIMEOUT_SECS};
use crate::contract::source::{parse_glob, scan, SourceError, SourceFile};
use crate::contract::{Table, EVENT_DATE};
use crate::dates::parse_date;
use crate::engine::{date_between, WarehouseTables};
use crate::exit::Outcome;
use crate::warehouse::Warehouse;
use reconcile::{reconcile, Line, Report, Row, SourceLines};
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
    let ctx = tables.session(None)?;
    let (mut rows, contents) = load_rows(&ctx, range).await?;
    let checkpoints = tailers(&warehouse).await?;
    let files = source_files(&args.sources, &checkpoints, &rows)?;
    let read_to: HashMap<&str, u64> = checkpoints.iter().flat_map(|c| c.files.iter()).fold(
        HashMap::new(),
        |mut read, (fingerprint, file)| {
            let offset = read.entry(fingerprint.as_str()).or_default();
            *offset = (*offset).max(file.offset);
            read
        },
    );
    let settled = settled_files(&checkpoints);
    // (offset, row), sorted: where each line finds the rows it may be (16 bytes a row).
    let mut by_offset: Vec<(u64, u32)> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| (row.offset, index as u32))
        .collect();
    by_offset.sort_unstable();
    let mut lines = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        let path = file.path.display().to_string();
        // A row's home: the file it names, else the first one it is found in (rotated).
        let mut found = |row: usize| {
            let row = &mut rows[row];
            if row.home.is_none() || *row.source == *path {
                row.home = Some(index);
            }
        };
        let mut source = read_lines(file, range, &by_offset, &contents, &mut found)?;
        source.read_to = read_to.get(file.fingerprint.as_str()).copied();
        source.settled = settled(file);
        lines.push(source);
    }
    let report = reconcile(&lines, &rows, |path| Path::new(path).exists());
    print(&report, args.format)?;
    Ok(match report.faults + missing.len() {
        0 => Outcome::Done,
        _ => Outcome::Faults,
    })
}

/// The rows of `raw_events` (in range) and `quarantine` (all), with what each one's line is.
async fn load_rows(ctx: &SessionContext, range: Range) -> anyhow::Result<(Vec<Row>, Vec<Content>)> {
    let mut rows = Vec::new();
    let mut contents = Vec::new();
    // Each source path once, however many rows name it.
    let mut sources = HashMap::new();
    for table in [Table::RawEvents, Table::Quarantine] {
        if !ctx.table_exist(table.name())? {
            continue;
        }
        let content_column = match table {
            Table::RawEvents => "message_id",
            _ => "line",
        };
        let mut frame = ctx.table(table.name()).await?;
        if let (Table::RawEvents, Some((from, to))) = (table, range) {
            frame = frame.filter(date_between(EVENT_DATE, from, to))?;
        }
        let mut stream = frame
            .select_columns(&["source", "source_offset", content_column])?
            .execute_stream()
            .await?;
        while let Some(batch) = stream.next().await {
            let batch = batch.with_context(|| format!("reading {}", table.name()))?;
            add_rows(&batch, table, &mut sources, &mut rows, &mut contents)?;
        }
    }
    Ok((rows, contents))
}

fn add_rows(
    batch: &RecordBatch,
    table: Table,
    interned: &mut HashMap<String, Arc<str>>,
    rows: &mut Vec<Row>,
    contents: &mut Vec<Content>,
) -> anyhow::Result<()> {
    let sources = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
    let sources = sources.as_string::<i32>();
    let offsets = batch.column(1).as_primitive::<Int64Type>();
    // Cast once per batch (the ids may come dictionary- or view-encoded).
    let ids = match table {
        Table::RawEvents => Some(arrow::compute::cast(
            batch.column(2),
            &arrow::datatypes::DataType::Utf8,
        )?),
        _ => None,
    };
    for i in 0..batch.num_rows() {
        if sources.is_null(i) || offsets.is_null(i) {
            continue;
        }
        let content = match &ids {
            Some(ids) => Content::MessageId(xxh3_64(ids.as_string::<i32>().value(i).as_bytes())),
            None => {
                let start = batch.column(2).as_binary::<i32>().value(i);
                Content::Bytes(xxh3_64(start), start.len())
            }
        };
        rows.push(Row {
            table: table.name(),
            source: intern(interned, sources.value(i)),
            offset: offsets.value(i).max(0) as u64,
            home: None,
        });
        contents.push(content);
    }
    Ok(())
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
    rows: &[Row],
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
        .chain(rows.iter().map(|row| &*row.source))
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
}

/// Streams `file`'s lines, calling `found(row)` for each row whose line it holds.
fn read_lines(
    file: &SourceFile,
    range: Range,
    by_offset: &[(u64, u32)],
    contents: &[Content],
    found: &mut impl FnMut(usize),
) -> anyhow::Result<SourceLines> {
    let path = file.path.display().to_string();
    let handle = std::fs::File::open(&file.path).with_context(|| format!("opening {path}"))?;
    let mut reader = BufReader::with_capacity(1 << 20, handle);
    let mut lines = Vec::new();
    let mut buffer = Vec::new();
    let mut offset = 0u64;
    let mut unterminated = false;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("reading {path} at byte {offset}"))?;
        if read == 0 {
            break;
        }
        unterminated = buffer.last() != Some(&b'\n');
        let text = trim_newline(&buffer);
        let blank = text.iter().all(u8::is_ascii_whitespace);
        let head = (!blank)
            .then(|| serde_json::from_slice::<Head>(text).ok())
            .flatten();
        let first = by_offset.partition_point(|&(at, _)| at < offset);
        let here = by_offset[first..]
            .iter()
            .take_while(|&&(at, _)| at == offset);
        for &(_, row) in here {
            if !blank && holds(text, head.as_ref(), &contents[row as usize]) {
                found(row as usize);
            }
        }
        lines.push(Line {
            offset,
            end: offset + read as u64,
            expected: !blank && in_range(head.as_ref(), range),
        });
        offset += read as u64;
    }
    Ok(SourceLines {
        path,
        size: offset,
        read_to: None,
        lines,
        unterminated,
        settled: false,
    })
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

fn print(report: &Report, format: AuditFormat) -> anyhow::Result<()> {
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
