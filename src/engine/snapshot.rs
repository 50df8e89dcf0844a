//! A table at one Delta snapshot as a DataFusion table: exactly the snapshot's files, known
//! with their sizes and row counts from the log, so planning makes no request (no listing,
//! no HEAD) and a file missing from storage is an error when read, never a silent gap.
//!
//! The partition column is a column: filters on it are evaluated against each partition's
//! value (exact pruning); every other filter stays above the scan, where DataFusion pushes
//! it into the Parquet reader for row-group pruning.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, Statistics};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::helpers::{expr_applicable_for_cols, filter_partitioned_file};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;
use datafusion_datasource::compute_all_files_statistics;

/// One data file: its object path (as the store names it), size, rows.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub object_path: String,
    pub size: u64,
    pub rows: Option<u64>,
}

#[derive(Debug)]
pub struct SnapshotProvider {
    store_url: ObjectStoreUrl,
    file_schema: SchemaRef,
    /// The partition column, if any (after the file columns).
    partition: Option<Field>,
    schema: SchemaRef,
    /// Per partition: its value (typed) and its files.
    partitions: Vec<(Option<ScalarValue>, Vec<SnapshotFile>)>,
}

impl SnapshotProvider {
    pub fn new(
        store_url: ObjectStoreUrl,
        file_schema: SchemaRef,
        partition: Option<Field>,
        partitions: Vec<(Option<ScalarValue>, Vec<SnapshotFile>)>,
    ) -> Self {
        let mut fields: Vec<Field> = file_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(partition.clone());
        Self {
            store_url,
            schema: Arc::new(Schema::new(fields)),
            file_schema,
            partition,
            partitions,
        }
    }

    /// Filters that only name the partition column, which this table answers exactly.
    fn is_partition_filter(&self, filter: &Expr) -> bool {
        self.partition
            .as_ref()
            .is_some_and(|p| expr_applicable_for_cols(&[p.name().as_str()], filter))
    }

    /// The files of the partitions `filters` keep, each with its partition value.
    fn files(&self, filters: &[Expr]) -> Result<Vec<PartitionedFile>> {
        let partition_schema = match &self.partition {
            Some(field) => DFSchema::try_from(Schema::new(vec![field.clone()]))?,
            None => DFSchema::empty(),
        };
        let mut kept = Vec::new();
        for (value, files) in &self.partitions {
            let values: Vec<ScalarValue> = value.iter().cloned().collect();
            let probe = PartitionedFile::new("", 0).with_partition_values(values.clone());
            if filter_partitioned_file(probe, filters, &partition_schema)?.is_none() {
                continue;
            }
            for file in files {
                let mut statistics = Statistics::new_unknown(&self.file_schema);
                statistics.num_rows = file
                    .rows
                    .map_or(Precision::Absent, |n| Precision::Exact(n as usize));
                statistics.total_byte_size = Precision::Inexact(file.size as usize);
                kept.push(
                    PartitionedFile::new(file.object_path.clone(), file.size)
                        .with_partition_values(values.clone())
                        .with_statistics(Arc::new(statistics)),
                );
            }
        }
        Ok(kept)
    }
}

#[async_trait]
impl TableProvider for SnapshotProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| match self.is_partition_filter(filter) {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partition_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| self.is_partition_filter(f))
            .cloned()
            .collect();
        let files = self.files(&partition_filters)?;
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let partition_cols: Vec<Arc<Field>> =
            self.partition.iter().map(|f| Arc::new(f.clone())).collect();
        let table_schema = TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(partition_cols)
            .build();
        let format = ParquetFormat::default();
        let groups = FileGroup::new(files).split_files(state.config().target_partitions());
        let (groups, statistics) =
            compute_all_files_statistics(groups, self.schema.clone(), true, false)?;
        let config =
            FileScanConfigBuilder::new(self.store_url.clone(), format.file_source(table_schema))
                .with_file_groups(groups)
                .with_statistics(statistics)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        format.create_physical_plan(state, config).await
    }
}
