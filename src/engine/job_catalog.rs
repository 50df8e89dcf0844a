//! A daily job is one SQL file: `<name>.sql` holds only the query, and its stem is the
//! job's name and its output table. Options go in comment lines of the form
//! `-- stickerlake: key=value`; the one there is today is `partition_by` (the output's
//! partition column, default `event_date`).
//!
//! The jobs in the repository's `sql/` are built into the binary, so `run` works from any
//! directory (cron); `--sql-dir DIR` adds the jobs of DIR, a file there overriding the
//! shipped job of the same name.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;

use super::{parse_statements, WarehouseTables};
use crate::contract::{is_table_name, EVENT_DATE, REPORTED_STICKER_DAILY, SEARCH_TERM_DAILY};

/// `--sql-dir DIR`: where a command finds the jobs beside the built-in ones.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct JobFolderArgs {
    /// A folder of more job files (`<name>.sql`); one named like a built-in job replaces it.
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<PathBuf>,
}

impl JobFolderArgs {
    /// The built-in jobs and those of `--sql-dir`.
    pub fn discover(&self) -> anyhow::Result<Vec<Job>> {
        discover(self.sql_dir.as_deref())
    }
}

/// The jobs built into the binary: (name, SQL).
const SHIPPED: &[(&str, &str)] = &[
    (
        REPORTED_STICKER_DAILY,
        include_str!("../../sql/reported_sticker_daily.sql"),
    ),
    (
        SEARCH_TERM_DAILY,
        include_str!("../../sql/search_term_daily.sql"),
    ),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    pub origin: Origin,
    pub sql: String,
    pub partition_column: String,
}

/// Where a job's SQL comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Built into the binary from the repository's `sql/<name>.sql`.
    Shipped(String),
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Shipped(name) => write!(f, "sql/{name}.sql (built in)"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Job {
    /// Parses a job's text (pure).
    pub fn parse(name: &str, origin: Origin, sql: String) -> anyhow::Result<Self> {
        let mut partition_column = EVENT_DATE.to_owned();
        for line in sql.lines() {
            let Some(option) = line.trim().strip_prefix("-- stickerlake:") else {
                continue;
            };
            match option.trim().split_once('=') {
                Some(("partition_by", value)) if is_table_name(value.trim()) => {
                    partition_column = value.trim().to_owned();
                }
                _ => bail!(
                    "{origin}: unknown job option {:?} (known: `-- stickerlake: partition_by=<column>`)",
                    option.trim()
                ),
            }
        }
        Ok(Self {
            name: name.to_owned(),
            origin,
            sql,
            partition_column,
        })
    }
}

/// The shipped jobs, then every `*.sql` file in `dir` (replacing a shipped job of the same
/// name), by name.
pub fn discover(dir: Option<&Path>) -> anyhow::Result<Vec<Job>> {
    let mut jobs = SHIPPED
        .iter()
        .map(|(name, sql)| Job::parse(name, Origin::Shipped(name.to_string()), sql.to_string()))
        .collect::<anyhow::Result<Vec<Job>>>()?;
    if let Some(dir) = dir {
        for job in read_dir(dir)? {
            jobs.retain(|j| j.name != job.name);
            jobs.push(job);
        }
    }
    jobs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(jobs)
}

fn read_dir(dir: &Path) -> anyhow::Result<Vec<Job>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the jobs folder {} (--sql-dir)", dir.display()))?;
    let mut jobs = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        if !is_table_name(&name) {
            bail!(
                "{}: a job's file name must be a table name (a letter, then letters, digits, _)",
                path.display()
            );
        }
        let sql = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        jobs.push(Job::parse(&name, Origin::File(path), sql)?);
    }
    Ok(jobs)
}

