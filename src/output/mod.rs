//! Printing results, one path for every command, to any `Write`: batch by batch as they
//! come, so printing a large result holds one batch (the `table` format keeps at most
//! `max_rows` rows for its column widths, and says how many it did not show).

pub mod html;
mod small;

pub use small::SmallTable;

use std::io::Write;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use clap::ValueEnum;
use futures::{Stream, StreamExt};
use parquet::arrow::ArrowWriter;

use crate::warehouse::writer_properties;

/// Rows per row group when a result is written as Parquet (bounds the writer's memory).
const PARQUET_ROW_GROUP_ROWS: usize = 128 * 1024;
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text table with a row count.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Parquet file (with -o, or to a pipe).
    Parquet,
}

/// Writes a result in `format`, one batch at a time.
pub struct ResultWriter<'a, W: Write> {
    out: &'a mut W,
    format: Format,
    schema: SchemaRef,
    rows: usize,
    /// `table`: the rows kept for display, at most `max_rows`.
    shown: Vec<RecordBatch>,
    max_rows: Option<usize>,
    parquet: Option<ArrowWriter<Vec<u8>>>,
}

impl<'a, W: Write> ResultWriter<'a, W> {
    /// `max_rows` caps the rows the `table` format shows (the others are counted).
    pub fn new(
        out: &'a mut W,
        format: Format,
        schema: SchemaRef,
        max_rows: Option<usize>,
    ) -> anyhow::Result<Self> {
        let parquet = match format {
            Format::Parquet => {
                let props = writer_properties()?
                    .into_builder()
                    .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP_ROWS))
                    .build();
                Some(ArrowWriter::try_new(
                    Vec::new(),
                    schema.clone(),
                    Some(props),
                )?)
            }
            _ => None,
        };
        Ok(Self {
            out,
            format,
            schema,
            rows: 0,
            shown: Vec::new(),
            max_rows,
            parquet,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        let first = self.rows == 0;
        self.rows += batch.num_rows();
        match self.format {
            Format::Table => {
                let kept: usize = self.shown.iter().map(RecordBatch::num_rows).sum();
                let room = self.max_rows.map_or(usize::MAX, |m| m.saturating_sub(kept));
                if room > 0 && batch.num_rows() > 0 {
                    self.shown.push(batch.slice(0, batch.num_rows().min(room)));
                }
            }
            Format::Csv => arrow::csv::WriterBuilder::new()
                .with_header(first)
                .build(&mut *self.out)
                .write(batch)?,
            Format::Json => {
                let mut lines = Vec::new();
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut lines);
                writer.write(batch)?;
                writer.finish()?;
                for (i, line) in lines
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .enumerate()
                {
                    let separator: &[u8] = if first && i == 0 { b"[" } else { b"," };
                    self.out.write_all(separator)?;
                    self.out.write_all(line)?;
                }
            }
            Format::Ndjson => {
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut *self.out);
                writer.write(batch)?;
                writer.finish()?;
            }
            Format::Parquet => {
                let writer = self.parquet.as_mut().expect("a Parquet writer");
                writer.write(batch)?;
                // Finished row groups go out now; the writer counts offsets itself.
                self.out.write_all(writer.inner())?;
                writer.inner_mut().clear();
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        let rows = self.rows;
        match self.format {
            Format::Table => {
                let table = arrow::util::pretty::pretty_format_batches_with_schema(
                    self.schema.clone(),
                    &self.shown,
                )?;
                writeln!(self.out, "{table}")?;
                let shown: usize = self.shown.iter().map(RecordBatch::num_rows).sum();
                let plural = if rows == 1 { "" } else { "s" };
                if shown < rows {
                    writeln!(
                        self.out,
                        "({rows} row{plural}, {shown} shown; {} more rows (use --max-rows or a LIMIT))",
                        rows - shown
                    )?;
                } else {
                    writeln!(self.out, "({rows} row{plural})")?;
                }
            }
            Format::Csv if rows == 0 => arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *self.out)
                .write(&RecordBatch::new_empty(self.schema.clone()))?,
            Format::Json => {
                self.out
                    .write_all(if rows == 0 { b"[]\n" } else { b"]\n" })?;
            }
            Format::Parquet => {
                let bytes = self
                    .parquet
                    .take()
                    .expect("a Parquet writer")
                    .into_inner()?;
                self.out.write_all(&bytes)?;
            }
            Format::Csv | Format::Ndjson => {}
        }
        self.out.flush()?;
        Ok(())
    }
}

/// Writes a result held in memory.
pub fn write_results(
    out: &mut impl Write,
    format: Format,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    let mut writer = ResultWriter::new(out, format, schema, None)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

/// Writes a result as its batches arrive; what was written before an error stays written.
pub async fn write_stream(
    out: &mut impl Write,
    format: Format,
    schema: SchemaRef,
    mut batches: impl Stream<Item = anyhow::Result<RecordBatch>> + Unpin,
    max_rows: Option<usize>,
) -> anyhow::Result<()> {
    let mut writer = ResultWriter::new(out, format, schema, max_rows)?;
    while let Some(batch) = batches.next().await {
        writer.write(&batch?)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn sample() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("term", DataType::Utf8, true),
            Field::new("searches", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("cat"), None])),
                Arc::new(Int64Array::from(vec![3, 1])),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    fn render(format: Format, empty: bool) -> String {
        let (schema, batches) = sample();
        let batches = if empty { vec![] } else { batches };
        let mut out = Vec::new();
        write_results(&mut out, format, schema, &batches).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_text_format() {
        assert!(render(Format::Table, false).contains("| cat  | 3        |"));
        assert!(render(Format::Table, false).ends_with("(2 rows)\n"));
        assert_eq!(render(Format::Csv, false), "term,searches\ncat,3\n,1\n");
        assert_eq!(
            render(Format::Json, false),
            "[{\"term\":\"cat\",\"searches\":3},{\"searches\":1}]\n"
        );
        assert_eq!(
            render(Format::Ndjson, false),
            "{\"term\":\"cat\",\"searches\":3}\n{\"searches\":1}\n"
        );
    }

    #[test]
    fn batches_written_one_by_one_read_as_one_result() {
        let (schema, batches) = sample();
        let two = [batches[0].clone(), batches[0].clone()];
        let render = |format| {
            let mut out = Vec::new();
            write_results(&mut out, format, schema.clone(), &two).unwrap();
            out
        };
        assert_eq!(
            render(Format::Csv),
            b"term,searches\ncat,3\n,1\ncat,3\n,1\n"
        );
        let json: serde_json::Value = serde_json::from_slice(&render(Format::Json)).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 4);
        let parquet = bytes::Bytes::from(render(Format::Parquet));
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(parquet)
                .unwrap()
                .build()
                .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 4);
    }

    #[test]
    fn the_table_format_says_how_many_rows_it_did_not_show() {
        let (schema, batches) = sample();
        let mut out = Vec::new();
        let mut writer = ResultWriter::new(&mut out, Format::Table, schema, Some(3)).unwrap();
        for _ in 0..3 {
            writer.write(&batches[0]).unwrap();
        }
        writer.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("| cat").count(), 2, "{text}");
        assert!(
            text.ends_with("(6 rows, 3 shown; 3 more rows (use --max-rows or a LIMIT))\n"),
            "{text}"
        );
    }

    #[test]
    fn empty_results_keep_their_header() {
        assert_eq!(render(Format::Csv, true), "term,searches\n");
        assert_eq!(render(Format::Json, true), "[]\n");
        assert!(render(Format::Table, true).contains("| term | searches |"));
    }
}
