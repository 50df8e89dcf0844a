//! Read-only execution: a statement is planned, checked (statements that would create,
//! change or delete data or files — DDL, DML, `COPY`, `SET` — are refused before anything
//! runs), then streamed batch by batch or collected.

use std::sync::Arc;

use anyhow::bail;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SQLOptions;
use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

/// Every statement of `text`, in order (at least one).
pub fn parse_statements(text: &str) -> anyhow::Result<Vec<Statement>> {
    let statements =
        DFParser::parse_sql(text).map_err(|e| anyhow::anyhow!("SQL syntax error: {e}"))?;
    if statements.is_empty() {
        bail!("no SQL statement given");
    }
    Ok(statements.into_iter().collect())
}

/// A planned, read-only statement, ready to run.
pub struct Query {
    shown: String,
    frame: DataFrame,
}

impl Query {
    /// Plans `statement` and refuses it unless it only reads.
    pub async fn plan(ctx: &SessionContext, statement: Statement) -> anyhow::Result<Self> {
        let shown = statement.to_string();
        let plan = ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(|e| query_error(&shown, e))?;
        read_only()
            .verify_plan(&plan)
            .map_err(|e| anyhow::anyhow!("refused: stickerlake only reads, and `{}` would change data or settings ({e}); its SQL is read-only. Daily tables are the results of SQL jobs run with `stickerlake run`.", abbreviate(&shown)))?;
        let frame = ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| query_error(&shown, e))?;
        Ok(Self { shown, frame })
    }

    pub fn schema(&self) -> SchemaRef {
        self.frame.schema().inner().clone()
    }

    /// The result, batch by batch as the engine produces it (memory stays bounded for
    /// queries that do not need to hold their input, like a plain `SELECT`).
    pub async fn stream(self) -> anyhow::Result<BoxStream<'static, anyhow::Result<RecordBatch>>> {
        let shown = self.shown;
        let stream = self
            .frame
            .execute_stream()
            .await
            .map_err(|e| query_error(&shown, e))?;
        Ok(stream.map_err(move |e| query_error(&shown, e)).boxed())
    }

    /// The physical plan: which files each scan opens is known from here, before anything
    /// runs (see [`super::scan`]).
    pub async fn physical_plan(&self) -> anyhow::Result<Arc<dyn ExecutionPlan>> {
        self.frame
            .clone()
            .create_physical_plan()
            .await
            .map_err(|e| query_error(&self.shown, e))
    }

    /// Runs a plan made by [`Self::physical_plan`], streaming its result.
    pub fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
    ) -> anyhow::Result<BoxStream<'static, anyhow::Result<RecordBatch>>> {
        let shown = self.shown.clone();
        let stream = execute_stream(plan, Arc::new(self.frame.task_ctx()))
            .map_err(|e| query_error(&shown, e))?;
        Ok(stream.map_err(move |e| query_error(&shown, e)).boxed())
    }

    /// The whole result, for small ones (a daily job's aggregate).
    pub async fn collect(self) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
        let schema = self.schema();
        let batches = self.stream().await?.try_collect().await?;
        Ok((schema, batches))
    }
}

/// A result column as strings, whatever string layout the engine chose (DataFusion reads
/// Parquet strings as `Utf8View`).
pub fn string_column(batch: &RecordBatch, index: usize) -> anyhow::Result<Vec<Option<String>>> {
    use arrow::array::{Array, AsArray};
    let column = arrow::compute::cast(batch.column(index), &arrow::datatypes::DataType::Utf8)?;
    let strings = column.as_string::<i32>();
    Ok((0..strings.len())
        .map(|i| strings.is_valid(i).then(|| strings.value(i).to_owned()))
        .collect())
}

/// A result column as integers, whatever integer width the engine chose.
pub fn int_column(batch: &RecordBatch, index: usize) -> anyhow::Result<Vec<Option<i64>>> {
    use arrow::array::{Array, AsArray};
    let column = arrow::compute::cast(batch.column(index), &arrow::datatypes::DataType::Int64)?;
    let ints = column.as_primitive::<arrow::datatypes::Int64Type>();
    Ok((0..ints.len())
        .map(|i| ints.is_valid(i).then(|| ints.value(i)))
        .collect())
}

/// Runs one read-only statement and returns its whole result.
pub async fn query_all(ctx: &SessionContext, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    let mut batches = Vec::new();
    for statement in parse_statements(sql)? {
        batches = Query::plan(ctx, statement).await?.collect().await?.1;
    }
    Ok(batches)
}

pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

fn query_error(statement: &str, error: datafusion::error::DataFusionError) -> anyhow::Error {
    use datafusion::error::DataFusionError;
    if let DataFusionError::ResourcesExhausted(detail) = error.find_root() {
        // DataFusion lists every memory consumer; the line that failed is what matters.
        let failed = detail
            .lines()
            .find_map(|l| l.trim().strip_prefix("Error: "))
            .and_then(|l| l.split(" with ").next())
            .unwrap_or("an allocation failed");
        return anyhow::anyhow!(
            "the query needs more memory than --memory-limit allows ({}): filter on the partition column, add a LIMIT, or raise --memory-limit (in `{}`)",
            lowercase_first(failed),
            abbreviate(statement)
        );
    }
    anyhow::anyhow!(
        "{} (in `{}`)",
        error.strip_backtrace(),
        abbreviate(statement)
    )
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

fn abbreviate(statement: &str) -> String {
    let one_line = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}