/// The jobs `selector` names: `all`, or one job's name.
pub fn select(jobs: Vec<Job>, selector: &str) -> anyhow::Result<Vec<Job>> {
    if selector == "all" {
        return Ok(jobs);
    }
    let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    match jobs.into_iter().find(|j| j.name == selector) {
        Some(job) => Ok(vec![job]),
        None => bail!(
            "no job named {selector:?}; the jobs are {}, or all (`stickerlake jobs` lists them; --sql-dir DIR adds jobs)",
            names.join(", ")
        ),
    }
}

/// The warehouse tables `job` reads.
pub fn input_tables(tables: &WarehouseTables, job: &Job) -> anyhow::Result<Vec<String>> {
    Ok(parse_job(&tables.session()?, job)?.1)
}

/// Every table name `job`'s query refers to, whether the warehouse has it yet or not.
pub fn referenced_tables(job: &Job) -> anyhow::Result<Vec<String>> {
    let ctx = SessionContext::new();
    let mut statements = parse_statements(&job.sql).with_context(|| job.origin.to_string())?;
    let Some(statement) = statements.pop() else {
        return Ok(Vec::new());
    };
    Ok(ctx
        .state()
        .resolve_table_references(&statement)?
        .iter()
        .map(|r| r.table().to_owned())
        .collect())
}

/// The job's one statement, parsed once, and the warehouse tables it reads.
pub fn parse_job(ctx: &SessionContext, job: &Job) -> anyhow::Result<(Statement, Vec<String>)> {
    let mut statements = parse_statements(&job.sql).with_context(|| job.origin.to_string())?;
    if statements.len() != 1 {
        anyhow::bail!(
            "{}: a job is exactly one query, found {} statements",
            job.origin,
            statements.len()
        );
    }
    let statement = statements.pop().expect("one statement");
    let mut tables: Vec<String> = ctx
        .state()
        .resolve_table_references(&statement)?
        .iter()
        .map(|r| r.table().to_owned())
        .filter(|name| ctx.table_exist(name.as_str()).unwrap_or(false))
        .collect();
    tables.sort();
    tables.dedup();
    Ok((statement, tables))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_comment_lines() {
        let path = || Origin::File("sql/x.sql".into());
        let job = Job::parse("x", path(), "SELECT 1".into()).unwrap();
        assert_eq!(job.partition_column, "event_date");
        let job = Job::parse(
            "x",
            path(),
            "-- stickerlake: partition_by=report_date\nSELECT 1".into(),
        )
        .unwrap();
        assert_eq!(job.partition_column, "report_date");
        let err =
            Job::parse("x", path(), "-- stickerlake: retries=3\nSELECT 1".into()).unwrap_err();
        assert!(err.to_string().contains("unknown job option"), "{err}");
    }

    #[test]
    fn selecting_an_unknown_job_lists_the_known_ones() {
        let job =
            |name: &str| Job::parse(name, Origin::File("j.sql".into()), "SELECT 1".into()).unwrap();
        assert_eq!(select(vec![job("a"), job("b")], "all").unwrap().len(), 2);
        assert_eq!(select(vec![job("a"), job("b")], "b").unwrap()[0].name, "b");
        let err = select(vec![job("a"), job("b")], "c")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a, b, or all"), "{err}");
    }

    #[test]
    fn shipped_jobs_are_built_in_and_a_folder_overrides_them() {
        let shipped = discover(None).unwrap();
        let names: Vec<&str> = shipped.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["reported_sticker_daily", "search_term_daily"]);
        let dir = std::env::temp_dir().join(format!("stickerlake-jobs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("search_term_daily.sql"), "SELECT 2").unwrap();
        std::fs::write(dir.join("extra.sql"), "SELECT 3").unwrap();
        let jobs = discover(Some(&dir)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let found: Vec<(&str, bool)> = jobs
            .iter()
            .map(|j| (j.name.as_str(), matches!(j.origin, Origin::Shipped(_))))
            .collect();
        assert_eq!(
            found,
            [
                ("extra", false),
                ("reported_sticker_daily", true),
                ("search_term_daily", false)
            ]
        );
        assert_eq!(jobs[2].sql, "SELECT 2");
    }
}
