//! `stickerlake replay`: the valid events of some days given back as JSON lines, each equal
//! (as a JSON value, member order and insignificant whitespace aside) to the line that was
//! sent, in `(source, source_offset)` order; `--quarantine`, the quarantined lines byte for
//! byte. For re-processing after a bug is fixed: tailing replay's output into a new
//! warehouse gives the same rows but for `source`/`source_offset`.
//!
//! An event is `messageId`, `type`, `properties`, `context` from their columns and every
//! other member from `envelope` (values as sent). Rows written before the raw zone kept
//! `envelope` have none: their `timestamp` comes back in UTC and `userId` is `user_id`.
//! Memory is bounded: the sort spills to disk past its budget, rows stream out.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use clap::Args;
use datafusion::prelude::{col, lit, Expr};
use futures::StreamExt;

use crate::contract::Table;
use crate::dates::DayRangeArgs;
use crate::engine::{date_between, SessionOptions, WarehouseTables};
use crate::warehouse::Warehouse;

/// Memory the sort may hold before it spills.
const SORT_MEMORY: u64 = 256 << 20;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake replay --date 2026-11-23 -o 2026-11-23.jsonl
  stickerlake replay --from 2026-11-01 --to 2026-11-07 --type search --type select | gzip > week.jsonl.gz
  stickerlake replay --quarantine --date today -o bad.jsonl      # fix them, then tail the file again
Days are event days (for --quarantine: ingest days); without them, every day.")]
pub struct ReplayArgs {
    #[command(flatten)]
    pub days: DayRangeArgs,
    /// Only events of this type (repeat for more).
    #[arg(long = "type", value_name = "T", conflicts_with = "quarantine")]
    pub types: Vec<String>,
    /// Write here (`-`: standard output, the default).
    #[arg(short = 'o', long = "output", value_name = "FILE|-")]
    pub output: Option<PathBuf>,
    /// The quarantined lines instead, byte for byte.
    #[arg(long)]
    pub quarantine: bool,
}

pub async fn run(args: ReplayArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let range = args.days.range()?;
    let table = match args.quarantine {
        true => Table::Quarantine,
        false => Table::RawEvents,
    };
    let tables = WarehouseTables::load(&warehouse).await?;
    let ctx = tables.session_with(SessionOptions {
        memory_limit: Some(SORT_MEMORY),
        ..Default::default()
    })?;
    if !ctx.table_exist(table.name())? {
        bail!(
            "the warehouse {} has no {} yet: nothing to replay",
            warehouse.location(),
            table.name()
        );
    }
    let mut frame = ctx.table(table.name()).await?;
    if let Some((from, to)) = range {
        frame = frame.filter(date_between(table.partition_column(), from, to))?;
    }
    if !args.types.is_empty() {
        let types: Vec<Expr> = args.types.iter().map(|t| lit(t.clone())).collect();
        frame = frame.filter(col("type").in_list(types, false))?;
    }
    let columns: &[&str] = match table {
        Table::Quarantine => &["line"],
        Table::RawEvents => &[
            "message_id",
            "type",
            "properties",
            "context",
            "envelope",
            "event_time",
            "user_id",
        ],
        Table::Violations => unreachable!("replay reads raw_events or quarantine"),
    };
    let mut stream = frame
        .sort(vec![
            col("source").sort(true, true),
            col("source_offset").sort(true, true),
        ])?
        .select_columns(columns)?
        .execute_stream()
        .await?;
    let mut out: Box<dyn Write> = match args.output.as_deref() {
        None => Box::new(std::io::stdout().lock()),
        Some(path) if path.as_os_str() == "-" => Box::new(std::io::stdout().lock()),
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut out);
    let mut lines = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.with_context(|| format!("reading {}", table.name()))?;
        lines += match table {
            Table::Quarantine => write_quarantined(&batch, &mut out)?,
            Table::RawEvents => write_events(&batch, &mut out)?,
            Table::Violations => unreachable!("replay reads raw_events or quarantine"),
        };
    }
    out.flush()?;
    eprintln!("replay: {lines} line(s) from {}", table.name());
    Ok(())
}

fn write_quarantined(batch: &RecordBatch, out: &mut impl Write) -> anyhow::Result<u64> {
    let lines = batch.column(0).as_binary::<i32>();
    for line in lines.iter().flatten() {
        out.write_all(line)?;
        out.write_all(b"\n")?;
    }
    Ok(lines.len() as u64)
}

