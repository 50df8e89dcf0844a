//! Statements that declare the warehouse's Delta tables to Spark, Trino or Athena where
//! they are, so each engine reads the tables' snapshots through their logs. Pure: table
//! descriptions in, SQL text out.

use arrow::datatypes::DataType;

use super::Dialect;

/// A warehouse table as an engine must declare it.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    /// Data columns, in file order (the partition column is not one of them).
    pub columns: Vec<(String, DataType)>,
    /// `event_date`-style partition column.
    pub partition: Option<String>,
    /// Whether the table has a Delta log yet (a job's output before its first run has not).
    pub exists: bool,
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

/// Delta Lake in Spark (`delta-spark`): the table at its location, with its columns, so a
/// job output not written yet is declared too (and created by Spark's first write).
fn spark(table: &TableDef, folder: &str) -> anyhow::Result<String> {
    let mut columns = column_list(table, Dialect::Spark)?;
    let mut tail = String::new();
    if let Some(column) = &table.partition {
        columns.push(format!(
            "  `{column}` {}",
            partition_type(column, Dialect::Spark)
        ));
        tail = format!("\nPARTITIONED BY (`{column}`)");
    }
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS `{}` (\n{}\n) USING DELTA{tail}\nLOCATION '{}';\n",
        table.name,
        columns.join(",\n"),
        quote(folder)
    ))
}

/// Trino's Delta Lake connector: an existing table is registered (its log says the rest);
/// one not written yet is created at its location.
fn trino(table: &TableDef, folder: &str) -> anyhow::Result<String> {
    if table.exists {
        return Ok(format!(
            "CALL system.register_table(schema_name => CURRENT_SCHEMA, table_name => '{}', table_location => '{}');\n",
            table.name,
            quote(folder)
        ));
    }
    let mut columns = column_list(table, Dialect::Trino)?;
    let mut properties = vec![format!("location = '{}'", quote(folder))];
    if let Some(column) = &table.partition {
        columns.push(format!(
            "  \"{column}\" {}",
            partition_type(column, Dialect::Trino)
        ));
        properties.push(format!("partitioned_by = ARRAY['{column}']"));
    }
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS \"{}\" (\n{}\n)\nWITH ({});\n",
        table.name,
        columns.join(",\n"),
        properties.join(", ")
    ))
}

/// Athena's Delta Lake tables: columns and partitions come from the log, so a table must
/// have one first.
fn athena(table: &TableDef, folder: &str) -> anyhow::Result<String> {
    let mut sql = String::new();
    if !table.exists {
        sql.push_str(&format!(
            "-- {} has no Delta log yet: run this after its first `stickerlake run`.\n",
            table.name
        ));
    }
    sql.push_str(&format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{}`\nLOCATION '{}/'\nTBLPROPERTIES ('table_type' = 'DELTA');\n",
        table.name,
        quote(folder)
    ));
    Ok(sql)
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

    fn raw(exists: bool) -> TableDef {
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
            partition: Some("event_date".into()),
            exists,
        }
    }

    #[test]
    fn spark_declares_a_delta_table_with_its_columns_and_partition() {
        let sql = create_statements(&[raw(true)], Dialect::Spark, "s3://lake/prod/").unwrap();
        assert!(sql.contains("`event_time` TIMESTAMP,"), "{sql}");
        assert!(sql.contains("`sticker_ids` ARRAY<STRING>"), "{sql}");
        assert!(sql.contains("`event_date` DATE\n) USING DELTA\nPARTITIONED BY (`event_date`)"));
        assert!(sql.contains("LOCATION 's3://lake/prod/raw_events';"));
        assert!(!sql.contains("MSCK"));
    }

    #[test]
    fn trino_registers_existing_tables_and_creates_new_ones() {
        let sql = create_statements(&[raw(true)], Dialect::Trino, "s3://lake/prod").unwrap();
        assert!(
            sql.contains("register_table(schema_name => CURRENT_SCHEMA, table_name => 'raw_events', table_location => 's3://lake/prod/raw_events')"),
            "{sql}"
        );
        let sql = create_statements(&[raw(false)], Dialect::Trino, "s3://lake/prod").unwrap();
        assert!(
            sql.contains("\"source_offset\" BIGINT,\n  \"event_date\" DATE\n)"),
            "{sql}"
        );
        assert!(sql.contains(
            "location = 's3://lake/prod/raw_events', partitioned_by = ARRAY['event_date']"
        ));
    }

    #[test]
    fn athena_reads_the_log() {
        let sql = create_statements(&[raw(true)], Dialect::Athena, "s3://lake/prod").unwrap();
        assert!(
            sql.contains("LOCATION 's3://lake/prod/raw_events/'"),
            "{sql}"
        );
        assert!(sql.contains("TBLPROPERTIES ('table_type' = 'DELTA');"));
        let sql = create_statements(&[raw(false)], Dialect::Athena, "s3://lake/prod").unwrap();
        assert!(
            sql.starts_with("-- raw_events has no Delta log yet"),
            "{sql}"
        );
    }

    #[test]
    fn a_type_without_an_equivalent_is_named() {
        let mut table = raw(false);
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
