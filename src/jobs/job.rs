//! A daily job is one SQL file: `sql/<name>.sql` holds only the query, and its stem is the
//! job's name and its output table. Options go in comment lines of the form
//! `-- stickerlake: key=value`; the one there is today is `partition_by` (the output's
//! partition column, default `event_date`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    pub path: PathBuf,
    pub sql: String,
    pub partition_column: String,
}

impl Job {
    /// Parses a job file's text (pure).
    pub fn parse(name: &str, path: &Path, sql: String) -> anyhow::Result<Self> {
        let mut partition_column = "event_date".to_owned();
        for line in sql.lines() {
            let Some(option) = line.trim().strip_prefix("-- stickerlake:") else {
                continue;
            };
            match option.trim().split_once('=') {
                Some(("partition_by", value)) if valid_name(value.trim()) => {
                    partition_column = value.trim().to_owned();
                }
                _ => bail!(
                    "{}: unknown job option {:?} (known: `-- stickerlake: partition_by=<column>`)",
                    path.display(),
                    option.trim()
                ),
            }
        }
        Ok(Self {
            name: name.to_owned(),
            path: path.to_owned(),
            sql,
            partition_column,
        })
    }
}

/// Every `*.sql` file in `dir`, by name.
pub fn discover(dir: &Path) -> anyhow::Result<Vec<Job>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the jobs folder {} (set it with --sql-dir)",
            dir.display()
        )
    })?;
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
        if !valid_name(&name) {
            bail!(
                "{}: a job's file name must be a table name (letters, digits, _)",
                path.display()
            );
        }
        let sql = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        jobs.push(Job::parse(&name, &path, sql)?);
    }
    jobs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(jobs)
}

/// The jobs `selector` names: `all`, or one job's name.
pub fn select(jobs: Vec<Job>, selector: &str, dir: &Path) -> anyhow::Result<Vec<Job>> {
    if jobs.is_empty() {
        bail!("no job (*.sql file) in {}", dir.display());
    }
    if selector == "all" {
        return Ok(jobs);
    }
    let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    match jobs.into_iter().find(|j| j.name == selector) {
        Some(job) => Ok(vec![job]),
        None => bail!(
            "no job named {selector:?} in {}; jobs there: {}, or all",
            dir.display(),
            names.join(", ")
        ),
    }
}

fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_comment_lines() {
        let path = Path::new("sql/x.sql");
        let job = Job::parse("x", path, "SELECT 1".into()).unwrap();
        assert_eq!(job.partition_column, "event_date");
        let job = Job::parse(
            "x",
            path,
            "-- stickerlake: partition_by=report_date\nSELECT 1".into(),
        )
        .unwrap();
        assert_eq!(job.partition_column, "report_date");
        let err = Job::parse("x", path, "-- stickerlake: retries=3\nSELECT 1".into()).unwrap_err();
        assert!(err.to_string().contains("unknown job option"), "{err}");
    }

    #[test]
    fn selecting_an_unknown_job_lists_the_known_ones() {
        let job = |name: &str| Job::parse(name, Path::new("j.sql"), "SELECT 1".into()).unwrap();
        let dir = Path::new("sql");
        assert_eq!(
            select(vec![job("a"), job("b")], "all", dir).unwrap().len(),
            2
        );
        assert_eq!(
            select(vec![job("a"), job("b")], "b", dir).unwrap()[0].name,
            "b"
        );
        let err = select(vec![job("a"), job("b")], "c", dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a, b, or all"), "{err}");
    }
}
