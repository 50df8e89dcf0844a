//! Rows to Arrow batches to Parquet bytes, in the `raw_events` and `quarantine` schemas of
//! `docs/contract.md`. Pure: nothing here touches storage.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;

use super::event::Event;
use crate::contract::{QUARANTINE_SCHEMA, RAW_EVENTS_SCHEMA};

/// Column builders for one `raw_events` partition.
pub struct RawEventsBuilder {
    message_id: StringBuilder,
    kind: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    user_id: StringBuilder,
    query: StringBuilder,
    term: StringBuilder,
    sticker_ids: ListBuilder<StringBuilder>,
    properties: StringBuilder,
    context: StringBuilder,
    source: StringBuilder,
    source_offset: Int64Builder,
    anonymous_id: StringBuilder,
    envelope: StringBuilder,
}

/// Rows a builder with no [`Room`] to go by has room for: small, as a task holds one builder
/// per event type and a rare type's builder keeps its capacity until the batch is written;
/// it doubles as needed.
const FIRST_ROWS: usize = 128;

/// The room one event type's rows took in `raw_events`' columns: rows, and the value bytes
/// of each string column (the list's: its items' bytes), in schema order. A builder made
/// with the room a type took before reserves it at once, so its buffers are not grown, and
/// copied, as rows arrive (that copying was ~4% of ingest, `perf`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Room {
    rows: usize,
    bytes: [usize; RAW_EVENTS_COLUMNS],
    /// Items of the `sticker_ids` lists.
    items: usize,
}

const RAW_EVENTS_COLUMNS: usize = 13;

impl Default for Room {
    fn default() -> Self {
        Self {
            rows: FIRST_ROWS,
            bytes: [FIRST_ROWS * 32; RAW_EVENTS_COLUMNS],
            items: FIRST_ROWS,
        }
    }
}

impl Room {
    /// The room `batch` (of the `raw_events` schema) takes.
    pub fn of(batch: &RecordBatch) -> Self {
        debug_assert_eq!(batch.num_columns(), RAW_EVENTS_COLUMNS);
        let mut room = Self {
            rows: batch.num_rows(),
            bytes: [0; RAW_EVENTS_COLUMNS],
            items: 0,
        };
        for (bytes, column) in room.bytes.iter_mut().zip(batch.columns()) {
            if let Some(strings) = column.as_string_opt::<i32>() {
                *bytes = strings.values().len();
            } else if let Some(lists) = column.as_list_opt::<i32>() {
                let items = lists.values().as_string::<i32>();
                room.items = items.len();
                *bytes = items.values().len();
            }
        }
        room
    }

    /// Both rooms together.
    pub fn plus(mut self, other: &Room) -> Self {
        self.rows += other.rows;
        self.items += other.items;
        for (bytes, more) in self.bytes.iter_mut().zip(other.bytes) {
            *bytes += more;
        }
        self
    }

    /// This room times `factor` (rounded up).
    pub fn scaled(mut self, factor: f64) -> Self {
        let scale = |n: usize| (n as f64 * factor).ceil() as usize;
        self.rows = scale(self.rows);
        self.items = scale(self.items);
        self.bytes = self.bytes.map(scale);
        self
    }
}

impl RawEventsBuilder {
    pub fn new() -> Self {
        Self::with_room(&Room::default())
    }

    /// A builder with `room` reserved.
    pub fn with_room(room: &Room) -> Self {
        let rows = room.rows;
        let strings = |column: usize| StringBuilder::with_capacity(rows, room.bytes[column]);
        Self {
            message_id: strings(0),
            kind: strings(1),
            event_time: TimestampMicrosecondBuilder::with_capacity(rows),
            user_id: strings(3),
            query: strings(4),
            term: strings(5),
            sticker_ids: ListBuilder::with_capacity(
                StringBuilder::with_capacity(room.items, room.bytes[6]),
                rows,
            ),
            properties: strings(7),
            context: strings(8),
            source: strings(9),
            source_offset: Int64Builder::with_capacity(rows),
            anonymous_id: strings(11),
            envelope: strings(12),
        }
    }

