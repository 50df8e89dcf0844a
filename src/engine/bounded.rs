//! Aggregations whose memory does not grow with their input (grace hash partitioning).
//!
//! DataFusion keeps every group of a `GROUP BY` in memory; its own spill sorts the groups
//! and merges them back, about twice the time here. Instead, an aggregation whose input
//! outgrows its budget has that input split by a hash of the group key into buckets on
//! local disk, and then runs, unchanged, over one bucket at a time. All rows of a group
//! land in one bucket, so the buckets' results are disjoint and together are the whole
//! answer, exactly. Each row is written and read once more (a bucket still over the budget
//! is split again with another hash), so the time stays linear in the input and memory
//! stays near the budget. Below the budget nothing is written: the aggregation runs over
//! the input it was given, as it would have.
//!
//! This bounds a `SELECT DISTINCT …` or a `GROUP BY` with mergeable aggregates; the state
//! of a `COUNT(DISTINCT x)` lives inside one group, so write it as a `DISTINCT` + `GROUP BY`
//! (as `sql/` does) for memory that stays flat.

use std::fmt;
use std::io::BufWriter;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{take_record_batch, BatchCoalescer};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ipc::writer::StreamWriter;
use datafusion::common::config::ConfigOptions;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::Result;
use datafusion::execution::spill_file::{SpillFile, SpillWriter};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet, SpillMetrics};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties, SpillManager,
};
use futures::{StreamExt, TryStreamExt};

/// How many buckets an over-budget input is split into, per level.
const FANOUT: usize = 64;
/// Levels of splitting before a bucket is aggregated whatever its size (one group larger
/// than the budget cannot be split).
const MAX_LEVELS: u64 = 3;
/// Rows per batch written to a bucket.
const BUCKET_BATCH_ROWS: usize = 2048;

/// The physical optimizer rule: every aggregation that must see all rows of a group
/// (final or single mode, with a plain `GROUP BY`) gets a memory budget.
#[derive(Debug)]
pub struct BoundedAggregates {
    /// Bytes of input held by all partitions of one aggregation together.
    budget: usize,
}

impl BoundedAggregates {
    pub fn new(budget: usize) -> Self {
        Self { budget }
    }
}

