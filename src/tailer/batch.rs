//! The rows read since the last flush, grouped by partition, and their encoding into the
//! data files of one flush. Pure: no I/O.
//!
//! Lines arrive in chunks copied into one buffer; each chunk is parsed and turned into
//! small Arrow batches on every core ([`build`]), and the batches are kept in file order, so
//! the serial part of the tailer is reading lines and writing files.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate};
use rayon::prelude::*;

use super::encode::{QuarantineBuilder, RawEventsBuilder, Room};
use super::lines::Line;
use super::parse::parse_line;
use super::sizes::LINES_PER_TASK;
use crate::contract::{Table, QUARANTINE_SCHEMA, RAW_EVENTS_SCHEMA, VIOLATIONS_SCHEMA};
use crate::erasure::Ledger;
use crate::quality::plan::{violations_batch, Checks, Plan, ViolationRow};
use crate::warehouse::{data_file_name, encode_row_groups, partition_dir, row_groups_by_kind};

/// What a builder reserves over the room its type took in a full task before: the share of
/// a type in 4,096 lines varies by a few percent.
const ROOM_MARGIN: f64 = 1.1;

/// The room each event type took in the last full task, which the next tasks reserve.
type Rooms = HashMap<String, Room>;

/// Complete lines copied out of the reader, in file order, in one buffer.
#[derive(Default)]
pub struct LineChunk {
    bytes: Vec<u8>,
    lines: Vec<LineRef>,
}

struct LineRef {
    offset: u64,
    range: std::ops::Range<usize>,
    /// Why it is quarantined without parsing, if it is.
    fault: Option<Fault>,
}

#[derive(Clone, Copy)]
enum Fault {
    /// Longer than `--max-line-bytes`: only its first bytes were kept; its full length.
    TooLong(u64),
    /// The unterminated last line of a rotated, idle file: its full length.
    Unterminated(u64),
}

