//! Printing query results: one path for `sql` and for the demo, writing to any `Write`.

use std::io::Write;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use clap::ValueEnum;

use crate::warehouse::encode_parquet;

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

pub fn write_results(
    out: &mut impl Write,
    format: Format,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let table = arrow::util::pretty::pretty_format_batches_with_schema(schema, batches)?;
            writeln!(out, "{table}")?;
            writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if batches.is_empty() {
                writer.write(&RecordBatch::new_empty(schema))?;
            }
            for batch in batches {
                writer.write(batch)?;
            }
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        Format::Parquet => out.write_all(&encode_parquet(schema, batches)?)?,
    }
    out.flush()?;
    Ok(())
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
    fn empty_results_keep_their_header() {
        assert_eq!(render(Format::Csv, true), "term,searches\n");
        assert_eq!(render(Format::Json, true), "[]\n");
        assert!(render(Format::Table, true).contains("| term | searches |"));
    }
}