    pub fn append(&mut self, event: &Event, source: &str, offset: u64) {
        self.message_id.append_value(&event.message_id);
        self.kind.append_value(&event.kind);
        self.event_time.append_value(event.event_time_us);
        self.user_id.append_option(event.user_id.as_deref());
        self.query.append_option(event.query.as_deref());
        self.term.append_option(event.term.as_deref());
        match &event.sticker_ids {
            Some(ids) => {
                for id in ids {
                    self.sticker_ids.values().append_value(id);
                }
                self.sticker_ids.append(true);
            }
            None => self.sticker_ids.append_null(),
        }
        self.properties.append_option(event.properties.as_deref());
        self.context.append_option(event.context.as_deref());
        self.source.append_value(source);
        self.source_offset.append_value(offset as i64);
        self.anonymous_id
            .append_option(event.anonymous_id.as_deref());
        self.envelope.append_value(&event.envelope);
    }

    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.message_id.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.event_time.finish().with_timezone("UTC")),
            Arc::new(self.user_id.finish()),
            Arc::new(self.query.finish()),
            Arc::new(self.term.finish()),
            Arc::new(self.sticker_ids.finish()),
            Arc::new(self.properties.finish()),
            Arc::new(self.context.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.source_offset.finish()),
            Arc::new(self.anonymous_id.finish()),
            Arc::new(self.envelope.finish()),
        ];
        RecordBatch::try_new(RAW_EVENTS_SCHEMA.clone(), columns)
            .expect("builders match the raw_events schema")
    }
}

/// Column builders for one `quarantine` partition.
#[derive(Default)]
pub struct QuarantineBuilder {
    source: StringBuilder,
    source_offset: Int64Builder,
    line: BinaryBuilder,
    error: StringBuilder,
    rows: usize,
}

impl QuarantineBuilder {
    pub fn append(&mut self, source: &str, offset: u64, line: &[u8], error: &str) {
        self.source.append_value(source);
        self.source_offset.append_value(offset as i64);
        self.line.append_value(line);
        self.error.append_value(error);
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.source.finish()),
            Arc::new(self.source_offset.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.error.finish()),
        ];
        RecordBatch::try_new(QUARANTINE_SCHEMA.clone(), columns)
            .expect("builders match the quarantine schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tailer::parse::parse_line;
    use crate::warehouse::encode_parquet;
    use arrow::array::{Array, AsArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn raw_events_round_trip_through_the_parquet_reader() {
        let line = br#"{"messageId":"m-1","type":"search","timestamp":"2026-11-23T10:00:00.123Z","userId":"u-42","properties":{"query":"Cat  in a park","results":["a","b"]}}"#;
        let event = parse_line(line).unwrap();
        let mut builder = RawEventsBuilder::new();
        builder.append(&event, "/logs/a.jsonl", 42);
        let bytes = encode_parquet(RAW_EVENTS_SCHEMA.clone(), &[builder.finish()]).unwrap();

        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(batch.schema(), *RAW_EVENTS_SCHEMA);
        assert_eq!(batch.column(5).as_string::<i32>().value(0), "cat in a park");
        let ids = batch.column(6).as_list::<i32>().value(0);
        assert_eq!(ids.as_string::<i32>().value(1), "b");
        assert!(batch.column(8).is_null(0));
        assert_eq!(
            batch
                .column(10)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(0),
            42
        );
    }

    #[test]
    fn raw_events_files_state_min_and_max_of_every_column_but_the_json_text() {
        let line = br#"{"messageId":"m-1","type":"search","timestamp":"2026-11-23T10:00:00.123Z","userId":"u-42","context":{"os":"iOS"},"properties":{"query":"cat"},"extra":1}"#;
        let mut builder = RawEventsBuilder::new();
        builder.append(&parse_line(line).unwrap(), "/logs/a.jsonl", 0);
        let bytes = encode_parquet(RAW_EVENTS_SCHEMA.clone(), &[builder.finish()]).unwrap();
        let footer = crate::warehouse::file_stats::footer(&bytes::Bytes::from(bytes)).unwrap();
        let group = footer.row_group(0);
        let json_text = ["properties", "context", "envelope"];
        let filtered_on = [
            "message_id",
            "type",
            "event_time",
            "user_id",
            "query",
            "source",
        ];
        for column in group.columns() {
            let name = column.column_path().string();
            let statistics = column.statistics();
            if json_text.contains(&name.as_str()) {
                assert!(statistics.is_none(), "{name}");
            } else if filtered_on.contains(&name.as_str()) {
                assert!(
                    statistics.is_some_and(|s| s.min_bytes_opt().is_some()),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn quarantine_keeps_raw_bytes() {
        let mut builder = QuarantineBuilder::default();
        builder.append(
            "/logs/a.jsonl",
            7,
            b"\xff bad",
            "invalid UTF-8 at byte 0 of the line",
        );
        let batch = builder.finish();
        assert_eq!(batch.column(2).as_binary::<i32>().value(0), b"\xff bad");
        assert!(!encode_parquet(batch.schema(), &[batch]).unwrap().is_empty());
    }
}
