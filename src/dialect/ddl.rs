//! CREATE statements that let Spark, Trino or Athena read the warehouse where it is: the
//! same Parquet files, the same Hive partitions. Pure: table descriptions in, SQL text out.

use arrow::datatypes::DataType;

use super::Dialect;

/// A warehouse table as an engine must declare it.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    /// Data columns, in file order (the partition column is not one of them).
    pub columns: Vec<(String, DataType)>,
    /// `event_date`-style partition column: name, and its first existing value if any.
    pub partition: Option<(String, Option<String>)>,
}

/// The statements for every table, then what makes each engine see the partitions.
pub fn create_statements(
    tables: &[TableDef],
    dialect: Dialect,
    location: &str,
) -> anyhow::Result<String> {
    let mut sql = String::new();
    for table in tables {
        let folder = format!("{}/{}", location.trim_end_matches('/'), table.name);
        sql.push_str(&match dialect {
            Dialect::Spark => spark(table, &folder)?,
            Dialect::Trino => trino(table, &folder)?,
            Dialect::Athena => athena(table, &folder)?,
        });
        sql.push('\n');
    }
    Ok(sql)
}

fn spark(table: &TableDef, folder: &str) -> anyhow::Result<String> {
    let mut columns = column_list(table, Dialect::Spark)?;
    let mut tail = String::new();
    if let Some((column, _)) = &table.partition {
        columns.push(format!(
            "  `{column}` {}",
            partition_type(column, Dialect::Spark)
        ));
        tail = format!("\nPARTITIONED BY (`{column}`)");
    }
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS `{}` (\n{}\n) USING PARQUET{tail}\nLOCATION '{}';\n",
        table.name,
        columns.join(",\n"),
        quote(folder)
    );
    if table.partition.is_some() {
        sql.push_str(&format!("MSCK REPAIR TABLE `{}`;\n", table.name));
    }
    Ok(sql)
}

fn trino(table: &TableDef, folder: &str) -> anyhow::Result<String> {
    let mut columns = column_list(table, Dialect::Trino)?;
    let mut properties = vec![
        "format = 'PARQUET'".to_string(),
        format!("external_location = '{}'", quote(folder)),
    ];
    if let Some((column, _)) = &table.partition {
        // Trino's Hive connector wants partition columns last.
        columns.push(format!(
            "  \"{column}\" {}",
            partition_type(column, Dialect::Trino)
        ));
        properties.push(format!("partitioned_by = ARRAY['{column}']"));
    }
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS \"{}\" (\n{}\n)\nWITH ({});\n",
        table.name,
        columns.join(",\n"),
        properties.join(", ")
    );
    if table.partition.is_some() {
        sql.push_str(&format!(
            "CALL system.sync_partition_metadata(CURRENT_SCHEMA, '{}', 'FULL');\n",
            table.name
        ));
    }
    Ok(sql)
}

