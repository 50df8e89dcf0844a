//! `\d TABLE` in the prompt: the columns, then the partitions (first, last, missing days),
//! files, rows (from the Parquet footers) and bytes.

use std::io::Write;

use anyhow::Context;
use chrono::NaiveDate;

use super::Session;
use crate::engine::{int_column, query_all};
use crate::output::SmallTable;
use crate::units::human_bytes;

pub async fn describe(session: &Session, name: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let info = session
        .tables
        .iter()
        .find(|t| t.name == name)
        .with_context(|| {
            let names: Vec<&str> = session.tables.iter().map(|t| t.name.as_str()).collect();
            format!("no table {name:?}: the tables are {}", names.join(", "))
        })?;
    let schema = session.ctx.table(name).await?.schema().inner().clone();
    let fields = schema.fields();
    writeln!(out, "{name}")?;
    SmallTable::new()
        .text("column", fields.iter().map(|f| f.name().clone()))
        .text("type", fields.iter().map(|f| f.data_type().to_string()))
        .text(
            "nullable",
            fields
                .iter()
                .map(|f| if f.is_nullable() { "yes" } else { "no" }.to_owned()),
        )
        .print(out)?;

    let files: Vec<crate::warehouse::FileInfo> = match &info.partition_column {
        Some(column) => {
            let partitions = info.partitions.clone();
            let values: Vec<&String> = partitions.keys().collect();
            match (values.first(), values.last()) {
                (Some(first), Some(last)) => {
                    writeln!(
                        out,
                        "partitions: {} by {column}, first {first}, last {last}{}",
                        values.len(),
                        missing_days(&values)
                    )?;
                }
                _ => writeln!(out, "partitions: none yet (by {column})")?,
            }
            partitions.into_values().flatten().collect()
        }
        None => info.partitions.values().flatten().cloned().collect(),
    };
    let rows = query_all(&session.ctx, &format!("SELECT count(*) FROM \"{name}\""))
        .await?
        .first()
        .map(|b| int_column(b, 0))
        .transpose()?
        .and_then(|c| c.first().copied().flatten())
        .unwrap_or(0);
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    writeln!(
        out,
        "files: {}, rows: {rows}, bytes: {bytes} ({})",
        files.len(),
        human_bytes(bytes)
    )?;
    Ok(())
}

/// `, missing days: 2026-11-21, 2026-11-23` for date partitions with gaps; empty otherwise.
fn missing_days(values: &[&String]) -> String {
    let dates: Option<Vec<NaiveDate>> = values.iter().map(|v| v.parse().ok()).collect();
    let Some(dates) = dates else {
        return String::new();
    };
    let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
        return String::new();
    };
    let missing: Vec<String> = crate::dates::days(*first, *last)
        .into_iter()
        .filter(|d| dates.binary_search(d).is_err())
        .map(|d| d.to_string())
        .collect();
    match missing.len() {
        0 => ", no day missing".into(),
        1..=10 => format!(", missing days: {}", missing.join(", ")),
        n => format!(", {n} missing days: {}, …", missing[..10].join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_between_the_first_and_last_day_are_named() {
        let days = ["2026-11-20", "2026-11-21", "2026-11-24"].map(String::from);
        let refs: Vec<&String> = days.iter().collect();
        assert_eq!(
            missing_days(&refs),
            ", missing days: 2026-11-22, 2026-11-23"
        );
        let days = ["2026-11-20", "2026-11-21"].map(String::from);
        assert_eq!(
            missing_days(&days.iter().collect::<Vec<_>>()),
            ", no day missing"
        );
        let names = ["cat", "dog"].map(String::from);
        assert_eq!(missing_days(&names.iter().collect::<Vec<_>>()), "");
    }
}
