//! The rows read since the last flush, grouped by partition, and their encoding into the
//! data files of one flush. Pure: no I/O.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate};

use super::encode::{QuarantineBuilder, RawEventsBuilder};
use super::lines::Line;
use super::parse::parse_line;
use crate::warehouse::{data_file_name, encode_parquet, partition_dir, Table};

#[derive(Default)]
pub struct Batch {
    raw_events: BTreeMap<NaiveDate, RawEventsBuilder>,
    quarantine: QuarantineBuilder,
    /// Bytes of the lines held, the measure of the batch's memory.
    bytes: usize,
}

/// What became of one line.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Event,
    Quarantined,
    Blank,
}

/// One data file of a flush.
pub struct Output {
    /// Relative to the warehouse root.
    pub path: String,
    pub bytes: Bytes,
}

impl Batch {
    pub fn add(&mut self, line: &Line<'_>, source: &str) -> Outcome {
        match *line {
            Line::Complete { bytes, .. } if bytes.iter().all(u8::is_ascii_whitespace) => {
                Outcome::Blank
            }
            Line::Complete { offset, bytes } => {
                self.bytes += bytes.len();
                match parse_line(bytes) {
                    Ok(event) => {
                        let date = DateTime::from_timestamp_micros(event.event_time_us)
                            .expect("parsed timestamps are in range")
                            .date_naive();
                        self.raw_events
                            .entry(date)
                            .or_default()
                            .append(&event, source, offset);
                        Outcome::Event
                    }
                    Err(reason) => {
                        self.quarantine.append(source, offset, bytes, &reason);
                        Outcome::Quarantined
                    }
                }
            }
            Line::TooLong {
                offset,
                prefix,
                len,
            } => {
                self.bytes += prefix.len();
                let reason = format!(
                    "line is {len} bytes, longer than --max-line-bytes {} (only its first {} bytes are kept here)",
                    prefix.len(),
                    prefix.len()
                );
                self.quarantine.append(source, offset, prefix, &reason);
                Outcome::Quarantined
            }
        }
    }

    pub fn rows(&self) -> usize {
        self.raw_events
            .values()
            .map(RawEventsBuilder::len)
            .sum::<usize>()
            + self.quarantine.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    /// Encodes the batch as the files of flush number `seq`.
    pub fn encode(
        self,
        writer_id: &str,
        seq: u64,
        ingest_date: NaiveDate,
        mut nonce: impl FnMut() -> u64,
    ) -> parquet::errors::Result<Vec<Output>> {
        let mut outputs = Vec::new();
        let mut push = |table: Table, date: NaiveDate, batch: arrow::record_batch::RecordBatch| {
            let dir = partition_dir(table.name(), table.partition_column(), date);
            let name = data_file_name(writer_id, seq, nonce());
            outputs.push(Output {
                path: format!("{dir}/{name}"),
                bytes: Bytes::from(encode_parquet(batch.schema(), &[batch])?),
            });
            Ok::<_, parquet::errors::ParquetError>(())
        };
        for (date, builder) in self.raw_events {
            push(Table::RawEvents, date, builder.finish())?;
        }
        if !self.quarantine.is_empty() {
            push(Table::Quarantine, ingest_date, self.quarantine.finish())?;
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(offset: u64, text: &str) -> Line<'_> {
        Line::Complete {
            offset,
            bytes: text.as_bytes(),
        }
    }

    #[test]
    fn events_are_partitioned_by_utc_date_and_bad_lines_by_ingest_date() {
        let mut batch = Batch::default();
        let day1 = r#"{"messageId":"a","type":"x","timestamp":"2026-11-23T23:30:00-01:00"}"#;
        let day2 = r#"{"messageId":"b","type":"x","timestamp":"2026-11-23T10:00:00Z"}"#;
        assert_eq!(batch.add(&complete(0, day1), "s"), Outcome::Event);
        assert_eq!(batch.add(&complete(10, day2), "s"), Outcome::Event);
        assert_eq!(batch.add(&complete(20, "  \t"), "s"), Outcome::Blank);
        assert_eq!(batch.add(&complete(30, "oops"), "s"), Outcome::Quarantined);
        let long = Line::TooLong {
            offset: 40,
            prefix: b"{\"a",
            len: 9000,
        };
        assert_eq!(batch.add(&long, "s"), Outcome::Quarantined);
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
}