impl LineChunk {
    pub fn push(&mut self, line: &Line<'_>) {
        let (offset, bytes, fault) = match *line {
            Line::Complete { offset, bytes } => (offset, bytes, None),
            Line::TooLong {
                offset,
                prefix,
                len,
            } => (offset, prefix, Some(Fault::TooLong(len))),
            Line::Unterminated {
                offset,
                prefix,
                len,
            } => (offset, prefix, Some(Fault::Unterminated(len))),
        };
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        self.lines.push(LineRef {
            offset,
            range: start..self.bytes.len(),
            fault,
        });
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.lines.clear();
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

/// What a slice of a chunk became.
#[derive(Default)]
struct Built {
    lines: usize,
    /// By event date and type, in file order within each.
    raw_events: Vec<(NaiveDate, String, RecordBatch)>,
    quarantine: Option<RecordBatch>,
    /// What broke the tracking plan, by event date.
    violations: BTreeMap<NaiveDate, Vec<ViolationRow>>,
    events: u64,
    quarantined: u64,
    /// Events of forgotten users, dropped.
    erased: u64,
    latest_event_us: Option<i64>,
}

/// Parses `lines` of `chunk` and builds their rows (pure; runs on any core).
///
/// Each event is appended to its (date, type) builder as soon as it is parsed, and dropped:
/// what parsing allocated is freed on the same thread at once, so the allocator reuses it
/// from its per-thread cache. Holding a task's events until the end made every one of those
/// allocations go to a shared arena, and the threads queued on its lock.
fn build(
    chunk: &LineChunk,
    lines: &[LineRef],
    source: &str,
    rooms: &Rooms,
    plan: Option<&Plan>,
    forgotten: Option<&Ledger>,
) -> Built {
    let mut builders: Vec<(NaiveDate, String, RawEventsBuilder)> = Vec::new();
    let mut quarantine = QuarantineBuilder::default();
    let mut checks = plan.map(Checks::new);
    let mut built = Built {
        lines: lines.len(),
        ..Built::default()
    };
    let share = lines.len() as f64 / LINES_PER_TASK as f64 * ROOM_MARGIN;
    let builder = |kind: &str| match rooms.get(kind) {
        Some(room) => RawEventsBuilder::with_room(&room.scaled(share)),
        None => RawEventsBuilder::new(),
    };
    for line in lines {
        let bytes = &chunk.bytes[line.range.clone()];
        let result = match line.fault {
            Some(Fault::TooLong(len)) => Err(format!(
                "line is {len} bytes, longer than --max-line-bytes {limit} (only its first {limit} bytes are kept here)",
                limit = bytes.len()
            )),
            Some(Fault::Unterminated(len)) => Err(format!(
                "unterminated last line ({len} bytes, no newline) of a rotated file that has not grown for --idle-timeout: \
                 the head of a line cut by copy-then-truncate rotation; its tail is the first line of the new file"
            )),
            None if bytes.iter().all(u8::is_ascii_whitespace) => continue,
            None => parse_line(bytes),
        };
        match result {
            Ok(event)
                if forgotten.is_some_and(|ledger| {
                    ledger.forgets(&[event.user_id.as_deref(), event.anonymous_id.as_deref()])
                }) =>
            {
                built.erased += 1;
            }
            Ok(event) => {
                let date = DateTime::from_timestamp_micros(event.event_time_us)
                    .expect("parsed timestamps are in range")
                    .date_naive();
                built.latest_event_us = built.latest_event_us.max(Some(event.event_time_us));
                built.events += 1;
                if let Some(checks) = &mut checks {
                    // A day whose events all keep to the plan gets no violations file.
                    let broken = checks.check(
                        &event.kind,
                        event.properties.as_ref(),
                        event.context.as_ref(),
                    );
                    if !broken.is_empty() {
                        built
                            .violations
                            .entry(date)
                            .or_default()
                            .extend(broken.into_iter().map(|violation| ViolationRow {
                                message_id: event.message_id.to_string(),
                                kind: event.kind.to_string(),
                                event_time_us: event.event_time_us,
                                violation,
                                source: Some(source.to_owned()),
                                source_offset: Some(line.offset as i64),
                            }));
                    }
                }
                let at = builders
                    .iter()
                    .position(|(d, kind, _)| *d == date && *kind == event.kind)
                    .unwrap_or_else(|| {
                        builders.push((date, event.kind.to_string(), builder(&event.kind)));
                        builders.len() - 1
                    });
                builders[at].2.append(&event, source, line.offset);
            }
            Err(reason) => {
                quarantine.append(source, line.offset, bytes, &reason);
                built.quarantined += 1;
            }
        }
    }
    built.raw_events = builders
        .into_iter()
        .map(|(date, kind, builder)| (date, kind, builder.finish()))
        .collect();
    built.quarantine = (quarantine.len() > 0).then(|| quarantine.finish());
    built
}

/// The room each event type took in `part` (over all its dates).
fn rooms_taken(part: &Built) -> Rooms {
    let mut rooms = Rooms::new();
    for (_, kind, batch) in &part.raw_events {
        let room = Room::of(batch);
        rooms
            .entry(kind.clone())
            .and_modify(|taken| *taken = taken.plus(&room))
            .or_insert(room);
    }
    rooms
}

#[derive(Default)]
pub struct Batch {
    /// By event date and type, in file order.
    raw_events: BTreeMap<NaiveDate, BTreeMap<String, Vec<RecordBatch>>>,
    quarantine: Vec<RecordBatch>,
    /// Rows of `violations` by event date, in file order (with a tracking plan).
    violations: BTreeMap<NaiveDate, Vec<ViolationRow>>,
    plan: Option<Arc<Plan>>,
    /// Users whose events are dropped (`stickerlake forget`).
    forgotten: Option<Arc<Ledger>>,
    rows: usize,
    /// Bytes of the lines held, the measure of the batch's memory.
    bytes: usize,
    rooms: Rooms,
}

/// What [`Batch::add`] took in.
#[derive(Debug, Default, PartialEq)]
pub struct Added {
    pub events: u64,
    pub quarantined: u64,
    /// Ways the valid lines broke the tracking plan.
    pub violations: u64,
    /// Events of forgotten users, dropped.
    pub erased: u64,
    /// The latest event time among the valid lines, in microseconds.
    pub latest_event_us: Option<i64>,
}

/// One data file of a flush.
#[derive(Clone)]
pub struct Output {
    /// Relative to the warehouse root.
    pub path: String,
    pub bytes: Bytes,
}

impl Batch {
    /// An empty batch whose events are also checked against `plan`.
    pub fn with_plan(plan: Option<Arc<Plan>>) -> Batch {
        Batch {
            plan,
            ..Batch::default()
        }
    }

    /// Parses and adds a chunk of lines from `source`.
    pub fn add(&mut self, chunk: &LineChunk, source: &str) -> Added {
        let plan = self.plan.as_deref();
        let forgotten = self.forgotten.as_deref().filter(|l| !l.is_empty());
        let built: Vec<Built> = chunk
            .lines
            .par_chunks(LINES_PER_TASK)
            .map(|lines| build(chunk, lines, source, &self.rooms, plan, forgotten))
            .collect();
        self.bytes += chunk.byte_len();
        if let Some(full) = built.iter().find(|part| part.lines == LINES_PER_TASK) {
            self.rooms = rooms_taken(full);
        }
        let mut added = Added::default();
        for part in built {
            added.events += part.events;
            added.quarantined += part.quarantined;
            added.erased += part.erased;
            added.latest_event_us = added.latest_event_us.max(part.latest_event_us);
            for (date, kind, batch) in part.raw_events {
                let by_kind = self.raw_events.entry(date).or_default();
                by_kind.entry(kind).or_default().push(batch);
            }
            self.quarantine.extend(part.quarantine);
            for (date, rows) in part.violations {
                added.violations += rows.len() as u64;
                self.violations.entry(date).or_default().extend(rows);
            }
        }
        self.rows += (added.events + added.quarantined) as usize;
        added
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The batch so far, leaving an empty one that still knows the room each type takes
    /// (and the plan).
    pub fn take(&mut self) -> Batch {
        let rooms = self.rooms.clone();
        let plan = self.plan.clone();
        let forgotten = self.forgotten.clone();
        std::mem::replace(
            self,
            Batch {
                rooms,
                plan,
                forgotten,
                ..Batch::default()
            },
        )
    }

    /// From now on, events of the users in `ledger` are dropped (and counted).
    pub fn forget(&mut self, ledger: Arc<Ledger>) {
        self.forgotten = Some(ledger);
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Encodes the batch as the files of flush number `seq`, one per partition, in parallel.
    pub fn encode(
        self,
        writer_id: &str,
        seq: u64,
        ingest_date: NaiveDate,
        mut nonce: impl FnMut() -> u64,
    ) -> parquet::errors::Result<Vec<Output>> {
        let mut files: Vec<(
            String,
            &'static arrow::datatypes::SchemaRef,
            Vec<Vec<RecordBatch>>,
        )> = Vec::new();
        let mut path = |table: Table, date: NaiveDate| {
            let dir = partition_dir(table.name(), table.partition_column(), date);
            format!("{dir}/{}", data_file_name(writer_id, seq, nonce()))
        };
        for (date, by_kind) in self.raw_events {
            let row_groups = row_groups_by_kind(by_kind);
            files.push((path(Table::RawEvents, date), &RAW_EVENTS_SCHEMA, row_groups));
        }
        if !self.quarantine.is_empty() {
            files.push((
                path(Table::Quarantine, ingest_date),
                &QUARANTINE_SCHEMA,
                vec![self.quarantine],
            ));
        }
        if let Some(plan) = &self.plan {
            for (date, rows) in self.violations {
                let batch = violations_batch(&rows, &plan.version)?;
                files.push((
                    path(Table::Violations, date),
                    &VIOLATIONS_SCHEMA,
                    vec![vec![batch]],
                ));
            }
        }
        files
            .into_par_iter()
            .map(|(path, schema, row_groups)| {
                let bytes = Bytes::from(encode_row_groups((*schema).clone(), &row_groups)?);
                Ok(Output { path, bytes })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(lines: &[Line<'_>]) -> LineChunk {
        let mut chunk = LineChunk::default();
        lines.iter().for_each(|l| chunk.push(l));
        chunk
    }

    fn complete(offset: u64, text: &str) -> Line<'_> {
        Line::Complete {
            offset,
            bytes: text.as_bytes(),
        }
    }

    /// One complete line per text, `step` bytes apart.
    fn spaced(texts: &[String], step: u64) -> Vec<Line<'_>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| complete(i as u64 * step, t))
            .collect()
    }

    #[test]
    fn events_are_partitioned_by_utc_date_and_bad_lines_by_ingest_date() {
        let day1 = r#"{"messageId":"a","type":"x","timestamp":"2026-11-23T23:30:00-01:00"}"#;
        let day2 = r#"{"messageId":"b","type":"x","timestamp":"2026-11-23T10:00:00Z"}"#;
        let lines = [
            complete(0, day1),
            complete(10, day2),
            complete(20, "  \t"),
            complete(30, "oops"),
            Line::TooLong {
                offset: 40,
                prefix: b"{\"a",
                len: 9000,
            },
        ];
        let mut batch = Batch::default();
        let added = batch.add(&chunk(&lines), "s");
        assert_eq!((added.events, added.quarantined), (2, 2));
        assert_eq!(
            added.latest_event_us,
            Some(
                DateTime::parse_from_rfc3339("2026-11-24T00:30:00Z")
                    .unwrap()
                    .timestamp_micros()
            )
        );
        assert_eq!(batch.rows(), 4);

        let ingest = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let mut nonces = 0..;
        let outputs = batch
            .encode("h", 3, ingest, || nonces.next().unwrap())
            .unwrap();
        let paths: Vec<_> = outputs.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "raw_events/event_date=2026-11-23/part-h-00000003-0000000000000000.parquet",
                "raw_events/event_date=2026-11-24/part-h-00000003-0000000000000001.parquet",
                "quarantine/ingest_date=2026-11-25/part-h-00000003-0000000000000002.parquet",
            ]
        );
    }

    #[test]
    fn rows_keep_file_order_across_parallel_tasks() {
        let texts: Vec<String> = (0..3000)
            .map(|i| {
                format!(r#"{{"messageId":"m-{i}","type":"x","timestamp":"2026-11-23T10:00:00Z"}}"#)
            })
            .collect();
        let lines = spaced(&texts, 100);
        let mut batch = Batch::default();
        batch.add(&chunk(&lines[..1700]), "s");
        batch.add(&chunk(&lines[1700..]), "s");
        let offsets: Vec<i64> = batch
            .raw_events
            .values()
            .flat_map(BTreeMap::values)
            .flatten()
            .flat_map(|b| {
                b.column(10)
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(offsets, (0..3000).map(|i| i * 100).collect::<Vec<i64>>());
    }

    #[test]
    fn builders_sized_by_an_earlier_task_hold_the_same_rows() {
        // Two types, one with lists and a long envelope; the second chunk's builders
        // reserve the room the first chunk's full task measured, and the third grows
        // past it (twice the sticker ids).
        let line = |i: usize, ids: usize| {
            let ids: Vec<String> = (0..ids).map(|k| format!(r#""s-{i}-{k}""#)).collect();
            match i % 3 {
                0 => format!(
                    r#"{{"messageId":"m-{i}","type":"search","timestamp":"2026-11-23T10:00:00Z","properties":{{"query":"cat {i}","results":[{}]}}}}"#,
                    ids.join(",")
                ),
                _ => format!(
                    r#"{{"messageId":"m-{i}","type":"app_open","timestamp":"2026-11-23T10:00:00Z","extra{i}":"{}"}}"#,
                    "x".repeat(i % 50)
                ),
            }
        };
        let texts: Vec<String> = (0..12_000)
            .map(|i| line(i, if i < 8_000 { 2 } else { 4 }))
            .collect();
        let lines = spaced(&texts, 1000);
        let mut batch = Batch::default();
        batch.add(&chunk(&lines[..5000]), "s");
        let room = batch.rooms["search"];
        assert_eq!(
            room,
            Room::of(&batch.raw_events.values().next().unwrap()["search"][0])
        );
        batch.add(&chunk(&lines[5000..8000]), "s");
        assert_eq!(batch.take().rows(), 8000);
        assert_eq!(batch.rows(), 0);
        assert_eq!(batch.rooms["search"], room, "kept across flushes");
        batch.add(&chunk(&lines[8000..]), "s");
        let mut expected = Batch::default();
        expected.add(&chunk(&lines[8000..]), "s");
        let rows = |batch: &Batch| -> Vec<RecordBatch> {
            batch
                .raw_events
                .values()
                .flat_map(BTreeMap::values)
                .flatten()
                .cloned()
                .collect()
        };
        let (got, want) = (rows(&batch), rows(&expected));
        assert_eq!(got.len(), want.len());
        for (got, want) in got.iter().zip(&want) {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn each_big_enough_event_type_has_a_row_group_of_its_own() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::file::statistics::Statistics;
        let counts = [
            ("app_open", 10),
            ("purchase", 5),
            ("report", 1500),
            ("search", 3000),
            ("zoom", 7),
        ];
        let texts: Vec<String> = counts
            .iter()
            .flat_map(|(kind, n)| (0..*n).map(move |i| (kind, i)))
            .enumerate()
            .map(|(i, (kind, _))| {
                format!(r#"{{"messageId":"m-{i}","type":"{kind}","timestamp":"2026-11-23T10:00:00Z","properties":{{"query":"q","sticker_id":"s","sticker_ids":["s"]}}}}"#)
            })
            .collect();
        // Interleaved, as in a log.
        let mut lines = spaced(&texts, 200);
        lines.sort_by_key(|line| match line {
            Line::Complete { offset, .. } => offset % 7,
            Line::TooLong { .. } | Line::Unterminated { .. } => 0,
        });
        let mut batch = Batch::default();
        batch.add(&chunk(&lines), "s");
        let ingest = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let outputs = batch.encode("h", 1, ingest, || 0).unwrap();
        let reader = SerializedFileReader::new(outputs[0].bytes.clone()).unwrap();
        let kind_column = 1;
        let groups: Vec<(i64, String, String)> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|group| {
                let Some(Statistics::ByteArray(stats)) = group.column(kind_column).statistics()
                else {
                    panic!("no statistics on type");
                };
                let text = |v: Option<&parquet::data_type::ByteArray>| {
                    v.unwrap().as_utf8().unwrap().to_owned()
                };
                (
                    group.num_rows(),
                    text(stats.min_opt()),
                    text(stats.max_opt()),
                )
            })
            .collect();
        // The small types share a row group with the type after them; a report or search
        // query reads only its own.
        assert_eq!(
            groups,
            [
                (1515, "app_open".into(), "report".into()),
                (3000, "search".into(), "search".into()),
                (7, "zoom".into(), "zoom".into()),
            ]
        );
    }
}