impl PhysicalOptimizerRule for BoundedAggregates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let budget = self.budget / config.execution.target_partitions.max(1);
        plan.transform_up(|node| {
            let Some(aggregate) = node.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            if !can_be_bucketed(aggregate) {
                return Ok(Transformed::no(node));
            }
            let key = aggregate
                .group_expr()
                .expr()
                .iter()
                .map(|(expr, _)| Arc::clone(expr))
                .collect();
            Ok(Transformed::yes(Arc::new(BoundedAggregateExec {
                aggregate: node,
                key,
                budget,
                metrics: ExecutionPlanMetricsSet::new(),
            }) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "bounded_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether running `aggregate` bucket by bucket gives its answer: it sees whole groups
/// (not a partial mode), groups by plain expressions, and has no limit or ordering that
/// spans the groups.
fn can_be_bucketed(aggregate: &AggregateExec) -> bool {
    let whole_groups = matches!(
        aggregate.mode(),
        AggregateMode::Final
            | AggregateMode::FinalPartitioned
            | AggregateMode::Single
            | AggregateMode::SinglePartitioned
    );
    whole_groups
        && !aggregate.group_expr().is_empty()
        && !aggregate.group_expr().has_grouping_set()
        && aggregate.limit_options().is_none()
        && aggregate.dynamic_expressions_produced().is_empty()
        && *aggregate.input_order_mode() == InputOrderMode::Linear
}

/// An [`AggregateExec`] with a memory budget per partition (see the module doc).
#[derive(Debug)]
pub struct BoundedAggregateExec {
    aggregate: Arc<dyn ExecutionPlan>,
    /// The group key, over the aggregation's input.
    key: Vec<Arc<dyn PhysicalExpr>>,
    /// Bytes of input one partition holds before it splits.
    budget: usize,
    metrics: ExecutionPlanMetricsSet,
}

impl DisplayAs for BoundedAggregateExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "BoundedAggregateExec: budget={} B, ", self.budget)?;
        self.aggregate.fmt_as(t, f)
    }
}

impl ExecutionPlan for BoundedAggregateExec {
    fn name(&self) -> &str {
        "BoundedAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.aggregate.properties()
    }

    fn input_distribution_requirements(
        &self,
    ) -> datafusion::physical_plan::InputDistributionRequirements {
        self.aggregate.input_distribution_requirements()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.aggregate.maintains_input_order()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.aggregate.children()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.aggregate.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self {
            aggregate: Arc::clone(&self.aggregate).replace_children(children, options)?,
            key: self.key.clone(),
            budget: self.budget,
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.aggregate.children()[0].execute(partition, Arc::clone(&context))?;
        let metrics = SpillMetrics::new(&self.metrics, partition);
        let spill = SpillManager::new(context.runtime_env(), metrics.clone(), input.schema());
        let run = Arc::new(Run {
            aggregate: Arc::clone(&self.aggregate),
            key: self.key.clone(),
            budget: self.budget,
            context,
            spill,
            metrics,
        });
        let stream = futures::stream::once(run.start(input)).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One partition's execution.
struct Run {
    aggregate: Arc<dyn ExecutionPlan>,
    key: Vec<Arc<dyn PhysicalExpr>>,
    budget: usize,
    context: Arc<TaskContext>,
    /// Reads the buckets back.
    spill: SpillManager,
    /// What was written to buckets (shown by `EXPLAIN ANALYZE`).
    metrics: SpillMetrics,
}

/// A bucket written to disk, with the bytes its batches held in memory.
struct Bucket {
    file: Arc<dyn SpillFile>,
    bytes: usize,
}

impl Run {
    /// Holds the input up to the budget; if it ends there, aggregates it as it is,
    /// otherwise splits it into buckets and aggregates them one at a time.
    async fn start(
        self: Arc<Self>,
        mut input: SendableRecordBatchStream,
    ) -> Result<SendableRecordBatchStream> {
        let mut held = Vec::new();
        let mut held_bytes = 0;
        while let Some(batch) = input.next().await {
            let batch = batch?;
            held_bytes += held_size(&batch);
            held.push(batch);
            if held_bytes > self.budget {
                let buckets = self.split(held, input, 0).await?;
                return Ok(self.aggregate_buckets(buckets, 1));
            }
        }
        let schema = input.schema();
        self.aggregate(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(held.into_iter().map(Ok)),
        )))
    }

    /// Writes `held`, then the rest of `input`, into [`FANOUT`] buckets by a hash of the
    /// group key (seeded by `level`, so a bucket split again spreads out).
    async fn split(
        &self,
        held: Vec<RecordBatch>,
        mut input: SendableRecordBatchStream,
        level: u64,
    ) -> Result<Vec<Bucket>> {
        let mut splitter = Splitter::new(self, level);
        for batch in held {
            splitter.push(&batch)?;
        }
        while let Some(batch) = input.next().await {
            splitter.push(&batch?)?;
        }
        splitter.finish()
    }

    /// The aggregation over each bucket in turn (splitting again one still over budget).
    fn aggregate_buckets(
        self: &Arc<Self>,
        buckets: Vec<Bucket>,
        level: u64,
    ) -> SendableRecordBatchStream {
        let run = Arc::clone(self);
        let schema = self.aggregate.schema();
        let stream = futures::stream::iter(buckets)
            .then(move |bucket| {
                let run = Arc::clone(&run);
                async move {
                    let input = run.spill.read_spill_as_stream(bucket.file, None)?;
                    if bucket.bytes > run.budget && level < MAX_LEVELS {
                        let buckets = run.split(Vec::new(), input, level).await?;
                        Ok(run.aggregate_buckets(buckets, level + 1))
                    } else {
                        run.aggregate(input)
                    }
                }
            })
            .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(schema, stream))
    }

    /// The unchanged aggregation, over `input` instead of its child.
    fn aggregate(&self, input: SendableRecordBatchStream) -> Result<SendableRecordBatchStream> {
        let source = StreamingTableExec::try_new(
            input.schema(),
            vec![Arc::new(OnceStream::new(input))],
            None,
            Vec::new(),
            false,
            None,
        )?;
        let plan = Arc::clone(&self.aggregate).replace_children(
            vec![Arc::new(source)],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?;
        plan.execute(0, Arc::clone(&self.context))
    }
}

/// Rows into buckets: a counting sort of the rows by bucket, each bucket's rows gathered
/// into full batches and appended to its file.
struct Splitter<'a> {
    run: &'a Run,
    hash: RandomState,
    buckets: Vec<BucketWriter>,
    hashes: Vec<u64>,
}

/// One bucket being written: rows gathered into full batches, the file once it has one,
/// and the bytes its batches held in memory.
struct BucketWriter {
    rows: BatchCoalescer,
    file: Option<BucketFile>,
    bytes: usize,
}

impl<'a> Splitter<'a> {
    fn new(run: &'a Run, level: u64) -> Self {
        let schema: SchemaRef = Arc::clone(run.spill.schema());
        Self {
            run,
            // Not the seed of DataFusion's repartitioning (0): the rows of one partition
            // all share that hash's low bits.
            hash: RandomState::with_seed(0x5eed + level),
            buckets: (0..FANOUT)
                .map(|_| BucketWriter {
                    rows: BatchCoalescer::new(Arc::clone(&schema), BUCKET_BATCH_ROWS),
                    file: None,
                    bytes: 0,
                })
                .collect(),
            hashes: Vec::new(),
        }
    }

    fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let keys = self
            .key_arrays(batch)
            .map_err(|e| e.context("hashing an aggregation's group key"))?;
        self.hashes.clear();
        self.hashes.resize(batch.num_rows(), 0);
        create_hashes(&keys, &self.hash, &mut self.hashes)?;
        let (order, ends) = rows_by_bucket(&self.hashes, FANOUT);
        // One gather for the whole batch, then each bucket gets its run as a slice: a
        // gather per bucket allocated 64 small arrays per column and batch.
        let sorted = take_record_batch(batch, &UInt32Array::from(order))?;
        let mut start = 0;
        for (bucket, &end) in ends.iter().enumerate() {
            if end > start {
                self.buckets[bucket]
                    .rows
                    .push_batch(sorted.slice(start, end - start))?;
                self.write_completed(bucket)?;
            }
            start = end;
        }
        Ok(())
    }

    fn key_arrays(&self, batch: &RecordBatch) -> Result<Vec<Arc<dyn Array>>> {
        self.run
            .key
            .iter()
            .map(|expr| expr.evaluate(batch)?.into_array(batch.num_rows()))
            .collect()
    }

    fn write_completed(&mut self, bucket: usize) -> Result<()> {
        let run = self.run;
        let bucket = &mut self.buckets[bucket];
        while let Some(batch) = bucket.rows.next_completed_batch() {
            let file = match &mut bucket.file {
                Some(file) => file,
                empty => {
                    run.metrics.spill_file_count.add(1);
                    empty.insert(BucketFile::create(run)?)
                }
            };
            file.ipc.write(&batch)?;
            bucket.bytes += held_size(&batch);
            run.metrics.spilled_rows.add(batch.num_rows());
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Bucket>> {
        let mut buckets = Vec::new();
        for bucket in 0..FANOUT {
            self.buckets[bucket].rows.finish_buffered_batch()?;
            self.write_completed(bucket)?;
            let BucketWriter { file, bytes, .. } = &mut self.buckets[bucket];
            if let Some(file) = file.take() {
                let file = file.finish()?;
                let written = file.size().unwrap_or(0);
                self.run.metrics.spilled_bytes.add(written as usize);
                buckets.push(Bucket {
                    file,
                    bytes: *bytes,
                });
            }
        }
        Ok(buckets)
    }
}

/// A bucket's temporary file (in DataFusion's spill folder) being written as an Arrow IPC
/// stream, which the spill reader reads back. Not `SpillManager::create_in_progress_file`:
/// its file type is private in DataFusion 55 (it cannot be kept in a field), and it writes
/// each IPC message straight to the file, unbuffered.
struct BucketFile {
    file: Arc<dyn SpillFile>,
    ipc: StreamWriter<BufWriter<Box<dyn SpillWriter>>>,
}

impl BucketFile {
    fn create(run: &Run) -> Result<Self> {
        let file = run
            .context
            .runtime_env()
            .disk_manager
            .create_tmp_file("bounded aggregation bucket")?;
        let writer = BufWriter::with_capacity(64 << 10, file.open_writer()?);
        let ipc = StreamWriter::try_new(writer, run.spill.schema())?;
        Ok(Self { file, ipc })
    }

    fn finish(mut self) -> Result<Arc<dyn SpillFile>> {
        self.ipc.finish()?;
        let writer = self.ipc.into_inner()?;
        writer.into_inner().map_err(|e| e.into_error())?.finish()?;
        Ok(self.file)
    }
}

/// Row indices ordered by bucket (`hash % buckets`), and the end of each bucket's run in
/// that order (pure).
fn rows_by_bucket(hashes: &[u64], buckets: usize) -> (Vec<u32>, Vec<usize>) {
    let bucket_of = |hash: u64| (hash % buckets as u64) as usize;
    let mut ends = vec![0usize; buckets];
    for &hash in hashes {
        ends[bucket_of(hash)] += 1;
    }
    let mut next = Vec::with_capacity(buckets);
    let mut total = 0;
    for count in &mut ends {
        next.push(total);
        total += *count;
        *count = total;
    }
    let mut order = vec![0u32; hashes.len()];
    for (row, &hash) in hashes.iter().enumerate() {
        let slot = &mut next[bucket_of(hash)];
        order[*slot] = row as u32;
        *slot += 1;
    }
    (order, ends)
}

/// What a batch holds in memory: a string view column counts its views and the bytes they
/// point at, not whole shared buffers (a filtered column still points into its page's).
fn held_size(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::Utf8View => {
                let views = column.as_string_view();
                views.len() * 16 + views.total_buffer_bytes_used()
            }
            DataType::BinaryView => {
                let views = column.as_binary_view();
                views.len() * 16 + views.total_buffer_bytes_used()
            }
            _ => column.get_array_memory_size(),
        })
        .sum()
}

