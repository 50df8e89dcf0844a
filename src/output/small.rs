//! A few rows a command reports of its own (status, history, jobs, a query's scan plan, an
//! evaluation's summary), built column by column and printed as a table like a query result.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow::datatypes::{Field, Schema};

use super::{write_results, Format};

/// Columns of equal length, each named, every value optional (`None` prints empty).
#[derive(Default)]
pub struct SmallTable {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl SmallTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn text<T: Into<Option<String>>>(
        self,
        name: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Self {
        let array: StringArray = values.into_iter().map(Into::into).collect();
        self.column(name, Arc::new(array))
    }

    pub fn int<T: Into<Option<i64>>>(
        self,
        name: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Self {
        let array: Int64Array = values.into_iter().map(Into::into).collect();
        self.column(name, Arc::new(array))
    }

    pub fn count<T: Into<Option<u64>>>(
        self,
        name: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Self {
        let array: UInt64Array = values.into_iter().map(Into::into).collect();
        self.column(name, Arc::new(array))
    }

    pub fn float<T: Into<Option<f64>>>(
        self,
        name: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Self {
        let array: Float64Array = values.into_iter().map(Into::into).collect();
        self.column(name, Arc::new(array))
    }

    pub fn flag<T: Into<Option<bool>>>(
        self,
        name: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Self {
        let array: BooleanArray = values.into_iter().map(Into::into).collect();
        self.column(name, Arc::new(array))
    }

    fn column(mut self, name: &str, array: ArrayRef) -> Self {
        self.fields
            .push(Field::new(name, array.data_type().clone(), true));
        self.columns.push(array);
        self
    }

    pub fn batch(self) -> anyhow::Result<RecordBatch> {
        let schema = Arc::new(Schema::new(self.fields));
        Ok(RecordBatch::try_new(schema, self.columns)?)
    }

    /// Prints the rows as a table (with the row count under it, as every table has).
    pub fn print(self, out: &mut impl Write) -> anyhow::Result<()> {
        let batch = self.batch()?;
        write_results(out, Format::Table, batch.schema(), &[batch])
    }

    /// [`Self::print`] to standard output.
    pub fn print_to_stdout(self) -> anyhow::Result<()> {
        self.print(&mut std::io::stdout().lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_columns_of_each_kind_with_empty_cells_for_none() {
        let table = SmallTable::new()
            .text("name", [Some("a".to_owned()), None])
            .int("n", [1, -2])
            .count("files", [Some(3u64), None])
            .float("share", [0.5, 0.25])
            .flag("ok", [true, false]);
        let mut out = Vec::new();
        table.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("name"), "{text}");
        assert!(text.contains("| a "), "{text}");
        assert!(text.contains("-2"), "{text}");
        assert!(text.contains("0.25"), "{text}");
        assert!(text.contains("false"), "{text}");
        assert!(text.contains("2 rows"), "{text}");
    }

    #[test]
    fn columns_of_different_lengths_are_an_error() {
        let table = SmallTable::new().int("a", [1, 2]).int("b", [1]);
        assert!(table.batch().is_err());
    }
}