fn athena(table: &TableDef, folder: &str) -> anyhow::Result<String> {
    let columns = column_list(table, Dialect::Athena)?;
    let mut sql = format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{}` (\n{}\n)",
        table.name,
        columns.join(",\n")
    );
    if let Some((column, first)) = &table.partition {
        sql.push_str(&format!(
            "\nPARTITIONED BY (`{column}` {})",
            partition_type(column, Dialect::Athena)
        ));
        sql.push_str(&format!(
            "\nSTORED AS PARQUET\nLOCATION '{}/'\nTBLPROPERTIES (\n{}\n);\n",
            quote(folder),
            projection(column, first.as_deref(), folder).join(",\n")
        ));
    } else {
        sql.push_str(&format!(
            "\nSTORED AS PARQUET\nLOCATION '{}/';\n",
            quote(folder)
        ));
    }
    Ok(sql)
}

/// Athena partition projection: partitions are computed from the query's filter, never
/// listed or repaired.
fn projection(column: &str, first: Option<&str>, folder: &str) -> Vec<String> {
    let properties: Vec<(String, String)> = if column.ends_with("_date") {
        vec![
            ("projection.enabled".into(), "true".into()),
            (format!("projection.{column}.type"), "date".into()),
            (format!("projection.{column}.format"), "yyyy-MM-dd".into()),
            (
                format!("projection.{column}.range"),
                format!("{},NOW", first.unwrap_or("2020-01-01")),
            ),
            (format!("projection.{column}.interval"), "1".into()),
            (format!("projection.{column}.interval.unit"), "DAYS".into()),
            (
                "storage.location.template".into(),
                format!("{}/{column}=${{{column}}}", quote(folder)),
            ),
        ]
    } else {
        vec![
            ("projection.enabled".into(), "true".into()),
            (format!("projection.{column}.type"), "injected".into()),
            (
                "storage.location.template".into(),
                format!("{}/{column}=${{{column}}}", quote(folder)),
            ),
        ]
    };
    properties
        .into_iter()
        .map(|(key, value)| format!("  '{key}' = '{value}'"))
        .collect()
}

fn column_list(table: &TableDef, dialect: Dialect) -> anyhow::Result<Vec<String>> {
    table
        .columns
        .iter()
        .map(|(name, kind)| {
            let sql_type = sql_type(kind, dialect).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}.{name} is {kind}, which has no {dialect} type here: cast it in the job that writes it",
                    table.name
                )
            })?;
            Ok(match dialect {
                Dialect::Trino => format!("  \"{name}\" {sql_type}"),
                Dialect::Spark | Dialect::Athena => format!("  `{name}` {sql_type}"),
            })
        })
        .collect()
}

/// `*_date` partitions are dates (as the engine reads them); others are strings.
fn partition_type(column: &str, dialect: Dialect) -> &'static str {
    match (column.ends_with("_date"), dialect) {
        (true, Dialect::Athena) => "date",
        (true, _) => "DATE",
        (false, Dialect::Trino) => "VARCHAR",
        (false, Dialect::Athena) => "string",
        (false, Dialect::Spark) => "STRING",
    }
}

/// The engine's type that reads the Parquet column our writers and DataFusion produce.
pub fn sql_type(kind: &DataType, dialect: Dialect) -> Option<String> {
    use DataType::*;
    let name = match (kind, dialect) {
        (Utf8 | LargeUtf8 | Utf8View, Dialect::Spark) => "STRING",
        (Utf8 | LargeUtf8 | Utf8View, Dialect::Trino) => "VARCHAR",
        (Utf8 | LargeUtf8 | Utf8View, Dialect::Athena) => "string",
        (Int64, Dialect::Athena) => "bigint",
        (Int64, _) => "BIGINT",
        (Int32, Dialect::Athena) => "int",
        (Int32, Dialect::Spark) => "INT",
        (Int32, Dialect::Trino) => "INTEGER",
        (Float32, Dialect::Trino) => "REAL",
        (Float32, Dialect::Spark) => "FLOAT",
        (Float32, Dialect::Athena) => "float",
        (Float64, Dialect::Athena) => "double",
        (Float64, _) => "DOUBLE",
        (Binary | LargeBinary | BinaryView, Dialect::Spark) => "BINARY",
        (Binary | LargeBinary | BinaryView, Dialect::Trino) => "VARBINARY",
        (Binary | LargeBinary | BinaryView, Dialect::Athena) => "binary",
        (Boolean, Dialect::Athena) => "boolean",
        (Boolean, _) => "BOOLEAN",
        (Date32, Dialect::Athena) => "date",
        (Date32, _) => "DATE",
        // Microseconds since the epoch, UTC: what each engine calls a timestamp.
        (Timestamp(_, _), Dialect::Trino) => "TIMESTAMP(6)",
        (Timestamp(_, _), Dialect::Athena) => "timestamp",
        (Timestamp(_, Some(_)), Dialect::Spark) => "TIMESTAMP",
        (Timestamp(_, None), Dialect::Spark) => "TIMESTAMP_NTZ",
        (List(item) | LargeList(item), _) => {
            let inner = sql_type(item.data_type(), dialect)?;
            return Some(match dialect {
                Dialect::Spark => format!("ARRAY<{inner}>"),
                Dialect::Trino => format!("ARRAY({inner})"),
                Dialect::Athena => format!("array<{inner}>"),
            });
        }
        _ => return None,
    };
    Some(name.to_string())
}

fn quote(text: &str) -> String {
    text.replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, TimeUnit};

    use super::*;

    fn raw() -> TableDef {
        TableDef {
            name: "raw_events".into(),
            columns: vec![
                ("message_id".into(), DataType::Utf8),
                (
                    "event_time".into(),
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                ),
                (
                    "sticker_ids".into(),
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                ),
                ("source_offset".into(), DataType::Int64),
            ],
            partition: Some(("event_date".into(), Some("2026-11-20".into()))),
        }
    }

    #[test]
    fn spark_declares_the_partition_and_repairs_it() {
        let sql = create_statements(&[raw()], Dialect::Spark, "s3://lake/prod/").unwrap();
        assert!(sql.contains("`event_time` TIMESTAMP,"), "{sql}");
        assert!(sql.contains("`sticker_ids` ARRAY<STRING>"), "{sql}");
        assert!(sql.contains("`event_date` DATE\n) USING PARQUET\nPARTITIONED BY (`event_date`)"));
        assert!(sql.contains("LOCATION 's3://lake/prod/raw_events';"));
        assert!(sql.contains("MSCK REPAIR TABLE `raw_events`;"));
    }

    #[test]
    fn trino_puts_the_partition_last_and_athena_projects_it() {
        let sql = create_statements(&[raw()], Dialect::Trino, "s3://lake/prod").unwrap();
        assert!(
            sql.contains("\"source_offset\" BIGINT,\n  \"event_date\" DATE\n)"),
            "{sql}"
        );
        assert!(sql.contains("partitioned_by = ARRAY['event_date']"));
        assert!(sql.contains("\"event_time\" TIMESTAMP(6)"));
        let sql = create_statements(&[raw()], Dialect::Athena, "s3://lake/prod").unwrap();
        assert!(sql.contains("PARTITIONED BY (`event_date` date)"), "{sql}");
        assert!(sql.contains("'projection.event_date.range' = '2026-11-20,NOW'"));
        assert!(sql.contains(
            "'storage.location.template' = 's3://lake/prod/raw_events/event_date=${event_date}'"
        ));
        assert!(!sql.contains("MSCK"));
    }

    #[test]
    fn a_type_without_an_equivalent_is_named() {
        let mut table = raw();
        table
            .columns
            .push(("wait".into(), DataType::Duration(TimeUnit::Second)));
        let err = create_statements(&[table], Dialect::Spark, "/w").unwrap_err();
        assert!(
            err.to_string().contains("raw_events.wait is Duration"),
            "{err}"
        );
    }
}