/// A stream handed to a plan as its one partition.
struct OnceStream {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl OnceStream {
    fn new(stream: SendableRecordBatchStream) -> Self {
        Self {
            schema: stream.schema(),
            stream: Mutex::new(Some(stream)),
        }
    }
}

impl fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("OnceStream")
    }
}

impl PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let stream = self.stream.lock().expect("not poisoned").take();
        stream.expect("a bucket's aggregation runs once")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray, StringViewArray};
    use arrow::datatypes::{Field, Schema};
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// 2 partitions of 8 batches; `k` skewed (k0 is a fifth of the rows), `v` near-unique
    /// with repeats and nulls, the same strings as a view column.
    fn table() -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Utf8View, true),
            Field::new("x", DataType::Int64, false),
        ]));
        let batch = |part: usize, n: usize| {
            let rows = (0..1000).map(|i| (part * 8 + n) * 1000 + i);
            let k: StringArray = rows
                .clone()
                .map(|r| Some(format!("k{}", if r % 5 == 0 { 0 } else { r % 97 })))
                .collect();
            let v: StringViewArray = rows
                .clone()
                .map(|r| (r % 13 != 0).then(|| format!("value number {}", r % 9000)))
                .collect();
            let x: Int64Array = rows.map(|r| r as i64).collect();
            let columns: Vec<ArrayRef> = vec![Arc::new(k), Arc::new(v), Arc::new(x)];
            RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()
        };
        let partitions = (0..2)
            .map(|p| (0..8).map(|n| batch(p, n)).collect())
            .collect();
        Arc::new(MemTable::try_new(Arc::clone(&schema), partitions).unwrap())
    }

    fn context(budget: Option<usize>) -> SessionContext {
        let config = SessionConfig::new().with_target_partitions(2);
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features();
        if let Some(budget) = budget {
            state = state.with_physical_optimizer_rule(Arc::new(BoundedAggregates::new(budget)));
        }
        let ctx = SessionContext::new_with_state(state.build());
        ctx.register_table("t", table()).unwrap();
        ctx
    }

    /// The query's printed result and the rows its bounded aggregations wrote to buckets.
    async fn run(ctx: &SessionContext, sql: &str) -> (String, usize) {
        let plan = ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let batches = collect(Arc::clone(&plan), ctx.task_ctx()).await.unwrap();
        let mut spilled = 0;
        plan.apply(|node| {
            if node.is::<BoundedAggregateExec>() {
                spilled += node.metrics().and_then(|m| m.spilled_rows()).unwrap_or(0);
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        (
            pretty_format_batches(&batches).unwrap().to_string(),
            spilled,
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bucketed_aggregations_give_the_in_memory_answer() {
        let plain = context(None);
        // 64 KiB: every aggregation splits its input (~300 KiB a partition) once.
        let tiny = context(Some(64 << 10));
        // 64 MiB: nothing is written.
        let roomy = context(Some(64 << 20));
        for sql in [
            "SELECT k, count(*) AS n, count(v) AS nv, min(v) AS lo, max(x) AS hi, sum(x) AS s \
             FROM t GROUP BY k ORDER BY k",
            "SELECT count(*) AS pairs FROM (SELECT DISTINCT k, v FROM t) AS d",
            "SELECT k, count(*) AS n FROM (SELECT DISTINCT k, v FROM t) AS d \
             GROUP BY k ORDER BY n DESC, k",
            "SELECT k, count(DISTINCT v) AS n FROM t GROUP BY k ORDER BY k",
            "SELECT v, count(*) AS n FROM t GROUP BY v ORDER BY n DESC, v LIMIT 7",
        ] {
            let (expected, _) = run(&plain, sql).await;
            let (bounded, spilled) = run(&tiny, sql).await;
            assert_eq!(bounded, expected, "{sql}");
            assert!(spilled > 0, "{sql}: nothing was written to buckets");
            let (unsplit, spilled) = run(&roomy, sql).await;
            assert_eq!(unsplit, expected, "{sql}");
            assert_eq!(spilled, 0, "{sql}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn buckets_over_the_budget_split_again() {
        let sql = "SELECT count(*) AS pairs FROM (SELECT DISTINCT k, v FROM t) AS d";
        let (expected, _) = run(&context(None), sql).await;
        // 2 KiB: buckets of ~10 KiB split again, up to MAX_LEVELS.
        let (bounded, spilled) = run(&context(Some(2 << 10)), sql).await;
        assert_eq!(bounded, expected);
        // Each level writes every row once: more than the pairs means a second level.
        let pairs: usize = expected
            .lines()
            .nth(3)
            .unwrap()
            .trim_matches(['|', ' '])
            .parse()
            .unwrap();
        assert!(
            spilled > pairs * 3 / 2,
            "{spilled} rows written for {pairs} pairs"
        );
    }

    #[test]
    fn held_size_counts_the_bytes_views_use() {
        let long = "a string longer than twelve bytes";
        let views: StringViewArray = std::iter::repeat_n(Some(long), 100).collect();
        let batch = RecordBatch::try_from_iter([("v", Arc::new(views) as ArrayRef)]).unwrap();
        assert_eq!(held_size(&batch), 100 * 16 + 100 * long.len());
        // A slice keeps the whole buffer but holds only its own rows.
        assert_eq!(held_size(&batch.slice(0, 10)), 10 * 16 + 10 * long.len());
    }

    #[test]
    fn rows_by_bucket_is_a_stable_counting_sort() {
        let hashes = [5u64, 2, 9, 4, 7, 0, 3];
        let (order, ends) = rows_by_bucket(&hashes, 3);
        // Buckets: 0 -> rows 2 (9), 5 (0), 6 (3); 1 -> 3 (4), 4 (7); 2 -> 0 (5), 1 (2).
        assert_eq!(order, vec![2, 5, 6, 3, 4, 0, 1]);
        assert_eq!(ends, vec![3, 5, 7]);
        let (order, ends) = rows_by_bucket(&[], 4);
        assert!(order.is_empty());
        assert_eq!(ends, vec![0; 4]);
    }
}
