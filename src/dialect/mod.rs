//! When one machine is not enough: the warehouse and its jobs for other engines. `ddl`
//! prints CREATE statements for Spark, Trino or Athena over the same files ([`ddl`]);
//! `export-jobs` prints a Spark SQL script computing the jobs for some days from the same
//! `sql/*.sql` files ([`spark`], the one translation step).

pub mod ddl;
pub mod spark;

use std::io::Write;

use anyhow::bail;
use clap::{Args, ValueEnum};

use crate::contract::EVENT_DATE;
use crate::dates::{days, DayRangeArgs};
use crate::engine::job_catalog::{discover, input_tables, referenced_tables, JobFolderArgs};
use crate::engine::WarehouseTables;
use crate::warehouse::Warehouse;
use ddl::TableDef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dialect {
    Spark,
    Trino,
    Athena,
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dialect::Spark => "Spark",
            Dialect::Trino => "Trino",
            Dialect::Athena => "Athena",
        })
    }
}

/// Arguments of `stickerlake ddl`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake --warehouse s3://lake/prod ddl --dialect athena > tables.sql
  stickerlake ddl --dialect spark --location s3a://lake/prod | spark-sql -f /dev/stdin
  stickerlake ddl --dialect trino
Every Delta table of the warehouse (raw_events, quarantine, each job's output, also a job's
output not written yet), declared at its location so the engine reads its log: Spark
`USING DELTA` (with delta-spark), Trino's Delta Lake `register_table`, Athena's
`table_type = 'DELTA'`.")]
pub struct DdlArgs {
    #[arg(long, value_enum)]
    pub dialect: Dialect,
    /// Where the engine finds the warehouse (default: the warehouse's own location), e.g.
    /// `s3a://lake/prod` for Spark on Hadoop.
    #[arg(long, value_name = "URL")]
    pub location: Option<String>,
}

/// The dialects `export-jobs` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JobDialect {
    Spark,
}

/// Arguments of `stickerlake export-jobs`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake export-jobs --dialect spark --date 2026-11-23 > jobs.sql
  stickerlake export-jobs --dialect spark --from 2026-11-01 --to 2026-11-23 --sql-dir jobs/
Run the script after `stickerlake ddl --dialect spark` has created the tables: each job and
day is an INSERT OVERWRITE of that day's partition, in the layout `stickerlake run` writes.")]
#[command(group(clap::ArgGroup::new("days_needed").args(["date", "from"]).required(true)))]
pub struct ExportJobsArgs {
    #[arg(long, value_enum)]
    pub dialect: JobDialect,
    #[command(flatten)]
    pub days: DayRangeArgs,
    #[command(flatten)]
    pub jobs: JobFolderArgs,
}

pub async fn run_ddl(args: DdlArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let tables = WarehouseTables::load(&warehouse).await?;
    let ctx = tables.session()?;
    let mut defs = Vec::new();
    for info in tables.infos() {
        let schema = ctx
            .table(info.name.as_str())
            .await?
            .schema()
            .inner()
            .clone();
        defs.push(table_def(
            &info.name,
            &schema,
            info.partition_column.clone(),
            true,
        ));
    }
    // Job outputs not written yet: their columns are what their query returns.
    for job in discover(None)? {
        let inputs = referenced_tables(&job)?;
        if tables.info(&job.name).is_some() || inputs.iter().any(|t| tables.info(t).is_none()) {
            continue;
        }
        let schema = ctx.sql(&job.sql).await?.schema().inner().clone();
        defs.push(table_def(
            &job.name,
            &schema,
            Some(job.partition_column.clone()),
            false,
        ));
    }
    if defs.is_empty() {
        bail!(
            "the warehouse {} has no tables yet: run the tailer first",
            warehouse.location()
        );
    }
    let location = args
        .location
        .unwrap_or_else(|| warehouse.location().to_string());
    let sql = ddl::create_statements(&defs, args.dialect, &location)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "-- {} tables of {} for {}, by stickerlake ddl",
        defs.len(),
        warehouse.location(),
        args.dialect
    )?;
    out.write_all(sql.as_bytes())?;
    Ok(())
}

fn table_def(
    name: &str,
    schema: &arrow::datatypes::Schema,
    partition: Option<String>,
    exists: bool,
) -> TableDef {
    TableDef {
        name: name.to_owned(),
        columns: schema
            .fields()
            .iter()
            .filter(|f| Some(f.name()) != partition.as_ref())
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect(),
        partition,
        exists,
    }
}

pub async fn run_export_jobs(args: ExportJobsArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let (from, to) = args
        .days
        .range()?
        .ok_or_else(|| anyhow::anyhow!("give --date D, or --from D --to D"))?;
    let tables = WarehouseTables::load(&warehouse).await?;
    let day_tables: Vec<String> = tables
        .infos()
        .into_iter()
        .filter(|t| t.partition_column.as_deref() == Some(EVENT_DATE))
        .map(|t| t.name)
        .collect();
    // Every job is translated before anything is printed: a refusal leaves no half script.
    let mut script = format!(
        "-- stickerlake jobs for Spark SQL, {from} to {to}; run after `stickerlake ddl --dialect spark`.\n"
    );
    for job in args.jobs.discover()? {
        // The same inputs `run` would check exist.
        input_tables(&tables, &job)?;
        for day in days(from, to) {
            script.push_str(&format!("-- {} for {day} ({})\n", job.name, job.origin));
            script.push_str(&spark::day_statements(
                &job.name,
                &job.sql,
                day,
                &day_tables,
            )?);
        }
    }
    std::io::stdout().lock().write_all(script.as_bytes())?;
    Ok(())
}