/// A string cell, `None` when null.
fn value(column: &arrow::array::StringArray, row: usize) -> Option<&str> {
    (!column.is_null(row)).then(|| column.value(row))
}

fn write_events(batch: &RecordBatch, out: &mut impl Write) -> anyhow::Result<u64> {
    let text = |i: usize| batch.column(i).as_string::<i32>();
    let (ids, kinds, properties, context, envelope) = (text(0), text(1), text(2), text(3), text(4));
    let times = batch.column(5).as_primitive::<TimestampMicrosecondType>();
    let users = text(6);

    for row in 0..batch.num_rows() {
        let sent = Sent {
            message_id: ids.value(row),
            kind: kinds.value(row),
            properties: value(properties, row),
            context: value(context, row),
            envelope: value(envelope, row),
            event_time_us: times.value(row),
            user_id: value(users, row),
        };
        out.write_all(sent.line().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(batch.num_rows() as u64)
}

/// One `raw_events` row, as much of it as rebuilds the event.
struct Sent<'a> {
    message_id: &'a str,
    kind: &'a str,
    properties: Option<&'a str>,
    context: Option<&'a str>,
    envelope: Option<&'a str>,
    event_time_us: i64,
    user_id: Option<&'a str>,
}

impl Sent<'_> {
    /// The event as a JSON line (pure).
    fn line(&self) -> String {
        let quoted = |text: &str| serde_json::to_string(text).expect("a string serializes");
        let mut members = vec![
            format!("\"messageId\":{}", quoted(self.message_id)),
            format!("\"type\":{}", quoted(self.kind)),
        ];
        if let Some(properties) = self.properties {
            members.push(format!("\"properties\":{properties}"));
        }
        if let Some(context) = self.context {
            members.push(format!("\"context\":{context}"));
        }
        match self.envelope {
            Some(envelope) => {
                let inner = members_of(envelope);
                if !inner.is_empty() {
                    members.push(inner.to_owned());
                }
            }
            // A row from before the lossless raw zone: what it kept.
            None => {
                let time = chrono::DateTime::from_timestamp_micros(self.event_time_us)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                members.push(format!("\"timestamp\":{}", quoted(&time)));
                if let Some(user) = self.user_id {
                    members.push(format!("\"userId\":{}", quoted(user)));
                }
            }
        }
        format!("{{{}}}", members.join(","))
    }
}

/// The members of a JSON object's text, without its own braces: exactly one on each side
/// (the last member's value may itself end in `}`).
fn members_of(object: &str) -> &str {
    let object = object.trim();
    let inner = object.strip_prefix('{').unwrap_or(object);
    inner.strip_suffix('}').unwrap_or(inner).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(envelope: Option<&'static str>) -> Sent<'static> {
        Sent {
            message_id: "m-\"1\"",
            kind: "search",
            properties: Some(r#"{"query":"Cat","n":1e3}"#),
            context: None,
            envelope,
            event_time_us: 1_795_946_400_123_456,
            user_id: Some("u-1"),
        }
    }

    #[test]
    fn an_event_is_its_columns_and_its_envelope() {
        let line = sent(Some(
            r#"{"sentAt":"x","timestamp":"2026-11-23T12:00:00.1+02:00"}"#,
        ))
        .line();
        assert_eq!(
            line,
            r#"{"messageId":"m-\"1\"","type":"search","properties":{"query":"Cat","n":1e3},"sentAt":"x","timestamp":"2026-11-23T12:00:00.1+02:00"}"#
        );
    }

    #[test]
    fn an_envelope_ending_in_an_object_keeps_its_braces() {
        let line = sent(Some(
            r#"{"timestamp":"2026-11-23T12:00:00Z","traits":{"plan":{"tier":{}},"age":null}}"#,
        ))
        .line();
        assert!(
            line.ends_with(r#""traits":{"plan":{"tier":{}},"age":null}}"#),
            "{line}"
        );
        serde_json::from_str::<serde_json::Value>(&line).expect("valid JSON");
        assert_eq!(members_of("{}"), "");
        assert_eq!(members_of(r#"{"a":{}}"#), r#""a":{}"#);
    }

    #[test]
    fn a_row_without_envelope_gives_back_what_it_kept() {
        let line = sent(None).line();
        assert!(
            line.ends_with(r#""timestamp":"2026-11-29T10:00:00.123456Z","userId":"u-1"}"#),
            "{line}"
        );
    }
}
