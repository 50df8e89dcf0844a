//! A check's result, and `check_results`, the Delta table that keeps them: one partition per
//! checked day (`date`), replaced whole when the day is checked again.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub const CHECK_RESULTS: &str = "check_results";
/// Its partition column.
pub const DATE: &str = "date";

/// How a result ends. Ordered: the worst is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    pub fn from_name(name: &str) -> Option<Status> {
        [Status::Pass, Status::Warn, Status::Fail]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// One check of one day (and type, source or key where the check has them). Serialized in
/// the order of `check --format json`'s `results`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub date: NaiveDate,
    pub check: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub source: Option<String>,
    pub key: Option<String>,
    pub status: Status,
    pub value: Option<f64>,
    pub expected_low: Option<f64>,
    pub expected_high: Option<f64>,
    /// A sentence a person can act on.
    pub message: String,
}

impl CheckResult {
    /// What it is about, for matching it to the same result of another day.
    pub fn subject(&self) -> Subject {
        (
            self.check.clone(),
            self.kind.clone(),
            self.source.clone(),
            self.key.clone(),
        )
    }
}

/// A result's (check, type, source, key).
pub type Subject = (String, Option<String>, Option<String>, Option<String>);

/// The columns of `check_results`' files (`date` is in the path).
pub static CHECK_RESULTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let number = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        text("check", false),
        text("type", true),
        text("source", true),
        text("key", true),
        number("value"),
        number("expected_low"),
        number("expected_high"),
        text("status", false),
        text("message", false),
        Field::new(
            "run_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
});

/// One day's results as a batch of `check_results`.
pub fn to_batch(
    results: &[&CheckResult],
    run_at: DateTime<Utc>,
) -> arrow::error::Result<RecordBatch> {
    let text = |f: &dyn Fn(&CheckResult) -> Option<&str>| -> ArrayRef {
        Arc::new(results.iter().map(|r| f(r)).collect::<StringArray>())
    };
    let number = |f: &dyn Fn(&CheckResult) -> Option<f64>| -> ArrayRef {
        Arc::new(results.iter().map(|r| f(r)).collect::<Float64Array>())
    };
    let at = run_at.timestamp_micros();
    RecordBatch::try_new(
        CHECK_RESULTS_SCHEMA.clone(),
        vec![
            text(&|r| Some(&r.check)),
            text(&|r| r.kind.as_deref()),
            text(&|r| r.source.as_deref()),
            text(&|r| r.key.as_deref()),
            number(&|r| r.value),
            number(&|r| r.expected_low),
            number(&|r| r.expected_high),
            text(&|r| Some(r.status.name())),
            text(&|r| Some(&r.message)),
            Arc::new(TimestampMicrosecondArray::from(vec![at; results.len()]).with_timezone("UTC")),
        ],
    )
}

/// Results read back from `check_results` (with their `date` column), for baselines and
/// for `status`.
pub fn from_batch(batch: &RecordBatch) -> anyhow::Result<Vec<CheckResult>> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| anyhow::anyhow!("check_results has no column {name}"))
    };
    let text = |name: &str| -> anyhow::Result<StringArray> {
        let cast = arrow::compute::cast(column(name)?, &DataType::Utf8)?;
        Ok(cast
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast")
            .clone())
    };
    let number = |name: &str| -> anyhow::Result<Float64Array> {
        let cast = arrow::compute::cast(column(name)?, &DataType::Float64)?;
        Ok(cast
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("cast")
            .clone())
    };
    let (date, check, kind, source, key) = (
        text(DATE)?,
        text("check")?,
        text("type")?,
        text("source")?,
        text("key")?,
    );
    let (value, low, high) = (
        number("value")?,
        number("expected_low")?,
        number("expected_high")?,
    );
    let (status, message) = (text("status")?, text("message")?);
    let optional = |a: &StringArray, i| (!a.is_null(i)).then(|| a.value(i).to_owned());
    let float = |a: &Float64Array, i| (!a.is_null(i)).then(|| a.value(i));
    (0..batch.num_rows())
        .map(|i| {
            Ok(CheckResult {
                date: date.value(i).parse()?,
                check: check.value(i).to_owned(),
                kind: optional(&kind, i),
                source: optional(&source, i),
                key: optional(&key, i),
                status: Status::from_name(status.value(i))
                    .ok_or_else(|| anyhow::anyhow!("unknown status {:?}", status.value(i)))?,
                value: float(&value, i),
                expected_low: float(&low, i),
                expected_high: float(&high, i),
                message: message.value(i).to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reads_back_as_the_results() {
        let result = CheckResult {
            date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            check: "volume".into(),
            kind: Some("search".into()),
            source: Some("logs/server-02.jsonl".into()),
            key: None,
            status: Status::Fail,
            value: Some(0.0),
            expected_low: Some(600.0),
            expected_high: None,
            message: "silent".into(),
        };
        let batch = to_batch(&[&result], Utc::now()).unwrap();
        let with_date = RecordBatch::try_new(
            Arc::new(Schema::new(
                [Field::new(DATE, DataType::Utf8, false)]
                    .into_iter()
                    .chain(batch.schema().fields().iter().map(|f| (**f).clone()))
                    .collect::<Vec<_>>(),
            )),
            std::iter::once(Arc::new(StringArray::from(vec!["2026-11-23"])) as ArrayRef)
                .chain(batch.columns().iter().cloned())
                .collect(),
        )
        .unwrap();
        assert_eq!(from_batch(&with_date).unwrap(), vec![result]);
        assert!(Status::Fail > Status::Warn && Status::Warn > Status::Pass);
    }
}
